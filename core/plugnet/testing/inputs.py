"""Inputs for the conformance checks: random points away from kinks, valid (y, t) pairs for each
error-function domain, and extreme values."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from plugnet.protocols import Array, Shape

KINK_MARGIN = 0.05

# Inputs as large as ±1e4, plus the values where naive formulas overflow.
EXTREME_VALUES = (-1e4, -100.0, -20.0, -0.5, 0.0, 0.5, 20.0, 89.0, 100.0, 1e4)


@contextmanager
def no_numpy_warnings() -> Iterator[None]:
    """Turn NumPy's overflow, division and invalid-value warnings (and any other warning) into
    errors. Underflow to 0 is the right answer for e^(−1e4), so it stays allowed."""
    with warnings.catch_warnings(), np.errstate(divide="raise", over="raise", invalid="raise"):
        warnings.simplefilter("error")
        yield


def away_from_kinks(
    shape: Shape, kinks: Sequence[float], rng: np.random.Generator, *, scale: float = 3.0
) -> Array:
    """Normal samples (float64, std ``scale``), each at least ``KINK_MARGIN`` from every kink."""
    x = rng.standard_normal(shape) * scale
    for _ in range(100):
        near = np.zeros(shape, dtype=bool)
        for kink in kinks:
            near |= np.abs(x - kink) < KINK_MARGIN
        if not near.any():
            return x
        x[near] = rng.standard_normal(int(near.sum())) * scale
    raise ValueError(f"could not sample points away from the kinks {list(kinks)}")


def extreme_inputs(shape: Shape, rng: np.random.Generator, dtype: Any) -> Array:
    """An array of ``shape`` drawn from :data:`EXTREME_VALUES`, in ``dtype``."""
    return rng.choice(np.array(EXTREME_VALUES), size=shape).astype(dtype)


def _softmax_rows(z: Array) -> Array:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def error_pair(domain: str, shape: Shape, rng: np.random.Generator) -> tuple[Array, Array]:
    """Outputs y and targets t (float64) from the interior of ``domain``."""
    if domain == "probabilities":
        return _softmax_rows(rng.standard_normal(shape)), _softmax_rows(rng.standard_normal(shape))
    if domain == "log_probabilities":
        return np.log(_softmax_rows(rng.standard_normal(shape))), _softmax_rows(
            rng.standard_normal(shape)
        )
    if domain == "binary":
        return rng.uniform(0.05, 0.95, shape), rng.integers(0, 2, shape).astype(np.float64)
    if domain == "signs":
        return rng.standard_normal(shape) * 2, np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    if domain == "positive":
        return rng.uniform(0.1, 3.0, shape), rng.uniform(0.1, 3.0, shape)
    return rng.standard_normal(shape) * 2, rng.standard_normal(shape)


def extreme_error_pair(domain: str) -> tuple[Array, Array]:
    """Outputs y at the edges of ``domain`` (0 and 1 for probabilities, ±1e4 for reals) with
    targets that make naive formulas overflow or take log(0)."""
    if domain == "probabilities":
        y = [[1.0, 0.0, 0.0, 0.0], [0.0, 1e-30, 0.0, 1.0]]
        t = [[0.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]]
    elif domain == "log_probabilities":
        y = [[0.0, -1e4, -1e4, -1e4], [-1e4, -1e4, -100.0, 0.0]]
        t = [[0.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]]
    elif domain == "binary":
        y = [[0.0, 1.0, 0.0, 1.0], [1e-30, 1.0, 0.5, 0.0]]
        t = [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]]
    elif domain == "signs":
        y = [[0.0, 1.0, 1e4, -1e4], [1.0, 0.0, -1e4, 1e-30]]
        t = [[1.0, -1.0, -1.0, 1.0], [-1.0, 1.0, 1.0, -1.0]]
    elif domain == "positive":
        y = [[1e-30, 1e4, 1.0, 1e-4], [1e4, 1e-30, 2.0, 3.0]]
        t = [[1e4, 0.0, 1.0, 0.0], [0.0, 3.0, 2.0, 1.0]]
    else:
        y = [[0.0, 1.0, 1e4, -1e4], [1.0, 0.0, -1e4, 1e-30]]
        t = [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]]
    return np.array(y), np.array(t)
