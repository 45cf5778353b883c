"""Hostile specs: parsing is linear and bounded, every malformed spec is a SpecError (or an
UnknownComponentError), and an accepted spec builds a component that works.

The property tests are derandomized, so every run tries the same cases, and each call is timed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plugnet
from plugnet import SpecError, UnknownComponentError
from plugnet._registry import Registry
from plugnet.specs import MAX_SPEC_DEPTH, MAX_SPEC_LENGTH, parse_mapping, parse_string, preview
from tests import _bounds as bounds
from tests._bounds import traced
from tests.conftest import make_plugin

REFUSALS = (SpecError, UnknownComponentError)
CALL_LIMIT_S = 0.5  # one parse or resolve, on a slow shared machine; most take well under 1 ms
PROPERTY = settings(
    derandomize=True,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", autouse=True)
def warm_registry() -> None:
    """Build the global registry (and load any third-party plugins) before anything is timed."""
    plugnet.activation("relu")
    with pytest.raises(UnknownComponentError):
        plugnet.activation("no_such_activation")


def time_limit(seconds: float = CALL_LIMIT_S) -> AbstractContextManager[None]:
    return bounds.time_limit(seconds)


def outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or the refusal it raised; anything else fails the test."""
    with time_limit():
        try:
            return call()
        except REFUSALS as exc:
            return exc


# -- the reported cases ---------------------------------------------------------------------------


def test_spaces_before_a_bad_character_are_refused_at_once() -> None:
    # Was 17 s with 2000 spaces: the name regex backtracked.
    spec = "a" + " " * 4000 + "!"
    with time_limit(0.05), pytest.raises(SpecError, match="cannot parse spec"):
        plugnet.activation(spec)


SHAPES = {
    "spaces": " ",
    "brackets": "[",
    "parens": "(",
    "digits": "9",
    "quotes": "'",
    "escaped quotes": "'\\",
    "double quotes": '"',
    "commas": ",",
    "name": "a",
    "minus": "-",
    "keywords": "a=1,",
    "mixed": "a=[(1, 'x'), {2: -3}]",
}


