"""Every built-in activation against closed forms written here independently (kinks included),
plus the row functions' exact VJPs. Gradients by finite differences, dtypes, extreme inputs, no
mutation and config round trips are the conformance suite's job (tests/test_conformance.py),
which reads each activation's kinks and extra configurations from the class itself."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import plugnet

BUILTINS = [c for c in plugnet.registry().components("activation") if c.provider == "plugnet"]
NAMES = [c.name for c in BUILTINS]


def canonical(spec: str) -> str:
    return plugnet.registry().lookup("activation", spec.split("(")[0]).name


def test_aliases_do_not_repeat_their_names() -> None:
    def key(name: str) -> str:
        return "".join(ch for ch in name.lower() if ch not in "_- ")

    for component in BUILTINS:
        assert all(key(alias) != key(component.name) for alias in component.aliases)
    assert isinstance(plugnet.activation("lrelu"), type(plugnet.activation("leaky_relu")))
    assert isinstance(plugnet.activation("silu"), type(plugnet.activation("swish")))
    assert isinstance(plugnet.activation("heaviside"), type(plugnet.activation("step")))


def _sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _sp(v: float) -> float:
    return math.log1p(math.exp(v))


SELU_L, SELU_A = 1.0507009873554805, 1.6732632423543772

# spec, points, closed form per point (written with math, not with the implementation).
CLOSED_FORMS: list[tuple[str, list[float], Callable[[float], float]]] = [
    ("identity", [-2.0, 0.0, 3.5], lambda v: v),
    ("step", [-1.0, 0.0, 1e-9, 2.0], lambda v: 1.0 if v > 0 else 0.0),
    ("bent_identity", [-3.0, 0.0, 2.0], lambda v: (math.sqrt(v * v + 1) - 1) / 2 + v),
    ("hard_shrink", [-0.5, -0.6, 0.0, 0.5, 0.7], lambda v: v if abs(v) > 0.5 else 0.0),
    (
        "soft_shrink",
        [-0.5, -0.75, 0.2, 0.5, 2.0],
        lambda v: v - 0.5 if v > 0.5 else (v + 0.5 if v < -0.5 else 0.0),
    ),
    ("threshold(threshold=1.0, value=-3.0)", [0.0, 1.0, 1.5], lambda v: v if v > 1 else -3.0),
    ("threshold", [-1.0, 0.0, 2.0], lambda v: v if v > 0 else 0.0),
    ("sigmoid", [-3.0, 0.0, 2.0], _sig),
    ("hard_sigmoid", [-3.0, -2.5, 0.0, 1.0, 2.5, 4.0], lambda v: min(max(0.2 * v + 0.5, 0), 1)),
    ("log_sigmoid", [-30.0, -1.0, 0.0, 3.0], lambda v: -math.log1p(math.exp(-v))),
    ("tanh", [-1.0, 0.0, 0.5], math.tanh),
    ("tanh_shrink", [-1.0, 0.0, 2.0], lambda v: v - math.tanh(v)),
    ("hard_tanh", [-2.0, -1.0, 0.3, 1.0, 5.0], lambda v: min(max(v, -1.0), 1.0)),
    ("relu", [-1.0, 0.0, 2.0], lambda v: max(v, 0.0)),
    ("relu6", [-1.0, 0.0, 3.0, 6.0, 7.0], lambda v: min(max(v, 0.0), 6.0)),
    ("leaky_relu", [-2.0, 0.0, 3.0], lambda v: v if v > 0 else 0.01 * v),
    ("elu", [-2.0, 0.0, 3.0], lambda v: v if v > 0 else math.exp(v) - 1),
    ("selu", [-2.0, 0.0, 3.0], lambda v: SELU_L * (v if v > 0 else SELU_A * (math.exp(v) - 1))),
    ("celu(alpha=2.0)", [-2.0, 0.0, 3.0], lambda v: max(0, v) + min(0, 2 * math.expm1(v / 2))),
    ("softplus", [-5.0, 0.0, 19.0, 20.0, 25.0], lambda v: v if v > 20 else _sp(v)),
    (
        "softplus(beta=2.0, threshold=3.0)",
        [-1.0, 1.0, 1.5, 2.0],
        lambda v: v if 2 * v > 3 else _sp(2 * v) / 2,
    ),
    ("softsign", [-3.0, 0.0, 1.0], lambda v: v / (1 + abs(v))),
    ("swish", [-2.0, 0.0, 1.5], lambda v: v * _sig(v)),
    ("swish(beta=2.0)", [-2.0, 0.0, 1.5], lambda v: v * _sig(2 * v)),
    ("mish", [-2.0, 0.0, 1.5], lambda v: v * math.tanh(_sp(v))),
    ("tanh_exp", [-2.0, 0.0, 1.5], lambda v: v * math.tanh(math.exp(v))),
    (
        "gelu",
        [-6.0, -2.0, -0.5, 0.0, 0.7, 3.0, 9.0],
        lambda v: v * 0.5 * math.erfc(-v / math.sqrt(2)),
    ),
    (
        "gelu(approximate='tanh')",
        [-2.0, 0.0, 1.0],
        lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))),
    ),
    ("hard_swish", [-4.0, -3.0, -1.0, 0.0, 3.0, 5.0], lambda v: v * min(max(v + 3, 0), 6) / 6),
]


@pytest.mark.parametrize(
    ("spec", "points", "closed_form"), CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS]
)
def test_values_against_closed_forms(
    spec: str, points: list[float], closed_form: Callable[[float], float]
) -> None:
    x = np.array([points])
    expected = np.array([[closed_form(v) for v in points]])
    np.testing.assert_allclose(
        plugnet.activation(spec).forward(x), expected, rtol=1e-12, atol=1e-15
    )


def test_closed_forms_cover_every_builtin() -> None:
    assert {canonical(spec) for spec, _, _ in CLOSED_FORMS} == set(NAMES) - {
        "softmax",
        "softmin",
        "log_softmax",
    }


def test_row_functions_against_closed_forms() -> None:
    x = np.array([[1.0, -2.0, 0.5], [1e3, 1e3, -1e3]])
    for row, out in zip(x, plugnet.activation("softmax").forward(x), strict=True):
        m = max(row)
        total = sum(math.exp(v - m) for v in row)
        np.testing.assert_allclose(out, [math.exp(v - m) / total for v in row], rtol=1e-12)
    np.testing.assert_allclose(
        plugnet.activation("softmin").forward(x), plugnet.activation("softmax").forward(-x)
    )
    first = [1.0, -2.0, 0.5]
    log_total = math.log(sum(math.exp(v) for v in first))
    np.testing.assert_allclose(
        plugnet.activation("log_softmax").forward(x)[0], [v - log_total for v in first], rtol=1e-12
    )
    np.testing.assert_allclose(
        plugnet.activation("log_softmax").forward(x)[1],
        [-math.log(2), -math.log(2), -2e3 - math.log(2)],
    )


@pytest.mark.parametrize("name", ["softmax", "softmin", "log_softmax"])
def test_row_functions_have_exact_vector_jacobian_products(name: str) -> None:
    activation = plugnet.activation(name)
    x = np.array([[1.0, 2.0, 0.5]])
    y = activation.forward(x)
    g = np.array([[1.0, -2.0, 0.5]])
    e = np.exp(x[0] - x[0].max())
    s = e / e.sum()
    jacobian = {
        "softmax": np.diag(s) - np.outer(s, s),
        "softmin": -(np.diag(y[0]) - np.outer(y[0], y[0])),
        "log_softmax": np.eye(3) - np.outer(np.ones(3), s),
    }[name]
    np.testing.assert_allclose(activation.backward(x, y, g)[0], g[0] @ jacobian, rtol=1e-12)


def test_gelu_matches_math_erf_closely() -> None:
    x = np.linspace(-12, 12, 2001)
    expected = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    got = plugnet.activation("gelu").forward(x)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-300)


@pytest.mark.parametrize(
    ("spec", "points", "derivatives"),
    [
        ("relu", [0.0], [0.0]),
        ("step", [0.0, 1.0], [0.0, 0.0]),
        ("relu6", [0.0, 6.0], [0.0, 0.0]),
        ("leaky_relu(alpha=0.2)", [0.0], [0.2]),
        ("elu(alpha=0.5)", [0.0], [0.5]),
        ("selu", [0.0], [SELU_L * SELU_A]),
        ("celu", [0.0], [1.0]),
        ("hard_shrink", [-0.5, 0.5], [0.0, 0.0]),
        ("soft_shrink", [-0.5, 0.5], [0.0, 0.0]),
        ("threshold(threshold=1.0, value=2.0)", [1.0], [0.0]),
        ("hard_tanh", [-1.0, 1.0], [0.0, 0.0]),
        ("hard_sigmoid", [-2.5, 2.5], [0.0, 0.0]),
        ("hard_swish", [-3.0, 3.0], [0.0, 1.0]),
    ],
)
def test_documented_derivatives_at_kinks(
    spec: str, points: list[float], derivatives: list[float]
) -> None:
    activation = plugnet.activation(spec)
    x = np.array([points])
    np.testing.assert_allclose(
        activation.backward(x, activation.forward(x), np.ones_like(x)), [derivatives]
    )


def test_saturation_is_exact() -> None:
    x = np.array([-1e4, 1e4], dtype=np.float32)
    np.testing.assert_array_equal(plugnet.activation("log_sigmoid").forward(x), [-1e4, 0.0])
    np.testing.assert_array_equal(plugnet.activation("softplus").forward(x), [0.0, 1e4])
    np.testing.assert_array_equal(plugnet.activation("mish").forward(x), [-0.0, 1e4])
    np.testing.assert_array_equal(plugnet.activation("gelu").forward(x), [-0.0, 1e4])
