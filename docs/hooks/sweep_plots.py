"""mkdocs hook: run the digits sweep of docs/sweeps.md and put its plots into the site.

``plugnet sweep examples/digits_sweep.toml`` runs in-process at build time, with its study and
results in a temporary directory (nothing is written beside the example); the two PNG files
become ``assets/digits-sweep-history.png`` and ``assets/digits-sweep-importances.png`` in the
built site (never committed), and what the command printed replaces ``<!-- sweep-output -->``
on the sweeps page. Needs the extras ``sweep`` (Optuna, matplotlib) and ``examples`` (the
digits data).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

PAGE = "sweeps.md"
MARKER = "<!-- sweep-output -->"
COMMAND = "plugnet sweep examples/digits_sweep.toml"
IMAGES = {
    "history": "assets/digits-sweep-history.png",
    "importances": "assets/digits-sweep-importances.png",
}

_printed = ""


def run_sweep(root: Path) -> tuple[dict[str, bytes], str]:
    """The plots (by kind) and the printed output of the sweep, run from ``root``."""
    from plugnet.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        config = root / "examples" / "digits_sweep.toml"
        argv = ["sweep", str(config), "--storage", str(Path(tmp, "study.journal")), "--out", tmp]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
        if status != 0:
            raise PluginError(
                f"`{COMMAND}` failed with status {status}: {err.getvalue().strip()} "
                f'(the docs need the extras: pip install ".[docs,examples,sweep]")'
            )
        images = {kind: Path(tmp, f"digits_sweep.{kind}.png").read_bytes() for kind in IMAGES}
        # As run beside the config, where the command writes by default.
        printed = out.getvalue().replace(f"{tmp}/", "examples/")
        return images, printed


def on_files(files: Files, config: Any) -> Files:
    global _printed
    images, _printed = run_sweep(Path(config.config_file_path).parent)
    for kind, uri in IMAGES.items():
        files.append(File.generated(config, uri, content=images[kind]))
    return files


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} must contain {MARKER} where the sweep's output goes")
    return markdown.replace(MARKER, f"```text\n$ {COMMAND}\n{_printed.rstrip()}\n```")