@pytest.mark.parametrize("fill", SHAPES.values(), ids=SHAPES.keys())
def test_a_megabyte_spec_is_refused_up_front_in_little_memory(fill: str) -> None:
    for spec in (
        (fill * 1_000_000)[:1_000_000],
        "relu(alpha=" + fill * (1_000_000 // len(fill)) + ")",
        "relu" + " " * 1_000_000 + "!",
    ):
        with (
            traced() as measured,
            time_limit(0.05),
            pytest.raises(SpecError, match="specs are limited to 4096"),
        ):
            plugnet.activation(spec)
        assert measured.peak < 256 * 1024, f"peak {measured.peak} bytes"


@pytest.mark.parametrize("fill", SHAPES.values(), ids=SHAPES.keys())
def test_specs_of_the_longest_accepted_length_parse_in_linear_time(fill: str) -> None:
    """Just under the limit the spec reaches the parser: each shape, in the name and in the
    arguments (the escaped quotes made a tokenizer quadratic once)."""
    head = "leaky_relu(alpha="
    body = (fill * MAX_SPEC_LENGTH)[: MAX_SPEC_LENGTH - len(head) - 1]
    for spec in (head + body + ")", (fill * MAX_SPEC_LENGTH)[:MAX_SPEC_LENGTH], "a" + body + "!"):
        assert len(spec) <= MAX_SPEC_LENGTH
        with traced() as measured:
            result = outcome(lambda spec=spec: plugnet.activation(spec))  # type: ignore[misc]
        assert isinstance(result, REFUSALS)
        assert measured.peak < 2 * 1024 * 1024, f"peak {measured.peak} bytes"


def test_self_is_an_argument_like_any_other() -> None:
    with pytest.raises(SpecError, match="unexpected keyword argument 'self'"):
        plugnet.activation("relu(self=1)")
    with pytest.raises(SpecError, match="unexpected keyword argument 'self'"):
        plugnet.activation({"name": "leaky_relu", "self": 1})


@pytest.mark.parametrize("key", ["self", "kwargs", "kind", "spec", "factory", "label"])
def test_dict_keywords_that_collide_with_the_registry_s_own_names(key: str) -> None:
    with pytest.raises(SpecError, match=f"unexpected keyword argument '{key}'.*It accepts: alpha"):
        plugnet.activation({"name": "leaky_relu", key: 1})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("leaky_relu(alpha={[]: 1})", r"the dict key \[\] is not a string, a number"),
        ("leaky_relu(alpha={(1, 2): 1})", r"the dict key \(1, 2\) is not"),
        ("leaky_relu(alpha={1, 2})", "sets are not supported"),
        ("relu(a=1, a=2)", "gives the argument 'a' twice"),
        ("relu(class=1)", "'class' cannot be an argument name"),
        ("relu(True=1)", "'True' cannot be an argument name"),
        ("relu(=1)", "cannot parse the arguments"),
        ("relu(a=1,,)", "cannot parse the arguments"),
        ("relu(a=)", "a value is missing"),
        ("relu(a=[1 2])", r"unexpected '2' in a \[...\]"),
        ("relu(a=[1, 2)", "cannot parse the arguments"),
        ("relu(a='open)", "is never closed"),
        ("relu(a=1+2)", "is '1\\+2', which is not a literal"),
        ("relu(a=--1)", "is '--1', which is not a literal"),
        ("relu(a=1j)", "not a literal"),
        ("relu(a=b'x')", "not a literal"),
        ("relu(a=f'x')", "not a literal"),
        ("relu(a=nan)", "not a literal"),
        ("relu(a=lambda: 1)", "not a literal"),
        ("relu(a=010)", "'010' is not a valid number"),
        ("relu(a='\\N{no such character}')", "is not a valid string"),
        ("relu(a==1)", "positional argument"),
        ("relu(*a)", "positional argument"),
        ("relü", "cannot parse spec"),
        ("Re\u00a0LU", "cannot parse spec"),  # only ASCII spaces inside a name
        ("relu(a=1);", "cannot parse spec"),
        ("plugnet::relu", "cannot parse spec"),
        (":relu", "cannot parse spec"),
    ],
)
def test_malformed_arguments(spec: str, message: str) -> None:
    with time_limit(), pytest.raises(SpecError, match=message):
        plugnet.activation(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("relu(a=1)+(2)", "a '\\)' or '#' ends the arguments before the spec ends"),
        ("relu(a=1) #)", "ends the arguments before the spec ends"),
        ("relu(a={**b})", r"uses '\*\*'; write each item out"),
        ("relu(a=1 b=2)", "unexpected 'b'; separate the arguments with commas"),
        ("relu(a=1,\n b=[1\n 2])", r"unexpected '2' in a \[...\]"),
        ("relu(a=1, 2)", "has a positional argument"),
        ("relu(a=0x)", "'0x' is not a valid number"),
        ("relu(a=[" + "[" * 300 + ")", f"nest more than {MAX_SPEC_DEPTH} brackets deep"),
        # Python's parser gives up on these (MemoryError, RecursionError) or, in a later
        # version, may parse them; either way a SpecError comes back at once.
        ("relu(a=" + "[1," * 1300 + ")", f"nest too deeply|nest more than {MAX_SPEC_DEPTH}"),
        ("relu(a=" + "-" * 4000 + "1)", "nest too deeply|not a literal"),
    ],
)
def test_python_s_syntax_errors_are_told_in_the_words_of_a_spec(spec: str, message: str) -> None:
    assert len(spec) <= MAX_SPEC_LENGTH
    with time_limit(), pytest.raises(SpecError, match=message):
        parse_string(spec)


def test_unicode_in_strings_and_argument_names() -> None:
    assert parse_string("warmup(steps=2, then='☃')").kwargs == {"steps": 2, "then": "☃"}
    assert parse_string("relu(ä=1)").kwargs == {"ä": 1}  # an identifier; relu refuses it
    with pytest.raises(SpecError, match="unexpected keyword argument 'ä'"):
        plugnet.activation("relu(ä=1)")


