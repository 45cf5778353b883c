"""Spec strings and dicts are parsed with ast, never evaluated."""

from __future__ import annotations

import math
import re
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugnet import SpecError
from plugnet.specs import AtLeast, argument_checks, normalize, parse_mapping, parse_string


@pytest.mark.parametrize(
    ("spec", "provider", "name", "kwargs"),
    [
        ("relu", None, "relu", {}),
        ("soft-max", None, "soft-max", {}),
        ("Leaky ReLU(alpha=0.2)", None, "Leaky ReLU", {"alpha": 0.2}),
        ("plugnet-mish:mish", "plugnet-mish", "mish", {}),
        ("  plugnet : adam( lr=1e-3, betas=(0.9, 0.99) )  ", "plugnet", "adam",
         {"lr": 1e-3, "betas": (0.9, 0.99)}),
        ("threshold(value=-1, name='x', on=True, extra=None)", None, "threshold",
         {"value": -1, "name": "x", "on": True, "extra": None}),
        ("warmup(steps=10, then='cosine(t_max=5)')", None, "warmup",
         {"steps": 10, "then": "cosine(t_max=5)"}),
        ("relu()", None, "relu", {}),
    ],
)  # fmt: skip
def test_parse_string(
    spec: str, provider: str | None, name: str, kwargs: dict[str, object]
) -> None:
    parsed = parse_string(spec)
    assert (parsed.provider, parsed.name, parsed.kwargs) == (provider, name, kwargs)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("relu(alpha=__import__('os'))", "not a literal"),
        ("relu(alpha=x)", "not a literal"),
        ("relu(alpha=a.b)", "not a literal"),
        ("relu(alpha=1+)", "cannot parse the arguments"),
        ("relu(0.1)", "positional argument"),
        ("relu(**{'a': 1})", "'**'"),
        ("relu(", "cannot parse spec"),
        ("re$lu", "cannot parse spec"),
        ("a:b:c", "cannot parse spec"),
        ("", "cannot parse spec"),
    ],
)
def test_malformed_strings_raise_spec_error_quoting_the_spec(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_string(spec)
    assert message in str(info.value)
    assert repr(spec) in str(info.value)
    assert "leaky_relu(alpha=0.1)" in str(info.value)  # says what is allowed
    assert isinstance(info.value, ValueError)


def test_a_parsed_spec_is_compared_by_value() -> None:
    parsed = parse_string("plugnet:leaky_relu(alpha=0.1)")
    assert parsed == parse_mapping({"name": "plugnet:leaky_relu", "alpha": 0.1})
    assert parsed != parse_string("leaky_relu(alpha=0.1)")  # no provider
    expected = "ParsedSpec(name='leaky_relu', provider='plugnet', kwargs={'alpha': 0.1})"
    assert repr(parsed) == expected
    assert parsed.display == "plugnet:leaky_relu"


def test_parse_mapping_accepts_name_or_type() -> None:
    assert parse_mapping({"name": "leaky_relu", "alpha": 0.1}).kwargs == {"alpha": 0.1}
    parsed = parse_mapping({"type": "dense(units=3)", "activation": "relu"})
    assert (parsed.name, parsed.kwargs) == ("dense", {"units": 3, "activation": "relu"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"alpha": 0.1}, "no 'name' (or 'type') key"),
        ({"name": "a", "type": "b"}, "both 'name' and 'type'"),
        ({"name": 3}, "must be a string"),
        ({"name": "relu(alpha=1)", "alpha": 2}, "twice"),
    ],
)
def test_malformed_mappings(spec: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_mapping(spec)
    assert message in str(info.value)


def test_normalize_ignores_case_underscore_dash_space() -> None:
    assert normalize("LeakyReLU") == normalize("leaky-relu") == normalize("leaky_relu")
    assert normalize("Leaky ReLU") == "leakyrelu"


@given(st.text(max_size=30))
def test_normalize_fast_path_matches_the_pattern(name: str) -> None:
    """ASCII names skip the regular expression; the result is the pattern's."""
    assert normalize(name) == re.sub(r"[\s_\-.]+", "", name).lower()


def test_normalize_every_ascii_separator() -> None:
    text = "".join(map(chr, range(128)))
    assert normalize(text) == re.sub(r"[\s_\-.]+", "", text).lower()


def test_annotated_lower_bounds() -> None:
    """Annotated[int | float, AtLeast(m)] admits the values >= m, and says so."""

    def factory(
        count: Annotated[int, AtLeast(1)] = 1,
        patience: Annotated[int, AtLeast(0)] = 0,
        delta: Annotated[float, AtLeast(0.5)] = 1.0,
        note: Annotated[str, "not a bound"] = "",
    ) -> None: ...

    checks = argument_checks(factory)
    assert checks["count"].expected == "a positive integer"
    assert [checks["count"].accepts(v) for v in (1, 0, True, 2.0)] == [True, False, False, False]
    assert checks["patience"].problem("patience", -1) == (
        "patience must be an integer >= 0 (annotated typing.Annotated[int, AtLeast(0)]), got -1"
    )
    assert [checks["delta"].accepts(v) for v in (0.5, 0.4, math.inf, math.nan)] == [
        True, False, False, False,
    ]  # fmt: skip
    assert "delta must be finite " in (checks["delta"].problem("delta", math.nan) or "")
    assert "delta must be a number " in (checks["delta"].problem("delta", "x") or "")
    assert "delta must be a finite number >= 0.5 " in (checks["delta"].problem("delta", 0) or "")
    assert checks["note"].accepts("") and not checks["note"].accepts(1)  # str, unbounded
