"""Built-in initializers: shapes, dtypes, reproducibility, the documented scales, fans, checks."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.protocols import Initializer
from plugnet_builtins.initializers import fans

RANDOM = [
    "normal",
    "uniform",
    "xavier",
    "xavier_normal",
    "xavier_uniform",
    "he",
    "he_normal",
    "he_uniform",
    "lecun",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "truncated_normal",
]
NAMES = ["zeros", "ones", *RANDOM]
DTYPES = [np.float32, np.float64]
SHAPES = [(20, 30), (8, 4, 3, 3)]


def draw(spec: Any, shape: tuple[int, ...], *, seed: int = 0, dtype: Any = np.float64) -> Any:
    return plugnet.initializer(spec)(shape, rng=np.random.default_rng(seed), dtype=dtype)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_shape_and_dtype(name: str, dtype: type, shape: tuple[int, ...]) -> None:
    initializer = plugnet.initializer(name)
    assert isinstance(initializer, Initializer)
    w = initializer(shape, rng=np.random.default_rng(0), dtype=np.dtype(dtype))
    assert isinstance(w, np.ndarray) and w.shape == shape and w.dtype == dtype
    assert np.all(np.isfinite(w))


@pytest.mark.parametrize("dtype", DTYPES)
def test_zeros_and_ones_are_exact(dtype: type) -> None:
    np.testing.assert_array_equal(draw("zeros", (3, 4), dtype=dtype), np.zeros((3, 4)))
    np.testing.assert_array_equal(draw("ones", (5,), dtype=dtype), np.ones(5))


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("dtype", DTYPES)
def test_same_seed_same_array(name: str, dtype: type) -> None:
    first = draw(name, (6, 5), seed=7, dtype=dtype)
    np.testing.assert_array_equal(first, draw(name, (6, 5), seed=7, dtype=dtype))
    assert not np.array_equal(first, draw(name, (6, 5), seed=8, dtype=dtype))
    # It draws from the Generator it is given: the next draw continues from there.
    rng = np.random.default_rng(7)
    initializer = plugnet.initializer(name)
    a = initializer((6, 5), rng=rng, dtype=np.dtype(dtype))
    b = initializer((6, 5), rng=rng, dtype=np.dtype(dtype))
    np.testing.assert_array_equal(a, first)
    assert not np.array_equal(a, b)


# Fans written out by hand for the shapes the scale test draws (fans() is tested on its own).
FANS = {(400, 600): (400, 600), (64, 32, 5, 5): (32 * 5 * 5, 64 * 5 * 5)}


def xavier_std(shape: tuple[int, ...], gain: float = 1.0) -> float:
    fan_in, fan_out = FANS[shape]
    return gain * math.sqrt(2 / (fan_in + fan_out))


def he_std(shape: tuple[int, ...]) -> float:
    return math.sqrt(2 / FANS[shape][0])


def lecun_std(shape: tuple[int, ...]) -> float:
    return math.sqrt(1 / FANS[shape][0])


def orthogonal_std(shape: tuple[int, ...]) -> float:
    # Unit-norm rows (or columns) of length n = the longer side: each entry has variance 1/n.
    return 1 / math.sqrt(max(shape[0], math.prod(shape[1:])))


# N(0, 1) truncated to ±2: std = √(1 − 4φ(2) / (2Φ(2) − 1)).
TRUNCATED_FACTOR = math.sqrt(
    1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2))
)


# (spec, documented standard deviation as a function of the shape, mean)
SCALES: list[tuple[str, Any, float]] = [
    ("normal", lambda s: 0.05, 0.0),
    ("normal(std=0.3, mean=2.0)", lambda s: 0.3, 2.0),
    ("uniform", lambda s: 0.1 / math.sqrt(12), 0.0),  # U[a, b): std = (b − a)/√12
    ("uniform(low=-1, high=3)", lambda s: 4 / math.sqrt(12), 1.0),
    ("xavier", xavier_std, 0.0),
    ("xavier(distribution='uniform')", xavier_std, 0.0),
    ("xavier(gain=2.0)", lambda s: xavier_std(s, 2.0), 0.0),
    ("glorot_normal", xavier_std, 0.0),
    ("glorot_uniform(gain=0.5)", lambda s: xavier_std(s, 0.5), 0.0),
    ("he", he_std, 0.0),
    ("kaiming(distribution='uniform')", he_std, 0.0),
    ("he_normal", he_std, 0.0),
    ("he_uniform", he_std, 0.0),
    ("lecun", lecun_std, 0.0),
    ("lecun_uniform", lecun_std, 0.0),
    ("orthogonal", orthogonal_std, 0.0),
    ("orthogonal(gain=2.0)", lambda s: 2 * orthogonal_std(s), 0.0),
    ("truncated_normal", lambda s: 0.05 * TRUNCATED_FACTOR, 0.0),
    ("truncated_normal(std=2.0, mean=1.0)", lambda s: 2.0 * TRUNCATED_FACTOR, 1.0),
]


@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (6, 3, 2, 2)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape: tuple[int, ...]) -> None:
    w = draw("orthogonal(gain=1.5)", shape).reshape(shape[0], -1)
    small = min(w.shape)
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 1.5**2 * np.eye(small), atol=1e-12)


def test_truncated_normal_stays_within_two_standard_deviations() -> None:
    w = draw("truncated_normal(mean=1.0, std=0.5)", (300, 300), dtype=np.float32)
    assert w.dtype == np.float32
    assert w.min() >= 0.0 and w.max() <= 2.0


@pytest.mark.parametrize(("spec", "std", "mean"), SCALES)
@pytest.mark.parametrize("shape", [(400, 600), (64, 32, 5, 5)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_std_matches_the_documented_value(
    spec: str, std: Any, mean: float, shape: tuple[int, ...], dtype: type
) -> None:
    w = draw(spec, shape, seed=3, dtype=dtype)
    expected = std(shape)
    assert abs(float(np.std(w)) - expected) <= 0.05 * expected
    assert abs(float(np.mean(w)) - mean) <= 0.05 * expected


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [
        ("uniform", -0.05, 0.05),
        ("uniform(low=0.5, high=0.75)", 0.5, 0.75),
        ("xavier_uniform", -math.sqrt(6 / 1000), math.sqrt(6 / 1000)),
        (
            "xavier(distribution='uniform', gain=3)",
            -3 * math.sqrt(6 / 1000),
            3 * math.sqrt(6 / 1000),
        ),
        ("he_uniform", -math.sqrt(6 / 400), math.sqrt(6 / 400)),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_uniform_bounds(spec: str, low: float, high: float, dtype: type) -> None:
    w = draw(spec, (400, 600), dtype=dtype).astype(np.float64)
    tolerance = np.finfo(dtype).eps * max(abs(low), abs(high))  # rounding at the edges
    assert w.min() >= low - tolerance and w.max() <= high + tolerance
    width = high - low
    assert w.min() < low + 0.001 * width and w.max() > high - 0.001 * width  # fills the range


def test_fans() -> None:
    assert fans(()) == (1, 1)
    assert fans((5,)) == (5, 5)
    assert fans((3, 7)) == (3, 7)  # dense weight (in, out), used as x @ W
    assert fans((4, 2, 5)) == (2 * 5, 4 * 5)  # conv1d weight (out, in, k)
    assert fans((16, 8, 3, 3)) == (8 * 9, 16 * 9)  # conv2d weight (out, in, kh, kw)


def test_other_float_dtypes_and_empty_shapes() -> None:
    w = draw("xavier_uniform", (10, 10), dtype=np.float16)
    assert w.dtype == np.float16 and np.all(np.abs(w) <= math.sqrt(6 / 20) * (1 + 1e-3))
    assert draw("he", (0, 5)).shape == (0, 5)
    assert draw("xavier", (5, 0)).shape == (5, 0)
    with pytest.raises(ValueError, match="floating-point"):
        draw("normal", (2, 2), dtype=np.int32)


@pytest.mark.parametrize("name", NAMES)
def test_get_config_round_trip(name: str) -> None:
    initializer = plugnet.initializer(name)
    config = initializer.get_config()
    assert json.loads(json.dumps(config)) == config
    assert plugnet.initializer({"name": name, **config}) == initializer


def test_names_aliases_and_defaults() -> None:
    assert plugnet.initializer("normal").get_config() == {"mean": 0.0, "std": 0.05}
    assert plugnet.initializer("uniform").get_config() == {"low": -0.05, "high": 0.05}
    assert plugnet.initializer("glorot").get_config() == {"distribution": "normal", "gain": 1.0}
    assert plugnet.initializer("Kaiming").get_config() == {"distribution": "normal"}
    assert type(plugnet.initializer("glorot_uniform")).__name__ == "XavierUniform"
    assert type(plugnet.initializer("kaiming-normal")).__name__ == "HeNormal"
    assert plugnet.initializer("he_uniform").get_config() == {}
    assert set(NAMES) <= set(plugnet.available("initializer"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "normal", "std": 0.0}, "std must be > 0"),
        ({"name": "normal", "std": -1.0}, "std must be > 0"),
        ({"name": "normal", "mean": float("nan")}, "mean must be finite"),
        ({"name": "normal", "std": "wide"}, "std must be a number"),
        ({"name": "uniform", "low": 1.0, "high": 1.0}, "low must be < high"),
        ({"name": "uniform", "low": 2.0, "high": -2.0}, "low must be < high"),
        ({"name": "xavier", "distribution": "gaussian"}, "distribution must be 'normal' or"),
        ({"name": "xavier", "gain": 0.0}, "gain must be > 0"),
        ({"name": "xavier_normal", "gain": -1}, "gain must be > 0"),
        ({"name": "he", "distribution": "truncated_normal"}, "distribution must be 'normal' or"),
        ({"name": "lecun", "distribution": "cauchy"}, "distribution must be 'normal' or"),
        ({"name": "orthogonal", "gain": 0}, "gain must be > 0"),
        ({"name": "truncated_normal", "std": 0}, "std must be > 0"),
    ],
)
def test_bad_arguments_say_what_is_wrong(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plugnet.initializer(spec)
