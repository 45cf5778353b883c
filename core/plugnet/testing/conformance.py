"""The conformance suite: the checks every component of a kind must pass.

``check_activation``, ``check_layer`` and the other ``check_*`` functions run every check of
their kind on one component and raise one :class:`ConformanceError` listing each failure.
:func:`checks_for` lists the same checks as separate :class:`ConformanceCheck` items, which the
pytest plugin and ``plugnet check`` run one by one.

Optional declarations a component can make (all plain class attributes or methods):

- ``conformance_cases``: configurations to check, e.g.
  ``({"config": {"units": 3}, "input_shape": (4,)},)``; a layer case also gives the per-sample
  input shape. Default: the default configuration, and input shape ``(4,)`` for layers.
- ``kinks`` (activations): the x where the derivative jumps; gradients are checked away from them.
- ``conformance_domain`` (error functions): where y and t live, one of
  :data:`plugnet.domains.DOMAINS`; default ``"real"``.
- ``expected_std(shape)`` (initializers): the documented standard deviation, checked on large
  samples.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.domains import domain_of
from plugnet.protocols import Array, Shape
from plugnet.testing.gradients import ConformanceError, assert_close, check_vjp
from plugnet.testing.inputs import (
    away_from_kinks,
    error_pair,
    extreme_error_pair,
    extreme_inputs,
    no_numpy_warnings,
)

if TYPE_CHECKING:
    from plugnet._registry import Component

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_LAYER_INPUT: Shape = (4,)
SEED = 0


@dataclass(frozen=True)
class Case:
    """One configuration to check: constructor arguments and, for layers, the input shape."""

    config: Mapping[str, Any] = field(default_factory=dict)
    input_shape: Shape | None = None

    def label(self, name: str) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.config.items())
        return f"{name}({args})" if args else name


@dataclass
class Subject:
    """What a check looks at: a fresh instance of the component, and how to rebuild it."""

    kind: str
    label: str
    make: Callable[[], Any]
    case: Case
    component: Component | None = None
    pair: tuple[Any, Any] | None = None  # (activation, error function) for a fused backward

    def fresh(self) -> Any:
        return self.make()


CheckFunction = Callable[[Subject], float | None]


# -- shared checks ------------------------------------------------------------------------------


def _protocol(subject: Subject) -> None:
    from plugnet._registry import KINDS, _missing_members

    instance = subject.fresh()
    info = KINDS[subject.kind]
    missing = _missing_members(instance, info)
    if missing or not isinstance(instance, info.protocol):
        raise ConformanceError(
            f"a {type(instance).__name__} does not satisfy the {info.protocol.__name__} "
            f"protocol: it lacks {', '.join(missing) or 'get_config'}"
        )
    config = instance.get_config()  # type: ignore[attr-defined]
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ConformanceError(f"get_config() must return a dict with str keys, got {config!r}")


def _rebuild(subject: Subject, instance: Any) -> Any:
    """Rebuild ``instance`` from its config: by qualified name when it is registered, else from
    its class, so that a component can be checked before its plugin registers it."""
    import plugnet

    config = instance.get_config()
    registry = plugnet.registry()
    component = subject.component or registry.component_of(instance)
    if component is None:
        return type(instance)(**config)
    if component.pair is not None:
        return component.create(**config)
    return registry.resolve(subject.kind, {"name": component.qualified_name, **config})


def _json_config(instance: Any) -> dict[str, Any]:
    config = instance.get_config()
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConformanceError(
            f"get_config() returned {config!r}, which is not JSON-serializable ({exc}); use "
            f"numbers, strings, booleans, None, lists and dicts, and specs for nested components"
        ) from None
    return dict(config)


def _unchanged(before: Array, after: Array, what: str) -> None:
    if before.shape != after.shape or not np.array_equal(before, after, equal_nan=True):
        changed = np.argwhere(before != after)
        where = tuple(int(i) for i in changed[0]) if len(changed) else ()
        raise ConformanceError(
            f"{what} was modified in place (first change at index {where}); work on a copy"
        )


def _expect_array(value: Any, *, shape: tuple[int, ...], dtype: np.dtype[Any], what: str) -> None:
    if not isinstance(value, np.ndarray):
        raise ConformanceError(f"{what} is a {type(value).__name__}, not a numpy array")
    if value.shape != shape:
        raise ConformanceError(f"{what} has shape {value.shape}, expected {shape}")
    if value.dtype != dtype:
        raise ConformanceError(
            f"{what} has dtype {value.dtype} for {dtype} inputs; keep the input's dtype "
            f"(use Python floats or arrays of the input's dtype for constants)"
        )


def _expect_finite(value: Array, what: str) -> None:
    if not np.all(np.isfinite(value)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
        raise ConformanceError(f"{what} is not finite: {value[bad]} at index {bad}")


def _expect_identical(first: Array, second: Array | None, what: str) -> None:
    if second is None:
        raise ConformanceError(f"{what}: the second is missing")
    if not np.array_equal(first, second):
        diff = float(np.max(np.abs(np.asarray(first, float) - np.asarray(second, float))))
        raise ConformanceError(f"{what} differ (worst absolute difference {diff:.3g})")


def _quietly(what: str, compute: Callable[..., Any], *args: Any) -> Any:
    """``compute(*args)`` with NumPy's warnings turned into a ConformanceError naming ``what``."""
    try:
        with no_numpy_warnings():
            return compute(*args)
    except (FloatingPointError, Warning) as exc:
        raise ConformanceError(f"{what} raised a NumPy warning: {exc}") from None


