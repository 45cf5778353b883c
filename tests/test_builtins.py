"""The seed's built-ins: gradients by finite differences, values, dtypes and extreme inputs."""

from __future__ import annotations

import numpy as np
import pytest

import plugnet
from plugnet.testing import (
    ConformanceError,
    check_activation_gradient,
    check_error_gradient,
    check_fused_against_chain,
)
from plugnet.testing.inputs import no_numpy_warnings

SEED_ACTIVATIONS = ["relu", "sigmoid", "softmax"]
SEED_ERRORS = ["square", "cross_entropy"]
# Every built-in, from the registry (tests/test_conformance.py checks each one in full).
ACTIVATIONS = [c.name for c in plugnet.registry().components("activation") if c.builtin]
ERRORS = [c.name for c in plugnet.registry().components("error_function") if c.builtin]
DTYPES = [np.float32, np.float64]


def away_from_kinks(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.3, x)  # relu's kink at 0 has no derivative


def probabilities(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    return plugnet.activation("softmax").forward(np.random.default_rng(seed).standard_normal(shape))


def one_hot(rows: int, classes: int, seed: int = 2) -> np.ndarray:
    return np.eye(classes)[np.random.default_rng(seed).integers(0, classes, rows)]


@pytest.mark.parametrize("name", SEED_ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (4, 5), (2, 3, 4)])
def test_activation_gradients(name: str, shape: tuple[int, ...]) -> None:
    check_activation_gradient(plugnet.activation(name), away_from_kinks(shape))


@pytest.mark.parametrize("name", SEED_ERRORS)
@pytest.mark.parametrize("rows", [1, 7])
def test_error_gradients_include_one_over_n(name: str, rows: int) -> None:
    check_error_gradient(plugnet.error_function(name), probabilities((rows, 4)), one_hot(rows, 4))


@pytest.mark.parametrize("rows", [1, 3, 16])
def test_fused_softmax_cross_entropy_equals_the_chain(rows: int) -> None:
    check_fused_against_chain(
        plugnet.fused_backward("softmax", "cross_entropy"),  # type: ignore[arg-type]
        plugnet.activation("softmax"),
        plugnet.error_function("cross_entropy"),
        away_from_kinks((rows, 5)) * 3,
        one_hot(rows, 5),
    )


def test_fused_divides_by_the_batch_size() -> None:
    fused = plugnet.fused_backward("softmax", "cross_entropy")
    assert fused is not None
    y, t = probabilities((8, 3)), one_hot(8, 3)
    np.testing.assert_allclose(fused.backward(y, t), (y - t) / 8)


def test_the_gradient_check_catches_a_wrong_gradient() -> None:
    class OffByOnePercent:
        def forward(self, x: np.ndarray) -> np.ndarray:
            return x * x

        def backward(self, x: np.ndarray, y: np.ndarray, grad: np.ndarray) -> np.ndarray:
            return grad * 2 * x * 1.01

        def get_config(self) -> dict[str, object]:
            return {}

    with pytest.raises(ConformanceError, match="OffByOnePercent input gradient: worst absolute"):
        check_activation_gradient(OffByOnePercent(), away_from_kinks((3, 3)))


def test_forward_values_against_closed_forms() -> None:
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(plugnet.activation("relu").forward(x), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(plugnet.activation("sigmoid").forward(x), 1 / (1 + np.exp(-x)))
    e = np.exp(x)
    np.testing.assert_allclose(plugnet.activation("softmax").forward(x), e / e.sum())
    y, t = np.array([[0.2, 0.8], [0.6, 0.4]]), np.array([[0.0, 1.0], [1.0, 0.0]])
    assert plugnet.error_function("square").forward(y, t) == pytest.approx(
        (0.5 * (0.04 + 0.04) + 0.5 * (0.16 + 0.16)) / 2
    )
    assert plugnet.error_function("cross_entropy").forward(y, t) == pytest.approx(
        -(np.log(0.8) + np.log(0.6)) / 2
    )


def test_relu_gradient_at_the_kink_is_zero() -> None:
    relu = plugnet.activation("relu")
    x = np.zeros((1, 3))
    np.testing.assert_array_equal(relu.backward(x, relu.forward(x), np.ones((1, 3))), 0.0)


def test_softmax_vjp_is_exact_not_diagonal() -> None:
    softmax = plugnet.activation("softmax")
    x = np.array([[1.0, 2.0, 0.5]])
    y = softmax.forward(x)
    g = np.array([[1.0, -2.0, 0.5]])
    jacobian = np.diag(y[0]) - np.outer(y[0], y[0])
    np.testing.assert_allclose(softmax.backward(x, y, g)[0], g[0] @ jacobian)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_on_extreme_inputs(name: str, dtype: type) -> None:
    activation = plugnet.activation(name)
    x = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4], [1e4, 1e4, -1e4, 0.0, 1.0]], dtype=dtype)
    original = x.copy()
    with no_numpy_warnings():
        y = activation.forward(x)
        dx = activation.backward(x, y, np.ones_like(x))
    for array in (y, dx):
        assert array.dtype == dtype and array.shape == x.shape
        assert np.all(np.isfinite(array))
    np.testing.assert_array_equal(x, original)


def test_sigmoid_saturates_exactly_and_softmax_rows_sum_to_one() -> None:
    y = plugnet.activation("sigmoid").forward(np.array([-1e4, 1e4], dtype=np.float32))
    np.testing.assert_array_equal(y, [0.0, 1.0])
    rows = plugnet.activation("softmax").forward(np.array([[1e4, -1e4, 0.0]], dtype=np.float32))
    np.testing.assert_allclose(rows.sum(axis=-1), 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ERRORS)
def test_errors_on_extreme_inputs(name: str, dtype: type) -> None:
    error = plugnet.error_function(name)
    y = np.array([[0.0, 1.0, 1e4], [1.0, 0.0, -1e4]], dtype=dtype)
    t = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    y_before, t_before = y.copy(), t.copy()
    with no_numpy_warnings():
        value = error.forward(y, t)
        grad = error.backward(y, t)
    assert isinstance(value, float) and np.isfinite(value)
    assert grad.dtype == dtype and grad.shape == y.shape and np.all(np.isfinite(grad))
    np.testing.assert_array_equal(y, y_before)
    np.testing.assert_array_equal(t, t_before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_keeps_dtype_and_is_finite(dtype: type) -> None:
    fused = plugnet.fused_backward("softmax", "cross_entropy")
    assert fused is not None
    y = plugnet.activation("softmax").forward(np.array([[1e4, -1e4, 0.0]], dtype=dtype))
    with no_numpy_warnings():
        grad = fused.backward(y, np.array([[0.0, 1.0, 0.0]]))
    assert grad.dtype == dtype and np.all(np.isfinite(grad))


@pytest.mark.parametrize("name", ERRORS)
def test_errors_refuse_mismatched_targets(name: str) -> None:
    with pytest.raises(ValueError, match=r"targets have shape \(2,\) but outputs have shape"):
        plugnet.error_function(name).forward(np.ones((2, 3)), np.array([0, 1]))


@pytest.mark.parametrize("kind", ["activation", "error_function"])
def test_builtins_rebuild_from_get_config(kind: str) -> None:
    registry = plugnet.registry()
    for component in registry.components(kind):
        instance = registry.resolve(kind, component.qualified_name)
        config = instance.get_config()
        assert registry.resolve(kind, {"name": component.qualified_name, **config}) == instance
