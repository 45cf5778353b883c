"""The README's links, and the repository paths it quotes, resolve inside a clone. (The docs
pages' links are checked by ``mkdocs build --strict``, which knows the files its hooks generate.)"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,}).*?^(?P=fence)[ \t]*$", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"(?P<ticks>`+)(?P<code>.+?)(?P=ticks)", re.DOTALL)
LINK = re.compile(
    r"\]\((?P<inline><[^>]*>|[^)\s]*)(?:\s+\"[^\"]*\")?\)"  # [text](target "title")
    r"|^\s*\[[^\]]+\]:\s*(?P<reference>\S+)"  # [name]: target
    r"|\b(?:href|src)=\"(?P<html>[^\"]*)\"",  # <a href="..."> <img src="...">
    re.MULTILINE,
)
# A quoted path such as `core/plugnet/` or `../shared/DESIGN.md`, not `a/b` in an expression.
QUOTED_PATH = re.compile(r"^\.{0,2}/?[\w.-]+(?:/[\w.-]+)*/?$")


def prose(markdown: str) -> str:
    """The page without fenced code and code spans, where link-like text is not a link."""
    return CODE_SPAN.sub("", FENCE.sub("", markdown))


def relative_targets(markdown: str) -> list[str]:
    targets = []
    for match in LINK.finditer(prose(markdown)):
        target = (match["inline"] or match["reference"] or match["html"] or "").strip("<>")
        parts = urlsplit(target)
        if target and not parts.scheme and not parts.netloc and parts.path:
            targets.append(unquote(parts.path))
    return targets


def broken(page: Path, targets: list[str]) -> list[str]:
    """The targets that are not a file or folder of the repository, relative to ``page``."""
    bad = []
    for target in targets:
        resolved = (page.parent / target).resolve()
        if not (resolved.is_relative_to(ROOT) and resolved.exists()):
            bad.append(target)
    return bad


def test_the_readme_links_resolve_in_the_repository() -> None:
    targets = relative_targets(README.read_text(encoding="utf-8"))
    assert "docs/design.md" in targets  # the design users read
    assert broken(README, targets) == [], "README.md links to files that are not in a clone"


def test_the_paths_the_readme_quotes_are_in_the_repository() -> None:
    quoted = [
        match["code"]
        for match in CODE_SPAN.finditer(FENCE.sub("", README.read_text(encoding="utf-8")))
        if "/" in match["code"].strip("/") and QUOTED_PATH.match(match["code"])
    ]
    assert "core/plugnet/" in quoted and "tests/test_docs.py" in quoted  # the check sees them
    assert broken(README, quoted) == [], "README.md quotes paths that are not in a clone"


def test_the_collector_finds_links_and_skips_code() -> None:
    markdown = (
        '[a](docs/a.md#x) [b](<docs/b c.md> "t") [w](https://x.org/y) [s](#top)\n'
        '[ref]: ../outside.md\n<img src="docs/i.png">\n`[c](in/code.md)`\n'
        "```md\n[d](in/fence.md)\n```\n"
    )
    assert relative_targets(markdown) == ["docs/a.md", "docs/b c.md", "../outside.md", "docs/i.png"]
    assert broken(README, ["../outside.md", "docs/design.md"]) == ["../outside.md"]
