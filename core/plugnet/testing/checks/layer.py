"""The layer checks, on a layer built for the case's per-sample input shape (default
:data:`DEFAULT_LAYER_INPUT`), in training and in inference.

A layer that takes indices (:class:`~plugnet.protocols.TakesIndices`, an embedding) is fed
integer ids instead of floats (:func:`_inputs`); its gradient check covers only its parameters,
its backward must return None, and its extremes are the first and last ids and refusing ids
out of range."""

from __future__ import annotations

from typing import Any

import numpy as np

from plugnet.protocols import Array, Shape, TakesIndices
from plugnet.testing.checks import expect
from plugnet.testing.checks.common import DTYPES, SEED, CheckTable, Subject, protocol, rebuild
from plugnet.testing.gradients import ConformanceError, check_vjp
from plugnet.testing.inputs import extreme_inputs

DEFAULT_LAYER_INPUT: Shape = (4,)

CHECKS = CheckTable()


def _input_shape(subject: Subject) -> Shape:
    shape = subject.case.input_shape
    return DEFAULT_LAYER_INPUT if shape is None else tuple(shape)  # () is a shape: one id


def _built(
    subject: Subject, dtype: np.dtype[Any], seed: int = SEED, layer: Any = None
) -> tuple[Any, Shape, Any]:
    """``layer`` (default: a fresh one) built for the case's input shape; returns it, its
    per-sample output shape and a ``forward(x, training)`` that replays the same random draws
    (dropout masks) on every call by restoring the build Generator's state first."""
    layer = subject.fresh() if layer is None else layer
    rng = np.random.default_rng(seed)
    output_shape = layer.build(_input_shape(subject), rng=rng, dtype=dtype)
    state = rng.bit_generator.state

    def forward(x: Array, training: bool) -> Array:
        rng.bit_generator.state = state
        return layer.forward(x, training=training)

    return layer, tuple(output_shape), forward


def _takes_indices(layer: Any) -> bool:
    return isinstance(layer, TakesIndices)


def _inputs(subject: Subject, layer: Any, dtype: Any = np.float64, batch: int = 3) -> Array:
    """A batch of the case's per-sample input shape: standard normal values in ``dtype``, or
    for a layer that takes indices int64 ids in ``range(index_count)`` whatever ``dtype`` is,
    with the last id repeating the first, so that a gradient that overwrites a row read twice
    instead of summing fails."""
    rng = np.random.default_rng(SEED + 1)
    shape = (batch, *_input_shape(subject))
    if not _takes_indices(layer):
        return rng.standard_normal(shape).astype(dtype)
    ids = rng.integers(0, int(layer.index_count), size=shape, dtype=np.int64)
    ids.reshape(-1)[-1] = ids.reshape(-1)[0]
    return ids


def _no_input_grad(dx: Any) -> None:
    if dx is not None:
        raise ConformanceError(
            f"the layer takes indices (takes_indices = True), which have no gradient, but its "
            f"backward returned {type(dx).__name__}; fill grads and return None"
        )


@CHECKS.check("protocol")
def _protocol(subject: Subject) -> None:
    protocol(subject)
    layer, output_shape, _ = _built(subject, np.dtype(np.float64))
    if not all(isinstance(d, (int, np.integer)) and d > 0 for d in output_shape):
        raise ConformanceError(f"build returned {output_shape!r}, not a shape of positive ints")
    params, grads = layer.params, layer.grads
    if not isinstance(params, dict) or not isinstance(grads, dict) or set(params) != set(grads):
        raise ConformanceError(
            f"after build, params and grads must be dicts with the same keys; got params "
            f"{sorted(params)} and grads {sorted(grads)}"
        )
    for key, value in params.items():
        expect.array(
            grads[key], shape=value.shape, dtype=value.dtype, what=f"grads[{key!r}] after build"
        )


@CHECKS.check("gradient")
def _gradient(subject: Subject) -> float:
    layer, _, forward = _built(subject, np.dtype(np.float64))
    x = _inputs(subject, layer)
    rng = np.random.default_rng(SEED + 2)
    worst = 0.0
    for training in (True, False):
        if _takes_indices(layer):  # ids have no gradient: only the parameters' are checked
            _no_input_grad(layer.backward(np.ones_like(forward(x, training))))
        else:

            def input_vjp(p: Array, g: Array, training: bool = training) -> Array:
                forward(p, training)
                return np.asarray(layer.backward(g))

            def outputs(p: Array, training: bool = training) -> Array:
                return forward(p, training)

            worst = max(
                worst,
                check_vjp(
                    outputs,
                    input_vjp,
                    x,
                    what=f"input gradient (training={training})",
                    rng=rng,
                ),
            )
        for key, param in layer.params.items():

            def with_param(p: Array, param: Array = param, training: bool = training) -> Array:
                saved = param.copy()
                param[...] = p
                try:
                    return np.array(forward(x, training))
                finally:
                    param[...] = saved

            def param_vjp(
                p: Array, g: Array, key: str = key, param: Array = param, training: bool = training
            ) -> Array:
                saved = param.copy()
                param[...] = p
                try:
                    forward(x, training)
                    layer.backward(g)
                    return np.array(layer.grads[key])
                finally:
                    param[...] = saved

            worst = max(
                worst,
                check_vjp(
                    with_param,
                    param_vjp,
                    param.copy(),
                    what=f"gradient of {key!r} (training={training})",
                    rng=rng,
                ),
            )
    return worst


