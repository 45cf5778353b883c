"""Component specs: ``"leaky_relu(alpha=0.1)"``, ``{"name": ..., **kwargs}`` or an instance.

Arguments are literals only: numbers, strings, True/False/None, and lists, tuples and dicts of
them. Nothing is ever evaluated: the arguments are read by :func:`ast.parse` and only literal
nodes are accepted. A spec string is at most :data:`MAX_SPEC_LENGTH` characters, which keeps the
parse fast and bounded, and its literals nest at most :data:`MAX_SPEC_DEPTH` brackets deep.

:func:`argument_checks` reads what a factory's annotations admit, so that a spec whose value does
not fit (``leaky_relu(alpha='x')``) is refused when it is resolved rather than on first use.
"""

from __future__ import annotations

import ast
import inspect
import keyword
import math
import numbers
import re
import reprlib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Union

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
    if name.isascii():  # the usual case, without a regular expression
        return name.translate(_ASCII_SEPARATORS).lower()
    return re.sub(r"[\s_\-.]+", "", name).lower()


# What r"[\s_\-.]" matches among ASCII characters.
_ASCII_SEPARATORS = str.maketrans("", "", "_-. \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f")


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


class ParsedSpec:
    """A spec broken into its name, its provider (or None) and its keyword arguments."""

    # A plain class compared by value: a NamedTuple costs 0.17 ms of start-up to create (typing
    # compiles each field's annotation), a dataclass a millisecond; nothing unpacks one.
    __slots__ = ("kwargs", "name", "provider")

    def __init__(self, name: str, provider: str | None, kwargs: dict[str, Any]) -> None:
        self.name = name
        self.provider = provider
        self.kwargs = kwargs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParsedSpec):
            return NotImplemented
        return (self.name, self.provider, self.kwargs) == (other.name, other.provider, other.kwargs)

    def __repr__(self) -> str:
        return f"ParsedSpec(name={self.name!r}, provider={self.provider!r}, kwargs={self.kwargs!r})"

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
    kwargs = _parse_arguments(spec, rest[:-1]) if paren else {}
    return ParsedSpec(name, provider if colon else None, kwargs)


# -- the arguments: Python's own parser, then a walk that admits literals only ------------------

_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_CONSTANT_TYPES = (str, int, float, bool, type(None))  # not bytes, complex or Ellipsis
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)
# Patterns for spec arguments and their errors, compiled on first use (re caches them), since
# building the registry parses no arguments.
_NEWLINE = r"\r\n?|\n"  # the line ends Python's tokenizer counts
_NEVER_CLOSED = r"'(.)' was never closed"
_BAD_NUMBER = r"leading zeros|invalid (?:decimal|hexadecimal|octal|binary|digit)"
_KEYWORD_ARGUMENT = r"(\w+)\s*=(?!=)"
_WORD = r"[\w.]+"
_TOO_DEEP = (
    f"its arguments nest more than {MAX_SPEC_DEPTH} brackets deep (plugnet.specs.MAX_SPEC_DEPTH)"
)


def _parse_arguments(spec: str, args: str) -> dict[str, Any]:
    """The keyword arguments in ``args``, read by ``ast.parse`` as the call ``_(args)``. The
    length limit, checked before, keeps the parse fast; Python refuses brackets more than 200
    deep itself, and MAX_SPEC_DEPTH is enforced while walking."""
    source = f"_({args})"
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(spec, source, exc) from None
    except ValueError as exc:
        raise _unparsable(spec, str(exc)) from None
    except (RecursionError, MemoryError):  # thousands of nested operators, e.g. ---...1
        raise _unparsable(spec, "they nest too deeply for Python's parser") from None
    call, lines = tree.body, re.split(_NEWLINE, source)
    # A comment or a ')' inside the arguments could end the call early: `relu(a=1)+(2)`. The
    # end is (line, UTF-8 offset), as ast counts it.
    end = (len(lines), len(lines[-1].encode()))
    if not (isinstance(call, ast.Call) and (call.end_lineno, call.end_col_offset) == end):
        raise _unparsable(spec, "a ')' or '#' ends the arguments before the spec ends")
    if any(item.arg is None for item in call.keywords):
        raise SpecError(f"spec {spec!r} uses '**'; write each argument out. {_SPEC_HELP}")
    if call.args:
        raise _positional(spec)
    kwargs: dict[str, Any] = {}
    for item in call.keywords:
        key = item.arg
        assert key is not None  # '**' was refused above
        if key in kwargs:  # a SyntaxError only when compiled, which ast.parse does not do
            raise SpecError(f"spec {spec!r} gives the argument {key!r} twice. {_SPEC_HELP}")
        kwargs[key] = _literal(spec, source, key, item.value)
    return kwargs


