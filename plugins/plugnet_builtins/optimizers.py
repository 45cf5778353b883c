"""Optimizers: in-place parameter updates with per-parameter state.

Every optimizer here is a :class:`StatefulOptimizer`. One instance serves every layer of a
network: ``update(params, grads)`` is called once per training step with all parameters, keyed
by stable names such as ``"dense_1.w"``, and changes each ``params[name]`` in place. State
("slots", e.g. Adam's ``m`` and ``v``) is kept per parameter name, allocated as zeros with the
parameter's shape and dtype on first use, so float32 parameters keep float32 state.

Hyperparameters are read on every update, so code may also assign ``optimizer.lr`` between steps.
Hyperparameter names and defaults follow ``torch.optim`` where PyTorch has the algorithm, else
the paper or its authors' code; t is the step count (``iterations``), 1 on the first update.

Every optimizer also takes the training controls, each off by default:

- ``schedule=`` (see :mod:`plugnet_builtins.schedules`): update t uses the learning rate
  ``schedule(t, lr)``, kept in ``current_lr``; with ``schedule_unit="epoch"`` the schedule is
  given the epoch number instead (counted from 1; ``fit`` calls ``start_epoch()``).
- ``clipvalue=v``: each gradient element is clamped to [−v, v]
  (``torch.nn.utils.clip_grad_value_``).
- ``clipnorm=c``: all gradients are scaled together so that their global L2 norm over every
  parameter is at most c (``torch.nn.utils.clip_grad_norm_``, its 1e-6 included).
- ``weight_decay=λ``: g ← g + λ·p before the step (coupled, as ``torch.optim``'s weight_decay);
  ``adamw`` decays decoupled instead, p ← p·(1 − lr·λ), with PyTorch's default λ = 0.01.

They apply in PyTorch's training-loop order: the raw gradients are clipped (value, then norm),
then the optimizer's step adds the weight decay.
"""

from __future__ import annotations

import functools
import inspect
import math
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Literal

import numpy as np

from plugnet import nested
from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Schedule
from plugnet_builtins._checks import number as as_number

# A schedule argument: the registry that builds an optimizer resolves a spec to the instance.
ScheduleSpec = Schedule | str | Mapping[str, Any] | None
# What a schedule counts: optimizer updates, or epochs of training.
ScheduleUnit = Literal["step", "epoch"]

# torch.nn.utils.clip_grad_norm_ scales by clipnorm / (norm + 1e-6): the same here, so that
# clipped trajectories equal PyTorch's.
CLIP_NORM_EPS = 1e-6

# -- hyperparameter checks ---------------------------------------------------------------------


