"""Finite-difference gradient checks in float64."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from plugnet.protocols import Activation, Array, ErrorFunction, FusedBackward, Layer


class ConformanceError(AssertionError):
    """A component failed a check; the message names the component, the check and the numbers."""


def numerical_gradient(
    f: Callable[[Array], float], x: Array, *, eps: float = 1e-6, in_place: bool = False
) -> Array:
    """dF/dx by central differences: (f(x + εeᵢ) − f(x − εeᵢ)) / 2ε for each coordinate i.

    ``x`` is copied to float64 and not changed. With ``in_place=True`` the float64 array ``x``
    itself is perturbed (and restored), for parameters that ``f`` reads from where they live.
    """
    if in_place and x.dtype != np.float64:
        raise TypeError("in-place finite differences need a float64 array")
    point = x if in_place else np.array(x, dtype=np.float64)
    grad = np.empty_like(point)
    flat_point, flat_grad = point.reshape(-1), grad.reshape(-1)
    for i in range(flat_point.size):
        original = flat_point[i]
        flat_point[i] = original + eps
        f_plus = f(point)
        flat_point[i] = original - eps
        f_minus = f(point)
        flat_point[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def assert_close(
    actual: Array, expected: Array, *, what: str, rtol: float = 1e-6, atol: float = 1e-8
) -> float:
    """Raise :class:`ConformanceError` naming ``what`` and the worst error unless
    |actual − expected| ≤ atol + rtol·|expected| everywhere; else return the worst absolute
    error."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise ConformanceError(f"{what}: shape {actual.shape}, expected {expected.shape}")
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    bound = atol + rtol * np.abs(expected.astype(np.float64))
    if not np.all(np.isfinite(actual)):
        where = tuple(
            int(i) for i in np.unravel_index(int(np.argmax(~np.isfinite(actual))), actual.shape)
        )
        raise ConformanceError(f"{what}: non-finite value {actual[where]} at index {where}")
    if np.all(diff <= bound):
        return float(diff.max(initial=0.0))
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff - bound)), diff.shape))
    relative = diff / np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
    raise ConformanceError(
        f"{what}: worst absolute error {float(diff.max()):.3g}, worst relative error "
        f"{float(relative.max()):.3g} (rtol={rtol:g}, atol={atol:g}); at index {worst} got "
        f"{float(actual[worst]):.10g}, expected {float(expected[worst]):.10g}"
    )


def check_vjp(
    forward: Callable[[Array], Array],
    vjp: Callable[[Array, Array], Array],
    x: Array,
    *,
    what: str,
    rng: np.random.Generator,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    eps: float = 1e-6,
    full_limit: int = 64,
    directions: int = 8,
) -> float:
    """Check ``vjp(x, g) = gᵀ·J(x)``, J being the Jacobian of ``forward`` at ``x`` (float64).

    Small problems (input and output both at most ``full_limit`` elements) compare the whole
    Jacobian, row by row from ``vjp`` with unit vectors g and column by column from central
    differences. Larger ones take a random g and compare ⟨vjp(x, g), v⟩ with the directional
    difference (⟨g, f(x + εv)⟩ − ⟨g, f(x − εv)⟩) / 2ε along random directions v.
    Central differences of values as large as |f| carry a rounding error of about
    ε_machine·|f| / ``eps``, so ``atol`` is raised to 64 times that floor where it is larger.
    Returns the worst absolute error; raises :class:`ConformanceError` naming ``what``.
    """
    x = np.array(x, dtype=np.float64)
    y = np.asarray(forward(x.copy()))
    floor = 64 * np.finfo(np.float64).eps * float(np.max(np.abs(y), initial=0.0)) / eps
    if x.size <= full_limit and y.size <= full_limit:
        numeric = np.empty((y.size, x.size))
        for j in range(x.size):
            flat_step = np.zeros(x.size)
            flat_step[j] = eps
            step = flat_step.reshape(x.shape)
            up, down = forward(x + step), forward(x - step)
            numeric[:, j] = (np.asarray(up) - np.asarray(down)).reshape(-1) / (2 * eps)
        analytic = np.empty_like(numeric)
        for i in range(y.size):
            unit = np.zeros(y.size)
            unit[i] = 1.0
            analytic[i] = _vjp_checked(vjp, x, unit.reshape(y.shape), what).reshape(-1)
        return assert_close(
            analytic,
            numeric,
            what=f"{what} (Jacobian [output, input], flattened)",
            rtol=rtol,
            atol=max(atol, floor),
        )
    g = rng.standard_normal(y.shape)
    floor = 64 * np.finfo(np.float64).eps * float(np.sum(np.abs(g * y))) / eps
    grad = _vjp_checked(vjp, x, g, what)
    vs = rng.standard_normal((directions, *x.shape))
    analytic = np.array([float(np.sum(grad * v)) for v in vs])
    numeric = np.array(
        [
            (float(np.sum(g * forward(x + eps * v))) - float(np.sum(g * forward(x - eps * v))))
            / (2 * eps)
            for v in vs
        ]
    )
    return assert_close(
        analytic,
        numeric,
        what=f"{what} (along {directions} random directions)",
        rtol=rtol,
        atol=max(atol, floor),
    )