# -- activations --------------------------------------------------------------------------------


def _kinks(activation: Any) -> list[float]:
    kinks = getattr(activation, "kinks", ())
    return [float(k) for k in (kinks() if callable(kinks) else kinks)]


def _activation_gradient(subject: Subject) -> float:
    activation = subject.fresh()
    rng = np.random.default_rng(SEED)
    worst = 0.0
    for shape in ((3, 4), (16, 40)):
        x = away_from_kinks(shape, _kinks(activation), rng)
        worst = max(
            worst,
            check_vjp(
                activation.forward,
                lambda p, g: activation.backward(p, activation.forward(p), g),
                x,
                what=f"input gradient at {shape}",
                rng=rng,
            ),
        )
    return worst


def _activation_dtype(subject: Subject) -> None:
    activation = subject.fresh()
    rng = np.random.default_rng(SEED)
    for dtype in DTYPES:
        for shape in ((3, 5), (2, 3, 4)):
            x = away_from_kinks(shape, _kinks(activation), rng).astype(dtype)
            y = activation.forward(x)
            _expect_array(y, shape=x.shape, dtype=dtype, what=f"forward of {shape} {dtype}")
            dx = activation.backward(x, y, np.ones_like(y))
            _expect_array(dx, shape=x.shape, dtype=dtype, what=f"backward of {shape} {dtype}")


def _activation_mutation(subject: Subject) -> None:
    activation = subject.fresh()
    rng = np.random.default_rng(SEED)
    x = away_from_kinks((4, 6), _kinks(activation), rng)
    x_before = x.copy()
    y = activation.forward(x)
    _unchanged(x_before, x, "forward's input x")
    y_before, g = y.copy(), rng.standard_normal(y.shape)
    g_before = g.copy()
    activation.backward(x, y, g)
    _unchanged(x_before, x, "backward's input x")
    _unchanged(y_before, y, "backward's input y")
    _unchanged(g_before, g, "backward's input grad")


def _activation_config(subject: Subject) -> None:
    activation = subject.fresh()
    _json_config(activation)
    rebuilt = _rebuild(subject, activation)
    x = away_from_kinks((4, 6), _kinks(activation), np.random.default_rng(SEED))
    g = np.random.default_rng(SEED + 1).standard_normal(x.shape)
    y, y2 = activation.forward(x), rebuilt.forward(x)
    _expect_identical(y, y2, "forward outputs of the original and the rebuilt component")
    _expect_identical(
        activation.backward(x, y, g),
        rebuilt.backward(x, y2, g),
        "backward outputs of the original and the rebuilt component",
    )


def _activation_extremes(subject: Subject) -> None:
    activation = subject.fresh()
    rng = np.random.default_rng(SEED)
    for dtype in DTYPES:
        x = extreme_inputs((4, 10), rng, dtype)
        y = _quietly(f"forward on ±1e4 {dtype} inputs", activation.forward, x)
        _expect_finite(y, f"forward on ±1e4 {dtype} inputs")
        dx = _quietly(
            f"backward on ±1e4 {dtype} inputs", activation.backward, x, y, np.ones_like(y)
        )
        _expect_finite(dx, f"backward on ±1e4 {dtype} inputs")


# -- error functions ----------------------------------------------------------------------------


def _error_gradient(subject: Subject) -> float:
    error = subject.fresh()
    rng = np.random.default_rng(SEED)
    worst = 0.0
    for rows in (1, 5):
        y, t = error_pair(domain_of(error), (rows, 4), rng)

        def value(p: Array, t: Array = t) -> Array:
            return np.array(error.forward(p, t))

        def vjp(p: Array, g: Array, t: Array = t) -> Array:
            return np.asarray(error.backward(p, t) * g)

        worst = max(
            worst,
            check_vjp(
                value,
                vjp,
                y,
                what=f"gradient dE/dy for a batch of {rows}",
                rng=rng,
            ),
        )
    return worst


