"""The docs hook ``docs/hooks/math_mathml.py`` turns the pages' TeX into MathML at build time, and
stops the build, naming the page and the formula, when a formula would not show as math."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

HOOK = Path(__file__).resolve().parents[1] / "docs" / "hooks" / "math_mathml.py"
PAGE = SimpleNamespace(file=SimpleNamespace(src_uri="backprop.md"))


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("math_mathml", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(hook: ModuleType, html: str) -> str:
    result: str = hook.on_page_content(html, page=PAGE)
    return result


def test_inline_and_display_formulas_become_mathml(hook: ModuleType) -> None:
    out = render(
        hook,
        '<p>so <span class="arithmatex">\\(x &lt; y\\)</span></p>\n'
        '<div class="arithmatex">\\[\\frac{\\partial E}{\\partial y} = y - t\\]</div>',
    )
    assert '<span class="arithmatex"><math' in out and 'display="inline"' in out
    assert '<div class="arithmatex"><math' in out and 'display="block"' in out
    assert "<mfrac>" in out and "&#x0003C;" in out  # the "<" arithmatex escaped, as MathML
    assert "\\" not in out


def test_a_trailing_backslash_is_a_space_and_a_double_one_a_row_break(hook: ModuleType) -> None:
    out = render(
        hook,
        '<div class="arithmatex">\\[\\begin{aligned} a &amp;= b,\\\nc \\\\\nd &amp;= e'
        "\\end{aligned}\\]</div>",
    )
    assert out.count("<mtr>") == 2 and "\\" not in out and "<mi>&</mi>" not in out
    assert '<mtd style="text-align: right">' in out


def test_alphabets_become_unicode_letters_chromium_shows(hook: ModuleType) -> None:
    """MathML Core ignores mathvariant="sans-serif", which latex2mathml writes for \\mathsf T."""
    out = render(hook, '<span class="arithmatex">\\(W^{\\mathsf T} \\mathbb{1}\\)</span>')
    assert "mathvariant" not in out
    assert "\N{MATHEMATICAL SANS-SERIF CAPITAL T}" in out or "&#x1D5B3;" in out


@pytest.mark.parametrize(
    ("tex", "problem"),
    [
        ("\\foo{g} + x", "does not know \\foo"),
        ("a &= b", "an & or \\\\ outside an environment that makes a table"),
        ("\\frac{1}{2", "braces { } do not balance"),
    ],
)
def test_a_formula_that_cannot_be_shown_stops_the_build(
    hook: ModuleType, tex: str, problem: str
) -> None:
    with pytest.raises(PluginError) as raised:
        render(hook, f'<p><span class="arithmatex">\\({tex}\\)</span></p>')
    message = str(raised.value)
    assert message.startswith("backprop.md: the formula ") and repr(tex) in message
    assert problem in message


def test_tex_that_arithmatex_did_not_mark_stops_the_build(hook: ModuleType) -> None:
    with pytest.raises(PluginError, match=r"backprop\.md: TeX left unconverted near .*\$\$"):
        render(hook, "<p>$$\nE = mc^2\n$$ inside a list item</p>")


def test_tex_in_code_is_left_alone(hook: ModuleType) -> None:
    code = "<pre><code>print('$$', r'\\frac')</code></pre><p><code>\\(x\\)</code></p>"
    assert render(hook, code) == code


def test_primes_and_function_names_are_set_as_tex_sets_them(hook: ModuleType) -> None:
    out = render(hook, '<span class="arithmatex">\\(\\sigma\'(n)\\, t \\log y\\)</span>')
    assert '<mi>&#x003C3;</mi><mo lspace="0" rspace="0">&#x02032;</mo>' in out  # σ′, full size
    assert '<mi>log</mi><mspace width="0.167em"></mspace>' in out  # the thin space after \log