def _positive(name: str, value: Any) -> float:
    number = as_number(name, value)
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _non_negative(name: str, value: Any) -> float:
    number = as_number(name, value)
    if not (number >= 0 and math.isfinite(number)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def _unit_interval(name: str, value: Any) -> float:
    number = as_number(name, value)
    if not 0 <= number < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


def _clip_limit(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be None (no clipping) or a finite number > 0, got {value!r}")
    return _positive(name, value)


def _schedule_unit(value: Any) -> ScheduleUnit:
    if value == "step" and isinstance(value, str):
        return "step"
    if value == "epoch" and isinstance(value, str):
        return "epoch"
    raise ValueError(
        f"schedule_unit must be 'step' (the schedule counts optimizer updates) or 'epoch' (it "
        f"counts epochs), got {value!r}"
    )


def _global_norm(grads: Iterable[Array]) -> float:
    """√(Σ g²) over every element of every array. Each sum of squares is a dot product in the
    gradient's dtype, as PyTorch computes it; one that overflows a narrower dtype is redone in
    float64, so that float32 gradients have a finite norm up to float32's largest value. The
    norm is inf or NaN, without a warning, when a gradient holds an infinity or a NaN."""
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for grad in grads:
            flat = grad.ravel()
            squares = float(np.dot(flat, flat))
            if math.isinf(squares) and flat.dtype != np.float64:
                squares = float(np.square(flat, dtype=np.float64).sum())
            total += squares
    return math.sqrt(total)


# The training controls every optimizer takes, keyword-only after its own hyperparameters (as
# Keras optimizers take clipnorm): StatefulOptimizer adds them to each subclass's __init__.
_KEYWORD = inspect.Parameter.KEYWORD_ONLY
CONTROLS = (
    inspect.Parameter("weight_decay", _KEYWORD, default=0.0, annotation="float"),
    inspect.Parameter("clipnorm", _KEYWORD, default=None, annotation="float | None"),
    inspect.Parameter("clipvalue", _KEYWORD, default=None, annotation="float | None"),
    inspect.Parameter("schedule_unit", _KEYWORD, default="step", annotation="ScheduleUnit"),
)


class _TakesControls:
    """An optimizer's ``__init__`` that also takes the :data:`CONTROLS` it does not take
    itself, as keyword-only arguments in its signature and annotations, so that specs and
    configs are checked against them like any hyperparameter; they are set once ``init`` ran.

    A method descriptor rather than a wrapping function so that the signature is built when
    something first asks for it, not for every optimizer class when the built-ins register
    (``inspect.signature`` of the 13 classes was 0.5 ms of each registry build)."""

    def __init__(self, init: Callable[..., None]) -> None:
        functools.update_wrapper(self, init)
        self.init = init
        code = init.__code__
        own = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        self.added = [p for p in CONTROLS if p.name not in own]
        self.names = [p.name for p in self.added]
        self.__annotations__ = {
            **init.__annotations__,
            **{p.name: p.annotation for p in self.added},
        }

    def __call__(self, optimizer: StatefulOptimizer, *args: Any, **kwargs: Any) -> None:
        controls = {name: kwargs.pop(name) for name in self.names if name in kwargs}
        self.init(optimizer, *args, **kwargs)
        optimizer._set_controls(**controls)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        return self if instance is None else types.MethodType(self, instance)

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        signature = inspect.signature(self.init)
        return signature.replace(parameters=[*signature.parameters.values(), *self.added])


# From this many values on, a step's lr·g goes into a reused buffer (StatefulOptimizer._scaled):
# a (784, 256) weight's 800 KB temporary otherwise comes from malloc on every step, which in
# some heap states hands it back to the OS and page-faults it in again (60000 faults an epoch
# of the MLP benchmark); below it the temporary is cheaper than the buffer's bookkeeping.
SCRATCH_MIN_SIZE = 1 << 14


# -- the shared machinery ------------------------------------------------------------------------


class StatefulOptimizer(Configurable):
    """Base class: the step and epoch counters, the learning-rate schedule, the training controls
    (clipping, weight decay), per-parameter slots, get/set_state.

    A subclass names its slots in ``slots`` and defines ``_step(param, grad, *slot_arrays)``,
    which updates ``param`` and the slot arrays (in ``slots`` order) in place for one parameter.
    Slots start as zeros unless ``initial`` gives another fill value. A subclass may override
    ``_prepare_step()``, called once per update after ``iterations`` and ``current_lr`` have been
    advanced, to compute what every parameter's step shares (e.g. bias corrections). Its
    ``__init__`` takes the controls as keyword arguments and passes them here.

    Every subclass has ``lr``, the base learning rate, and ``schedule``, None or a
    :class:`~plugnet.protocols.Schedule` given as a spec (``"cosine(t_max=1000)"``, a dict or an
    instance). Update t uses ``current_lr = schedule(t, lr)`` (or ``lr`` without a schedule);
    with ``schedule_unit="epoch"`` it uses ``schedule(epochs, lr)``, ``epochs`` being the number
    of ``start_epoch()`` calls so far. ``_step`` must read ``current_lr``, never ``lr``.
    ``get_config()`` records the schedule as a dict spec, so a saved optimizer comes back with
    the same schedule, and its position in the schedule comes back with the state. The controls
    (``weight_decay``, ``clipnorm``, ``clipvalue``, ``schedule_unit``) are recorded when set, so
    the config of an optimizer that uses none of them is what it was before they existed.

    ``_step`` receives the gradient the controls made (clipped, plus λ·p for coupled weight
    decay); those are new arrays, and the caller's ``grads`` are never changed. A subclass with
    ``decoupled_weight_decay = True`` (AdamW) is decayed as p ← p·(1 − lr·λ) before ``_step``
    instead. Without controls the caller's gradients go to ``_step`` as they are, at no cost.

    ``get_state()`` is a flat dict: ``"iterations"`` → an int64 0-d array, ``"epochs"`` likewise
    when ``schedule_unit="epoch"`` (the only case in which updates depend on it), and
    ``"<slot>/<parameter name>"`` → that slot's array; ``set_state`` restores it exactly.
    """

    slots: ClassVar[tuple[str, ...]] = ()
    initial: ClassVar[Mapping[str, float]] = {}
    decoupled_weight_decay: ClassVar[bool] = False
    # The controls get_config leaves out at these values; AdamW always records weight_decay,
    # as it did when it was AdamW's own hyperparameter.
    controls_off: ClassVar[Mapping[str, Any]] = {
        "weight_decay": 0.0,
        "clipnorm": None,
        "clipvalue": None,
        "schedule_unit": "step",
    }
    lr: float
    _step: Callable[..., None]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _TakesControls(cls.__dict__["__init__"])  # type: ignore[method-assign,assignment]

    def __init__(self, schedule: ScheduleSpec = None) -> None:
        self.component_specs: dict[str, dict[str, Any]] = {}
        self.weight_decay = 0.0
        self.clipnorm: float | None = None
        self.clipvalue: float | None = None
        self.schedule_unit: ScheduleUnit = "step"
        self.iterations = 0
        self.epochs = 0
        self.current_lr = self.lr
        self._state: dict[str, tuple[Array, ...]] = {}
        self._scratch: Array | None = None  # _scaled's buffer, never state
        self.schedule: Schedule | None = None
        if schedule is not None:
            self.schedule = nested.argument(self, "schedule", "schedule", schedule)

    def _set_controls(self, **controls: Any) -> None:
        """Check and set the training controls given (see :data:`CONTROLS`)."""
        if "weight_decay" in controls:
            self.weight_decay = _non_negative("weight_decay", controls["weight_decay"])
        for name in ("clipnorm", "clipvalue"):
            if name in controls:
                setattr(self, name, _clip_limit(name, controls[name]))
        if "schedule_unit" in controls:
            self.schedule_unit = _schedule_unit(controls["schedule_unit"])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        schedule = self.schedule
        config["schedule"] = None if schedule is None else nested.spec(self, "schedule", schedule)
        for name, off in self.controls_off.items():
            if config[name] == off:
                del config[name]
        return config

    def start_epoch(self) -> None:
        """Count the start of an epoch: ``fit`` calls this before each epoch's first update, a
        hand-written loop must too when ``schedule_unit="epoch"``."""
        self.epochs += 1

    def _prepare_step(self) -> None:
        """Compute what the steps of every parameter share; called once per update."""

    def _scaled(self, array: Array, factor: float) -> Array:
        """factor · ``array``; for a large array in a buffer kept between steps (one, reused
        by every parameter, never state), so that an update allocates nothing parameter-sized
        and never depends on how malloc returns large blocks. The result is spent before the
        next call."""
        if array.size < SCRATCH_MIN_SIZE:
            return factor * array
        buffer = self._scratch
        if buffer is None or buffer.dtype != array.dtype or buffer.size < array.size:
            buffer = self._scratch = np.empty(array.size, dtype=array.dtype)
        return np.multiply(array, factor, out=buffer[: array.size].reshape(array.shape))

    def _scheduled_lr(self) -> float:
        """The learning rate of this update: ``lr``, or the schedule's value for it."""
        lr = self.lr
        if self.schedule is None:
            return float(lr)
        if self.schedule_unit == "epoch":
            if self.epochs == 0:
                raise RuntimeError(
                    f"{type(self).__name__} has schedule_unit='epoch' but no epoch has begun: "
                    f"fit calls optimizer.start_epoch() before each epoch, and a training loop "
                    f"of your own must call it too"
                )
            count, unit = self.epochs, "epoch"
        else:
            count, unit = self.iterations, "step"
        lr = self.schedule(count, lr)
        if not (isinstance(lr, int | float) and lr >= 0 and math.isfinite(lr)):
            raise ValueError(
                f"{type(self).__name__}: the schedule {self.schedule!r} gave the learning "
                f"rate {lr!r} for {unit} {count}; it must be a finite number >= 0"
            )
        return float(lr)

    def _controlled(
        self, params: Mapping[str, Array], grads: Mapping[str, Array]
    ) -> dict[str, Array]:
        """The gradients this update steps by, as new arrays: each clamped to ±clipvalue, then
        all scaled together so that their global L2 norm is at most clipnorm, then (coupled
        weight decay) g + λ·p."""
        clipvalue, clipnorm = self.clipvalue, self.clipnorm
        result: dict[str, Array] = {}
        for name in params:
            try:
                grad = grads[name]
            except KeyError:
                raise _no_gradient(self, name) from None
            result[name] = grad if clipvalue is None else np.clip(grad, -clipvalue, clipvalue)
        owned = clipvalue is not None  # the arrays in result are ours to change in place
        if clipnorm is not None:
            norm = _global_norm(result.values())
            # A non-finite norm (the step diverged) scales nothing, where PyTorch would scale
            # by 0 and turn infinities into NaN; the non-finite loss that follows is reported.
            if math.isfinite(norm) and (scale := clipnorm / (norm + CLIP_NORM_EPS)) < 1.0:
                for name, grad in result.items():
                    if owned:
                        grad *= scale
                    else:
                        result[name] = grad * scale
                owned = True
        decay = 0.0 if self.decoupled_weight_decay else self.weight_decay
        if decay:
            for name, grad in result.items():
                if owned:
                    grad += decay * params[name]
                else:
                    result[name] = grad + decay * params[name]
        return result

    def update(self, params: Mapping[str, Array], grads: Mapping[str, Array]) -> None:
        """Advance ``iterations`` and update every ``params[name]`` in place from
        ``grads[name]``, which are left unchanged."""
        self.iterations += 1
        self.current_lr = self._scheduled_lr()
        if (
            self.clipnorm is not None
            or self.clipvalue is not None
            or (self.weight_decay and not self.decoupled_weight_decay)
        ):
            grads = self._controlled(params, grads)
        self._prepare_step()
        shrink = 1.0 - self.current_lr * self.weight_decay if self.decoupled_weight_decay else 1.0
        state, step = self._state, self._step
        for name, param in params.items():
            try:
                grad = grads[name]
            except KeyError:
                raise _no_gradient(self, name) from None
            slots = state.get(name)
            if slots is None:
                slots = state[name] = tuple(
                    np.full(param.shape, self.initial.get(slot, 0.0), dtype=param.dtype)
                    for slot in self.slots
                )
            elif slots and slots[0].shape != param.shape:
                raise ValueError(
                    f"{type(self).__name__}: parameter {name!r} has shape {param.shape} but its "
                    f"optimizer state has shape {slots[0].shape}; use a fresh optimizer for a "
                    f"rebuilt network."
                )
            if shrink != 1.0:
                param *= shrink
            step(param, grad, *slots)

    def get_state(self) -> dict[str, Array]:
        """A copy of the state: the counters and the ``"<slot>/<parameter name>"`` arrays."""
        result: dict[str, Array] = {"iterations": np.array(self.iterations, dtype=np.int64)}
        if self.schedule_unit == "epoch":
            result["epochs"] = np.array(self.epochs, dtype=np.int64)
        for name, arrays in self._state.items():
            for slot, array in zip(self.slots, arrays, strict=True):
                result[f"{slot}/{name}"] = array.copy()
        return result

    def set_state(self, state: Mapping[str, Array]) -> None:
        """Replace the state with a copy of ``state``, as :meth:`get_state` returns it.

        Raises ValueError, and changes nothing, if a counter (``"iterations"``, and
        ``"epochs"`` with ``schedule_unit="epoch"``) is missing or not a 0-d integer array >= 0,
        a key is not a counter or ``"<slot>/<name>"`` for one of this optimizer's slots, a value
        is not a NumPy array, or a parameter's slots are incomplete or disagree in shape.
        """
        label = f"{type(self).__name__}.set_state"
        counters = ("iterations", "epochs") if self.schedule_unit == "epoch" else ("iterations",)
        counts: dict[str, int] = {}
        for counter in counters:
            if counter not in state:
                why = "" if counter == "iterations" else (
                    "; an optimizer with schedule_unit='epoch' keeps the number of epochs begun"
                )  # fmt: skip
                raise ValueError(f"{label}: the state has no {counter!r} entry{why}")
            count = state[counter]
            if not (
                isinstance(count, np.ndarray)
                and count.shape == ()
                and count.dtype.kind in "iu"
                and int(count) >= 0
            ):
                raise ValueError(
                    f"{label}: {counter!r} must be a 0-d integer array >= 0, got {count!r}"
                )
            counts[counter] = int(count)
        found: dict[str, dict[str, Array]] = {}
        for key, value in state.items():
            if key in counters:
                continue
            slot, _, name = key.partition("/")
            if slot not in self.slots or not name:
                kept = [f"'{s}/<parameter name>'" for s in self.slots]
                expected = ", ".join(kept) or "none"
                besides = " and ".join(repr(c) for c in counters)
                raise ValueError(
                    f"{label}: unknown state entry {key!r}; besides {besides} this "
                    f"optimizer keeps: {expected}"
                )
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                raise ValueError(
                    f"{label}: state entry {key!r} must be a floating-point NumPy array, "
                    f"got {type(value).__name__}"
                    + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else "")
                )
            found.setdefault(name, {})[slot] = value
        restored: dict[str, tuple[Array, ...]] = {}
        for name, arrays in found.items():
            missing = [s for s in self.slots if s not in arrays]
            if missing:
                raise ValueError(
                    f"{label}: parameter {name!r} lacks the slot(s) "
                    f"{', '.join(f'{s}/{name}' for s in missing)}"
                )
            shapes = {arrays[s].shape for s in self.slots}
            if len(shapes) > 1:
                raise ValueError(
                    f"{label}: the slots of parameter {name!r} disagree in shape: {sorted(shapes)}"
                )
            restored[name] = tuple(np.array(arrays[s], copy=True) for s in self.slots)
        self.iterations = counts["iterations"]
        self.epochs = counts.get("epochs", self.epochs)
        self._state = restored


def _no_gradient(optimizer: StatefulOptimizer, name: str) -> KeyError:
    return KeyError(f"{type(optimizer).__name__}.update: no gradient for parameter {name!r}")


# -- the algorithms ------------------------------------------------------------------------------
# lr below is the step's learning rate, ``current_lr``: the configured lr, or schedule(t, lr).


def _ema(average: Array, decay: float, value: Array) -> None:
    """average ← decay·average + (1 − decay)·value, in place: the moving averages below."""
    average *= decay
    average += (1.0 - decay) * value


def _ema_of_square(average: Array, decay: float, value: Array) -> None:
    """average ← decay·average + (1 − decay)·value², in place.

    The square is scaled in place, so there is one temporary array, as when the expression is
    written inline (NumPy then reuses the square's buffer); ``_ema(average, decay,
    np.square(value))`` would make two, which made Adam's float64 step a third slower.
    """
    square = np.square(value)
    square *= 1.0 - decay
    average *= decay
    average += square


class SGD(StatefulOptimizer):
    """Plain stochastic gradient descent: p ← p − lr·g."""

    def __init__(
        self,
        lr: float = 0.001,
        schedule: ScheduleSpec = None,
    ) -> None:
        self.lr = _positive("lr", lr)
        super().__init__(schedule)

    def _step(self, param: Array, grad: Array) -> None:
        param -= self._scaled(grad, self.current_lr)


class Momentum(StatefulOptimizer):
    """SGD with (heavy-ball) momentum, in PyTorch's form: v ← μ·v + g; p ← p − lr·v.

    PyTorch's ``torch.optim.SGD(momentum=μ)`` with dampening 0. (Polyak 1964.)
    """

    slots = ("v",)

    def __init__(
        self,
        lr: float = 0.001,
        momentum: float = 0.9,
        schedule: ScheduleSpec = None,
    ) -> None:
        self.lr = _positive("lr", lr)
        self.momentum = _unit_interval("momentum", momentum)
        super().__init__(schedule)

    def _step(self, param: Array, grad: Array, v: Array) -> None:
        v *= self.momentum
        v += grad
        param -= self._scaled(v, self.current_lr)


class Nesterov(Momentum):
    """Nesterov momentum, in PyTorch's form: v ← μ·v + g; p ← p − lr·(g + μ·v).

    PyTorch's ``torch.optim.SGD(momentum=μ, nesterov=True)``, a reformulation of
    Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum in
    deep learning", ICML 2013.
    """

    def _step(self, param: Array, grad: Array, v: Array) -> None:
        v *= self.momentum
        v += grad
        param -= self.current_lr * (grad + self.momentum * v)


class Adagrad(StatefulOptimizer):
    """Adagrad: s ← s + g²; p ← p − lr·g / (√s + ε).

    Duchi, Hazan & Singer, "Adaptive subgradient methods for online learning and stochastic
    optimization", JMLR 2011. As ``torch.optim.Adagrad`` (no lr decay, s starts at 0).
    """

    slots = ("s",)

    def __init__(
        self,
        lr: float = 0.01,
        eps: float = 1e-10,
        schedule: ScheduleSpec = None,
    ) -> None:
        self.lr = _positive("lr", lr)
        self.eps = _positive("eps", eps)
        super().__init__(schedule)

    def _step(self, param: Array, grad: Array, s: Array) -> None:
        s += np.square(grad)
        param -= self.current_lr * grad / (np.sqrt(s) + self.eps)


class RMSprop(StatefulOptimizer):
    """RMSprop: s ← ρ·s + (1 − ρ)·g²; p ← p − lr·g / (√s + ε).

    Tieleman & Hinton, "Neural networks for machine learning", lecture 6e, 2012. As
    ``torch.optim.RMSprop`` (which calls ρ ``alpha``), without momentum or centering.
    """

    slots = ("s",)

    def __init__(
        self,
        lr: float = 0.01,
        rho: float = 0.99,
        eps: float = 1e-8,
        schedule: ScheduleSpec = None,
    ) -> None:
        self.lr = _positive("lr", lr)
        self.rho = _unit_interval("rho", rho)
        self.eps = _positive("eps", eps)
        super().__init__(schedule)

    def _step(self, param: Array, grad: Array, s: Array) -> None:
        _ema_of_square(s, self.rho, grad)
        param -= self.current_lr * grad / (np.sqrt(s) + self.eps)


class RMSpropGraves(StatefulOptimizer):
    """RMSprop in Graves' centred form with momentum.

    n ← ρ·n + (1 − ρ)·g²; ḡ ← ρ·ḡ + (1 − ρ)·g; Δ ← μ·Δ − lr·g / √(n − ḡ² + ε); p ← p + Δ.

    Graves, "Generating sequences with recurrent neural networks", arXiv:1308.0850, 2013,
    eqs. 38–41 (ℵ = ρ = 0.95, ℶ = μ = 0.9, ℷ = lr = 1e-4, ℸ = ε = 1e-4). n − ḡ² estimates the
    variance of g, so ε sits inside the square root, as in the paper. Slots: ``n``, ``g`` (ḡ)
    and ``delta`` (Δ).
    """

    slots = ("n", "g", "delta")

    def __init__(
        self,
        lr: float = 1e-4,
        rho: float = 0.95,
        momentum: float = 0.9,
        eps: float = 1e-4,
        schedule: ScheduleSpec = None,
    ) -> None:
        self.lr = _positive("lr", lr)
        self.rho = _unit_interval("rho", rho)
        self.momentum = _unit_interval("momentum", momentum)
        self.eps = _positive("eps", eps)
        super().__init__(schedule)

    def _step(self, param: Array, grad: Array, n: Array, g: Array, delta: Array) -> None:
        _ema_of_square(n, self.rho, grad)
        _ema(g, self.rho, grad)
        delta *= self.momentum
        delta -= self.current_lr * grad / np.sqrt(n - np.square(g) + self.eps)
        param += delta


class Adadelta(StatefulOptimizer):
    """Adadelta: v ← ρ·v + (1 − ρ)·g²; d = g·√(u + ε) / √(v + ε); u ← ρ·u + (1 − ρ)·d²;
    p ← p − lr·d.

    Zeiler, "ADADELTA: An adaptive learning rate method", arXiv:1212.5701, 2012, Algorithm 1
    (v = E[g²], u = E[Δx²]); the paper has no lr, which is PyTorch's addition (lr = 1 gives the
    paper). As ``torch.optim.Adadelta``, defaults included.
    """

    slots = ("v", "u")

    def __init__(
        self,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        schedule: ScheduleSpec = None,
    ) -> None:
        self.lr = _positive("lr", lr)
        self.rho = _unit_interval("rho", rho)
        self.eps = _positive("eps", eps)
        super().__init__(schedule)

    def _step(self, param: Array, grad: Array, v: Array, u: Array) -> None:
        _ema_of_square(v, self.rho, grad)
        d = np.sqrt(u + self.eps)
        d /= np.sqrt(v + self.eps)
        d *= grad
        _ema_of_square(u, self.rho, d)
        param -= self.current_lr * d


class _AdamFamily(StatefulOptimizer):
    """What every Adam variant shares: lr, β1, β2 and ε, checked (the defaults are Adam's)."""

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        schedule: ScheduleSpec = None,
    ) -> None:
        self.lr = _positive("lr", lr)
        self.beta1 = _unit_interval("beta1", beta1)
        self.beta2 = _unit_interval("beta2", beta2)
        self.eps = _positive("eps", eps)
        super().__init__(schedule)