@CHECKS.check("dtype")
def _dtype(subject: Subject) -> None:
    for dtype in DTYPES:
        layer, output_shape, forward = _built(subject, dtype)
        for key, value in layer.params.items():
            expect.array(value, shape=value.shape, dtype=dtype, what=f"params[{key!r}]")
        x = _inputs(subject, layer, dtype)
        for training in (True, False):
            y = forward(x, training)
            expect.array(
                y,
                shape=(x.shape[0], *output_shape),
                dtype=dtype,
                what=f"forward output (training={training}, build said {output_shape})",
            )
        y = forward(x, True)
        dx = layer.backward(np.ones_like(y))
        if _takes_indices(layer):
            _no_input_grad(dx)
        else:
            expect.array(dx, shape=x.shape, dtype=dtype, what="backward output")
        for key, value in layer.params.items():
            expect.array(layer.grads[key], shape=value.shape, dtype=dtype, what=f"grads[{key!r}]")


@CHECKS.check("mutation")
def _mutation(subject: Subject) -> None:
    layer, _, forward = _built(subject, np.dtype(np.float64))
    x = _inputs(subject, layer)
    x_before = x.copy()
    y = forward(x, True)
    expect.unchanged(x_before, x, "forward's input x")
    g = np.random.default_rng(SEED).standard_normal(y.shape)
    g_before = g.copy()
    layer.backward(g)
    expect.unchanged(g_before, g, "backward's input grad")
    expect.unchanged(x_before, x, "forward's input x (after backward)")


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    layer, _, forward = _built(subject, np.dtype(np.float64))
    rebuilt, _, rebuilt_forward = _built(
        subject, np.dtype(np.float64), layer=rebuild(subject, layer)
    )
    for key in layer.params:
        expect.identical(layer.params[key], rebuilt.params.get(key), f"params[{key!r}]")
    x = _inputs(subject, layer)
    for training in (True, False):
        expect.identical(
            forward(x, training),
            rebuilt_forward(x, training),
            f"forward outputs (training={training}) of the original and the rebuilt layer",
        )


@CHECKS.check("extremes")
def _extremes(subject: Subject) -> None:
    for dtype in DTYPES:
        layer, _, forward = _built(subject, dtype)
        if _takes_indices(layer):
            _index_extremes(subject, layer, forward, dtype)
            continue
        x = extreme_inputs((3, *_input_shape(subject)), np.random.default_rng(SEED), dtype)
        for training in (True, False):
            expect.quiet_and_finite(
                f"forward on ±1e4 {dtype} inputs (training={training})", forward, x, training
            )
        y = forward(x, True)
        expect.quiet_and_finite(
            f"backward after ±1e4 {dtype} inputs", layer.backward, np.ones_like(y)
        )


def _index_extremes(subject: Subject, layer: Any, forward: Any, dtype: np.dtype[Any]) -> None:
    """The extremes of ids are the first and the last, 0 and index_count − 1, which must work,
    and the ids just outside, −1 (which NumPy indexing would wrap to the last) and index_count,
    which forward must refuse with a ValueError."""
    count = int(layer.index_count)
    x = _inputs(subject, layer)
    x.reshape(-1)[::2] = 0
    x.reshape(-1)[1::2] = count - 1
    for training in (True, False):
        expect.quiet_and_finite(
            f"forward on ids 0 and {count - 1} ({dtype}, training={training})", forward, x, training
        )
    y = forward(x, True)
    expect.quiet(f"backward after ids 0 and {count - 1} ({dtype})", layer.backward, np.ones_like(y))
    for bad in (-1, count):
        wrong = x.copy()
        wrong.reshape(-1)[0] = bad
        try:
            forward(wrong, True)
        except ValueError:
            continue
        raise ConformanceError(
            f"forward took the id {bad}, outside 0..{count - 1} (index_count = {count}), "
            f"without raising ValueError; refuse ids out of range (NumPy wraps negative ones)"
        )