def _error_dtype(subject: Subject) -> None:
    error = subject.fresh()
    y64, t64 = error_pair(domain_of(error), (5, 3), np.random.default_rng(SEED))
    for dtype in DTYPES:
        y, t = y64.astype(dtype), t64.astype(dtype)
        value = error.forward(y, t)
        if not isinstance(value, float):
            raise ConformanceError(
                f"forward returned a {type(value).__name__}, not a Python float; return "
                f"float(...) of the batch mean"
            )
        _expect_array(error.backward(y, t), shape=y.shape, dtype=dtype, what=f"backward {dtype}")


def _error_mutation(subject: Subject) -> None:
    error = subject.fresh()
    y, t = error_pair(domain_of(error), (5, 3), np.random.default_rng(SEED))
    y_before, t_before = y.copy(), t.copy()
    error.forward(y, t)
    _unchanged(y_before, y, "forward's input y")
    _unchanged(t_before, t, "forward's input t")
    error.backward(y, t)
    _unchanged(y_before, y, "backward's input y")
    _unchanged(t_before, t, "backward's input t")


def _error_config(subject: Subject) -> None:
    error = subject.fresh()
    _json_config(error)
    rebuilt = _rebuild(subject, error)
    y, t = error_pair(domain_of(error), (5, 3), np.random.default_rng(SEED))
    if error.forward(y, t) != rebuilt.forward(y, t):
        raise ConformanceError("forward values of the original and the rebuilt component differ")
    _expect_identical(error.backward(y, t), rebuilt.backward(y, t), "backward outputs")


def _error_extremes(subject: Subject) -> None:
    error = subject.fresh()
    y64, t64 = extreme_error_pair(domain_of(error))
    for dtype in DTYPES:
        y, t = y64.astype(dtype), t64.astype(dtype)
        value = _quietly(f"forward on extreme {dtype} inputs", error.forward, y, t)
        if not np.isfinite(value):
            raise ConformanceError(f"forward on extreme {dtype} inputs {y.tolist()} is {value}")
        grad = _quietly(f"backward on extreme {dtype} inputs", error.backward, y, t)
        _expect_finite(grad, f"backward on extreme {dtype} inputs {y.tolist()}")


# -- fused backwards ----------------------------------------------------------------------------


def _fused_inputs(subject: Subject, rows: int = 5) -> tuple[Any, Any, Array, Array]:
    assert subject.pair is not None
    activation, error = subject.pair
    rng = np.random.default_rng(SEED)
    a = away_from_kinks((rows, 4), _kinks(activation), rng)
    _, t = error_pair(domain_of(error), (rows, 4), rng)
    return activation, error, a, t


def _fused_chain(subject: Subject) -> float:
    fused = subject.fresh()
    activation, error, a, t = _fused_inputs(subject)
    y = activation.forward(a)
    fused_grad = fused.backward(y, t)
    chain = activation.backward(a, y, error.backward(y, t))
    worst = assert_close(
        fused_grad, chain, what="fused dE/da against the unfused chain", rtol=1e-5, atol=1e-7
    )
    return max(
        worst,
        check_vjp(
            lambda p: np.array(error.forward(activation.forward(p), t)),
            lambda p, g: fused.backward(activation.forward(p), t) * g,
            a,
            what="fused dE/da against finite differences",
            rng=np.random.default_rng(SEED),
        ),
    )


def _fused_dtype(subject: Subject) -> None:
    fused = subject.fresh()
    activation, _, a, t = _fused_inputs(subject)
    for dtype in DTYPES:
        y = activation.forward(a.astype(dtype))
        grad = fused.backward(y, t.astype(dtype))
        _expect_array(grad, shape=a.shape, dtype=dtype, what=f"backward {dtype}")


def _fused_mutation(subject: Subject) -> None:
    fused = subject.fresh()
    activation, _, a, t = _fused_inputs(subject)
    y = activation.forward(a)
    y_before, t_before = y.copy(), t.copy()
    fused.backward(y, t)
    _unchanged(y_before, y, "backward's input y")
    _unchanged(t_before, t, "backward's input t")


def _fused_config(subject: Subject) -> None:
    fused = subject.fresh()
    _json_config(fused)
    rebuilt = _rebuild(subject, fused)
    activation, _, a, t = _fused_inputs(subject)
    y = activation.forward(a)
    _expect_identical(fused.backward(y, t), rebuilt.backward(y, t), "backward outputs")