class _AdamStep(_AdamFamily):
    """What Adam, AMSGrad and AdaBelief share: the bias-corrected step from m and v."""

    def _prepare_step(self) -> None:
        t = self.iterations
        self._corrected_lr = self.current_lr / (1.0 - self.beta1**t)  # lr / (1 − β1^t)
        self._sqrt_correction2 = math.sqrt(1.0 - self.beta2**t)  # √(1 − β2^t)

    def _apply(self, param: Array, m: Array, v: Array) -> None:
        denominator = np.sqrt(v)  # √v̂ + ε = √v / √(1 − β2^t) + ε
        denominator /= self._sqrt_correction2
        denominator += self.eps
        step = self._scaled(m, self._corrected_lr)
        step /= denominator
        param -= step


class Adam(_AdamStep):
    """Adam: p ← p − lr·m̂ / (√v̂ + ε), with bias-corrected moment estimates m̂ and v̂.

    m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; m̂ = m / (1 − β1^t); v̂ = v / (1 − β2^t).

    Kingma & Ba, "Adam: A method for stochastic optimization", ICLR 2015. As
    ``torch.optim.Adam``, which computes the step as (lr / (1 − β1^t))·m / (√v / √(1 − β2^t) + ε).
    """

    slots = ("m", "v")

    def _step(self, param: Array, grad: Array, m: Array, v: Array) -> None:
        _ema(m, self.beta1, grad)
        _ema_of_square(v, self.beta2, grad)
        self._apply(param, m, v)


