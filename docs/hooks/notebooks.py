"""mkdocs hook: the notebooks in ``notebooks/`` become pages of the site.

The notebooks live beside ``docs/``, not in it, so that they open from a clone as they are. This
adds each one to the site's files as ``notebooks/NAME.ipynb`` before mkdocs-jupyter turns
notebooks into pages (unexecuted: the test suite runs them), and then marks their TeX the way
pymdownx.arithmatex marks the other pages' (``<span class="arithmatex">\\(...\\)</span>``,
``<div class="arithmatex">\\[...\\]</div>``), so that whatever renders the site's math renders
theirs too; nbconvert's own MathJax 2 loader is removed. Math is looked for only in the
markdown cells' text, never in code or outputs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

FOLDER = "notebooks"
# A rendered markdown cell, as nbconvert's template (used by mkdocs-jupyter) writes it.
MARKDOWN_CELL = re.compile(
    r'(<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown[^"]*"[^>]*>)(.*?)(</div>\s*</div>)',
    re.DOTALL,
)
# nbconvert's MathJax 2 loader (mkdocs-jupyter leaves its URL empty): dead on this site, whose
# own math setup renders the marked formulas, and its TeX delimiters would read as raw TeX.
MATHJAX_LOADER = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL
)
CODE = re.compile(r"(<pre\b.*?</pre>|<code\b.*?</code>)", re.DOTALL)
DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.DOTALL)


@event_priority(100)  # before mkdocs-jupyter's on_files, which makes pages of .ipynb files
def on_files(files: Files, config: Any) -> Files:
    root = Path(config.config_file_path).parent
    notebooks = sorted((root / FOLDER).glob("*.ipynb"))
    if not notebooks:
        raise PluginError(f"no notebooks in {root / FOLDER}: the docs' Notebooks pages need them")
    for path in notebooks:
        files.append(
            File(
                f"{FOLDER}/{path.name}",
                src_dir=str(root),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return files


def mark_math(text: str) -> str:
    """``$$...$$`` and ``$...$`` in rendered markdown as arithmatex marks them; code untouched."""

    def formulas(prose: str) -> str:
        prose = DISPLAY.sub(lambda m: f'<div class="arithmatex">\\[{m.group(1)}\\]</div>', prose)
        return INLINE.sub(lambda m: f'<span class="arithmatex">\\({m.group(1)}\\)</span>', prose)

    # split keeps the code elements: [prose, code, prose, code, ..., prose]
    parts = CODE.split(text)
    return "".join(part if i % 2 else formulas(part) for i, part in enumerate(parts))


@event_priority(100)  # before any hook that renders the arithmatex-marked math
def on_page_content(content: str, page: Any, **kwargs: Any) -> str:
    if not page.file.src_uri.startswith(f"{FOLDER}/"):
        return content
    content = MATHJAX_LOADER.sub("", content)
    return MARKDOWN_CELL.sub(lambda m: m.group(1) + mark_math(m.group(2)) + m.group(3), content)
