"""The built documentation site in a real browser: headless Chromium, with every request that
is not to the local server refused, shows the backprop page's formulas as laid-out math (not
raw TeX) and its code panels unclipped at a 1280 px wide viewport.

Chromium is the system's (``apt-get install -y chromium`` on Debian; ``.ci/run`` installs it),
driven by Playwright (in the ``test`` extra). A missing Chromium fails the test, never skips it.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, sync_playwright

VIEWPORT = {"width": 1280, "height": 900}
# The material theme asks Google Fonts for Roboto and falls back to system fonts without it.
WEB_FONT_HOSTS = {"fonts.googleapis.com", "fonts.gstatic.com"}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # No name resolves but the local server's address: the network is off for the browser too.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def chromium() -> str:
    path = os.environ.get("PLUGNET_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(
            f"Chromium is not installed ({path} does not exist): the docs browser test needs it. "
            "Install it with `apt-get install -y chromium` (Debian; .ci/run does this), or set "
            "PLUGNET_CHROMIUM to a Chromium executable."
        )
    return path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per request: pytest would show them all with a failure."""


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site on a local HTTP server; its base URL."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def backprop(served: str) -> Iterator[tuple[Page, list[tuple[str, str]]]]:
    """The backprop page, loaded offline; and the requests refused, as (resource type, URL)."""
    refused: list[tuple[str, str]] = []

    def local_only(route: Route) -> None:
        if route.request.url.startswith(served):
            route.continue_()
        else:
            refused.append((route.request.resource_type, route.request.url))
            route.abort()

    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.route("**/*", local_only)
        page.goto(served + "backprop/", wait_until="load")
        yield page, refused
        browser.close()


def test_only_web_fonts_were_asked_of_the_network(
    backprop: tuple[Page, list[tuple[str, str]]],
) -> None:
    """Nothing the page needs comes from outside the site: no math or other script from a CDN."""
    _, refused = backprop
    outside = [(kind, url) for kind, url in refused if urlsplit(url).hostname not in WEB_FONT_HOSTS]
    assert outside == [], f"the page asked the network for {outside}"


def test_the_formulas_are_rendered_as_math(backprop: tuple[Page, list[tuple[str, str]]]) -> None:
    page, _ = backprop
    formulas = page.evaluate(
        """() => [...document.querySelectorAll("article .arithmatex")].map(f => {
            const math = f.querySelector(":scope > math");
            const box = math ? math.getBoundingClientRect() : null;
            return {math: !!math, width: box ? box.width : 0, height: box ? box.height : 0,
                    tex: f.textContent.slice(0, 60)};
        })"""
    )
    assert len(formulas) >= 100, f"only {len(formulas)} formulas on the backprop page"
    unrendered = [f["tex"] for f in formulas if not (f["math"] and f["width"] and f["height"])]
    assert unrendered == [], f"formulas not rendered: {unrendered[:5]}"

    # Laid out as math, not as a line of text: a fraction's numerator stands above its denominator.
    fraction = page.evaluate(
        """() => {
            const frac = document.querySelector("article div.arithmatex mfrac");
            const [top, bottom] = [...frac.children].map(c => c.getBoundingClientRect());
            return {top_bottom: top.bottom, bottom_top: bottom.top};
        }"""
    )
    assert fraction["top_bottom"] <= fraction["bottom_top"] + 1, fraction

    prose = page.evaluate(
        """() => {
            const article = document.querySelector("article").cloneNode(true);
            article.querySelectorAll("pre, code, math").forEach(e => e.remove());
            return article.textContent;
        }"""
    )
    for raw in ("$$", "\\(", "\\[", "\\frac", "\\partial", "\\sum", "\\begin"):
        assert raw not in prose, f"raw TeX {raw!r} in the page's text"


def test_the_code_beside_the_formulas_is_not_clipped(
    backprop: tuple[Page, list[tuple[str, str]]],
) -> None:
    page, _ = backprop
    panels = page.evaluate(
        """() => [...document.querySelectorAll("article .formula-code pre > code")].map(c => {
            const box = c.getBoundingClientRect();
            return {scroll: c.scrollWidth, client: c.clientWidth, right: box.right,
                    first: c.textContent.split("\\n")[0]};
        })"""
    )
    assert len(panels) >= 8, f"only {len(panels)} code panels beside formulas"
    clipped = [p for p in panels if p["scroll"] > p["client"] or p["right"] > VIEWPORT["width"]]
    assert clipped == [], f"code panels clipped at {VIEWPORT['width']} px: {clipped}"