class AdamW(Adam):
    """AdamW, Adam with decoupled weight decay: p ← p − lr·λ·p, then the Adam step.

    Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019. As
    ``torch.optim.AdamW`` (λ = ``weight_decay``, default 0.01; the decay uses the step's lr, not
    the bias-corrected lr, and does not touch the gradient, so it is not clipped).
    """

    decoupled_weight_decay = True
    controls_off: ClassVar[Mapping[str, Any]] = {
        "clipnorm": None,
        "clipvalue": None,
        "schedule_unit": "step",
    }

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        schedule: ScheduleSpec = None,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, schedule=schedule)
        self._set_controls(weight_decay=weight_decay)  # its own hyperparameter, default 0.01


class AMSGrad(_AdamStep):
    """AMSGrad: Adam with the running maximum of v in the denominator.

    m, v as Adam; v_max ← max(v_max, v); p ← p − (lr / (1 − β1^t))·m / (√v_max / √(1 − β2^t) + ε).

    Reddi, Kale & Kumar, "On the convergence of Adam and beyond", ICLR 2018. As
    ``torch.optim.Adam(amsgrad=True)``, which keeps Adam's bias corrections (the paper's
    Algorithm 2 has none).
    """

    slots = ("m", "v", "v_max")

    def _step(self, param: Array, grad: Array, m: Array, v: Array, v_max: Array) -> None:
        _ema(m, self.beta1, grad)
        _ema_of_square(v, self.beta2, grad)
        np.maximum(v_max, v, out=v_max)
        self._apply(param, m, v_max)


