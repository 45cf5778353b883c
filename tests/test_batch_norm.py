"""batch_norm: batch statistics in training, running statistics in evaluation, the momentum
convention, gradients by finite differences, float32 stability and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from plugnet.testing.gradients import check_layer_gradients
from plugnet_builtins import _chunks as chunking
from plugnet_builtins import normalization
from plugnet_builtins.normalization import BatchNorm

F64 = np.dtype(np.float64)


def built(shape: tuple[int, ...], dtype: Any = F64, **config: Any) -> BatchNorm:
    layer = BatchNorm(**config)
    layer.build(shape, rng=np.random.default_rng(0), dtype=np.dtype(dtype))
    rng = np.random.default_rng(1)
    for key in ("gamma", "beta"):  # away from 1 and 0, so that a mix-up shows
        layer.params[key][...] = rng.uniform(0.5, 1.5, layer.params[key].shape)
    return layer


@pytest.mark.parametrize(("shape", "axes"), [((3,), (0,)), ((2, 4, 5), (0, 2, 3))])
def test_training_normalizes_each_channel_with_batch_statistics(shape: Any, axes: Any) -> None:
    layer = built(shape, momentum=0.8)
    x = np.random.default_rng(2).normal(3.0, 2.0, (16, *shape))
    y = layer.forward(x, training=True)
    stat = (1, shape[0]) + (1,) * (len(shape) - 1)
    gamma, beta = layer.params["gamma"].reshape(stat), layer.params["beta"].reshape(stat)
    x_hat = (y - beta) / gamma
    np.testing.assert_allclose(x_hat.mean(axis=axes), 0.0, atol=1e-12)
    np.testing.assert_allclose(x_hat.var(axis=axes), 1.0, rtol=1e-4)  # 1 − eps/σ²
    mean, var = x.mean(axis=axes), x.var(axis=axes)  # the biased variance
    np.testing.assert_allclose(layer.buffers["running_mean"], 0.8 * 0.0 + 0.2 * mean)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.8 * 1.0 + 0.2 * var)


def test_evaluation_uses_the_running_statistics_and_leaves_them_alone() -> None:
    layer = built((2, 3, 3))
    layer.buffers["running_mean"][...] = [1.0, -2.0]
    layer.buffers["running_var"][...] = [4.0, 0.25]
    x = np.random.default_rng(3).standard_normal((5, 2, 3, 3))
    y = layer.forward(x, training=False)
    m, v = np.array([1.0, -2.0]).reshape(1, 2, 1, 1), np.array([4.0, 0.25]).reshape(1, 2, 1, 1)
    g, b = layer.params["gamma"].reshape(1, 2, 1, 1), layer.params["beta"].reshape(1, 2, 1, 1)
    np.testing.assert_allclose(y, g * (x - m) / np.sqrt(v + 1e-5) + b)
    np.testing.assert_array_equal(layer.buffers["running_mean"], [1.0, -2.0])


def test_running_buffers_are_updated_in_place() -> None:
    layer = built((3,))
    arrays = dict(layer.buffers)
    layer.forward(np.random.default_rng(4).standard_normal((8, 3)), training=True)
    assert all(layer.buffers[key] is arrays[key] for key in arrays)


@pytest.mark.parametrize("case", BatchNorm.conformance.cases, ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_gradients(case: dict[str, Any], training: bool) -> None:
    layer = built(case["input_shape"], **case["config"])
    layer.buffers["running_mean"][...] = 0.3
    layer.buffers["running_var"][...] = 2.0
    x = np.random.default_rng(5).normal(1.0, 2.0, (4, *case["input_shape"]))
    check_layer_gradients(layer, x, training=training)


def test_float32_with_huge_inputs_stays_finite() -> None:
    layer = built((2, 3, 3), dtype=np.float32)
    x = np.random.default_rng(6).uniform(-1e4, 1e4, (8, 2, 3, 3)).astype(np.float32)
    x[:, 0] += 3e4  # a large mean: the two-pass variance keeps its precision
    with np.errstate(all="raise"):
        y = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    x_hat = (y - layer.params["beta"].reshape(1, 2, 1, 1)) / layer.params["gamma"].reshape(
        1, 2, 1, 1
    )
    np.testing.assert_allclose(x_hat.std(axis=(0, 2, 3)), 1.0, rtol=1e-3)


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"\(features,\) or \(channels, height, width\)"):
        BatchNorm().build((4, 4), rng=np.random.default_rng(0), dtype=F64)
    with pytest.raises(ValueError, match="momentum must be in"):
        BatchNorm(momentum=1.5)
    with pytest.raises(ValueError, match="eps must be positive"):
        BatchNorm(eps=0)
    with pytest.raises(ValueError, match="must be a number"):
        BatchNorm(momentum="fast")  # type: ignore[arg-type]


def test_float32_step_agrees_with_float64() -> None:
    # Per-channel means far from zero against the spread (up to 150 σ), where a one-pass
    # variance or Σ g·x − μ·Σ g would lose their digits; 400 values per (n, c) row. The
    # float64 layer gets the same float32-rounded input.
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.0, (16, 3, 20, 20)) * np.array([0.5, 2.0, 0.5]).reshape(1, 3, 1, 1)
    x = (x + np.array([0.0, 300.0, -40.0]).reshape(1, 3, 1, 1)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    out = {}
    for dtype in (np.float64, np.float32):
        layer = built((3, 20, 20), dtype=dtype)
        y = layer.forward(x.astype(dtype), training=True)
        dx = layer.backward(g.astype(dtype))
        arrays = (y, dx, *layer.grads.values(), *layer.buffers.values())
        assert all(a.dtype == np.dtype(dtype) for a in arrays)
        out[dtype] = arrays
    for name, a32, a64 in zip(
        ("y", "dx", "dgamma", "dbeta", "mean", "var"), *out.values(), strict=True
    ):
        scale = np.abs(a64).max()
        np.testing.assert_allclose(a32, a64, rtol=0, atol=2e-6 * scale, err_msg=name)


def test_long_rows_are_summed_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rows of 9 values in blocks of 4, the last one partial: the gradients still check.
    monkeypatch.setattr(normalization, "_ROW_BLOCK", 4)
    layer = built((2, 3, 3))
    x = np.random.default_rng(8).normal(1.0, 2.0, (4, 2, 3, 3))
    y = layer.forward(x, training=True)
    mean, std = x.mean(axis=(0, 2, 3), keepdims=True), x.std(axis=(0, 2, 3), keepdims=True)
    gamma, beta = (
        layer.params["gamma"].reshape(1, 2, 1, 1),
        layer.params["beta"].reshape(1, 2, 1, 1),
    )
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(std**2 + 1e-5) + beta, atol=1e-12)
    check_layer_gradients(layer, x, training=True)


def test_dense_inputs_are_summed_in_blocks_of_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    # (7, 3) in blocks of 3 samples, the last one short: the statistics and gradients hold
    monkeypatch.setattr(normalization, "_BATCH_BLOCK", 3)
    layer = built((3,), momentum=0.0)
    x = np.random.default_rng(11).normal(2.0, 3.0, (7, 3))
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.buffers["running_mean"], x.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(layer.buffers["running_var"], x.var(axis=0), rtol=1e-13)
    check_layer_gradients(layer, x, training=True)


@pytest.mark.parametrize("samples_per_chunk", [3, 0])  # 0: less than one sample a chunk
@pytest.mark.parametrize("training", [True, False])
def test_chunks_of_samples_give_the_whole_batch_result(
    monkeypatch: pytest.MonkeyPatch, samples_per_chunk: int, training: bool
) -> None:
    # 7 samples in chunks of 3 (the last one short), per-channel factors repeated along H·W;
    # or one sample a chunk with (1, C, 1) factors; against the one-chunk result
    rng = np.random.default_rng(10)
    x = rng.normal(1.0, 2.0, (7, 2, 3, 3))
    g = rng.standard_normal(x.shape)
    whole = built((2, 3, 3))
    whole.buffers["running_var"][...] = 2.0
    expected = whole.forward(x, training=training), whole.backward(g), dict(whole.grads)
    monkeypatch.setattr(chunking, "CHUNK_BYTES", samples_per_chunk * x[0].nbytes)
    layer = built((2, 3, 3))
    layer.buffers["running_var"][...] = 2.0
    y, dx = layer.forward(x, training=training), layer.backward(g)
    np.testing.assert_allclose(y, expected[0], rtol=0, atol=1e-13)
    np.testing.assert_allclose(dx, expected[1], rtol=0, atol=1e-13)
    for key, value in expected[2].items():
        np.testing.assert_allclose(layer.grads[key], value, rtol=1e-13)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(layer.buffers[key], whole.buffers[key], rtol=1e-13)
    check_layer_gradients(layer, x, training=training)


@pytest.mark.parametrize("training", [True, False])
def test_a_second_backward_of_one_forward_gives_the_same_gradients(training: bool) -> None:
    layer = built((2, 3, 3))
    rng = np.random.default_rng(9)
    layer.forward(rng.normal(1.0, 2.0, (4, 2, 3, 3)), training=training)
    g = rng.standard_normal((4, 2, 3, 3))
    first = layer.backward(g), {k: v.copy() for k, v in layer.grads.items()}
    second = layer.backward(g), layer.grads
    np.testing.assert_array_equal(first[0], second[0])
    for key in layer.grads:
        np.testing.assert_array_equal(first[1][key], second[1][key])