def _fused_extremes(subject: Subject) -> None:
    fused = subject.fresh()
    activation, error, _, _ = _fused_inputs(subject)
    _, t64 = extreme_error_pair(domain_of(error))
    rng = np.random.default_rng(SEED)
    for dtype in DTYPES:
        a = extreme_inputs(t64.shape, rng, dtype)
        y = _quietly(f"the activation on ±1e4 {dtype}", activation.forward, a)
        grad = _quietly(f"backward on ±1e4 {dtype} inputs", fused.backward, y, t64.astype(dtype))
        _expect_finite(grad, f"backward on ±1e4 {dtype} inputs")


# -- layers -------------------------------------------------------------------------------------


def _input_shape(subject: Subject) -> Shape:
    return tuple(subject.case.input_shape or DEFAULT_LAYER_INPUT)


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


def _layer_inputs(subject: Subject, dtype: Any = np.float64, batch: int = 3) -> Array:
    rng = np.random.default_rng(SEED + 1)
    return rng.standard_normal((batch, *_input_shape(subject))).astype(dtype)


def _layer_protocol(subject: Subject) -> None:
    _protocol(subject)
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
        _expect_array(
            grads[key], shape=value.shape, dtype=value.dtype, what=f"grads[{key!r}] after build"
        )


def _layer_gradient(subject: Subject) -> float:
    layer, _, forward = _built(subject, np.dtype(np.float64))
    x = _layer_inputs(subject)
    rng = np.random.default_rng(SEED + 2)
    worst = 0.0
    for training in (True, False):

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


def _layer_dtype(subject: Subject) -> None:
    for dtype in DTYPES:
        layer, output_shape, forward = _built(subject, dtype)
        for key, value in layer.params.items():
            _expect_array(value, shape=value.shape, dtype=dtype, what=f"params[{key!r}]")
        x = _layer_inputs(subject, dtype)
        for training in (True, False):
            y = forward(x, training)
            _expect_array(
                y,
                shape=(x.shape[0], *output_shape),
                dtype=dtype,
                what=f"forward output (training={training}, build said {output_shape})",
            )
        y = forward(x, True)
        dx = layer.backward(np.ones_like(y))
        _expect_array(dx, shape=x.shape, dtype=dtype, what="backward output")
        for key, value in layer.params.items():
            _expect_array(layer.grads[key], shape=value.shape, dtype=dtype, what=f"grads[{key!r}]")


def _layer_mutation(subject: Subject) -> None:
    layer, _, forward = _built(subject, np.dtype(np.float64))
    x = _layer_inputs(subject)
    x_before = x.copy()
    y = forward(x, True)
    _unchanged(x_before, x, "forward's input x")
    g = np.random.default_rng(SEED).standard_normal(y.shape)
    g_before = g.copy()
    layer.backward(g)
    _unchanged(g_before, g, "backward's input grad")
    _unchanged(x_before, x, "forward's input x (after backward)")


def _layer_config(subject: Subject) -> None:
    layer, _, forward = _built(subject, np.dtype(np.float64))
    _json_config(layer)
    rebuilt, _, rebuilt_forward = _built(
        subject, np.dtype(np.float64), layer=_rebuild(subject, layer)
    )
    for key in layer.params:
        _expect_identical(layer.params[key], rebuilt.params.get(key), f"params[{key!r}]")
    x = _layer_inputs(subject)
    for training in (True, False):
        _expect_identical(
            forward(x, training),
            rebuilt_forward(x, training),
            f"forward outputs (training={training}) of the original and the rebuilt layer",
        )


def _layer_extremes(subject: Subject) -> None:
    for dtype in DTYPES:
        layer, _, forward = _built(subject, dtype)
        x = extreme_inputs((3, *_input_shape(subject)), np.random.default_rng(SEED), dtype)
        for training in (True, False):
            y = _quietly(
                f"forward on ±1e4 {dtype} inputs (training={training})", forward, x, training
            )
            _expect_finite(y, f"forward on ±1e4 {dtype} inputs (training={training})")
        y = forward(x, True)
        dx = _quietly(f"backward after ±1e4 {dtype} inputs", layer.backward, np.ones_like(y))
        _expect_finite(dx, f"backward after ±1e4 {dtype} inputs")


# -- optimizers ---------------------------------------------------------------------------------


