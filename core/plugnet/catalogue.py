"""The component catalogue as Markdown, generated from the registry.

``python -m plugnet.catalogue [--check] [PATH]`` writes (or checks) ``docs/catalogue.md``. Only
plugnet's built-ins are listed, so the file does not depend on what else is installed.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from plugnet._registry import KINDS, Component, Registry

DEFAULT_PATH = Path("docs/catalogue.md")


def parameter_text(component: Component) -> str:
    """``alpha=0.01, beta`` — each parameter with its default, if any."""
    parts = []
    for name, default in component.parameters().items():
        parts.append(name if default is inspect.Parameter.empty else f"{name}={default!r}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def render(registry: Registry) -> str:
    """The catalogue of every component in ``registry``, grouped by kind."""
    lines = [
        "# Catalogue",
        "",
        "Every built-in component, generated from the registry by `python -m plugnet.catalogue`",
        "(CI fails when this file is stale). Names ignore case, `_`, `-` and spaces; each is also",
        "reachable as `plugnet:<name>`. `plugnet plugins --kind KIND` shows the same facts for",
        "everything installed, third-party plugins included.",
    ]
    for kind, info in KINDS.items():
        components = registry.components(kind)
        if not components:
            continue
        lines += ["", f"## {info.title}", ""]
        lines += ["| name | aliases | parameters | formula | provider |", "|---|---|---|---|---|"]
        for c in sorted(components, key=lambda c: c.name):
            row = [
                f"`{c.name}`",
                ", ".join(f"`{a}`" for a in c.aliases),
                f"`{parameter_text(c)}`" if parameter_text(c) else "",
                c.summary,
                c.provider,
            ]
            lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from plugnet.discovery import build_registry

    parser = argparse.ArgumentParser(prog="python -m plugnet.catalogue", description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render(build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run `python -m plugnet.catalogue`", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
