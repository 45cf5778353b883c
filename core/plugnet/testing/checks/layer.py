"""The layer checks, on a layer built for the case's per-sample input shape (default
:data:`DEFAULT_LAYER_INPUT`), in training and in inference. A layer that merges several inputs
(:class:`~plugnet.protocols.MergesInputs`) is built for the case's list ``input_shapes`` and
checked on every input: the gradient against each, the dtype and shape of each gradient,
each input left unchanged.

A layer that takes indices (:class:`~plugnet.protocols.TakesIndices`, an embedding) is fed
integer ids instead of floats (:func:`_inputs`); its gradient check covers only its parameters,
its backward must return None, and its extremes are the first and last ids and refusing ids
out of range.

The ``onnx`` check (the layer's ONNX lowering against its forward, in inference mode) is in
:mod:`plugnet.testing.checks.lowering`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from plugnet.protocols import Array, MergesInputs, Shape, TakesIndices
from plugnet.testing.checks import expect, lowering
from plugnet.testing.checks.common import DTYPES, SEED, CheckTable, Subject, protocol, rebuild
from plugnet.testing.gradients import ConformanceError, check_vjp
from plugnet.testing.inputs import extreme_inputs

DEFAULT_LAYER_INPUT: Shape = (4,)
DEFAULT_MERGE_INPUTS: tuple[Shape, ...] = (DEFAULT_LAYER_INPUT, DEFAULT_LAYER_INPUT)
"""The input shapes of a layer that merges inputs (:class:`~plugnet.protocols.MergesInputs`)
and declares no cases: two inputs of :data:`DEFAULT_LAYER_INPUT`."""

CHECKS = CheckTable()

# Every check works on a list of inputs, one array per input: a plain layer's list holds its one
# x, and a merge layer's one array per value it reads. _built's forward and _backward convert
# between the lists and the layer's own calling convention.


def _merges(layer: Any) -> bool:
    return isinstance(layer, MergesInputs)


def _takes_indices(layer: Any) -> bool:
    return isinstance(layer, TakesIndices)


def _input_shapes(subject: Subject) -> list[Shape]:
    """The per-sample shape of each input: the case's ``input_shapes`` for a merge layer, else
    its one ``input_shape`` (which may be (), one id per sample)."""
    if subject.case.input_shapes is not None:
        return [tuple(shape) for shape in subject.case.input_shapes]
    shape = subject.case.input_shape
    return [DEFAULT_LAYER_INPUT if shape is None else tuple(shape)]


def _built(
    subject: Subject, dtype: np.dtype[Any], seed: int = SEED, layer: Any = None
) -> tuple[Any, Shape, Callable[[Sequence[Array], bool], Array]]:
    """``layer`` (default: a fresh one) built for the case's input shapes; returns it, its
    per-sample output shape and a ``forward(xs, training)`` on the list of inputs that replays
    the same random draws (dropout masks) on every call by restoring the build Generator's
    state first."""
    layer = subject.fresh() if layer is None else layer
    merges, shapes = _merges(layer), _input_shapes(subject)
    rng = np.random.default_rng(seed)
    output_shape = layer.build(shapes if merges else shapes[0], rng=rng, dtype=dtype)
    state = rng.bit_generator.state

    def forward(xs: Sequence[Array], training: bool) -> Array:
        rng.bit_generator.state = state
        return layer.forward(list(xs) if merges else xs[0], training=training)

    return layer, tuple(output_shape), forward


def _backward(layer: Any, grad: Array, inputs: int) -> list[Any]:
    """``layer.backward(grad)`` as a list of one dE/dx per input: a plain layer's one result, or
    a merge layer's list, refused unless it holds one gradient per input."""
    dx = layer.backward(grad)
    if not _merges(layer):
        return [dx]
    if not isinstance(dx, (list, tuple)) or len(dx) != inputs:
        got = (
            f"{len(dx)} gradient(s)" if isinstance(dx, (list, tuple)) else f"a {type(dx).__name__}"
        )
        raise ConformanceError(
            f"backward returned {got} for {inputs} inputs; a layer that merges inputs returns a "
            f"list of one dE/dx per input, in the order of its inputs"
        )
    return list(dx)