def _quadratic(dtype: Any = np.float64) -> tuple[dict[str, Array], dict[str, Array]]:
    """Parameters and curvatures of E = Σ ½ c ⊙ p², a convex quadratic with minimum at 0."""
    rng = np.random.default_rng(SEED)
    params = {"dense_1.w": rng.standard_normal((3, 4)), "dense_1.b": rng.standard_normal(4)}
    curvature = {k: rng.uniform(0.5, 2.0, v.shape) for k, v in params.items()}
    return {k: v.astype(dtype) for k, v in params.items()}, curvature


def _energy(params: Mapping[str, Array], curvature: Mapping[str, Array]) -> float:
    return float(sum(np.sum(0.5 * curvature[k] * params[k] ** 2) for k in params))


def _descend(optimizer: Any, steps: int, dtype: Any = np.float64) -> list[dict[str, Array]]:
    params, curvature = _quadratic(dtype)
    trajectory = []
    for _ in range(steps):
        grads = {k: (curvature[k] * v).astype(v.dtype) for k, v in params.items()}
        optimizer.update(params, grads)
        trajectory.append({k: v.copy() for k, v in params.items()})
    return trajectory


def _optimizer_descent(subject: Subject) -> None:
    params, curvature = _quadratic()
    start = _energy(params, curvature)
    trajectory = _descend(subject.fresh(), 25)
    first, last = _energy(trajectory[0], curvature), _energy(trajectory[-1], curvature)
    if not (np.isfinite(first) and np.isfinite(last) and first < start and last < start):
        raise ConformanceError(
            f"on the convex quadratic E = Σ ½ c p² the error went from {start:.6g} to "
            f"{first:.6g} after one step and {last:.6g} after 25; an update must lower it"
        )


def _optimizer_state(subject: Subject) -> float:
    """Updating two parameters together must equal updating each with its own optimizer."""
    rng = np.random.default_rng(SEED)
    joint, alone_a, alone_b = subject.fresh(), subject.fresh(), subject.fresh()
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    together = {"layer_1.w": a.copy(), "layer_2.w": b.copy()}
    one, other = {"layer_1.w": a.copy()}, {"layer_2.w": b.copy()}
    for _ in range(5):
        ga, gb = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) * 3
        joint.update(together, {"layer_1.w": ga, "layer_2.w": gb})
        alone_a.update(one, {"layer_1.w": ga.copy()})
        alone_b.update(other, {"layer_2.w": gb.copy()})
    worst = 0.0
    for name, alone in (("layer_1.w", one), ("layer_2.w", other)):
        worst = max(
            worst,
            assert_close(
                together[name],
                alone[name],
                what=f"{name!r} updated together with another parameter, against on its own "
                f"(state must be kept per parameter)",
                rtol=1e-12,
                atol=1e-14,
            ),
        )
    return worst


def _optimizer_dtype(subject: Subject) -> None:
    for dtype in DTYPES:
        optimizer = subject.fresh()
        params, curvature = _quadratic(dtype)
        originals = dict(params)
        before = {k: v.copy() for k, v in params.items()}
        grads = {k: (curvature[k] * v).astype(dtype) for k, v in params.items()}
        optimizer.update(params, grads)
        for key, value in params.items():
            if value is not originals[key]:
                raise ConformanceError(
                    f"update replaced params[{key!r}] instead of updating it in place"
                )
            _expect_array(value, shape=before[key].shape, dtype=dtype, what=f"params[{key!r}]")
            _expect_finite(value, f"params[{key!r}] after an update")
            if np.array_equal(value, before[key]):
                raise ConformanceError(f"update left params[{key!r}] ({dtype}) unchanged")


def _optimizer_mutation(subject: Subject) -> None:
    optimizer = subject.fresh()
    params, curvature = _quadratic()
    grads = {k: curvature[k] * v for k, v in params.items()}
    before = {k: v.copy() for k, v in grads.items()}
    optimizer.update(params, grads)
    for key in grads:
        _unchanged(before[key], grads[key], f"grads[{key!r}]")


def _optimizer_config(subject: Subject) -> None:
    optimizer = subject.fresh()
    _json_config(optimizer)
    rebuilt = _rebuild(subject, optimizer)
    for step, (mine, theirs) in enumerate(
        zip(_descend(optimizer, 5), _descend(rebuilt, 5), strict=True), start=1
    ):
        for key in mine:
            _expect_identical(mine[key], theirs[key], f"params[{key!r}] after step {step}")


# -- initializers -------------------------------------------------------------------------------

INIT_SHAPES: tuple[Shape, ...] = ((3, 4), (4, 3), (2, 3, 3, 3))
STD_SAMPLES: tuple[Shape, ...] = ((256, 512), (64, 32, 3, 3))
STD_TOLERANCE = 0.05


