"""max_pool2d and avg_pool2d: the definition written as loops, the tie rule, gradients by finite
differences for overlapping and non-overlapping windows, and argument errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.testing.gradients import check_layer_gradients
from plugnet_builtins import _chunks as chunking
from plugnet_builtins.pooling import AvgPool2D, MaxPool2D

F64 = np.dtype(np.float64)


def built(name: str, config: dict[str, Any], input_shape: tuple[int, ...]) -> Any:
    layer = plugnet.layer({"type": name, **config})
    layer.build(input_shape, rng=np.random.default_rng(0), dtype=F64)
    return layer


def direct_pool(x: np.ndarray, reduce: Any, window: Any, stride: Any, pad: Any, fill: float) -> Any:
    (kh, kw), (sh, sw), (ph, pw) = window, stride, pad
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    y = np.zeros((*x.shape[:2], ho, wo))
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for p in range(ho):
                for q in range(wo):
                    y[n, c, p, q] = reduce(xp[n, c, p * sh : p * sh + kh, q * sw : q * sw + kw])
    return y


CASES = [
    ({"pool_size": 2}, (2, 4, 6), (2, 2), (2, 2), (0, 0)),
    ({"pool_size": 3, "stride": 1}, (2, 5, 5), (3, 3), (1, 1), (0, 0)),
    ({"pool_size": 3, "stride": 2, "padding": 1}, (1, 5, 6), (3, 3), (2, 2), (1, 1)),
    ({"pool_size": (2, 3), "stride": (1, 2), "padding": (1, 0)}, (2, 4, 7), (2, 3), (1, 2), (1, 0)),
    ({"pool_size": 2}, (1, 5, 5), (2, 2), (2, 2), (0, 0)),  # the last row and column are left out
]


@pytest.mark.parametrize(("config", "shape", "window", "stride", "pad"), CASES)
def test_forward_equals_the_loop_definition(
    config: dict[str, Any], shape: Any, window: Any, stride: Any, pad: Any
) -> None:
    x = np.random.default_rng(1).standard_normal((2, *shape))
    for name, reduce, fill in (("max_pool2d", np.max, -np.inf), ("avg_pool2d", np.mean, 0.0)):
        layer = built(name, config, shape)
        y = layer.forward(x, training=True)
        expected = direct_pool(x, reduce, window, stride, pad, fill)
        assert y.shape[1:] == tuple(layer.build(shape, rng=None, dtype=F64))
        np.testing.assert_allclose(y, expected, rtol=1e-13)


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize("training", [True, False])
def test_gradients_by_finite_differences(cls: Any, training: bool) -> None:
    for case in cls.conformance.cases:
        layer = cls(**case["config"])
        layer.build(case["input_shape"], rng=np.random.default_rng(0), dtype=F64)
        x = np.random.default_rng(2).standard_normal((2, *case["input_shape"]))
        check_layer_gradients(layer, x, training=training)


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize(
    ("config", "shape"),
    [
        ({"pool_size": 2}, (2, 5, 5)),  # tiling windows leave the last row and column out
        ({"pool_size": (2, 3)}, (1, 4, 8)),
        ({"pool_size": 1}, (2, 3, 2)),
    ],
)
def test_tiling_windows_that_leave_rows_out_get_zero_gradients_there(
    name: str, config: dict[str, Any], shape: Any
) -> None:
    layer = built(name, config, shape)
    assert layer.tiles
    x = np.random.default_rng(4).standard_normal((2, *shape))
    check_layer_gradients(layer, x, training=True)
    dx = layer.backward(np.ones((2, *layer.build(shape, rng=None, dtype=F64))))
    (kh, kw), (ho, wo) = layer.window, layer.out_size
    assert np.all(dx[:, :, ho * kh :] == 0) and np.all(dx[:, :, :, wo * kw :] == 0)


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize(
    ("args", "shape", "tiling"),
    [("pool_size=2", (2, 6, 5), True), ("pool_size=3, stride=2, padding=1", (2, 5, 5), False)],
    ids=["tiling", "overlapping, padded"],
)
def test_float32_and_extreme_inputs(
    name: str, args: str, shape: tuple[int, ...], tiling: bool
) -> None:
    """float32 stays float32, ±1e4 inputs raise no NumPy warning and x is left as it was, on
    windows that tile the input (the fast path, where each window also passes on its whole
    gradient) and on overlapping padded ones (the columns)."""
    layer = plugnet.layer(f"{name}({args})")
    layer.build(shape, rng=np.random.default_rng(0), dtype=np.dtype(np.float32))
    x = np.random.default_rng(5).uniform(-1e4, 1e4, (3, *shape)).astype(np.float32)
    original = x.copy()
    with np.errstate(all="raise"):
        y = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32 and np.all(np.isfinite(y))
    np.testing.assert_array_equal(x, original)
    if tiling:
        np.testing.assert_allclose(dx.sum(), y.size, rtol=1e-6)  # each window passes on 1


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
def test_chunks_of_samples_give_the_whole_batch_result(
    cls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 5 samples, in chunks of 2 (the last one short): every conformance case agrees with the
    # one-chunk result, and its gradients check
    for case in cls.conformance.cases:
        x = np.random.default_rng(6).standard_normal((5, *case["input_shape"]))
        g = None
        results = []
        for chunk_bytes in (1 << 20, 2 * x[0].nbytes):
            monkeypatch.setattr(chunking, "CHUNK_BYTES", chunk_bytes)
            layer = cls(**case["config"])
            layer.build(case["input_shape"], rng=np.random.default_rng(0), dtype=F64)
            y = layer.forward(x, training=True)
            g = np.random.default_rng(7).standard_normal(y.shape) if g is None else g
            results.append((y, layer.backward(g)))
        np.testing.assert_array_equal(results[0][0], results[1][0])
        np.testing.assert_array_equal(results[0][1], results[1][1])
        check_layer_gradients(layer, x, training=True)


def test_conformance_cases_overlap_and_do_not() -> None:
    for cls in (MaxPool2D, AvgPool2D):
        layers = [cls(**case["config"]) for case in cls.conformance.cases]
        overlapping = [any(s < k for s, k in zip(p.strides, p.window, strict=True)) for p in layers]
        assert any(overlapping) and not all(overlapping)


def test_a_tie_sends_the_gradient_to_the_first_maximum_in_row_major_order() -> None:
    layer = built("max_pool2d", {"pool_size": 2}, (1, 2, 4))
    x = np.array([[[[1.0, 3.0, 5.0, 5.0], [3.0, 2.0, 5.0, 5.0]]]])
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, [[[[3.0, 5.0]]]])
    dx = layer.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 10.0, 20.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])


def test_overlapping_windows_add_their_gradients() -> None:
    layer = built("max_pool2d", {"pool_size": 2, "stride": 1}, (1, 3, 3))
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0  # the maximum of all four windows
    layer.forward(x, training=True)
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    assert dx[0, 0, 1, 1] == 4.0 and dx.sum() == 4.0
    avg = built("avg_pool2d", {"pool_size": 2, "stride": 1}, (1, 3, 3))
    avg.forward(x, training=True)
    np.testing.assert_allclose(
        avg.backward(np.ones((1, 1, 2, 2)))[0, 0],
        [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]],
    )


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_bad_arguments(name: str) -> None:
    cls = plugnet.registry().lookup("layer", name).factory
    with pytest.raises(ValueError, match="pool_size must be a positive integer"):
        cls(0)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        cls(2, stride=-1)
    with pytest.raises(ValueError, match="more than half of pool_size"):
        cls(2, padding=2)
    with pytest.raises(ValueError, match="larger than its padded input"):
        cls(3).build((1, 2, 5), rng=np.random.default_rng(0), dtype=F64)
    with pytest.raises(ValueError, match="channels, height, width"):
        cls(2).build((4, 4), rng=np.random.default_rng(0), dtype=F64)
