"""mkdocs hook: Sphinx cross-reference roles in docstrings become links in the API reference.

plugnet's docstrings say ``:class:`~plugnet.history.History` `` where they refer to another
object. mkdocstrings renders that as the text ":class:" followed by code; this turns it into
the code alone (the last dotted part with ``~``, as Sphinx shows it), linked through
mkdocs-autorefs when the name is documented on the site and left plain when it is not.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(
    r":(?:class|meth|func|mod|attr|exc|data|obj):<code>(?P<tilde>~?)(?P<name>[\w.]+)</code>"
)


def link(match: re.Match[str]) -> str:
    name = match["name"]
    shown = name.rsplit(".", 1)[-1] if match["tilde"] else name
    return f'<autoref identifier="{name}" optional><code>{shown}</code></autoref>'


def on_page_content(html: str, **kwargs: Any) -> str:
    return ROLE.sub(link, html)