def test_nesting_is_bounded() -> None:
    deep = "[" * MAX_SPEC_DEPTH + "]" * MAX_SPEC_DEPTH
    expected: list[Any] = []
    for _ in range(MAX_SPEC_DEPTH - 1):
        expected = [expected]
    assert parse_string(f"f(a={deep})").kwargs["a"] == expected
    too_deep = "[" * (MAX_SPEC_DEPTH + 1) + "]" * (MAX_SPEC_DEPTH + 1)
    with pytest.raises(SpecError, match=f"nest more than {MAX_SPEC_DEPTH} brackets deep"):
        parse_string(f"f(a={too_deep})")
    # 100 000 brackets deep: refused by the length limit before anything looks at them.
    with time_limit(0.05), pytest.raises(SpecError, match="specs are limited"):
        parse_string("f(a=" + "[" * 100_000 + "]" * 100_000 + ")")


def test_literals() -> None:
    parsed = parse_string(
        "f(a=-1, b=+2.5e-3, c=0x1F, d=1_000, e=.5, f=[1, (2,), (), {'k': None, 3: True}], "
        "g='x' \"y\", h=r'\\d', i=(1), j='''a'b''', k=False,)"
    )
    assert parsed.kwargs == {
        "a": -1,
        "b": 2.5e-3,
        "c": 31,
        "d": 1000,
        "e": 0.5,
        "f": [1, (2,), (), {"k": None, 3: True}],
        "g": "xy",
        "h": "\\d",
        "i": 1,
        "j": "a'b",
        "k": False,
    }


def test_huge_numbers_are_refused() -> None:
    digits = "9" * 4000  # as many as the length limit allows
    with pytest.raises(SpecError, match="alpha must be a number within the range of a float"):
        plugnet.activation(f"leaky_relu(alpha={digits})")
    huge = 1 << 3_400_000  # about 10**1_000_000, from Python rather than a spec string
    with time_limit(), pytest.raises(SpecError, match=r"<an integer of about \d+ digits>"):
        plugnet.activation({"name": "leaky_relu", "alpha": huge})
    with time_limit(), pytest.raises(SpecError, match="an integer of about"):
        plugnet.activation(huge)  # not a spec at all; its repr would raise ValueError
    with pytest.raises(SpecError, match="alpha must be finite"):
        plugnet.activation("leaky_relu(alpha=1e999)")


def test_arithmetic_errors_of_a_factory_are_spec_errors(fresh_registry: Registry) -> None:
    class Scaled:
        def __init__(self, scale: Any = 1) -> None:  # Any: the annotations check nothing
            self.factor = math.exp(scale)

        def forward(self, x: Any) -> Any:
            return x * self.factor

        def backward(self, x: Any, y: Any, grad: Any) -> Any:
            return grad * self.factor

        def get_config(self) -> dict[str, Any]:
            return {}

    def register_activations(register: Any) -> None:
        register(Scaled, "scaled")

    fresh_registry.add_plugin(make_plugin("scaled", register_activations=register_activations),
                              provider="scaled")  # fmt: skip
    with pytest.raises(SpecError, match=r"cannot build activation 'scaled:scaled'.*math range"):
        fresh_registry.resolve("activation", "scaled(scale=1e6)")
    with pytest.raises(SpecError, match="int too large to convert to float"):
        fresh_registry.resolve("activation", {"name": "scaled", "scale": 10**400})


def test_non_strings_and_odd_mapping_keys() -> None:
    with pytest.raises(SpecError, match="a spec must be a string"):
        parse_string(3)  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="has the key 3, which is not an argument name"):
        parse_mapping({"name": "relu", 3: 1})  # type: ignore[dict-item]
    with pytest.raises(SpecError, match="has the key 'a b', which is not an argument name"):
        parse_mapping({"name": "relu", "a b": 1})
    with pytest.raises(SpecError, match="specs are limited"):
        parse_mapping({"name": "x" * 10_000})


def test_previews_are_short_whatever_the_value() -> None:
    assert len(preview("x" * 1_000_000)) < 100
    assert len(preview([[[[[[1]]]]]] * 1000)) < 200
    assert preview(1 << 3_400_000) == "<an integer of about 1023503 digits>"
    assert preview({"alpha": 0.1}) == "{'alpha': 0.1}"