def _initializer_shape(subject: Subject) -> None:
    init = subject.fresh()
    for dtype in DTYPES:
        for shape in INIT_SHAPES:
            w = init(shape, rng=np.random.default_rng(SEED), dtype=dtype)
            _expect_array(w, shape=shape, dtype=dtype, what=f"the array drawn for {shape}")
            _expect_finite(w, f"the array drawn for {shape}")


def _initializer_reproducible(subject: Subject) -> None:
    init = subject.fresh()
    for shape in INIT_SHAPES:
        np.random.seed(1)  # noqa: NPY002 - a component that uses the global state must fail
        first = init(shape, rng=np.random.default_rng(7), dtype=np.float64)
        np.random.seed(2)  # noqa: NPY002
        second = init(shape, rng=np.random.default_rng(7), dtype=np.float64)
        _expect_identical(
            first, second, f"two draws for {shape} from Generators with the same seed"
        )


def _initializer_std(subject: Subject) -> float:
    init = subject.fresh()
    worst = 0.0
    for shape in STD_SAMPLES:
        expected = float(init.expected_std(shape))
        sample = init(shape, rng=np.random.default_rng(SEED), dtype=np.float64)
        actual = float(np.std(sample))
        error = abs(actual - expected)
        worst = max(worst, error)
        if error > STD_TOLERANCE * expected + 1e-12:
            raise ConformanceError(
                f"the sample std for {shape} is {actual:.6g}, but expected_std({shape}) says "
                f"{expected:.6g} (absolute error {error:.3g}, relative "
                f"{error / max(expected, 1e-300):.3g}; tolerance {STD_TOLERANCE:.0%})"
            )
    return worst


def _initializer_config(subject: Subject) -> None:
    init = subject.fresh()
    _json_config(init)
    rebuilt = _rebuild(subject, init)
    for shape in INIT_SHAPES:
        _expect_identical(
            init(shape, rng=np.random.default_rng(SEED), dtype=np.float64),
            rebuilt(shape, rng=np.random.default_rng(SEED), dtype=np.float64),
            f"draws for {shape} from the original and the rebuilt initializer",
        )


# -- schedules ----------------------------------------------------------------------------------


def _schedule_values(subject: Subject) -> None:
    schedule = subject.fresh()
    for step in range(1, 1001):
        lr = schedule(step, 0.1)
        if not isinstance(lr, (float, int)) or not np.isfinite(lr) or lr < 0:
            raise ConformanceError(
                f"schedule({step}, 0.1) returned {lr!r}; a learning rate is a finite number ≥ 0"
            )


def _schedule_config(subject: Subject) -> None:
    schedule = subject.fresh()
    _json_config(schedule)
    rebuilt = _rebuild(subject, schedule)
    for step in (1, 2, 10, 100, 1000):
        if schedule(step, 0.1) != rebuilt(step, 0.1):
            raise ConformanceError(f"the original and the rebuilt schedule differ at step {step}")


# -- the table of checks ------------------------------------------------------------------------

CHECKS: dict[str, dict[str, CheckFunction]] = {
    "activation": {
        "protocol": _protocol,
        "gradient": _activation_gradient,
        "dtype": _activation_dtype,
        "mutation": _activation_mutation,
        "config": _activation_config,
        "extremes": _activation_extremes,
    },
    "error_function": {
        "protocol": _protocol,
        "gradient": _error_gradient,
        "dtype": _error_dtype,
        "mutation": _error_mutation,
        "config": _error_config,
        "extremes": _error_extremes,
    },
    "fused_backward": {
        "protocol": _protocol,
        "chain": _fused_chain,
        "dtype": _fused_dtype,
        "mutation": _fused_mutation,
        "config": _fused_config,
        "extremes": _fused_extremes,
    },
    "layer": {
        "protocol": _layer_protocol,
        "gradient": _layer_gradient,
        "dtype": _layer_dtype,
        "mutation": _layer_mutation,
        "config": _layer_config,
        "extremes": _layer_extremes,
    },
    "optimizer": {
        "protocol": _protocol,
        "descent": _optimizer_descent,
        "state": _optimizer_state,
        "dtype": _optimizer_dtype,
        "mutation": _optimizer_mutation,
        "config": _optimizer_config,
    },
    "initializer": {
        "protocol": _protocol,
        "shape": _initializer_shape,
        "reproducible": _initializer_reproducible,
        "std": _initializer_std,
        "config": _initializer_config,
    },
    "schedule": {
        "protocol": _protocol,
        "values": _schedule_values,
        "config": _schedule_config,
    },
}


