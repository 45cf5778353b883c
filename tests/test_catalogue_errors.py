"""Every built-in error function against closed forms written here, and the documented gradients
at kinks. Gradients by finite differences, the fused pairs against their chains, dtypes, extreme
inputs, no mutation and config round trips are the conformance suite's job
(tests/test_conformance.py)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import plugnet

REGISTRY = plugnet.registry()
BUILTINS = [c for c in REGISTRY.components("error_function") if c.provider == "plugnet"]
NAMES = [c.name for c in BUILTINS]
FUSED = [c for c in REGISTRY.components("fused_backward") if c.provider == "plugnet"]


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
