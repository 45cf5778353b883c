"""Component specs: ``"leaky_relu(alpha=0.1)"``, ``{"name": ..., **kwargs}`` or an instance.

Arguments are read with :mod:`ast` as literals only; nothing is ever evaluated.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plugnet.errors import SpecError

_NAME_CHARS = r"[A-Za-z0-9_\- ]"
_SPEC_RE = re.compile(
    rf"""^\s*
    (?:(?P<provider>[A-Za-z0-9][A-Za-z0-9_.\- ]*?)\s*:\s*)?   # optional 'provider:'
    (?P<name>[A-Za-z0-9]{_NAME_CHARS}*?)\s*                   # the name
    (?:\((?P<args>.*)\))?\s*$                                  # optional '(key=literal, ...)'
    """,
    re.VERBOSE | re.DOTALL,
)
_SPEC_HELP = (
    "A spec is a name with optional keyword arguments whose values are literals, "
    "e.g. 'leaky_relu(alpha=0.1)' or 'plugnet:adam(lr=1e-3)'."
)


def normalize(name: str) -> str:
    """The lookup key of a name: lower case, without '_', '-', '.' and spaces."""
    return re.sub(r"[\s_\-.]+", "", name).lower()


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
    match = _SPEC_RE.match(spec)
    if match is None:
        raise SpecError(f"cannot parse spec {spec!r}. {_SPEC_HELP}")
    provider = match["provider"].strip() if match["provider"] else None
    kwargs = _parse_kwargs(spec, match["args"]) if match["args"] is not None else {}
    return ParsedSpec(match["name"].strip(), provider, kwargs)


def _parse_kwargs(spec: str, args: str) -> dict[str, Any]:
    try:
        call = ast.parse(f"_({args})", mode="eval").body
    except SyntaxError as exc:
        raise SpecError(
            f"cannot parse the arguments of spec {spec!r}: {exc.msg}. {_SPEC_HELP}"
        ) from None
    assert isinstance(call, ast.Call)
    if call.args:
        raise SpecError(
            f"spec {spec!r} has a positional argument; name each one, "
            f"as in 'leaky_relu(alpha=0.1)'. {_SPEC_HELP}"
        )
    kwargs: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise SpecError(f"spec {spec!r} uses '**'; write each argument out. {_SPEC_HELP}")
        try:
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            source = ast.get_source_segment(f"_({args})", keyword.value) or "?"
            raise SpecError(
                f"argument {keyword.arg!r} of spec {spec!r} is {source!r}, which is not a "
                f"literal (numbers, strings, True/False/None, tuples, lists and dicts of them). "
                f"{_SPEC_HELP}"
            ) from None
    return kwargs


def parse_mapping(spec: Mapping[str, Any]) -> ParsedSpec:
    """Parse ``{"name": ..., **kwargs}``; ``"type"`` may stand for ``"name"``."""
    if "name" in spec and "type" in spec:
        raise SpecError(f"spec {dict(spec)!r} has both 'name' and 'type'; give one of them.")
    key = "name" if "name" in spec else "type"
    if key not in spec:
        raise SpecError(
            f"spec {dict(spec)!r} has no 'name' (or 'type') key saying which component to build."
        )
    name = spec[key]
    if not isinstance(name, str):
        raise SpecError(f"the {key!r} of spec {dict(spec)!r} must be a string, not {name!r}.")
    parsed = parse_string(name)
    extra = {k: v for k, v in spec.items() if k != key}
    if not all(isinstance(k, str) for k in extra):
        raise SpecError(f"spec {dict(spec)!r} has a key that is not a string.")
    duplicated = sorted(set(extra) & set(parsed.kwargs))
    if duplicated:
        raise SpecError(f"spec {dict(spec)!r} gives {duplicated} twice.")
    return ParsedSpec(parsed.name, parsed.provider, {**parsed.kwargs, **extra})