def _vjp_checked(vjp: Callable[[Array, Array], Array], x: Array, g: Array, what: str) -> Array:
    grad = np.asarray(vjp(x.copy(), g))
    if grad.shape != x.shape:
        raise ConformanceError(f"{what}: the gradient has shape {grad.shape}, expected {x.shape}")
    return grad


def _name(component: Any) -> str:
    return type(component).__name__


def check_activation_gradient(
    activation: Activation, x: Array, *, seed: int = 0, rtol: float = 1e-6, atol: float = 1e-8
) -> None:
    """backward(x, y, g) must equal d(Σ g ⊙ f(x))/dx for a random g (float64)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.random.default_rng(seed).standard_normal(x.shape)
    y = activation.forward(x)
    analytic = activation.backward(x, y, g)
    numeric = numerical_gradient(lambda p: float(np.sum(g * activation.forward(p))), x)
    assert_close(
        analytic, numeric, what=f"{_name(activation)} input gradient", rtol=rtol, atol=atol
    )


def check_error_gradient(
    error: ErrorFunction, y: Array, t: Array, *, rtol: float = 1e-6, atol: float = 1e-8
) -> None:
    """backward(y, t) must equal dE/dy (float64)."""
    y, t = np.asarray(y, dtype=np.float64), np.asarray(t, dtype=np.float64)
    analytic = error.backward(y, t)
    numeric = numerical_gradient(lambda p: error.forward(p, t), y)
    assert_close(analytic, numeric, what=f"{_name(error)} gradient", rtol=rtol, atol=atol)


def check_fused_against_chain(
    fused: FusedBackward,
    activation: Activation,
    error: ErrorFunction,
    a: Array,
    t: Array,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """The fused dE/da must equal the chain activation.backward(a, y, error.backward(y, t)),
    and both must equal the finite-difference dE/da (float64)."""
    a, t = np.asarray(a, dtype=np.float64), np.asarray(t, dtype=np.float64)
    y = activation.forward(a)
    fused_grad = fused.backward(y, t)
    chain = activation.backward(a, y, error.backward(y, t))
    what = f"{_name(fused)} against {_name(activation)} then {_name(error)}"
    assert_close(fused_grad, chain, what=what, rtol=rtol, atol=atol)
    numeric = numerical_gradient(lambda p: error.forward(activation.forward(p), t), a)
    assert_close(fused_grad, numeric, what=f"{_name(fused)} gradient", rtol=rtol, atol=atol)


def check_layer_gradients(
    layer: Layer,
    x: Array,
    *,
    training: bool = True,
    seed: int = 0,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> None:
    """For a built float64 layer: backward(g) must equal d(Σ g ⊙ forward(x))/dx, and each
    grads[k] the derivative with respect to params[k]."""
    x = np.asarray(x, dtype=np.float64)
    g = np.random.default_rng(seed).standard_normal(layer.forward(x, training=training).shape)

    def energy(inputs: Array) -> float:
        return float(np.sum(g * layer.forward(inputs, training=training)))

    analytic_dx = layer.backward(g)
    analytic = {key: value.copy() for key, value in layer.grads.items()}
    numeric_dx = numerical_gradient(energy, x)
    assert_close(
        analytic_dx, numeric_dx, what=f"{_name(layer)} input gradient", rtol=rtol, atol=atol
    )
    for key, param in layer.params.items():
        numeric = numerical_gradient(lambda _: energy(x), param, in_place=True)
        assert_close(
            analytic[key], numeric, what=f"{_name(layer)} gradient of {key!r}", rtol=rtol, atol=atol
        )


def check_model_gradients(
    model: Any,
    x: Any,
    t: Array,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> float:
    """For a built float64 model (a :class:`~plugnet.network.Model` or ``Sequential``) without
    random layers: after ``backward`` for inputs ``x`` (one array, or a tuple in input order)
    and prepared targets ``t``, every ``grads[name]`` must equal the finite-difference
    derivative of the loss ``error.forward(forward(x), t)`` with respect to ``params[name]``.
    Branches, merges and the fused output step are all covered, since the loss is the whole
    model's. Returns the worst absolute error."""

    def loss(_: Array) -> float:
        return float(model.error.forward(model.forward(x, training=True), t))

    model.backward(model.forward(x, training=True), t)
    analytic = {name: np.array(grad) for name, grad in model.grads.items()}
    worst = 0.0
    for name, param in model.params.items():
        numeric = numerical_gradient(loss, param, in_place=True)
        error = assert_close(
            analytic[name], numeric, what=f"gradient of {name!r}", rtol=rtol, atol=atol
        )
        worst = max(worst, error)
    return worst