class Adamax(_AdamFamily):
    """AdaMax, Adam with the infinity norm: m ← β1·m + (1 − β1)·g; u ← max(β2·u, |g| + ε);
    p ← p − (lr / (1 − β1^t))·m / u.

    Kingma & Ba, "Adam: A method for stochastic optimization", ICLR 2015, §7.1 (Algorithm 2).
    The paper has u ← max(β2·u, |g|); ε inside the max, which keeps u > 0 where g is 0 from the
    start, is ``torch.optim.Adamax``'s, as are the defaults.
    """

    slots = ("m", "u")

    def __init__(
        self,
        lr: float = 2e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        schedule: ScheduleSpec = None,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, schedule=schedule)

    def _prepare_step(self) -> None:
        self._corrected_lr = self.current_lr / (1.0 - self.beta1**self.iterations)

    def _step(self, param: Array, grad: Array, m: Array, u: Array) -> None:
        _ema(m, self.beta1, grad)
        u *= self.beta2
        np.maximum(u, np.abs(grad) + self.eps, out=u)
        param -= self._corrected_lr * m / u


class NAdam(_AdamFamily):
    """NAdam, Adam with Nesterov momentum, in Dozat's form with the momentum schedule μ_t.

    μ_t = β1·(1 − ½·0.96^(t·ψ)), ψ = ``momentum_decay``; m ← β1·m + (1 − β1)·g;
    v ← β2·v + (1 − β2)·g²; v̂ = v / (1 − β2^t);
    p ← p − lr·[(1 − μ_t)·g / (1 − Π_{i≤t} μ_i) + μ_{t+1}·m / (1 − Π_{i≤t+1} μ_i)] / (√v̂ + ε).

    Dozat, "Incorporating Nesterov momentum into Adam", ICLR 2016 workshop, Algorithm 2 with
    the schedule of its experiments (0.96 per 250 steps, ψ = 0.004). This is exactly
    ``torch.optim.NAdam`` (and Keras' Nadam), defaults included. ψ = 0 does not switch the
    schedule off (it gives the constant μ = β1/2), so it is no way to get constant momentum.
    The product Π μ_i is a function of t, so it is recomputed from ``iterations`` after
    ``set_state`` and is not part of the state.
    """

    slots = ("m", "v")

    def __init__(
        self,
        lr: float = 2e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        momentum_decay: float = 4e-3,
        schedule: ScheduleSpec = None,
    ) -> None:
        self.momentum_decay = _non_negative("momentum_decay", momentum_decay)
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, schedule=schedule)
        self._mu_product, self._mu_product_step = 1.0, 0

    def _mu(self, t: int) -> float:
        return self.beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def _prepare_step(self) -> None:
        t = self.iterations
        if self._mu_product_step != t - 1:  # after set_state: rebuild Π_{i<t} μ_i
            self._mu_product = 1.0
            for i in range(1, t):
                self._mu_product *= self._mu(i)
        mu, mu_next = self._mu(t), self._mu(t + 1)
        self._mu_product *= mu
        self._mu_product_step = t
        lr = self.current_lr
        self._grad_coefficient = lr * (1.0 - mu) / (1.0 - self._mu_product)
        self._m_coefficient = lr * mu_next / (1.0 - self._mu_product * mu_next)
        self._correction2 = 1.0 - self.beta2**t

    def _step(self, param: Array, grad: Array, m: Array, v: Array) -> None:
        _ema(m, self.beta1, grad)
        _ema_of_square(v, self.beta2, grad)
        denominator = v / self._correction2
        np.sqrt(denominator, out=denominator)
        denominator += self.eps
        param -= self._grad_coefficient * grad / denominator
        param -= self._m_coefficient * m / denominator


