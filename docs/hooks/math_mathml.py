"""mkdocs hook: the pages' TeX formulas become MathML when the site is built.

pymdownx.arithmatex (``generic: true``) marks each formula as
``<span class="arithmatex">\\(...\\)</span>`` (inline) or
``<div class="arithmatex">\\[...\\]</div>`` (display). This converts each one with
latex2mathml, so browsers render the math natively (MathML Core) with no script and no
network. The build is strict: a formula latex2mathml cannot read, a command it does not know
(it would show as raw ``\\name``), unbalanced braces, an ``&`` or ``\\\\`` outside a table,
or TeX that arithmatex did not mark (left as raw ``$$`` or ``\\[`` in a page's text) stops
the build, naming the page and the formula.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

FORMULA = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*'
    r"(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<display>.*?)\\\])\s*</(?P=tag)>",
    re.DOTALL,
)
# A backslash (not the second of a ``\\`` row break) before the end of a line is TeX's control
# space, which latex2mathml does not read; ``\ `` is the same space.
CONTROL_SPACE_AT_EOL = re.compile(r"(?<!\\)((?:\\\\)*)\\[ \t]*\n")
ALIGNED = re.compile(r"\\begin\{aligned\}(?P<body>.*?)\\end\{aligned\}", re.DOTALL)
VARIANT = re.compile(
    r'<(?P<tag>mi|mn|mo) mathvariant="(?P<variant>[a-z-]+)">(?P<text>[^<]*)</(?P=tag)>'
)
# A named function (\log, \tanh^2) and what follows it: TeX puts a thin space between them
# unless an opening parenthesis follows; latex2mathml puts none.
FUNCTION = re.compile(
    r"(<msup><mi>[a-z]{2,}</mi><mn>[^<]*</mn></msup>"
    r"|(?<!<msub>)(?<!<msup>)(?<!<msubsup>)(?<!<munder>)(?<!<mover>)<mi>[a-z]{2,}</mi>)"
    r'(?!<mo stretchy="false">&#x00028;|</)'  # not before "(", nor last (a script) in its element
)
# A prime as a superscript (σ'): the font's prime glyph is already raised, and set as a script
# too it shrinks to a speck; TeX's result is the glyph at full size beside the letter.
PRIME = re.compile(r"<msup>(<mi>[^<]*</mi>)<mi>(&#x0203[234];)</mi></msup>")
COLUMN_ALIGN = re.compile(r'<mtd columnalign="(?P<side>left|right|center)">')
# What latex2mathml writes for an alignment or a line break that is not in a table, which MathML
# Core lays out as a literal "&" and as no break.
UNLAID = re.compile(r'<mi>&</mi>|linebreak="newline"')
# What is left of the page once code and converted math are removed: where unmarked TeX shows.
CODE_OR_MATH = re.compile(r"<(pre|code|math)\b.*?</\1>", re.DOTALL)
RAW_TEX = re.compile(r"\$\$|\\\[|\\\(|\\begin\{|\\frac\b")
# MathML's mathvariant values and the names of their Unicode mathematical alphabets.
ALPHABETS = {
    "bold": "BOLD",
    "italic": "ITALIC",
    "bold-italic": "BOLD ITALIC",
    "double-struck": "DOUBLE-STRUCK",
    "script": "SCRIPT",
    "bold-script": "BOLD SCRIPT",
    "fraktur": "FRAKTUR",
    "bold-fraktur": "BOLD FRAKTUR",
    "sans-serif": "SANS-SERIF",
    "bold-sans-serif": "SANS-SERIF BOLD",
    "sans-serif-italic": "SANS-SERIF ITALIC",
    "sans-serif-bold-italic": "SANS-SERIF BOLD ITALIC",
    "monospace": "MONOSPACE",
}


class FormulaError(ValueError):
    """A formula that cannot be shown as MathML."""


def balanced(tex: str) -> bool:
    depth = 0
    for brace in re.findall(r"(?<!\\)[{}]", re.sub(r"\\\\", "", tex)):
        depth += 1 if brace == "{" else -1
        if depth < 0:
            return False
    return depth == 0


def styled_character(variant: str, character: str) -> str:
    """``character`` in a Unicode mathematical alphabet: MathML Core (Chromium) ignores every
    ``mathvariant`` but ``normal``, which latex2mathml writes for ``\\mathsf T`` (no braces)."""
    if character.isupper():
        kind = f"CAPITAL {character}"
    elif character.islower():
        kind = f"SMALL {character.upper()}"
    elif character.isdigit():
        kind = f"DIGIT {unicodedata.name(character).removeprefix('DIGIT ')}"
    else:
        raise FormulaError(f"no {variant} form of {character!r}")
    style = ALPHABETS.get(variant, "")
    # The letters Unicode had before the mathematical block (ℝ, ℎ ...) are outside it.
    for name in (f"MATHEMATICAL {style} {kind}", f"{style} {kind}") if style else ():
        try:
            return unicodedata.lookup(name)
        except KeyError:
            continue
    raise FormulaError(f"no {variant} form of {character!r}")


def restyle(match: re.Match[str]) -> str:
    tag, variant, text = match["tag"], match["variant"], html.unescape(match["text"])
    if variant == "normal":
        return match[0]
    if tag == "mo":  # an operator has no letter forms: "+" in \mathfrak{a + b} stays "+"
        return f"<mo>{match['text']}</mo>"
    styled = "".join(styled_character(variant, character) for character in text)
    return f"<{tag}>{html.escape(styled)}</{tag}>"


def as_array(match: re.Match[str]) -> str:
    """``aligned`` as the ``array`` of right- and left-aligned columns it is: latex2mathml lays
    out ``array`` as a table but ``aligned`` as one line with literal ampersands."""
    body = match["body"]
    if "\\begin" in body:
        raise FormulaError("an environment inside aligned is not supported")
    columns = max(row.count("&") for row in re.split(r"\\\\", body)) + 1
    return f"\\begin{{array}}{{{('rl' * columns)[:columns]}}}{body}\\end{{array}}"


def to_mathml(tex: str, display: bool) -> str:
    """MathML for one formula; raises FormulaError when it would not show what the TeX says."""
    if not balanced(tex):
        raise FormulaError("its braces { } do not balance")
    tex = ALIGNED.sub(as_array, CONTROL_SPACE_AT_EOL.sub(r"\1\\ ", tex))
    try:
        mathml = convert(tex, display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises many kinds, all meaning "cannot read it"
        raise FormulaError(
            f"latex2mathml cannot read it ({type(error).__name__}: {error})"
        ) from None
    unknown = re.findall(r"\\[A-Za-z]+|\\.", html.unescape(re.sub(r"<[^>]+>", "", mathml)))
    if unknown:
        raise FormulaError(f"latex2mathml does not know {', '.join(sorted(set(unknown)))}")
    if UNLAID.search(mathml):
        raise FormulaError("an & or \\\\ outside an environment that makes a table (array, matrix)")
    # MathML Core (Chromium) has no columnalign; CSS aligns a table cell.
    mathml = COLUMN_ALIGN.sub(r'<mtd style="text-align: \g<side>">', mathml)
    # TeX sets a slash as an ordinary symbol; MathML's operator dictionary would space it wide.
    mathml = mathml.replace("<mo>&#x0002F;</mo>", '<mo lspace="0" rspace="0">&#x0002F;</mo>')
    mathml = FUNCTION.sub(r'\1<mspace width="0.167em"></mspace>', mathml)
    mathml = PRIME.sub(r'\1<mo lspace="0" rspace="0">\2</mo>', mathml)
    return VARIANT.sub(restyle, mathml)


@event_priority(-50)  # after the other hooks' on_page_content, which may mark more formulas
def on_page_content(html_text: str, page: Any, **kwargs: Any) -> str:
    where = page.file.src_uri

    def replace(match: re.Match[str]) -> str:
        display = match["display"] is not None
        tex = html.unescape(match["display"] if display else match["inline"])
        try:
            mathml = to_mathml(tex, display)
        except FormulaError as error:
            message = f"{where}: the formula {tex.strip()!r} cannot be rendered: {error}"
            raise PluginError(message) from None
        return f'<{match["tag"]} class="arithmatex">{mathml}</{match["tag"]}>'

    converted = FORMULA.sub(replace, html_text)
    prose = CODE_OR_MATH.sub("", converted)
    raw = RAW_TEX.search(prose)
    if raw:
        shown = prose[max(0, raw.start() - 40) : raw.end() + 40]
        raise PluginError(
            f"{where}: TeX left unconverted near {shown!r}; write a formula as $...$ or as a "
            "$$...$$ block separated by blank lines, so pymdownx.arithmatex marks it"
        )
    return converted
