"""Component specs: ``"leaky_relu(alpha=0.1)"``, ``{"name": ..., **kwargs}`` or an instance.

Arguments are literals only: numbers, strings, True/False/None, and lists, tuples and dicts of
them. Nothing is ever evaluated. Parsing takes time linear in the spec's length: a spec string is
at most :data:`MAX_SPEC_LENGTH` characters, its literals nest at most :data:`MAX_SPEC_DEPTH`
brackets deep, and the parser keeps its own stack (it never recurses on the input).

:func:`argument_checks` reads what a factory's annotations admit, so that a spec whose value does
not fit (``leaky_relu(alpha='x')``) is refused when it is resolved rather than on first use.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import keyword
import math
import numbers
import re
import reprlib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Union

from plugnet.errors import SpecError

#: The longest spec string accepted, in characters; longer ones are refused before parsing.
MAX_SPEC_LENGTH = 4096
#: How deeply the lists, tuples and dicts in a spec's arguments may nest.
MAX_SPEC_DEPTH = 32

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\- ]*")
_PROVIDER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\- ]*")
_SPEC_HELP = (
    "A spec is a name with optional keyword arguments whose values are literals, "
    "e.g. 'leaky_relu(alpha=0.1)' or 'plugnet:adam(lr=1e-3)'."
)
_LITERALS = "numbers, strings, True/False/None, tuples, lists and dicts of them"


def normalize(name: str) -> str:
    """The lookup key of a name: lower case, without '_', '-', '.' and spaces."""
    return re.sub(r"[\s_\-.]+", "", name).lower()


class _Preview(reprlib.Repr):
    """reprlib, except that an integer too long to print is described by its size (``repr``
    of a 5000-digit integer raises ValueError)."""

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 1000:
            return f"<an integer of about {int(x.bit_length() * math.log10(2)) + 1} digits>"
        return super().repr_int(x, level)


_preview = _Preview()
_preview.maxstring = _preview.maxother = 80
_preview.maxlist = _preview.maxtuple = _preview.maxdict = _preview.maxset = 8
_preview.maxlevel = 4


def preview(value: object) -> str:
    """A ``repr`` of ``value`` short enough for an error message, whatever its size."""
    return _preview.repr(value)


@dataclass(frozen=True)
class ParsedSpec:
    """A spec broken into its provider (or None), its name and its keyword arguments."""

    name: str
    provider: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def display(self) -> str:
        return f"{self.provider}:{self.name}" if self.provider else self.name


def parse_string(spec: str) -> ParsedSpec:
    """Parse ``"[provider:]name[(key=literal, ...)]"``."""
    if not isinstance(spec, str):
        raise SpecError(f"a spec must be a string, a dict or an instance, got {preview(spec)}.")
    if len(spec) > MAX_SPEC_LENGTH:
        raise SpecError(
            f"spec {preview(spec)} is {len(spec)} characters long; specs are limited to "
            f"{MAX_SPEC_LENGTH} (plugnet.specs.MAX_SPEC_LENGTH). {_SPEC_HELP}"
        )
    text = spec.strip()
    head, paren, rest = text.partition("(")
    provider, colon, name = head.rpartition(":")
    name, provider = name.strip(), provider.strip()
    if (
        (paren and not rest.endswith(")"))
        or not _NAME_RE.fullmatch(name)
        or (colon and not _PROVIDER_RE.fullmatch(provider))
    ):
        raise SpecError(f"cannot parse spec {spec!r}. {_SPEC_HELP}")
    kwargs = _ArgumentParser(spec, rest[:-1]).parse() if paren else {}
    return ParsedSpec(name, provider if colon else None, kwargs)


# -- the arguments: a tokenizer and a parser with its own stack ---------------------------------

# Each alternative consumes at least one character and none can match a prefix of another's
# input in more than one way, so tokenizing is linear; strings and digits are "unrolled loops"
# (a character class repeated between escapes or underscores), which the re module matches
# without a backtracking entry per character. `other` catches everything else.
_TOKEN_RE = re.compile(
    r"""
    (?P<space>[ \t\n\r\f\v]+)
  | (?P<string>[rRuU]?(?:
        '''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''
      | \"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"
      | '[^'\\\n]*(?:\\.[^'\\\n]*)*'
      | "[^"\\\n]*(?:\\.[^"\\\n]*)*"))
  | (?P<number>0[xX]_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)* | 0[oO]_?[0-7]+(?:_[0-7]+)*
      | 0[bB]_?[01]+(?:_[01]+)*
      | (?:[0-9]+(?:_[0-9]+)*(?:\.(?:[0-9]+(?:_[0-9]+)*)?)? | \.[0-9]+(?:_[0-9]+)*)
        (?:[eE][-+]?[0-9]+(?:_[0-9]+)*)?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*|[-+*/%@<>=!&|^~.:,()\[\]{}])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_CONSTANTS = {"True": True, "False": False, "None": None}
_STARTS = ("(", "[", "{", "-", "+", "*", "~")  # tokens that begin a (positional) expression
_OPERATORS = frozenset("-+*/%@<>=!&|^~.")
_NO_KEY = object()


class _Token(NamedTuple):
    kind: str
    text: str
    start: int
    end: int


class _Unparsable(Exception):
    """The arguments are not in the literal grammar; ``reason`` says where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Container:
    """A list, tuple or dict being read: its items so far and, in a dict, a key awaiting its
    value."""

    def __init__(self, opener: str) -> None:
        self.opener = opener
        self.items: list[Any] = []
        self.key: Any = _NO_KEY
        self.commas = 0

    def close(self) -> Any:
        if self.opener == "[":
            return self.items
        if self.opener == "{":
            return dict(self.items)
        # (x) is x; (x,) and () are tuples
        return tuple(self.items) if self.commas or not self.items else self.items[0]


class _ArgumentParser:
    """``key=literal, ...`` read from tokens; an explicit stack holds the open containers."""

    def __init__(self, spec: str, args: str) -> None:
        self.spec, self.args = spec, args
        self.tokens: list[_Token] = []
        for match in _TOKEN_RE.finditer(args):
            kind, text = match.lastgroup or "other", match.group()
            if kind == "other" and text in "'\"":
                # Stop at once: rescanning from every later quote would be quadratic.
                raise self.unparsable(
                    f"the string at {args[match.start() :][:20]!r} is never closed"
                )
            if kind != "space":
                self.tokens.append(_Token(kind, text, match.start(), match.end()))

    def parse(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        tokens, i = self.tokens, 0
        while i < len(tokens):
            token = tokens[i]
            if token.text == "**":
                raise SpecError(
                    f"spec {self.spec!r} uses '**'; write each argument out. {_SPEC_HELP}"
                )
            if token.kind == "name" and self.text(i + 1) == "=" and self.text(i + 2) != "=":
                key = token.text
                if not key.isidentifier() or keyword.iskeyword(key):
                    raise self.unparsable(f"{key!r} cannot be an argument name")
                if key in kwargs:
                    raise SpecError(
                        f"spec {self.spec!r} gives the argument {key!r} twice. {_SPEC_HELP}"
                    )
                start = i + 2
                try:
                    kwargs[key], i = self.value(start)
                    if self.text(i) not in (",", None):
                        raise _Unparsable(f"unexpected {self.text(i)!r} after the value of {key!r}")
                except _Unparsable as exc:
                    raise self.bad_value(key, start, exc.reason) from None
                i += 1  # the comma
            elif token.kind in ("name", "number", "string") or token.text in _STARTS:
                raise SpecError(
                    f"spec {self.spec!r} has a positional argument; name each one, "
                    f"as in 'leaky_relu(alpha=0.1)'. {_SPEC_HELP}"
                )
            else:
                raise self.unparsable(f"unexpected {token.text!r}")
        return kwargs

    def text(self, i: int) -> str | None:
        return self.tokens[i].text if i < len(self.tokens) else None

    def unparsable(self, reason: str) -> SpecError:
        return SpecError(
            f"cannot parse the arguments of spec {self.spec!r}: {reason}. {_SPEC_HELP}"
        )

    def refused(self, problem: str) -> SpecError:
        return SpecError(f"spec {self.spec!r}: {problem}. {_SPEC_HELP}")

    def value(self, i: int) -> tuple[Any, int]:
        """The literal starting at token ``i`` and the index after it."""
        stack: list[_Container] = []
        while True:
            opener = self.text(i)
            if opener is not None and opener in _CLOSERS:
                if len(stack) >= MAX_SPEC_DEPTH:
                    raise self.refused(
                        f"its arguments nest more than {MAX_SPEC_DEPTH} brackets deep "
                        f"(plugnet.specs.MAX_SPEC_DEPTH)"
                    )
                stack.append(_Container(opener))
                i += 1
                if self.text(i) != _CLOSERS[opener]:
                    continue
                value, i = stack.pop().close(), i + 1
            else:
                value, i = self.scalar(i)
            # Hand the value to the containers it completes, innermost first.
            while stack:
                top = stack[-1]
                if top.opener == "{" and top.key is _NO_KEY:
                    if value is not None and not isinstance(value, (str, int, float)):
                        raise self.refused(
                            f"the dict key {preview(value)} is not a string, a number, "
                            f"True, False or None"
                        )
                    if self.text(i) != ":":
                        raise _Unparsable("expected ':' after a dict key (sets are not supported)")
                    top.key, i = value, i + 1
                    break
                if top.opener == "{":
                    top.items.append((top.key, value))
                    top.key = _NO_KEY
                else:
                    top.items.append(value)
                closer = _CLOSERS[top.opener]
                if self.text(i) == ",":
                    top.commas += 1
                    i += 1
                    if self.text(i) != closer:
                        break
                elif self.text(i) != closer:
                    found = self.text(i)
                    raise _Unparsable(
                        f"{top.opener!r} is never closed"
                        if found is None
                        else f"unexpected {found!r} in a {top.opener}...{closer}"
                    )
                value, i = stack.pop().close(), i + 1
            else:
                return value, i

    def scalar(self, i: int) -> tuple[Any, int]:
        token = self.tokens[i] if i < len(self.tokens) else None
        if token is None:
            raise _Unparsable("a value is missing")
        if token.kind == "string":  # adjacent strings concatenate, as in Python
            parts = []
            while i < len(self.tokens) and self.tokens[i].kind == "string":
                parts.append(self.string(self.tokens[i].text))
                i += 1
            return "".join(parts), i
        if token.kind == "number":
            return self.number(token.text), i + 1
        if token.text in ("-", "+") and i + 1 < len(self.tokens):
            following = self.tokens[i + 1]
            if following.kind == "number":
                number = self.number(following.text)
                return (-number if token.text == "-" else number), i + 2
        if token.text in _CONSTANTS:
            return _CONSTANTS[token.text], i + 1
        raise _Unparsable(f"unexpected {token.text!r}")

    def string(self, text: str) -> str:
        raw = text[0] in "rR"
        body = text[1:] if text[0] in "rRuU" else text
        quotes = 3 if body[:3] in ("'''", '"""') else 1
        if raw or "\\" not in body:
            return body[quotes:-quotes]  # nothing to unescape
        try:  # one string token: a constant, nothing is evaluated
            value = ast.literal_eval(text)
        except (SyntaxError, ValueError) as exc:
            raise self.refused(f"{preview(text)} is not a valid string ({exc})") from None
        assert isinstance(value, str)
        return value

    def number(self, text: str) -> int | float:
        try:
            if text[:2].lower() in ("0x", "0o", "0b") or not any(c in text for c in ".eE"):
                return int(text, 0)
            return float(text)
        except ValueError as exc:  # 010, or more digits than int() converts
            raise self.refused(f"{preview(text)} is not a valid number ({exc})") from None

    def bad_value(self, key: str, start: int, reason: str) -> SpecError:
        """'Not a literal' when the value is an expression (a name, a call, arithmetic),
        else the syntax error itself."""
        depth, end, balanced = 0, start, True
        while end < len(self.tokens):
            token = self.tokens[end]
            if token.text == "," and depth == 0:
                break
            if token.kind == "other":
                balanced = False
            depth += (token.text in _CLOSERS) - (token.text in _CLOSERS.values())
            if depth < 0:
                balanced = False
                break
            end += 1
        segment = self.tokens[start:end]
        expression = any(
            (t.kind == "name" and t.text not in _CONSTANTS) or t.text in _OPERATORS for t in segment
        )
        complete = bool(segment) and (
            segment[-1].kind in ("name", "number", "string")
            or segment[-1].text in _CLOSERS.values()
        )
        if balanced and depth == 0 and expression and complete:
            source = self.args[segment[0].start : segment[-1].end]
            return SpecError(
                f"argument {key!r} of spec {self.spec!r} is {source!r}, which is not a "
                f"literal ({_LITERALS}). {_SPEC_HELP}"
            )
        return self.unparsable(reason)


def parse_mapping(spec: Mapping[str, Any]) -> ParsedSpec:
    """Parse ``{"name": ..., **kwargs}``; ``"type"`` may stand for ``"name"``."""
    if "name" in spec and "type" in spec:
        raise SpecError(f"spec {preview(dict(spec))} has both 'name' and 'type'; give one of them.")
    key = "name" if "name" in spec else "type"
    if key not in spec:
        raise SpecError(
            f"spec {preview(dict(spec))} has no 'name' (or 'type') key saying which component "
            f"to build."
        )
    name = spec[key]
    if not isinstance(name, str):
        raise SpecError(
            f"the {key!r} of spec {preview(dict(spec))} must be a string, not {preview(name)}."
        )
    parsed = parse_string(name)
    extra = {k: v for k, v in spec.items() if k != key}
    for argument in extra:
        if not isinstance(argument, str) or not argument.isidentifier():
            raise SpecError(
                f"spec {preview(dict(spec))} has the key {preview(argument)}, which is not an "
                f"argument name (a string such as 'alpha')."
            )
    duplicated = sorted(set(extra) & set(parsed.kwargs))
    if duplicated:
        raise SpecError(f"spec {preview(dict(spec))} gives {duplicated} twice.")
    return ParsedSpec(parsed.name, parsed.provider, {**parsed.kwargs, **extra})


# -- what a factory's annotations admit -----------------------------------------------------------


@dataclass(frozen=True)
class ArgumentCheck:
    """What an annotation admits: ``expected`` describes it for messages (``"an integer"``),
    ``plural`` for the items of a list (``"integers"``)."""

    expected: str
    plural: str
    accepts: Callable[[Any], bool]
    annotation: str = ""
    #: What the value lacks, when that depends on the value ("finite" for NaN, else "a number").
    explain: Callable[[Any], str] | None = None

    def problem(self, name: str, value: Any) -> str | None:
        """Why ``value`` does not fit parameter ``name``, or None when it does."""
        if self.accepts(value):
            return None
        expected = self.expected if self.explain is None else self.explain(value)
        return f"{name} must be {expected} (annotated {self.annotation}), got {preview(value)}"


def argument_checks(factory: Callable[..., Any]) -> dict[str, ArgumentCheck]:
    """A check per keyword parameter of ``factory`` (a class: its ``__init__``) whose annotation
    is simple: float, int, bool, str, None, unions of them, Literal[...], and lists and tuples
    of them. Other annotations, ``Any`` and those that cannot be resolved are not checked."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}
    hints = _type_hints(
        inspect.getattr_static(factory, "__init__") if isinstance(factory, type) else factory
    )
    checks = {}
    for parameter in signature.parameters.values():
        if parameter.name not in hints or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
            parameter.POSITIONAL_ONLY,
        ):
            continue
        default = parameter.default
        infinite = isinstance(default, float) and math.isinf(default)
        check = _check_for(hints[parameter.name], infinite=infinite)
        if check is not None:
            annotation = inspect.formatannotation(hints[parameter.name])
            checks[parameter.name] = dataclasses.replace(check, annotation=annotation)
    return checks


def _type_hints(target: Any) -> dict[str, Any]:
    """``typing.get_type_hints(target)``; when one annotation cannot be resolved (a name
    imported only for type checkers), the others are resolved one by one."""
    try:
        return typing.get_type_hints(target)
    except Exception:  # whatever an annotation raises, it only means "not checked"
        pass
    annotations = getattr(target, "__annotations__", None)
    if not isinstance(annotations, dict):
        return {}
    namespace = getattr(inspect.unwrap(target), "__globals__", None)
    hints: dict[str, Any] = {}
    for name, annotation in annotations.items():
        one = types.SimpleNamespace(__annotations__={name: annotation})
        try:
            hints.update(typing.get_type_hints(one, globalns=namespace))
        except Exception:  # this one stays unchecked
            continue
    return hints


def _as_float(value: Any) -> float | None:
    """``value`` as a float when it is a real number (not a bool) within float's range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, ValueError, TypeError):  # e.g. an integer of 400 digits
        return None


def _number_check(*, infinite: bool) -> ArgumentCheck:
    def accepts(value: Any) -> bool:
        number = _as_float(value)
        return number is not None and not math.isnan(number) and (infinite or math.isfinite(number))

    def explain(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return "a number"
        if _as_float(value) is None:
            return "a number within the range of a float"
        return "a number, not NaN" if infinite else "finite"

    expected = "a number (not NaN)" if infinite else "a finite number"
    plural = "numbers (not NaN)" if infinite else "finite numbers"
    return ArgumentCheck(expected, plural, accepts, explain=explain)


def _check_for(hint: Any, *, infinite: bool = False) -> ArgumentCheck | None:
    """The check for one resolved annotation, or None when it is not a simple one."""
    if hint is float:
        return _number_check(infinite=infinite)
    if hint is int:
        return ArgumentCheck(
            "an integer",
            "integers",
            lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool),
        )
    if hint is bool:
        return ArgumentCheck("True or False", "True/False values", lambda v: isinstance(v, bool))
    if hint is str:
        return ArgumentCheck("a string", "strings", lambda v: isinstance(v, str))
    if hint is None or hint is type(None):
        return ArgumentCheck("None", "None", lambda v: v is None)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        shown = ", ".join(repr(a) for a in args)
        return ArgumentCheck(
            f"one of {shown}",
            f"values among {shown}",
            lambda v: any(type(v) is type(a) and v == a for a in args),
        )
    if origin in (Union, types.UnionType):
        parts = [_check_for(a, infinite=infinite) for a in args]
        if any(p is None for p in parts):
            return None
        known = [p for p in parts if p is not None]
        return ArgumentCheck(
            _or([p.expected for p in known]),
            _or([p.plural for p in known]),
            lambda v: any(p.accepts(v) for p in known),
        )
    if origin in (list, tuple):
        return _sequence_check(args, variadic=origin is list or args[-1:] == (...,))
    return None


def _sequence_check(args: tuple[Any, ...], *, variadic: bool) -> ArgumentCheck | None:
    """list[X], tuple[X, ...] and tuple[X, Y]: a list or a tuple either way, since TOML and JSON
    have only arrays."""
    items = [_check_for(a) for a in (args[:1] if variadic else args)]
    if not items or any(item is None for item in items):
        return None
    known = [item for item in items if item is not None]
    if variadic:
        (item,) = known
        return ArgumentCheck(
            f"a list or tuple of {item.plural}",
            f"lists of {item.plural}",
            lambda v: isinstance(v, (list, tuple)) and all(item.accepts(x) for x in v),
        )
    count = "a pair" if len(known) == 2 else f"a list or tuple of {len(known)}"
    if all(item.plural == known[0].plural for item in known):
        expected = f"{count} of {known[0].plural}"
    else:
        noun = "" if len(known) == 2 else " items"
        expected = f"{count}{noun} ({', '.join(item.expected for item in known)})"
    return ArgumentCheck(
        expected,
        f"lists of {len(known)} items",
        lambda v: (
            isinstance(v, (list, tuple))
            and len(v) == len(known)
            and all(item.accepts(x) for item, x in zip(known, v, strict=True))
        ),
    )


def _or(words: list[str]) -> str:
    unique = list(dict.fromkeys(words))
    return unique[0] if len(unique) == 1 else f"{', '.join(unique[:-1])} or {unique[-1]}"
