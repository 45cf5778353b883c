"""Every Python example in README.md and docs/ runs.

The rules, for anyone writing a page:

- A fenced block whose language is ``python`` runs; its info string may go on
  (```` ```python title="x.py" ````). Blocks indented under a list item or an admonition count.
- Any other fence is shown, never run: ``py`` for source excerpts and fragments (it is
  highlighted as Python; the backprop page's ``--8<--`` source includes use it), ``pycon``,
  ``text``, ``bash``, ``toml``, ...
- The blocks of one page run in order, in one shared namespace, so a page can build an
  example up step by step. Each page runs in a fresh Python process (``python
  tests/test_docs.py PAGE``), so what one page registers or sets never leaks into another page
  or into the rest of the suite.
- The working directory is a new temporary directory (files a page writes go there), and
  matplotlib uses the Agg backend.
- A failure shows the traceback with the page's own file name and line numbers.

Keep the examples fast: tiny networks, few epochs. Each test is named after its page:
``test_docs_page_runs[README.md]``, ``test_docs_page_runs[backprop.md]``.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def page_id(page: Path) -> str:
    return page.name if page.parent == ROOT else page.relative_to(DOCS).as_posix()


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, dedented source) of each ```python block, in order."""
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = (opening["info"].split() or [""])[0].strip("{}.").lower()
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = FENCE.match(lines[i])
            if (
                closing is not None
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"]
            ):
                break
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        if language == "python":
            first = i - len(body) + 1  # 1-based number of the block's first line
            blocks.append((first, "\n".join(body) + "\n"))
        i += 1
    return blocks


def run_page(page: Path) -> None:
    """Run the page's python blocks in order in one namespace (called in a fresh process)."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    for first, source in python_blocks(page.read_text(encoding="utf-8")):
        # Pad with newlines so tracebacks point at the page's own line numbers.
        code = compile("\n" * (first - 1) + source, str(page), "exec")
        exec(code, namespace)


if __name__ == "__main__":
    sys.path[0] = ""  # as in an interactive session: the working directory, not tests/
    run_page(Path(sys.argv[1]))


def run_page_in_subprocess(page: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, __file__, str(page)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


PAGES = [page for page in pages() if python_blocks(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_docs_page_runs(page: Path, tmp_path: Path) -> None:
    result = run_page_in_subprocess(page, tmp_path)
    assert result.returncode == 0, (
        f"a python block of {page_id(page)} failed:\n{result.stderr}\n{result.stdout}"
    )


def test_the_readme_has_python_blocks() -> None:
    assert len(python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))) >= 2


def test_the_key_pages_have_runnable_examples() -> None:
    runnable = {page_id(page) for page in PAGES}
    for name in ("README.md", "getting-started.md", "backprop.md", "training.md"):
        assert name in runnable


def test_the_collector_follows_its_rules() -> None:
    text = (
        "```python\na = 1\n```\n"
        "```py\nnot run\n```\n"
        '```python title="b.py"\nb = 2\n```\n'
        "- item\n\n    ```python\n    c = 3\n    ```\n"
        "````text\n```python\nnested, not run\n```\n````\n"
        "```pycon\n>>> 1\n```\n"
    )
    assert python_blocks(text) == [(2, "a = 1\n"), (8, "b = 2\n"), (13, "c = 3\n")]


def table_after(text: str, header: str) -> list[list[str]]:
    """The body rows of the markdown table whose header row is ``header``, each cell's
    backticked names (``"`Schedule` (learning-rate schedules)"`` gives ``["Schedule"]``)."""
    lines = text.splitlines()
    start = lines.index(header) + 2  # past the header and the |---| row
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = line.strip().strip("|").split("|")
        rows.append([" ".join(re.findall(r"`([^`]+)`", cell)) for cell in cells])
    return rows


def test_the_kinds_tables_say_what_the_registry_says() -> None:
    from plugnet._registry import KINDS  # here, so that a page's own process imports nothing

    expected = [
        [kind.name, kind.hook, kind.protocol.__name__, " ".join(kind.methods)]
        for kind in KINDS.values()
    ]
    design = (DOCS / "design.md").read_text(encoding="utf-8")
    assert table_after(design, "| kind | hook | protocol | required methods |") == expected
    plugins = (DOCS / "plugins.md").read_text(encoding="utf-8")
    assert table_after(plugins, "| hook | kind | protocol |") == [
        [hook, kind, protocol] for kind, hook, protocol, _ in expected
    ]


def test_the_plugin_page_registers_and_checks_an_example_of_every_kind() -> None:
    from plugnet._registry import KINDS

    source = "".join(code for _, code in python_blocks((DOCS / "plugins.md").read_text("utf-8")))
    for kind in KINDS.values():
        assert f"@plugnet.hookimpl\ndef {kind.hook}(register):" in source, kind.name
    # The page runs (test_docs_page_runs), and this runs the whole kit on its examples.
    assert 'check_provider("plugnet-demo")' in source


LEGACY_DECLARATIONS = {"conformance_cases", "conformance_domain", "kinks"}


def legacy_declarations(source: str) -> list[str]:
    """The classes in ``source`` that declare an attribute of the spelling that
    ``conformance = Conformance(...)`` replaced, as ``Class.attribute``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                targets = (
                    statement.targets
                    if isinstance(statement, ast.Assign)
                    else [statement.target]
                    if isinstance(statement, ast.AnnAssign)
                    else []
                )
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                found += [f"{node.name}.{n}" for n in names if n in LEGACY_DECLARATIONS]
    return found


def test_examples_and_plugins_declare_conformance_in_one_attribute() -> None:
    sources = {
        f"{page_id(page)}, block at line {first}": code
        for page in pages()
        for first, code in python_blocks(page.read_text(encoding="utf-8"))
    }
    for folder in (ROOT / "examples", ROOT / "plugins"):
        sources |= {
            str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
            for path in sorted(folder.rglob("*.py"))
        }
    old = {where: found for where, code in sources.items() if (found := legacy_declarations(code))}
    assert old == {}, "declare these as conformance = Conformance(...) instead"
    assert legacy_declarations("class A:\n    kinks = (0.0,)\n") == ["A.kinks"]
