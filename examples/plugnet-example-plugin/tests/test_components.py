"""Checks of the example plugin's components: gradients by finite differences, dtypes,
no mutation of inputs and finite values on extreme inputs."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from plugnet_example_plugin import LogCosh, SquarePlus


def numeric_gradient(f, x, eps=1e-6):
    """Central finite differences of the scalar function f at x (float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("b", [4.0, 1.0, 0.25])
def test_square_plus_gradient(b):
    rng = np.random.default_rng(0)
    act = SquarePlus(b=b)
    x = rng.normal(scale=3.0, size=(4, 5))
    g = rng.normal(size=(4, 5))  # dE/dy for E = Σ g ⊙ y
    analytic = act.backward(x, act.forward(x), g)
    numeric = numeric_gradient(lambda z: float(np.sum(g * act.forward(z))), x.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_square_plus_values():
    x = np.array([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(SquarePlus().forward(x), (x + np.sqrt(x * x + 4.0)) / 2)
    np.testing.assert_allclose(SquarePlus(b=1.0).forward(x), (x + np.sqrt(x * x + 1.0)) / 2)


def test_log_cosh_gradient():
    rng = np.random.default_rng(1)
    err = LogCosh()
    y = rng.normal(scale=2.0, size=(3, 4))
    t = rng.normal(size=(3, 4))
    analytic = err.backward(y, t)
    numeric = numeric_gradient(lambda z: err.forward(z, t), y.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_log_cosh_value():
    y = np.array([[0.5, -1.0], [2.0, 0.0]])
    t = np.zeros_like(y)
    assert LogCosh().forward(y, t) == pytest.approx(np.sum(np.log(np.cosh(y))) / 2)


def test_dtype_kept_inputs_untouched_and_finite():
    x = np.array([[-1e4, -1.0, 0.0, 1.0, 1e4]], dtype=np.float32)
    t = np.zeros_like(x)
    before = x.copy(), t.copy()
    act, err = SquarePlus(), LogCosh()
    y = act.forward(x)
    dx = act.backward(x, y, np.ones_like(y))
    e = err.forward(x, t)
    dy = err.backward(x, t)
    for out in (y, dx, dy):
        assert out.dtype == np.float32
        assert np.all(np.isfinite(out))
    assert np.isfinite(e)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(t, before[1])


def test_config_round_trip():
    for component in (SquarePlus(b=2.5), LogCosh()):
        rebuilt = type(component)(**component.get_config())
        assert rebuilt.get_config() == component.get_config()


def test_square_plus_rejects_bad_b():
    with pytest.raises(ValueError, match="b > 0"):
        SquarePlus(b=0.0)


def test_registered_with_plugnet():
    try:
        importlib.metadata.distribution("plugnet-example-plugin")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("plugnet-example-plugin is not installed, so plugnet cannot discover it")
    import plugnet

    assert isinstance(plugnet.activation("sqplus(b=1.0)"), SquarePlus)
    assert isinstance(plugnet.error_function("logcosh_loss"), LogCosh)


def test_log_cosh_small_residuals_keep_precision():
    y = np.array([[1e-4, -3e-3, 2e-2, 0.5]], dtype=np.float32)
    t = np.zeros_like(y)
    d = y.astype(np.float64)
    expected = float(np.sum(np.log(np.cosh(d))))
    assert LogCosh().forward(y, t) == pytest.approx(expected, rel=1e-9)
