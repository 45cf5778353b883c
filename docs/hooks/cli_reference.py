"""mkdocs hook: fill docs/cli.md with the ``--help`` of ``plugnet`` and of every subcommand.

The text comes from the live argparse parser (``plugnet.cli.build_parser``) at build time, so
a new subcommand or option appears in the reference without anyone editing the page.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

from mkdocs.exceptions import PluginError

PAGE = "cli.md"
MARKER = "<!-- cli-reference -->"
WIDTH = "88"  # argparse wraps help text to $COLUMNS


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Each subcommand's name and parser, in the order the CLI lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def help_text(parser: argparse.ArgumentParser) -> str:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def render() -> str:
    from plugnet.cli import build_parser

    parser = build_parser()
    parts = ["```text", f"$ plugnet --help\n{help_text(parser)}", "```"]
    for name, sub in subcommands(parser):
        parts += [
            f"\n## plugnet {name}\n",
            "```text",
            f"$ {sub.prog} --help",
            help_text(sub),
            "```",
        ]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} must contain {MARKER} where the CLI reference goes")
    return markdown.replace(MARKER, render())