# -- values are checked against the annotations when the spec is resolved ------------------------


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [
        ("activation", "leaky_relu(alpha='x')",
         r"alpha must be a number \(annotated float\), got 'x'"),
        ("activation", "leaky_relu(alpha=True)", r"alpha must be a number .*got True"),
        ("activation", {"name": "leaky_relu", "alpha": float("nan")}, "alpha must be finite"),
        ("activation", {"name": "elu", "alpha": -math.inf}, "alpha must be finite"),
        ("activation", "gelu(approximate=3)", "approximate must be 'none' or 'tanh'"),
        ("layer", "dense(units=2, use_bias=1)",
         r"use_bias must be True or False \(annotated bool\)"),
        ("layer", "dense(units=True)", "units must be"),
        ("layer", "reshape(shape=[1, 'a'])", "reshape shape must be"),
        ("layer", "reshape(shape={'a': 1})", "reshape shape must be"),
        ("layer", "conv2d(filters=2, kernel_size=3, stride=[2, 1, 1])", "stride must be"),
        ("layer", "max_pool2d(pool_size=2, stride='x')", "stride must be"),
        ("layer", "batch_norm(momentum='high')", "must be a number"),
        ("optimizer", "adam(lr=1e-3, beta1='x')", "beta1 must be"),
        ("schedule", "step(step_size=2, gamma=None)", "gamma must be"),
        ("initializer", "xavier(distribution=1)", "distribution must be 'normal' or"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_refused_when_resolved(
    kind: str, spec: Any, message: str
) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        plugnet.registry().resolve(kind, spec)
    text = str(caught.value)
    assert "'plugnet:" in text  # names the component


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("activation", "leaky_relu(alpha=1)"),  # an int for a float
        ("activation", {"name": "leaky_relu", "alpha": np.float32(0.2)}),
        ("layer", "dense(units=np_int)"),
        ("layer", "reshape(shape=(1, 8, 8))"),  # a tuple for list[int] | tuple[int, ...]
        ("layer", "reshape(shape=[-1])"),
        ("layer", "conv2d(filters=2, kernel_size=[2, 1], stride=[2, 1], padding='same')"),
        ("layer", "conv2d(filters=2, kernel_size=3, padding=(1, 0))"),
        ("layer", "max_pool2d(pool_size=2, stride=None)"),
        ("optimizer", "sgd(lr=1, schedule='cosine(t_max=5)')"),
    ],
)
def test_values_that_fit_the_annotations_are_accepted(kind: str, spec: Any) -> None:
    if spec == "dense(units=np_int)":
        spec = {"type": "dense", "units": np.int64(3)}
    assert plugnet.registry().resolve(kind, spec) is not None


def plugin_registry(registry: Registry, factory: Callable[..., Any]) -> Registry:
    def register_activations(register: Any) -> None:
        register(factory, "probe")

    registry.add_plugin(make_plugin("probe", register_activations=register_activations),
                        provider="probe")  # fmt: skip
    return registry


class Probe:
    def forward(self, x: Any) -> Any:
        return x

    def backward(self, x: Any, y: Any, grad: Any) -> Any:
        return grad

    def get_config(self) -> dict[str, Any]:
        return {}


def test_literal_infinite_defaults_and_unresolvable_annotations(fresh_registry: Registry) -> None:
    def probe(
        mode: Literal["a", "b"] = "a",
        limit: float = math.inf,
        count: int | None = None,
        pair: tuple[int, str] = (1, "x"),
        hidden: UnknownType = None,  # type: ignore[name-defined]  # noqa: F821 - never resolved
    ) -> Probe:
        return Probe()

    registry = plugin_registry(fresh_registry, probe)
    component = registry.lookup("activation", "probe")
    assert "_argument_checks" not in vars(component)  # nothing is read at registration
    for good in ("probe(mode='b')", "probe(limit=1e999)", "probe(count=None)",
                 "probe(pair=[2, 'y'])", "probe(hidden=[1])"):  # fmt: skip
        registry.resolve("activation", good)
    assert "_argument_checks" in vars(component)  # read once, then kept
    for bad, message in [
        ("probe(mode='c')", r"mode must be one of 'a', 'b' \(annotated Literal\['a', 'b'\]\)"),
        ("probe(mode=1)", "mode must be one of"),
        ("probe(limit=nan)", "not a literal"),
        ({"name": "probe", "limit": math.nan}, "limit must be a number, not NaN"),
        ("probe(count=1.5)", "count must be an integer or None"),
        ("probe(pair=(1, 2))", r"pair must be a pair \(an integer, a string\)"),
        ("probe(pair=[1])", "pair must be a pair"),
    ]:
        with pytest.raises(SpecError, match=message):
            registry.resolve("activation", bad)


