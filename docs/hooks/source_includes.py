"""mkdocs hook: include a Python function's or class's source by its qualified name.

Inside a page's code fence, a pymdownx.snippets block whose lines are ``PATH.py::NAME``::

    ```py title="plugins/plugnet_builtins/layers.py — Dense"
    --8<--
    plugins/plugnet_builtins/layers.py::Dense.backward
    plugins/plugnet_builtins/layers.py::Dense.backward_linear
    --8<--
    ```

becomes the source of each definition named (PATH relative to mkdocs.yml, NAME dotted as
pytest names a test), decorators included, dedented, indented like the block, one blank line
between them. The source is found with ``ast`` (never imported), so it needs no marker
comments. A file or name that does not exist stops the build and says what the file does
define. Blocks without ``::`` (whole files, ``path:section``) are left to pymdownx.snippets.
The block form, unlike ``--8<-- "..."``, is not Python, so ruff's formatter leaves it alone.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

DELIMITER = re.compile(r"^(?P<indent>[ \t]*)--8<--[ \t]*$")
QUALNAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def definitions(body: list[ast.stmt]) -> dict[str, Definition]:
    """The functions and classes a module or class body defines; a name defined twice means
    the later one, as Python binds it (an ``@overload``'s implementation, a property's setter)."""
    return {node.name: node for node in body if isinstance(node, Definition)}


def source_of(root: Path, target: str) -> str:
    """The dedented source of ``PATH::QUALNAME``, with PATH relative to ``root``."""
    path, _, qualname = target.partition("::")
    if not path.endswith(".py") or not QUALNAME.fullmatch(qualname):
        raise ValueError("write the include as PATH.py::NAME, e.g. pkg/module.py::Class.method")
    file = (root / path).resolve()
    if not file.is_relative_to(root.resolve()) or not file.is_file():
        raise ValueError(f"there is no file {path} in {root}")
    text = file.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as error:
        raise ValueError(f"{path} does not parse: {error}") from None
    body: list[ast.stmt] = tree.body
    node: Definition | None = None
    parts = qualname.split(".")
    for depth, part in enumerate(parts):
        found = definitions(body)
        if part not in found:
            scope = "::".join([path, ".".join(parts[:depth])]) if depth else path
            known = ", ".join(found) or "no functions or classes"
            raise ValueError(f"{scope} defines no {part!r}; it defines {known}")
        node = found[part]
        body = node.body
    assert node is not None and node.end_lineno is not None  # QUALNAME has at least one part
    first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
    lines = text.splitlines()[first - 1 : node.end_lineno]
    return textwrap.dedent("\n".join(lines))


def expand(markdown: str, root: Path, page: str) -> str:
    """``markdown`` with every by-name include block replaced by the sources it names."""
    lines = markdown.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        opening = DELIMITER.match(lines[i])
        following = range(i + 1, len(lines)) if opening else range(0)
        close = next((j for j in following if DELIMITER.match(lines[j])), None)
        if opening is None or close is None:
            out.append(lines[i])
            i += 1
            continue
        targets = [(i + 2 + n, line.strip()) for n, line in enumerate(lines[i + 1 : close])]
        targets = [(number, target) for number, target in targets if target]
        if not any("::" in target for _, target in targets):
            out.extend(lines[i : close + 1])  # a file or section include: pymdownx.snippets's
            i = close + 1
            continue
        sources = []
        for number, target in targets:
            try:
                if "::" not in target:
                    raise ValueError(
                        "a block that includes by name takes only PATH.py::NAME lines; "
                        "give a whole-file or section include a block of its own"
                    )
                sources.append(source_of(root, target))
            except ValueError as error:
                raise PluginError(f"{page}, line {number}: {target}: {error}") from None
        indent = opening["indent"]
        code = "\n\n".join(sources).splitlines()
        out.extend(f"{indent}{line}".rstrip() + "\n" for line in code)
        i = close + 1
    return "".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    root = Path(config.config_file_path).parent
    return expand(markdown, root, f"{Path(config.docs_dir).name}/{page.file.src_uri}")
