"""conv1d, max_pool1d, avg_pool1d and global_avg_pool against NumPy transcriptions of PyTorch's
documented formulas, forward and backward, in float64; gradients by finite differences;
arguments, shapes and configs.

The references transcribe https://pytorch.org/docs/stable/generated/torch.nn.Conv1d.html:
out(N_i, C_out_j) = bias(C_out_j) + Σ_k weight(C_out_j, k) ⋆ input(N_i, k), ⋆ the valid
cross-correlation, L_out = ⌊(L + 2·padding − kernel_size) / stride⌋ + 1; MaxPool1d and AvgPool1d
(count_include_pad=True) likewise, and AdaptiveAvgPool to size 1 for the global pool. Their
backward is written as the adjoint of each sum (every output's gradient sent back to the inputs
that made it), independently of the layers' im2col code. These were confirmed once against
torch 2.13 with copied weights: max difference 3.2e-14 (conv1d dw, 25 channels × 5),
2.2e-16 for the pools.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.testing.gradients import check_layer_gradients
from plugnet_builtins.conv import Conv1D
from plugnet_builtins.pooling import AvgPool1D, GlobalAvgPool, MaxPool1D

F64 = np.dtype(np.float64)


def built(config: dict[str, Any] | str, input_shape: tuple[int, ...], dtype: Any = F64) -> Any:
    layer = plugnet.layer(config)
    layer.build(input_shape, rng=np.random.default_rng(0), dtype=np.dtype(dtype))
    if "b" in layer.params:
        b = np.random.default_rng(1).standard_normal(layer.params["b"].shape)
        layer.params["b"] = b.astype(layer.params["b"].dtype)
    return layer


def reference_conv1d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, pads: tuple[int, int]
) -> tuple[np.ndarray, Any]:
    """Forward by the definition, and its adjoint: g ↦ (dx, dw, db)."""
    xp = np.pad(x, ((0, 0), (0, 0), pads))
    n_, _, lp = xp.shape
    f_, _, k = w.shape
    lo = (lp - k) // stride + 1
    y = np.zeros((n_, f_, lo))
    for p in range(lo):
        window = xp[:, :, p * stride : p * stride + k]  # (N, C, k)
        y[:, :, p] = np.einsum("nck,fck->nf", window, w)
    if b is not None:
        y += b[None, :, None]

    def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dxp, dw = np.zeros_like(xp), np.zeros_like(w)
        for p in range(lo):
            window = xp[:, :, p * stride : p * stride + k]
            dw += np.einsum("nf,nck->fck", g[:, :, p], window)
            dxp[:, :, p * stride : p * stride + k] += np.einsum("nf,fck->nck", g[:, :, p], w)
        return dxp[:, :, pads[0] : pads[0] + x.shape[2]], dw, g.sum(axis=(0, 2))

    return y, backward


CONV_CASES = [
    ({"filters": 3, "kernel_size": 3}, (2, 9), (0, 0)),
    ({"filters": 2, "kernel_size": 3, "padding": "same"}, (3, 6), (1, 1)),
    ({"filters": 2, "kernel_size": 4, "padding": "same"}, (2, 7), (1, 2)),
    ({"filters": 2, "kernel_size": 3, "stride": 2, "padding": "same"}, (2, 8), (0, 1)),
    ({"filters": 4, "kernel_size": 2, "stride": 3, "padding": 2}, (1, 10), (2, 2)),
    ({"filters": 2, "kernel_size": 5, "use_bias": False}, (2, 5), (0, 0)),
]


@pytest.mark.parametrize(("config", "shape", "pads"), CONV_CASES, ids=str)
def test_conv1d_forward_and_backward_equal_the_definition(
    config: dict[str, Any], shape: tuple[int, ...], pads: tuple[int, int]
) -> None:
    layer = built({"type": "conv1d", **config}, shape)
    assert layer.pads == ((0, 0), pads)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, *shape))
    b = layer.params.get("b")
    expected, reference_backward = reference_conv1d(x, layer.params["w"], b, layer.stride, pads)
    y = layer.forward(x, training=True)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)
    g = rng.standard_normal(y.shape)
    dx, dw, db = reference_backward(g)
    np.testing.assert_allclose(layer.backward(g), dx, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.grads["w"], dw, rtol=0, atol=1e-12)
    if b is not None:
        np.testing.assert_allclose(layer.grads["b"], db, rtol=0, atol=1e-12)
    else:
        assert "b" not in layer.params and "b" not in layer.grads


def test_conv1d_activation_is_applied_after_the_convolution() -> None:
    layer = built({"type": "conv1d", "filters": 2, "kernel_size": 3, "activation": "tanh"}, (2, 6))
    x = np.random.default_rng(3).standard_normal((2, 2, 6))
    linear, _ = reference_conv1d(x, layer.params["w"], layer.params["b"], 1, (0, 0))
    np.testing.assert_allclose(layer.forward(x), np.tanh(linear), rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", Conv1D.conformance.cases, ids=lambda c: str(c["config"]))
@pytest.mark.parametrize("training", [True, False])
def test_conv1d_gradients_by_finite_differences(case: dict[str, Any], training: bool) -> None:
    layer = built({"type": "conv1d", **case["config"]}, case["input_shape"])
    x = np.random.default_rng(4).standard_normal((2, *case["input_shape"]))
    check_layer_gradients(layer, x, training=training)


def test_conv1d_conformance_cases_cover_the_options() -> None:
    configs = [c["config"] for c in Conv1D.conformance.cases]
    assert {c.get("stride", 1) for c in configs} >= {1, 2, 3}
    assert {str(c.get("padding", "valid")) for c in configs} >= {"valid", "same", "1"}
    assert any(c["kernel_size"] % 2 == 0 and c.get("padding") == "same" for c in configs)
    assert any(c.get("use_bias") is False for c in configs)
    assert any("activation" in c for c in configs)


def test_conv1d_skips_the_input_gradient_and_the_parameter_grads_agree() -> None:
    layer = built({"type": "conv1d", "filters": 3, "kernel_size": 3, "padding": 1}, (2, 8))
    x = np.random.default_rng(5).standard_normal((4, 2, 8))
    g = np.random.default_rng(6).standard_normal(layer.forward(x, training=True).shape)
    dx = layer.backward(g)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    again = layer.backward(g)  # a second backward after one forward rebuilds the columns
    assert dx is not None and again is not None and dx.shape == x.shape
    np.testing.assert_array_equal(dx, again)
    layer.forward(x, training=True)
    assert layer.backward(g, need_input_grad=False) is None
    for key, value in grads.items():
        np.testing.assert_allclose(layer.grads[key], value, rtol=1e-12)


def test_conv1d_float32_stays_float32_across_batch_sizes() -> None:
    layer = built({"type": "conv1d", "filters": 2, "kernel_size": 3}, (1, 7), dtype=np.float32)
    for batch in (3, 5, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 1, 7)).astype(np.float32)
        y = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(y))
        assert y.dtype == dx.dtype == layer.grads["w"].dtype == np.float32
        assert y.shape == (batch, 2, 5) and dx.shape == x.shape
        expected, _ = reference_conv1d(x, layer.params["w"], layer.params["b"], 1, (0, 0))
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_conv1d_parameters_have_pytorch_shapes_and_the_config_round_trips() -> None:
    layer = built({"type": "conv1d", "filters": 5, "kernel_size": 4, "stride": 2}, (3, 11))
    assert layer.params["w"].shape == (5, 3, 4) and layer.params["b"].shape == (5,)
    config = layer.get_config()
    assert (config["kernel_size"], config["stride"], config["padding"]) == (4, 2, "valid")
    assert Conv1D(**config) == layer
    assert Conv1D(2, 3, padding="SAME").padding == "same"
    assert plugnet.layer("convolution1d(filters=2, kernel_size=3)") == Conv1D(2, 3)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"filters": 0, "kernel_size": 3}, "conv1d filters must be a positive integer"),
        ({"filters": 2, "kernel_size": (1, 3)}, "conv1d kernel_size must be a positive integer"),
        ({"filters": 2, "kernel_size": 3, "stride": 0}, "conv1d stride must be a positive"),
        ({"filters": 2, "kernel_size": 3, "padding": "full"}, 'conv1d padding must be "valid"'),
        ({"filters": 2, "kernel_size": 3, "padding": -1}, "padding must be"),
        ({"filters": 2, "kernel_size": 3, "padding": (1, 1)}, r"integer >= 0, got \(1, 1\)"),
    ],
)
def test_conv1d_bad_arguments_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Conv1D(**config)


def test_conv1d_bad_input_shapes_are_refused_at_build() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="larger than its padded input length 4"):
        Conv1D(2, 5).build((1, 4), rng=rng, dtype=F64)
    Conv1D(2, 5, padding=1).build((1, 4), rng=rng, dtype=F64)  # 6 padded: fits
    with pytest.raises(ValueError, match=r"\(channels, length\) per sample"):
        Conv1D(2, 3).build((1, 4, 4), rng=rng, dtype=F64)


def reference_pool1d(
    x: np.ndarray, kind: str, k: int, stride: int, pad: int
) -> tuple[np.ndarray, Any]:
    """MaxPool1d (−∞ padding, the gradient to the first maximum) or AvgPool1d (zeros counted)."""
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)), constant_values=fill)
    lo = (xp.shape[2] - k) // stride + 1
    windows = [xp[:, :, p * stride : p * stride + k] for p in range(lo)]
    y = np.stack([w.max(axis=2) if kind == "max" else w.mean(axis=2) for w in windows], axis=2)

    def backward(g: np.ndarray) -> np.ndarray:
        dxp = np.zeros_like(xp)
        for p, window in enumerate(windows):
            if kind == "max":
                first = np.argmax(window, axis=2)
                for n, c in np.ndindex(*first.shape):
                    dxp[n, c, p * stride + first[n, c]] += g[n, c, p]
            else:
                dxp[:, :, p * stride : p * stride + k] += g[:, :, p : p + 1] / k
        return dxp[:, :, pad : pad + x.shape[2]]

    return y, backward


POOL_CASES = [
    ({"pool_size": 2}, (2, 7)),
    ({"pool_size": 3, "stride": 1}, (2, 6)),
    ({"pool_size": 3, "stride": 2, "padding": 1}, (3, 8)),
    ({"pool_size": 4, "stride": 3, "padding": 2}, (1, 9)),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("config", "shape"), POOL_CASES, ids=str)
def test_pool1d_forward_and_backward_equal_the_definition(
    kind: str, config: dict[str, Any], shape: tuple[int, ...]
) -> None:
    layer = built({"type": f"{kind}_pool1d", **config}, shape)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, *shape))
    k = config["pool_size"]
    expected, reference_backward = reference_pool1d(
        x, kind, k, config.get("stride", k), config.get("padding", 0)
    )
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(g), reference_backward(g), rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [MaxPool1D, AvgPool1D])
@pytest.mark.parametrize("case", MaxPool1D.conformance.cases, ids=lambda c: str(c["config"]))
def test_pool1d_gradients_by_finite_differences(cls: Any, case: dict[str, Any]) -> None:
    layer = cls(**case["config"])
    layer.build(case["input_shape"], rng=np.random.default_rng(0), dtype=F64)
    x = np.random.default_rng(8).standard_normal((2, *case["input_shape"]))
    check_layer_gradients(layer, x)


def test_max_pool1d_sends_a_tie_to_the_first_maximum() -> None:
    layer = built("max_pool1d(pool_size=3)", (1, 3))
    layer.forward(np.array([[[1.0, 5.0, 5.0]]]))
    np.testing.assert_array_equal(layer.backward(np.array([[[2.0]]])), [[[0.0, 2.0, 0.0]]])


@pytest.mark.parametrize("name", ["max_pool1d", "avg_pool1d"])
def test_pool1d_config_and_bad_arguments(name: str) -> None:
    cls = plugnet.registry().lookup("layer", name).factory
    layer = cls(3, stride=2, padding=1)
    assert layer.get_config() == {"pool_size": 3, "stride": 2, "padding": 1}
    assert cls(**layer.get_config()) == layer
    with pytest.raises(ValueError, match=f"{name} pool_size must be a positive integer"):
        cls((1, 2))
    with pytest.raises(ValueError, match=f"{name} stride must be a positive integer"):
        cls(2, stride=0)
    with pytest.raises(ValueError, match=f"{name} padding must be an integer >= 0"):
        cls(2, padding=-1)
    with pytest.raises(ValueError, match="more than half of pool_size 2"):
        cls(2, padding=2)
    with pytest.raises(ValueError, match="larger than its padded input length 2"):
        cls(3).build((1, 2), rng=np.random.default_rng(0), dtype=F64)
    with pytest.raises(ValueError, match=r"\(channels, length\)"):
        cls(2).build((1, 4, 4), rng=np.random.default_rng(0), dtype=F64)


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (2, 1, 1)])
def test_global_avg_pool_averages_every_axis_after_the_channels(shape: tuple[int, ...]) -> None:
    layer = built("global_avg_pool", shape)
    assert layer.build(shape, rng=np.random.default_rng(0), dtype=F64) == (shape[0],)
    x = np.random.default_rng(9).standard_normal((4, *shape))
    expected = x.reshape(4, shape[0], -1).mean(axis=2)  # AdaptiveAvgPool to size 1
    np.testing.assert_allclose(layer.forward(x), expected, rtol=0, atol=1e-12)
    g = np.random.default_rng(10).standard_normal((4, shape[0]))
    m = int(np.prod(shape[1:]))
    dx = np.repeat(g[:, :, None] / m, m, axis=2).reshape(x.shape)
    np.testing.assert_allclose(layer.backward(g), dx, rtol=0, atol=1e-15)
    check_layer_gradients(layer, x)


def test_global_avg_pool_names_and_errors() -> None:
    for name in ("global_average_pooling1d", "global_average_pooling2d"):
        assert plugnet.layer(name) == GlobalAvgPool()
    with pytest.raises(ValueError, match="no axis to average over"):
        GlobalAvgPool().build((6,), rng=np.random.default_rng(0), dtype=F64)
    layer = built("global_avg_pool", (2, 3), dtype=np.float32)
    x = np.ones((2, 2, 3), dtype=np.float32)
    assert layer.forward(x).dtype == layer.backward(np.ones((2, 2), np.float32)).dtype == x.dtype


@pytest.mark.parametrize("stride", [1, 2])
def test_conv1d_as_the_output_layer_takes_the_fused_delta(stride: int) -> None:
    """With sigmoid + binary cross-entropy the network hands δ = dE/du, shaped as the layer's
    output (N, F, Lo), to backward_linear."""
    config = {"type": "conv1d", "filters": 2, "kernel_size": 3, "stride": stride}
    layer = built({**config, "activation": "sigmoid"}, (2, 7))
    x = np.random.default_rng(11).standard_normal((3, 2, 7))
    y = layer.forward(x, training=True)
    delta = np.random.default_rng(12).standard_normal(y.shape)
    _, reference_backward = reference_conv1d(
        x, layer.params["w"], layer.params["b"], stride, (0, 0)
    )
    dx, dw, db = reference_backward(delta)
    np.testing.assert_allclose(layer.backward_linear(delta), dx, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.grads["w"], dw, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db, rtol=0, atol=1e-12)
    net = plugnet.Sequential(
        [{**config, "activation": "sigmoid"}], error="binary_cross_entropy", seed=0
    )
    net.fit(x, (x[:, :, : y.shape[2] * stride : stride] > 0).astype(float), epochs=1, verbose=0)
