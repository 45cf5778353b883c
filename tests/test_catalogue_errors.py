"""Every built-in error function and fused backward, taken from the registry so that none can be
left out: gradients by finite differences with valid targets, extreme inputs in both dtypes, no
input mutation, config round trips, and values against closed forms written here."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest

import plugnet
from plugnet.testing import check_error_gradient, check_fused_against_chain

REGISTRY = plugnet.registry()
BUILTINS = [c for c in REGISTRY.components("error_function") if c.provider == "plugnet"]
NAMES = [c.name for c in BUILTINS]
FUSED = [c for c in REGISTRY.components("fused_backward") if c.provider == "plugnet"]
VARIANTS = ["huber(delta=0.3)"]


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def probabilities(shape: tuple[int, int], seed: int = 1) -> np.ndarray:
    e = np.exp(rng(seed).standard_normal(shape))
    return e / e.sum(axis=-1, keepdims=True)


def one_hot(rows: int, classes: int, seed: int = 2) -> np.ndarray:
    return np.eye(classes)[rng(seed).integers(0, classes, rows)]


def valid_pair(name: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Outputs y and targets t where the error is differentiable."""
    shape = (rows, 4)
    if name in ("cross_entropy", "kl_divergence"):
        return probabilities(shape), probabilities(shape, seed=3)
    if name == "nll":
        return np.log(probabilities(shape)), probabilities(shape, seed=3)
    if name == "binary_cross_entropy":
        return rng(4).uniform(0.05, 0.95, shape), rng(5).integers(0, 2, shape).astype(float)
    if name == "hinge":
        t = np.where(rng(6).random(shape) < 0.5, -1.0, 1.0)
        margin = rng(7).uniform(-2, 3, shape)
        margin = np.where(np.abs(margin - 1) < 0.05, 1.2, margin)  # keep off the hinge point
        return margin * t, t
    y, t = rng(8).standard_normal(shape) * 2, rng(9).standard_normal(shape)
    d = y - t
    d = np.where(np.abs(d) < 0.05, 0.2, d)  # mean_absolute's kink at 0
    for delta in (0.3, 1.0):  # huber's second derivative jumps at |d| = delta
        d = np.where(np.abs(np.abs(d) - delta) < 0.05, np.sign(d) * (delta + 0.1), d)
    return t + d, t


@contextmanager
def no_numpy_warnings() -> Iterator[None]:
    with warnings.catch_warnings(), np.errstate(divide="raise", over="raise", invalid="raise"):
        warnings.simplefilter("error")
        yield


def canonical(spec: str) -> str:
    return REGISTRY.lookup("error_function", spec.split("(")[0]).name


def test_the_catalogue_is_complete() -> None:
    assert set(NAMES) >= {
        "square",
        "cross_entropy",
        "binary_cross_entropy",
        "mean_squared",
        "mean_absolute",
        "huber",
        "kl_divergence",
        "hinge",
        "nll",
    }
    assert {c.pair for c in FUSED} >= {
        ("softmax", "cross_entropy"),
        ("sigmoid", "binary_cross_entropy"),
        ("log_softmax", "nll"),
    }


@pytest.mark.parametrize("spec", NAMES + VARIANTS)
@pytest.mark.parametrize("rows", [1, 5])
def test_gradient_matches_finite_differences(spec: str, rows: int) -> None:
    check_error_gradient(plugnet.error_function(spec), *valid_pair(canonical(spec), rows))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", NAMES + VARIANTS)
def test_extreme_inputs_stay_finite_and_keep_the_dtype(spec: str, dtype: type) -> None:
    error = plugnet.error_function(spec)
    y: np.ndarray = np.array([[0.0, 1.0, 1e4, -1e4], [1.0, 0.0, -1e4, 1e-30]], dtype=dtype)
    t = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]])
    y_before, t_before = y.copy(), t.copy()
    with no_numpy_warnings():
        value = error.forward(y, t)
        grad = error.backward(y, t)
    assert isinstance(value, float) and np.isfinite(value)
    assert grad.dtype == dtype and grad.shape == y.shape and np.all(np.isfinite(grad))
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(t, t_before)


@pytest.mark.parametrize("spec", NAMES + VARIANTS)
def test_config_round_trips_through_the_registry(spec: str) -> None:
    instance = plugnet.error_function(spec)
    rebuilt = plugnet.error_function(
        {"name": f"plugnet:{canonical(spec)}", **instance.get_config()}
    )
    assert rebuilt == instance and type(rebuilt) is type(instance)


@pytest.mark.parametrize("fused", FUSED, ids=lambda c: "+".join(c.pair))
@pytest.mark.parametrize("rows", [1, 6])
def test_fused_equals_the_chain_and_finite_differences(fused: object, rows: int) -> None:
    activation_name, error_name = fused.pair  # type: ignore[attr-defined]
    a = rng(10).standard_normal((rows, 5)) * 3
    t = one_hot(rows, 5)
    if error_name == "binary_cross_entropy":
        t = rng(11).integers(0, 2, (rows, 5)).astype(float)
    check_fused_against_chain(
        plugnet.fused_backward(activation_name, error_name),  # type: ignore[arg-type]
        plugnet.activation(activation_name),
        plugnet.error_function(error_name),
        a,
        t,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fused", FUSED, ids=lambda c: "+".join(c.pair))
def test_fused_is_finite_and_keeps_the_dtype(fused: object, dtype: type) -> None:
    activation_name, error_name = fused.pair  # type: ignore[attr-defined]
    a: np.ndarray = np.array([[1e4, -1e4, 0.0]], dtype=dtype)
    with no_numpy_warnings():
        y = plugnet.activation(activation_name).forward(a)
        grad = plugnet.fused_backward(activation_name, error_name).backward(  # type: ignore[union-attr]
            y, np.array([[0.0, 1.0, 0.0]])
        )
    assert grad.dtype == dtype and np.all(np.isfinite(grad))


Y = [[0.2, 0.8, 2.0], [0.6, 0.4, -1.0]]
T = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]