class _Bounded(_AdamFamily):
    """What AdaBound and AMSBound share: final_lr and γ, the bounds and the clipped step."""

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        schedule: ScheduleSpec = None,
    ) -> None:
        self.final_lr = _positive("final_lr", final_lr)
        self.gamma = _positive("gamma", gamma)
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, schedule=schedule)

    def _prepare_step(self) -> None:
        t = self.iterations
        self._step_size = self.current_lr * math.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)
        final_lr = self.final_lr * self.current_lr / self.lr
        self._lower = final_lr * (1.0 - 1.0 / (self.gamma * t + 1.0))
        self._upper = final_lr * (1.0 + 1.0 / (self.gamma * t))

    def _apply(self, param: Array, m: Array, v: Array) -> None:
        step = np.sqrt(v)
        step += self.eps
        np.divide(self._step_size, step, out=step)
        np.clip(step, self._lower, self._upper, out=step)
        step *= m
        param -= step


class AdaBound(_Bounded):
    """AdaBound: Adam's per-coordinate step size clipped into bounds that close on final_lr.

    m, v as Adam; η = clip(lr·√(1 − β2^t) / ((1 − β1^t)·(√v + ε)), η_l(t), η_u(t));
    p ← p − η·m, with η_l(t) = f·(1 − 1/(γ·t + 1)), η_u(t) = f·(1 + 1/(γ·t)) and
    f = final_lr·(lr_t / lr) (a schedule scales the final rate too).

    Luo, Xiong, Liu & Sun, "Adaptive gradient methods with dynamic bound of learning rate",
    ICLR 2019. As the authors' implementation (Luolc/AdaBound, ``adabound.AdaBound``), which
    differs from the paper's Algorithm 2: bounds in γ rather than 1 − β2, and no 1/√t factor.
    ``weight_decay`` is coupled, g ← g + λ·p, as in the authors' code.
    """

    slots = ("m", "v")

    def _step(self, param: Array, grad: Array, m: Array, v: Array) -> None:
        _ema(m, self.beta1, grad)
        _ema_of_square(v, self.beta2, grad)
        self._apply(param, m, v)