def applicable(kind: str, factory_or_instance: Any) -> list[str]:
    """The names of the checks that apply: all of the kind's, less ``std`` for an initializer
    that documents none."""
    names = list(CHECKS[kind])
    if kind == "initializer" and not callable(getattr(factory_or_instance, "expected_std", None)):
        names.remove("std")
    return names


def run_check(subject: Subject, check: str) -> float | None:
    """Run one check; any failure becomes a :class:`ConformanceError` naming the component,
    the check and what went wrong."""
    prefix = f"{subject.kind.replace('_', ' ')} {subject.label}: {check} check failed"
    try:
        return CHECKS[subject.kind][check](subject)
    except ConformanceError as exc:
        raise ConformanceError(f"{prefix}: {exc}") from None
    except Exception as exc:
        raise ConformanceError(f"{prefix}: it raised {type(exc).__name__}: {exc}") from exc


# -- one component, every check -----------------------------------------------------------------


def _cases(factory: Any, kind: str) -> list[Case]:
    declared = getattr(factory, "conformance_cases", None)
    if declared is None:
        return [Case(input_shape=DEFAULT_LAYER_INPUT if kind == "layer" else None)]
    cases = []
    for raw in declared:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("config", {}), Mapping):
            raise ValueError(
                f"{getattr(factory, '__name__', factory)}.conformance_cases holds {raw!r}; each "
                f'case is a dict like {{"config": {{...}}, "input_shape": (4,)}}'
            )
        shape = raw.get("input_shape")
        if kind == "layer":
            shape = tuple(shape) if shape is not None else DEFAULT_LAYER_INPUT
        cases.append(Case(config=dict(raw.get("config", {})), input_shape=shape))
    return cases or [Case()]


def _subject_for(kind: str, spec: Any, input_shape: Sequence[int] | None = None) -> Subject:
    """A subject for a spec (name, dict) or an instance; an instance is copied for each check."""
    import plugnet

    registry = plugnet.registry()
    instance: Any = registry.resolve(kind, spec)
    component = registry.component_of(instance)
    name = component.name if component is not None else type(instance).__name__
    config = instance.get_config() if callable(getattr(instance, "get_config", None)) else {}
    if input_shape is None and kind == "layer":
        cases = _cases(type(instance), kind)
        matching = [c for c in cases if dict(c.config) == config] or cases
        input_shape = matching[0].input_shape
    case = Case(config=config, input_shape=tuple(input_shape) if input_shape else None)
    return Subject(
        kind=kind,
        label=case.label(name) if not isinstance(spec, str) else spec,
        make=lambda: copy.deepcopy(instance),
        case=case,
        component=component,
    )


def _run_all(subject: Subject, checks: Iterable[str]) -> None:
    failures = []
    for check in checks:
        try:
            run_check(subject, check)
        except ConformanceError as exc:
            failures.append(str(exc))
    if failures:
        raise ConformanceError("\n".join(failures))


def check_activation(activation: Any) -> None:
    """Run every activation check on a spec or instance; raise ConformanceError on failure."""
    subject = _subject_for("activation", activation)
    _run_all(subject, CHECKS["activation"])


def check_error_function(error: Any) -> None:
    """Run every error-function check on a spec or instance."""
    _run_all(_subject_for("error_function", error), CHECKS["error_function"])


def check_layer(layer: Any, *, input_shape: Sequence[int] | None = None) -> None:
    """Run every layer check on a spec or instance, built for per-sample ``input_shape``
    (default: the layer's first matching ``conformance_cases`` entry, else ``(4,)``)."""
    _run_all(_subject_for("layer", layer, input_shape), CHECKS["layer"])


def check_optimizer(optimizer: Any) -> None:
    """Run every optimizer check on a spec or instance."""
    _run_all(_subject_for("optimizer", optimizer), CHECKS["optimizer"])


def check_initializer(initializer: Any) -> None:
    """Run every initializer check on a spec or instance (``std`` only if it defines
    ``expected_std(shape)``)."""
    subject = _subject_for("initializer", initializer)
    _run_all(subject, applicable("initializer", subject.fresh()))


def check_schedule(schedule: Any) -> None:
    """Run every learning-rate schedule check on a spec or instance."""
    _run_all(_subject_for("schedule", schedule), CHECKS["schedule"])