def _literal(spec: str, source: str, key: str, value: ast.expr) -> Any:
    """The value of argument ``key`` when ``value`` is a literal; recursion is bounded by
    MAX_SPEC_DEPTH."""

    def walk(node: ast.expr, depth: int) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) in _CONSTANT_TYPES:
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
            and isinstance(number := node.operand.value, (int, float))
            and not isinstance(number, bool)
        ):
            return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, (ast.List, ast.Tuple, ast.Dict)) and depth >= MAX_SPEC_DEPTH:
            raise _refused(spec, _TOO_DEEP)
        if isinstance(node, ast.List):
            return [walk(item, depth + 1) for item in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(walk(item, depth + 1) for item in node.elts)
        if isinstance(node, ast.Dict):
            items: dict[Any, Any] = {}
            for key_node, item in zip(node.keys, node.values, strict=True):
                if key_node is None:
                    raise SpecError(f"spec {spec!r} uses '**'; write each item out. {_SPEC_HELP}")
                dict_key = walk(key_node, depth + 1)
                if type(dict_key) not in _CONSTANT_TYPES:
                    raise _refused(
                        spec,
                        f"the dict key {preview(dict_key)} is not a string, a number, "
                        f"True, False or None",
                    )
                items[dict_key] = walk(item, depth + 1)
            return items
        if isinstance(node, ast.Set):
            raise _refused(spec, f"argument {key!r} holds a set; sets are not supported")
        segment = ast.get_source_segment(source, value) or ""
        raise SpecError(
            f"argument {key!r} of spec {spec!r} is {preview(segment)}, which is not a "
            f"literal ({_LITERALS}). {_SPEC_HELP}"
        )

    return walk(value, 0)


def _unparsable(spec: str, reason: str) -> SpecError:
    stop = "" if reason.endswith(("?", ".")) else "."  # Python's messages may end in one
    return SpecError(f"cannot parse the arguments of spec {spec!r}: {reason}{stop} {_SPEC_HELP}")


def _refused(spec: str, problem: str) -> SpecError:
    return SpecError(f"spec {spec!r}: {problem}. {_SPEC_HELP}")


def _positional(spec: str) -> SpecError:
    return SpecError(
        f"spec {spec!r} has a positional argument; name each one, "
        f"as in 'leaky_relu(alpha=0.1)'. {_SPEC_HELP}"
    )


def _index(source: str, line: int | None, offset: int | None) -> int | None:
    """The index in ``source`` of a SyntaxError's line and offset (both from 1), if given."""
    if not line or not offset or offset < 1:
        return None
    starts = [0, *(match.end() for match in re.finditer(_NEWLINE, source))]
    return min(starts[min(line, len(starts)) - 1] + offset - 1, len(source))


def _syntax_error(spec: str, source: str, error: SyntaxError) -> SpecError:
    """Python's SyntaxError about ``source`` in the words of a spec's grammar."""
    message = error.msg
    at = _index(source, error.lineno, error.offset)
    if message == "too many nested parentheses":
        return _refused(spec, _TOO_DEEP)
    if message.startswith(("positional argument follows", "iterable argument unpacking")):
        return _positional(spec)
    if never_closed := re.fullmatch(_NEVER_CLOSED, message):
        return _unparsable(spec, f"{never_closed[1]!r} is never closed")
    if at is None:
        return _unparsable(spec, message)
    if message.startswith("unterminated"):
        return _unparsable(spec, f"the string at {source[at:-1][:20]!r} is never closed")
    if re.match(_BAD_NUMBER, message):
        start = at  # Python points into the number, or just past it
        while start and (source[start - 1].isalnum() or source[start - 1] in "_."):
            start -= 1
        number = re.compile(_WORD).match(source, start)
        shown = preview(number[0] if number else source[at : at + 1])
        return _refused(spec, f"{shown} is not a valid number ({message})")
    if message.startswith("(unicode error) "):
        detail = message.removeprefix("(unicode error) ")
        return _refused(spec, f"one of its strings is not a valid string ({detail})")
    name = re.compile(_KEYWORD_ARGUMENT).match(source, at)
    if name and keyword.iskeyword(name[1]):  # class=1, True=1
        return _unparsable(spec, f"{name[1]!r} cannot be an argument name")
    end = _index(source, error.end_lineno, error.end_offset)
    if message == "invalid syntax. Perhaps you forgot a comma?" and end is not None and end > at:
        return _unparsable(spec, _missing_comma(source, at, end))
    if message != "invalid syntax":
        return _unparsable(spec, message)
    if at == len(source) - 1:  # the ')' closing `_(`: the text ends where a value should be
        return _unparsable(spec, "a value is missing")
    return _unparsable(spec, f"unexpected {source[at : max(end or 0, at + 1)]!r}")


def _missing_comma(source: str, start: int, end: int) -> str:
    """Python marks two values with no comma between them; parsed alone they fail at the second
    one, and the text before them fails at the innermost bracket left open."""
    pair, unexpected = source[start:end], source[start:end]
    try:  # on one line, with each character where it was, so that Python's offsets index pair
        ast.parse(re.sub(r"[\r\n]", " ", pair), mode="eval")
    except SyntaxError as exc:
        at = _index(pair, exc.lineno, exc.offset)
        stop = _index(pair, exc.end_lineno, exc.end_offset)
        if at is not None:
            unexpected = pair[at : max(stop or 0, at + 1)]
    except _PARSE_ERRORS:
        pass
    try:
        ast.parse(source[:start], mode="eval")
    except SyntaxError as exc:
        opener = re.fullmatch(_NEVER_CLOSED, exc.msg)
        if opener and _index(source, exc.lineno, exc.offset) != 1:  # 1: the call's own '('
            return f"unexpected {unexpected!r} in a {opener[1]}...{_CLOSERS[opener[1]]}"
    except _PARSE_ERRORS:
        pass
    return f"unexpected {unexpected!r}; separate the arguments with commas"


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


class ArgumentCheck:
    """What an annotation admits: ``expected`` describes it for messages (``"an integer"``),
    ``plural`` for the items of a list (``"integers"``); ``explain`` says what a value lacks,
    when that depends on the value ("finite" for NaN, else "a number")."""

    # Plain classes here and below: creating a dataclass or a NamedTuple costs start-up time.
    __slots__ = ("accepts", "annotation", "expected", "explain", "plural")

    def __init__(
        self,
        expected: str,
        plural: str,
        accepts: Callable[[Any], bool],
        annotation: str = "",
        explain: Callable[[Any], str] | None = None,
    ) -> None:
        self.expected, self.plural, self.accepts = expected, plural, accepts
        self.annotation, self.explain = annotation, explain

    def problem(self, name: str, value: Any) -> str | None:
        """Why ``value`` does not fit parameter ``name``, or None when it does."""
        if self.accepts(value):
            return None
        expected = self.expected if self.explain is None else self.explain(value)
        return f"{name} must be {expected} (annotated {self.annotation}), got {preview(value)}"


class AtLeast:
    """A lower bound in an annotation, which :func:`argument_checks` enforces:
    ``patience: Annotated[int, AtLeast(0)]`` admits the integers >= 0."""

    __slots__ = ("minimum",)

    def __init__(self, minimum: float) -> None:
        self.minimum = minimum

    def __repr__(self) -> str:
        return f"AtLeast({self.minimum!r})"


def argument_checks(factory: Callable[..., Any]) -> dict[str, ArgumentCheck]:
    """A check per keyword parameter of ``factory`` (a class: its ``__init__``) whose annotation
    is simple: float, int, bool, str, None, unions of them, Literal[...], lists and tuples of
    them, and ``Annotated[int | float, AtLeast(m)]``. Other annotations, ``Any`` and those that
    cannot be resolved are not checked."""
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
            checks[parameter.name] = ArgumentCheck(
                check.expected, check.plural, check.accepts, annotation, check.explain
            )
    return checks


def _type_hints(target: Any) -> dict[str, Any]:
    """``typing.get_type_hints(target)``; when one annotation cannot be resolved (a name
    imported only for type checkers), the others are resolved one by one."""
    try:
        return typing.get_type_hints(target, include_extras=True)
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
            hints.update(typing.get_type_hints(one, globalns=namespace, include_extras=True))
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
    if origin is Annotated:
        check = _check_for(args[0], infinite=infinite)
        bounds = [item.minimum for item in args[1:] if isinstance(item, AtLeast)]
        if check is None or not bounds:
            return check
        return _at_least(check, max(bounds), integer=args[0] is int)
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


def _at_least(check: ArgumentCheck, minimum: float, *, integer: bool) -> ArgumentCheck:
    """``check``, admitting only values >= ``minimum``."""
    if integer and minimum == 1:
        expected, plural = "a positive integer", "positive integers"
    else:
        expected, plural = f"{check.expected} >= {minimum:g}", f"{check.plural} >= {minimum:g}"

    def explain(value: Any) -> str:
        if check.explain is not None and not check.accepts(value):
            return check.explain(value)
        return expected

    return ArgumentCheck(
        expected, plural, lambda v: check.accepts(v) and v >= minimum, explain=explain
    )


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