class AMSBound(_Bounded):
    """AMSBound: AdaBound with AMSGrad's running maximum v_max ← max(v_max, v) in place of v.

    Luo, Xiong, Liu & Sun, ICLR 2019, as ``adabound.AdaBound(amsbound=True)``.
    """

    slots = ("m", "v", "v_max")

    def _step(self, param: Array, grad: Array, m: Array, v: Array, v_max: Array) -> None:
        _ema(m, self.beta1, grad)
        _ema_of_square(v, self.beta2, grad)
        np.maximum(v_max, v, out=v_max)
        self._apply(param, m, v_max)


class AdaBelief(_AdamStep):
    """AdaBelief: Adam with the variance of g around its mean in place of g².

    m ← β1·m + (1 − β1)·g; s ← β2·s + (1 − β2)·(g − m)² + ε;
    p ← p − lr·m̂ / (√ŝ + ε), m̂ = m / (1 − β1^t), ŝ = s / (1 − β2^t).

    Zhuang, Tang, Ding, Tatikonda, Dvornek, Papademetris & Duncan, "AdaBelief optimizer:
    adapting stepsizes by the belief in observed gradients", NeurIPS 2020, Algorithm 2, with
    the authors' ε = 1e-16; without their optional rectification. ``weight_decay`` is coupled,
    g ← g + λ·p (the authors' code also offers a decoupled form).
    """

    slots = ("m", "s")

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-16,
        schedule: ScheduleSpec = None,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, schedule=schedule)

    def _step(self, param: Array, grad: Array, m: Array, s: Array) -> None:
        _ema(m, self.beta1, grad)
        _ema_of_square(s, self.beta2, grad - m)
        s += self.eps
        self._apply(param, m, s)


