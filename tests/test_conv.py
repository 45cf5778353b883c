"""conv2d: forward against a plain nested-loop convolution, gradients by finite differences,
padding arithmetic, the im2col/col2im pair and argument errors."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.testing.gradients import check_layer_gradients
from plugnet_builtins._im2col import col2im, col2im_rows, im2col, im2col_rows, same_padding
from plugnet_builtins.conv import Conv2D

F64 = np.dtype(np.float64)


def built(config: dict[str, Any], input_shape: tuple[int, ...], dtype: Any = F64) -> Conv2D:
    layer = plugnet.layer({"type": "conv2d", **config})
    assert isinstance(layer, Conv2D)
    layer.build(input_shape, rng=np.random.default_rng(0), dtype=np.dtype(dtype))
    if "b" in layer.params:
        b = np.random.default_rng(1).standard_normal(layer.params["b"].shape)
        layer.params["b"] = b.astype(layer.params["b"].dtype)
    return layer


def direct_conv(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: tuple[int, int], pads: Any
) -> np.ndarray:
    """The definition: y[n,f,p,q] = b[f] + Σ_c,i,j w[f,c,i,j]·xp[n,c,p·sh+i,q·sw+j]."""
    (top, bottom), (left, right) = pads
    n_, c_, h_, w_ = x.shape
    f_, _, kh, kw = w.shape
    xp = np.zeros((n_, c_, top + h_ + bottom, left + w_ + right))
    xp[:, :, top : top + h_, left : left + w_] = x
    ho = (xp.shape[2] - kh) // stride[0] + 1
    wo = (xp.shape[3] - kw) // stride[1] + 1
    y = np.zeros((n_, f_, ho, wo))
    for n in range(n_):
        for f in range(f_):
            for p in range(ho):
                for q in range(wo):
                    total = b[f]
                    for c in range(c_):
                        for i in range(kh):
                            for j in range(kw):
                                total += (
                                    w[f, c, i, j] * xp[n, c, p * stride[0] + i, q * stride[1] + j]
                                )
                    y[n, f, p, q] = total
    return y


CASES = [
    ({"filters": 3, "kernel_size": 3}, (2, 6, 5), ((0, 0), (0, 0))),
    ({"filters": 2, "kernel_size": 3, "padding": "same"}, (2, 5, 5), ((1, 1), (1, 1))),
    ({"filters": 2, "kernel_size": 3, "padding": 1, "stride": 2}, (1, 6, 7), ((1, 1), (1, 1))),
    ({"filters": 2, "kernel_size": 3, "padding": "same", "stride": 2}, (2, 6, 5), ((0, 1), (1, 1))),
    ({"filters": 2, "kernel_size": (2, 3), "padding": "same"}, (1, 5, 6), ((0, 1), (1, 1))),
    ({"filters": 2, "kernel_size": 4, "padding": "same"}, (1, 6, 6), ((1, 2), (1, 2))),
    (
        {"filters": 2, "kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0)},
        (2, 7, 5),
        ((1, 1), (0, 0)),
    ),
    ({"filters": 3, "kernel_size": 1}, (2, 4, 3), ((0, 0), (0, 0))),  # no padding, no spare
    ({"filters": 2, "kernel_size": (1, 4), "padding": (2, 0)}, (3, 3, 5), ((2, 2), (0, 0))),
    ({"filters": 2, "kernel_size": 5, "padding": "same"}, (1, 4, 4), ((2, 2), (2, 2))),
]

# Stride-1 cases beyond the conformance ones: those with kernels more than one row high go
# through im2col_rows and col2im_rows.
ROW_CASES = [(config, shape) for config, shape, _ in CASES if config.get("stride", 1) == 1]


@pytest.mark.parametrize(("config", "shape", "pads"), CASES)
def test_forward_equals_the_nested_loop_definition(
    config: dict[str, Any], shape: tuple[int, ...], pads: Any
) -> None:
    layer = built(config, shape)
    assert layer.pads == pads
    x = np.random.default_rng(2).standard_normal((2, *shape))
    expected = direct_conv(x, layer.params["w"], layer.params["b"], layer.strides, pads)
    y = layer.forward(x, training=True)
    assert y.shape == expected.shape == (2, layer.filters, *layer.out_size)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", Conv2D.conformance.cases, ids=lambda c: str(c["config"]))
@pytest.mark.parametrize("training", [True, False])
def test_gradients_by_finite_differences(case: dict[str, Any], training: bool) -> None:
    layer = built(case["config"], case["input_shape"])
    x = np.random.default_rng(3).standard_normal((2, *case["input_shape"]))
    check_layer_gradients(layer, x, training=training)


def test_conformance_cases_cover_the_issue() -> None:
    configs = [c["config"] for c in Conv2D.conformance.cases]
    assert {c.get("stride", 1) for c in configs} >= {1, 2}
    assert {str(c.get("padding", "valid")) for c in configs} >= {"valid", "same", "1"}
    assert any(isinstance(c["kernel_size"], tuple) for c in configs)  # non-square
    assert any(c["kernel_size"] == 2 and c.get("padding") == "same" for c in configs)


@pytest.mark.parametrize(
    ("size", "kernel", "stride"), list(itertools.product(range(1, 10), range(1, 6), range(1, 4)))
)
def test_same_padding_gives_ceil_size_with_the_extra_at_the_end(
    size: int, kernel: int, stride: int
) -> None:
    before, after = same_padding(size, kernel, stride)
    assert (size + before + after - kernel) // stride + 1 == -(-size // stride)
    assert after - before in (0, 1) and before >= 0


def test_im2col_and_col2im_are_adjoint() -> None:
    """<im2col(x), c> = <x, col2im(c)>: col2im adds overlapping windows exactly once each."""
    rng = np.random.default_rng(4)
    for kernel, stride in [((3, 3), (1, 1)), ((3, 2), (2, 1)), ((2, 2), (2, 2)), ((3, 3), (2, 3))]:
        xp = rng.standard_normal((2, 3, 9, 8))
        ho = (9 - kernel[0]) // stride[0] + 1
        wo = (8 - kernel[1]) // stride[1] + 1
        cols = im2col(xp, kernel, stride, out=np.empty((3, *kernel, 2, ho, wo)))
        other = rng.standard_normal(cols.shape)
        back = col2im(other, stride, out=np.empty((3, 2, 9, 8))).transpose(1, 0, 2, 3)
        assert np.isclose(np.sum(cols * other), np.sum(xp * back))


@pytest.mark.parametrize(("config", "shape"), ROW_CASES, ids=lambda c: str(c))
def test_stride_one_gradients_by_finite_differences(
    config: dict[str, Any], shape: tuple[int, ...]
) -> None:
    """At stride 1 the columns are whole padded rows; the columns past each output row hold
    other pixels, which must reach neither y nor any gradient."""
    layer = built(config, shape)
    x = np.random.default_rng(7).standard_normal((3, *shape))
    check_layer_gradients(layer, x, training=True)


def test_im2col_rows_agrees_with_im2col_and_col2im_rows_is_its_adjoint() -> None:
    rng = np.random.default_rng(8)
    for kernel in [(3, 3), (2, 3), (1, 1), (4, 2)]:
        n, c, hp, wp = 2, 3, 7, 6
        ho, wo = hp - kernel[0] + 1, wp - kernel[1] + 1
        flat = np.zeros(n * c * hp * wp + kernel[1])
        xp = flat[: n * c * hp * wp].reshape(n, c, hp, wp)
        xp[:] = rng.standard_normal(xp.shape)
        rows = im2col_rows(flat, xp.shape, kernel, out=np.empty((c, *kernel, n, ho * wp)))
        cols = im2col(xp, kernel, (1, 1), out=np.empty((c, *kernel, n, ho, wo)))
        np.testing.assert_array_equal(rows.reshape(*cols.shape[:-1], wp)[..., :wo], cols)
        other = np.zeros(rows.shape)  # the columns q ≥ Wo stay zero, as dX's do
        other.reshape(*cols.shape[:-1], wp)[..., :wo] = rng.standard_normal(cols.shape)
        back = col2im_rows(other, xp.shape, np.empty(flat.size))
        assert np.isclose(np.sum(rows * other), np.sum(xp * back.transpose(1, 0, 2, 3)))
        expected = col2im(other.reshape(*cols.shape[:-1], wp)[..., :wo], (1, 1),
                          out=np.empty((c, n, hp, wp)))  # fmt: skip
        np.testing.assert_allclose(back, expected, rtol=1e-12, atol=1e-12)


def test_float32_stride_one_agrees_with_float64() -> None:
    layer64 = built({"filters": 8, "kernel_size": 3, "padding": "same"}, (4, 9, 7))
    layer32 = built({"filters": 8, "kernel_size": 3, "padding": "same"}, (4, 9, 7), np.float32)
    for key, value in layer64.params.items():
        layer32.params[key] = value.astype(np.float32)
    x = np.random.default_rng(9).standard_normal((5, 4, 9, 7)) * 1e3  # large edges
    g = np.random.default_rng(10).standard_normal((5, 8, 9, 7))
    y64, y32 = layer64.forward(x, training=True), layer32.forward(x.astype(np.float32))
    dx64 = layer64.backward(g)
    layer32.forward(x.astype(np.float32), training=True)
    dx32 = layer32.backward(g.astype(np.float32))
    assert y32.dtype == dx32.dtype == layer32.grads["w"].dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-6 * np.abs(y64).max())
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-5 * np.abs(dx64).max())
    for key in layer64.grads:
        scale = np.abs(layer64.grads[key]).max()
        np.testing.assert_allclose(layer32.grads[key], layer64.grads[key], atol=1e-5 * scale)


def test_first_layer_skips_the_input_gradient_and_the_parameter_grads_agree() -> None:
    layer = built({"filters": 4, "kernel_size": 3, "padding": "same"}, (3, 6, 6))
    x = np.random.default_rng(5).standard_normal((4, 3, 6, 6))
    g = np.random.default_rng(6).standard_normal(layer.forward(x, training=True).shape)
    dx = layer.backward(g)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    again = layer.backward(g)  # a second backward after one forward rebuilds the columns
    assert dx is not None and again is not None
    np.testing.assert_array_equal(dx, again)
    layer.forward(x, training=True)
    assert layer.backward(g, need_input_grad=False) is None
    for key, value in grads.items():
        np.testing.assert_allclose(layer.grads[key], value, rtol=1e-12)


def test_float32_stays_float32_and_buffers_follow_the_batch_size() -> None:
    layer = built({"filters": 2, "kernel_size": 3, "padding": 1}, (1, 5, 5), dtype=np.float32)
    for batch in (3, 5, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 1, 5, 5)).astype(np.float32)
        y = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(y))
        assert y.dtype == dx.dtype == np.float32 and y.shape == (batch, 2, 5, 5)
        assert dx.shape == x.shape
        expected = direct_conv(x, layer.params["w"], layer.params["b"], (1, 1), ((1, 1), (1, 1)))
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_parameters_have_pytorch_shapes_and_the_config_round_trips() -> None:
    layer = built({"filters": 5, "kernel_size": (2, 3), "stride": 2, "padding": [1, 0]}, (3, 8, 8))
    assert layer.params["w"].shape == (5, 3, 2, 3) and layer.params["b"].shape == (5,)
    config = layer.get_config()
    assert config["kernel_size"] == [2, 3] and config["padding"] == [1, 0]
    assert Conv2D(**config) == layer


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"filters": 0, "kernel_size": 3}, "filters must be a positive integer"),
        ({"filters": 2, "kernel_size": 0}, "kernel_size must be a positive integer"),
        ({"filters": 2, "kernel_size": (3, 3, 3)}, "kernel_size"),
        ({"filters": 2, "kernel_size": 3, "stride": 0}, "stride must be a positive integer"),
        ({"filters": 2, "kernel_size": 3, "padding": "full"}, 'padding must be "valid", "same"'),
        ({"filters": 2, "kernel_size": 3, "padding": -1}, "padding must be"),
    ],
)
def test_bad_arguments_are_refused_at_construction(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Conv2D(**config)


def test_bad_input_shapes_are_refused_at_build() -> None:
    rng, dtype = np.random.default_rng(0), np.dtype(np.float32)
    with pytest.raises(ValueError, match="larger than its padded input"):
        Conv2D(2, 5).build((1, 4, 4), rng=rng, dtype=dtype)
    Conv2D(2, 5, padding=1).build((1, 4, 4), rng=rng, dtype=dtype)  # 6×6 padded: fits
    with pytest.raises(ValueError, match="channels, height, width"):
        Conv2D(2, 3).build((64,), rng=rng, dtype=dtype)
