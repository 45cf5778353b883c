"""mkdocs hook: run the README's quick start and put its learning curves into the site.

``plugnet train examples/digits.toml --out digits-model.npz --plot digits-curves.png`` runs
in-process at build time; the PNG becomes ``assets/digits-curves.png`` in the built site (it is
never committed), and what the command printed replaces ``<!-- digits-output -->`` on the
training page. Needs the extras ``examples`` (the digits data) and ``plot`` (matplotlib).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

IMAGE = "assets/digits-curves.png"
PAGE = "training.md"
MARKER = "<!-- digits-output -->"
COMMAND = "plugnet train examples/digits.toml --out digits-model.npz --plot digits-curves.png"

_printed = ""


def run_example(root: Path) -> tuple[bytes, str]:
    """The PNG and the printed output of the quick-start command, run from ``root``."""
    from plugnet.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        model, curves = Path(tmp, "digits-model.npz"), Path(tmp, "digits-curves.png")
        argv = ["train", str(root / "examples" / "digits.toml"), "--out", str(model)]
        argv += ["--plot", str(curves), "--verbose", "0"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
        if status != 0:
            raise PluginError(
                f"`{COMMAND}` failed with status {status}: {err.getvalue().strip()} "
                f'(the docs need the extras: pip install ".[docs,examples,plot]")'
            )
        printed = out.getvalue().replace(str(model), model.name).replace(str(curves), curves.name)
        return curves.read_bytes(), printed


def on_files(files: Files, config: Any) -> Files:
    global _printed
    image, _printed = run_example(Path(config.config_file_path).parent)
    files.append(File.generated(config, IMAGE, content=image))
    return files


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} must contain {MARKER} where the example's output goes")
    return markdown.replace(MARKER, f"```text\n$ {COMMAND}\n{_printed.rstrip()}\n```")