class SMORMS3(StatefulOptimizer):
    """SMORMS3 (squared mean over root mean squared, cubed), an RMSprop with adaptive memory.

    r = 1 / (mem + 1); g ← (1 − r)·g + r·∇; g2 ← (1 − r)·g2 + r·∇²; x = g² / (g2 + ε);
    p ← p − ∇·min(lr, x) / (√g2 + ε); mem ← 1 + mem·(1 − x). mem starts at 1, g and g2 at 0.

    Simon Funk, "RMSprop loses to SMORMS3 - Beware the epsilon!", sifter.org/~simon/journal/
    20150420.html, 2015. (The seed's SMORMS3 updated the wrong state.) Slots: ``mem``, ``g``
    and ``g2``.
    """

    slots = ("mem", "g", "g2")
    initial: ClassVar[Mapping[str, float]] = {"mem": 1.0}

    def __init__(
        self,
        lr: float = 1e-3,
        eps: float = 1e-16,
        schedule: ScheduleSpec = None,
    ) -> None:
        self.lr = _positive("lr", lr)
        self.eps = _positive("eps", eps)
        super().__init__(schedule)

    def _step(self, param: Array, grad: Array, mem: Array, g: Array, g2: Array) -> None:
        r = 1.0 / (mem + 1.0)
        g *= 1.0 - r
        g += r * grad
        g2 *= 1.0 - r
        g2 += r * np.square(grad)
        x = np.square(g) / (g2 + self.eps)
        param -= grad * np.minimum(self.current_lr, x) / (np.sqrt(g2) + self.eps)
        mem *= 1.0 - x
        mem += 1.0


@hookimpl
def register_optimizers(register: Register) -> None:
    register(SGD, name="sgd")
    register(Momentum, name="momentum", aliases=("sgd_momentum",))
    register(Nesterov, name="nesterov", aliases=("nesterov_momentum",))
    register(Adagrad, name="adagrad")
    register(RMSprop, name="rmsprop")
    register(RMSpropGraves, name="rmsprop_graves")
    register(Adadelta, name="adadelta")
    register(Adam, name="adam")
    register(AdamW, name="adamw")
    register(AMSGrad, name="amsgrad")
    register(Adamax, name="adamax")
    register(NAdam, name="nadam")
    register(AdaBound, name="adabound")
    register(AMSBound, name="amsbound")
    register(AdaBelief, name="adabelief")
    register(SMORMS3, name="smorms3")