def check_fused_backward(activation: Any, error: Any, fused: Any = None) -> None:
    """Check the fused backward registered for (activation, error), or ``fused`` if given,
    against the unfused chain and finite differences, and every other fused check."""
    import plugnet

    registry = plugnet.registry()
    act, err = registry.resolve("activation", activation), registry.resolve("error_function", error)
    if fused is None:
        fused = registry.fused_backward(act, err)
        if fused is None:
            raise ConformanceError(
                f"no fused backward is registered for ({activation!r}, {error!r}); register "
                f"one with register_fused_backwards or pass fused="
            )
    component = registry.component_of(fused)
    subject = Subject(
        kind="fused_backward",
        label=component.name if component is not None else type(fused).__name__,
        make=lambda: copy.deepcopy(fused),
        case=Case(config=fused.get_config()),
        component=component,
        pair=(act, err),
    )
    _run_all(subject, CHECKS["fused_backward"])


# -- the suite over registered components -------------------------------------------------------


@dataclass(frozen=True)
class ConformanceCheck:
    """One check of one registered component in one case; call it to run it."""

    component: Component
    case: Case
    check: str
    label: str

    @property
    def kind(self) -> str:
        return self.component.kind

    @property
    def id(self) -> str:
        """A readable test id, e.g. ``activation:mish-gradient``."""
        return f"{self.kind}:{self.label}-{self.check}"

    def subject(self) -> Subject:
        component, case = self.component, self.case
        pair = None
        if component.pair is not None:
            import plugnet

            registry = plugnet.registry()
            pair = (
                registry.resolve("activation", component.pair[0]),
                registry.resolve("error_function", component.pair[1]),
            )
        return Subject(
            kind=component.kind,
            label=self.label,
            make=lambda: component.create(**case.config),
            case=case,
            component=component,
            pair=pair,
        )

    def __call__(self) -> float | None:
        """Run the check: returns the worst error where it measures one, else None; raises
        :class:`ConformanceError` on failure."""
        return run_check(self.subject(), self.check)


def checks_for(components: Iterable[Component]) -> list[ConformanceCheck]:
    """Every applicable check of every case of each component, in a stable order."""
    items: list[ConformanceCheck] = []
    for component in components:
        cases = _cases(component.factory, component.kind)
        labels = [case.label(component.name) for case in cases]
        for index, case in enumerate(cases):
            label = labels[index]
            if labels.count(label) > 1 and case.input_shape is not None:
                label += "@" + "x".join(map(str, case.input_shape))
            if labels.count(label) > 1:
                label += f"#{labels[: index + 1].count(labels[index])}"
            for check in applicable(component.kind, component.factory):
                items.append(ConformanceCheck(component, case, check, label))
    return items


def select_components(targets: Sequence[str] = (), kind: str | None = None) -> list[Component]:
    """The registered components that ``targets`` name: distribution (provider) names select
    everything they register; other targets are component names, looked up in every kind (or in
    ``kind``). No targets: every component. Unknown targets raise LookupError."""
    import plugnet
    from plugnet._registry import KINDS
    from plugnet.specs import normalize

    registry = plugnet.registry()
    kinds = [kind] if kind is not None else list(KINDS)
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; the kinds are {', '.join(KINDS)}")
    everything = [c for k in kinds for c in registry.components(k)]
    if not targets:
        return everything
    providers = {normalize(p.name) for p in registry.providers if p.status == "loaded"}
    selected: list[Component] = []
    for target in targets:
        if normalize(target) in providers:
            found = [c for c in everything if normalize(c.provider) == normalize(target)]
        else:
            found = []
            for k in kinds:
                try:
                    found.append(registry.lookup(k, target))
                except (LookupError, ValueError):  # unknown, or not a name of this form
                    continue
            found += [c for c in everything if c.pair is not None and c.name == target]
        if not found:
            raise LookupError(
                f"{target!r} is neither an installed provider ({', '.join(sorted(providers))}) "
                f"nor the name of a registered {' or '.join(k.replace('_', ' ') for k in kinds)}"
            )
        selected += [c for c in found if c not in selected]
    return selected


def check_provider(distribution: str) -> None:
    """Run every check on every component that ``distribution`` registers."""
    import plugnet
    from plugnet.specs import normalize

    registry = plugnet.registry()
    if not any(
        normalize(p.name) == normalize(distribution) and p.status == "loaded"
        for p in registry.providers
    ):
        known = ", ".join(p.name for p in registry.providers if p.status == "loaded")
        raise ConformanceError(
            f"no loaded provider is named {distribution!r}; the loaded providers are {known}. "
            f"Is the distribution installed, and does `plugnet plugins` list it as loaded?"
        )
    from plugnet.testing.report import run

    results = run(checks_for(select_components([distribution])))
    failures = [result.message for result in results if not result.passed]
    if failures:
        raise ConformanceError(
            f"{len(failures)} conformance check(s) of {distribution!r} failed:\n"
            + "\n".join(failures)
        )