def _inputs(subject: Subject, layer: Any, dtype: Any = np.float64, batch: int = 3) -> list[Array]:
    """A batch of each of the case's per-sample input shapes: standard normal values in
    ``dtype``, or for a layer that takes indices int64 ids in ``range(index_count)`` whatever
    ``dtype`` is, with the last id repeating the first, so that a gradient that overwrites a
    row read twice instead of summing fails."""
    rng = np.random.default_rng(SEED + 1)
    shapes = [(batch, *shape) for shape in _input_shapes(subject)]
    if not _takes_indices(layer):
        return [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    ids = rng.integers(0, int(layer.index_count), size=shapes[0], dtype=np.int64)
    ids.reshape(-1)[-1] = ids.reshape(-1)[0]
    return [ids]


def _no_input_grad(dx: Any) -> None:
    if dx is not None:
        raise ConformanceError(
            f"the layer takes indices (takes_indices = True), which have no gradient, but its "
            f"backward returned {type(dx).__name__}; fill grads and return None"
        )


def _name(index: int, xs: Sequence[Array]) -> str:
    """How messages name input ``index``: ``x`` for a layer's one input, else ``xs[index]``."""
    return "x" if len(xs) == 1 else f"xs[{index}]"


def _replaced(xs: Sequence[Array], index: int, value: Array) -> list[Array]:
    return [value if i == index else x for i, x in enumerate(xs)]


@CHECKS.check("protocol")
def _protocol(subject: Subject) -> None:
    protocol(subject)  # the registry refused a merges_inputs that is not True already
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
    xs = _inputs(subject, layer)
    rng = np.random.default_rng(SEED + 2)
    worst = 0.0
    for training in (True, False):
        if _takes_indices(layer):  # ids have no gradient: only the parameters' are checked
            _no_input_grad(layer.backward(np.ones_like(forward(xs, training))))
        for index in range(0 if _takes_indices(layer) else len(xs)):

            def input_vjp(
                p: Array, g: Array, index: int = index, training: bool = training
            ) -> Array:
                forward(_replaced(xs, index, p), training)
                return np.asarray(_backward(layer, g, len(xs))[index])

            def outputs(p: Array, index: int = index, training: bool = training) -> Array:
                return forward(_replaced(xs, index, p), training)

            what = "input gradient" if len(xs) == 1 else f"input gradient of {_name(index, xs)}"
            worst = max(
                worst,
                check_vjp(
                    outputs,
                    input_vjp,
                    xs[index],
                    what=f"{what} (training={training})",
                    rng=rng,
                ),
            )
        for key, param in layer.params.items():

            def with_param(p: Array, param: Array = param, training: bool = training) -> Array:
                saved = param.copy()
                param[...] = p
                try:
                    return np.array(forward(xs, training))
                finally:
                    param[...] = saved

            def param_vjp(
                p: Array, g: Array, key: str = key, param: Array = param, training: bool = training
            ) -> Array:
                saved = param.copy()
                param[...] = p
                try:
                    forward(xs, training)
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
        xs = _inputs(subject, layer, dtype)
        for training in (True, False):
            y = forward(xs, training)
            expect.array(
                y,
                shape=(xs[0].shape[0], *output_shape),
                dtype=dtype,
                what=f"forward output (training={training}, build said {output_shape})",
            )
        y = forward(xs, True)
        if _takes_indices(layer):
            _no_input_grad(layer.backward(np.ones_like(y)))
        else:
            for index, dx in enumerate(_backward(layer, np.ones_like(y), len(xs))):
                what = "backward output"
                if len(xs) > 1:
                    what += f" for {_name(index, xs)}"
                expect.array(dx, shape=xs[index].shape, dtype=dtype, what=what)
        for key, value in layer.params.items():
            expect.array(layer.grads[key], shape=value.shape, dtype=dtype, what=f"grads[{key!r}]")


@CHECKS.check("mutation")
def _mutation(subject: Subject) -> None:
    layer, _, forward = _built(subject, np.dtype(np.float64))
    xs = _inputs(subject, layer)
    before = [x.copy() for x in xs]
    y = forward(xs, True)
    for index, x in enumerate(xs):
        expect.unchanged(before[index], x, f"forward's input {_name(index, xs)}")
    g = np.random.default_rng(SEED).standard_normal(y.shape)
    g_before = g.copy()
    layer.backward(g)
    expect.unchanged(g_before, g, "backward's input grad")
    for index, x in enumerate(xs):
        expect.unchanged(before[index], x, f"forward's input {_name(index, xs)} (after backward)")


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    layer, _, forward = _built(subject, np.dtype(np.float64))
    rebuilt, _, rebuilt_forward = _built(
        subject, np.dtype(np.float64), layer=rebuild(subject, layer)
    )
    for key in layer.params:
        expect.identical(layer.params[key], rebuilt.params.get(key), f"params[{key!r}]")
    xs = _inputs(subject, layer)
    for training in (True, False):
        expect.identical(
            forward(xs, training),
            rebuilt_forward(xs, training),
            f"forward outputs (training={training}) of the original and the rebuilt layer",
        )


@CHECKS.check("extremes")
def _extremes(subject: Subject) -> None:
    for dtype in DTYPES:
        layer, _, forward = _built(subject, dtype)
        if _takes_indices(layer):
            _index_extremes(subject, layer, forward, dtype)
            continue
        rng = np.random.default_rng(SEED)
        xs = [extreme_inputs((3, *shape), rng, dtype) for shape in _input_shapes(subject)]
        for training in (True, False):
            expect.quiet_and_finite(
                f"forward on ±1e4 {dtype} inputs (training={training})", forward, xs, training
            )
        y = forward(xs, True)
        what = f"backward after ±1e4 {dtype} inputs"
        for dx in expect.quiet(what, _backward, layer, np.ones_like(y), len(xs)):
            expect.finite(dx, what)


def _index_extremes(subject: Subject, layer: Any, forward: Any, dtype: np.dtype[Any]) -> None:
    """The extremes of ids are the first and the last, 0 and index_count − 1, which must work,
    and the ids just outside, −1 (which NumPy indexing would wrap to the last) and index_count,
    which forward must refuse with a ValueError."""
    count = int(layer.index_count)
    (x,) = _inputs(subject, layer)
    x.reshape(-1)[::2] = 0
    x.reshape(-1)[1::2] = count - 1
    for training in (True, False):
        expect.quiet_and_finite(
            f"forward on ids 0 and {count - 1} ({dtype}, training={training})",
            forward,
            [x],
            training,
        )
    y = forward([x], True)
    expect.quiet(f"backward after ids 0 and {count - 1} ({dtype})", layer.backward, np.ones_like(y))
    for bad in (-1, count):
        wrong = x.copy()
        wrong.reshape(-1)[0] = bad
        try:
            forward([wrong], True)
        except ValueError:
            continue
        raise ConformanceError(
            f"forward took the id {bad}, outside 0..{count - 1} (index_count = {count}), "
            f"without raising ValueError; refuse ids out of range (NumPy wraps negative ones)"
        )


@CHECKS.check("onnx")
def _onnx(subject: Subject) -> float:
    shapes = _input_shapes(subject)
    names = ["input"] if len(shapes) == 1 else [f"input_{i}" for i in range(len(shapes))]

    def example(dtype: np.dtype[Any]) -> lowering.Example:
        from plugnet.network import Model

        layer = subject.fresh()
        model = Model(
            [layer], error="mse", dtype=dtype, seed=SEED, inputs=names, layer_inputs=[names]
        )
        model.build(dict(zip(names, shapes, strict=True)) if len(names) > 1 else shapes[0])
        xs = _inputs(subject, layer, dtype)
        expected = layer.forward(xs if _merges(layer) else xs[0], training=False)
        return model, xs, expected, None

    return lowering.check(subject, example, "random")