def per_element(f: Callable[[float, float], float]) -> list[list[float]]:
    return [[f(y, t) for y, t in zip(yr, tr, strict=True)] for yr, tr in zip(Y, T, strict=True)]


def batch_mean(f: Callable[[float, float], float]) -> float:
    return sum(map(sum, per_element(f))) / len(Y)


def element_mean(f: Callable[[float, float], float]) -> float:
    return sum(map(sum, per_element(f))) / (len(Y) * len(Y[0]))


def huber(d: float, delta: float) -> float:
    return 0.5 * d * d if abs(d) <= delta else delta * (abs(d) - 0.5 * delta)


def pairs(a: list[list[float]], b: list[list[float]]) -> list[tuple[float, float]]:
    return [(u, v) for ra, rb in zip(a, b, strict=True) for u, v in zip(ra, rb, strict=True)]


P = [[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]
Q = [[0.0, 1.0, 0.0], [0.5, 0.25, 0.25]]

CLOSED_FORMS: list[tuple[str, list[list[float]], list[list[float]], float]] = [
    ("square", Y, T, batch_mean(lambda y, t: 0.5 * (y - t) ** 2)),
    ("mean_squared", Y, T, element_mean(lambda y, t: (y - t) ** 2)),
    ("mean_absolute", Y, T, element_mean(lambda y, t: abs(y - t))),
    ("huber", Y, T, element_mean(lambda y, t: huber(y - t, 1.0))),
    # |y − t| = delta exactly: at (2.0, 1.0) and (-1.0, 0.0) for 1.0, at (0.2, 0.0) for 0.2
    ("huber(delta=0.2)", Y, T, element_mean(lambda y, t: huber(y - t, 0.2))),
    (
        "cross_entropy",
        P,
        Q,
        -sum(q * math.log(p) for p, q in pairs(P, Q)) / 2,
    ),
    (
        "kl_divergence",
        P,
        Q,
        sum(q * (math.log(q) - math.log(p)) for p, q in pairs(P, Q) if q) / 2,
    ),
    (
        "nll",
        [[math.log(p) for p in row] for row in P],
        Q,
        -sum(q * math.log(p) for p, q in pairs(P, Q)) / 2,
    ),
    (
        "binary_cross_entropy",
        P,
        [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]],
        -sum(
            t * math.log(p) + (1 - t) * math.log(1 - p)
            for p, t in pairs(P, [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
        )
        / 2,
    ),
    # targets as ±1 and as 0/1 give the same loss; s·y = 1 (the hinge point) at (1.0, 1.0)
    (
        "hinge",
        [[1.0, -0.5, 2.0], [0.3, 1.0, -3.0]],
        [[1.0, 1.0, -1.0], [-1.0, 1.0, -1.0]],
        (0 + 1.5 + 3 + 1.3 + 0 + 0) / 2,
    ),
    (
        "hinge",
        [[1.0, -0.5, 2.0], [0.3, 1.0, -3.0]],
        [[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
        (0 + 1.5 + 3 + 1.3 + 0 + 0) / 2,
    ),
]


@pytest.mark.parametrize(
    ("spec", "y", "t", "expected"), CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS]
)
def test_values_against_closed_forms(
    spec: str, y: list[list[float]], t: list[list[float]], expected: float
) -> None:
    assert plugnet.error_function(spec).forward(np.array(y), np.array(t)) == pytest.approx(
        expected, rel=1e-12
    )


def test_closed_forms_cover_every_builtin() -> None:
    assert {canonical(spec) for spec, *_ in CLOSED_FORMS} == set(NAMES)


def test_documented_gradients_at_kinks() -> None:
    y, t = np.array([[1.0, 2.0, 0.0]]), np.array([[1.0, 1.0, 1.0]])
    np.testing.assert_allclose(
        plugnet.error_function("mean_absolute").backward(y, t), [[0.0, 1 / 3, -1 / 3]]
    )
    np.testing.assert_allclose(  # continuous at |d| = delta
        plugnet.error_function("huber").backward(y, t), [[0.0, 1 / 3, -1 / 3]]
    )
    np.testing.assert_allclose(  # zero at the hinge point t·y = 1
        plugnet.error_function("hinge").backward(y, t), [[0.0, 0.0, -1.0]]
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_clips_into_the_open_interval(dtype: type) -> None:
    bce = plugnet.error_function("binary_cross_entropy")
    eps = float(np.finfo(dtype).eps)
    y: np.ndarray = np.array([[0.0, 1.0]], dtype=dtype)
    t = np.array([[1.0, 0.0]])
    assert bce.forward(y, t) == pytest.approx(-2 * math.log(eps), rel=1e-5)