def test_a_hostile_name_in_a_model_file_fails_fast(tmp_path: Path) -> None:
    net = plugnet.Sequential([{"type": "dense", "units": 2}], error="square", seed=0)
    net.fit(np.zeros((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    path = tmp_path / "model.npz"
    net.save(str(path))
    from plugnet.serialization import CONFIG_KEY

    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    config = json.loads(arrays[CONFIG_KEY].tobytes())
    config["error_function"]["name"] = "a" + " " * 4000 + "!"
    arrays[CONFIG_KEY] = np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with time_limit(), pytest.raises((ValueError, LookupError)):
        plugnet.load(str(path))


# -- properties -----------------------------------------------------------------------------------

SPEC_ALPHABET = "relu_akyxtm()[]{}'\",=:-+.*0123456789eEjx \\\t\né☃"
KINDS = ["activation", "layer", "optimizer", "schedule", "initializer", "error_function"]
COMPONENTS = [(kind, c) for kind in KINDS for c in plugnet.registry().components(kind)]
NAMES = sorted({c.name for _, c in COMPONENTS})
PARAMETERS = sorted({name for _, c in COMPONENTS for name in c.parameters()} | {"self", "kwargs"})

literals = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.sampled_from([0, 1, 2, 3, -1, 10**30, 2**63])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def component_specs(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """A registered component, with arguments mostly among its own parameters."""
    kind, component = draw(st.sampled_from(COMPONENTS))
    own, other = (
        st.sampled_from(sorted(component.parameters()) or ["a"]),
        st.sampled_from(PARAMETERS),
    )
    keys = st.integers(0, 3).flatmap(lambda i: other if i == 0 else own)  # 1 in 4 is foreign
    return kind, component.name, draw(st.dictionaries(keys, literals, max_size=3))


def render(name: str, kwargs: dict[str, Any]) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def check_works(kind: str, instance: Any) -> None:
    """An accepted component does its job on a small input."""
    with np.errstate(all="ignore"):
        if kind == "activation":
            x = np.array([[0.5, -0.5, 2.0]])
            y = instance.forward(x)
            assert instance.backward(x, y, np.ones_like(y)).shape == x.shape
        elif kind == "schedule":
            assert isinstance(instance(1, 0.1), float)
        elif kind == "initializer":
            instance((3, 2), rng=np.random.default_rng(0), dtype=np.float64)
        elif kind == "optimizer":
            instance.update({"w": np.ones(2)}, {"w": np.ones(2)})


@PROPERTY
@given(st.text(max_size=300))
def test_property_any_text_parses_or_is_a_spec_error(text: str) -> None:
    result = outcome(lambda: parse_string(text))
    assert not isinstance(result, UnknownComponentError)


@PROPERTY
@given(st.text(alphabet=SPEC_ALPHABET, max_size=300))
def test_property_spec_like_text_resolves_or_is_refused(text: str) -> None:
    result = outcome(lambda: plugnet.activation(text))
    if not isinstance(result, REFUSALS):
        check_works("activation", result)


@PROPERTY
@given(component_specs(), st.booleans())
def test_property_structured_specs_build_working_components_or_are_refused(
    drawn: tuple[str, str, dict[str, Any]], as_mapping: bool
) -> None:
    kind, name, kwargs = drawn
    spec: Any = {"name": name, **kwargs} if as_mapping else render(name, kwargs)
    result = outcome(lambda: plugnet.registry().resolve(kind, spec))
    if not isinstance(result, REFUSALS):
        check_works(kind, result)


@PROPERTY
@given(
    st.dictionaries(
        st.sampled_from(["name", "type", *PARAMETERS]) | st.text(max_size=4) | st.integers(),
        literals | st.sampled_from(NAMES),
        max_size=4,
    )
)
def test_property_arbitrary_mappings_are_refused_or_resolved(spec: dict[Any, Any]) -> None:
    result = outcome(lambda: plugnet.activation(spec))
    if not isinstance(result, REFUSALS):
        check_works("activation", result)
