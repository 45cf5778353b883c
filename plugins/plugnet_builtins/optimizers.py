"""Optimizers: in-place parameter updates with per-parameter state.

Every optimizer here is a :class:`StatefulOptimizer`. One instance serves every layer of a
network: ``update(params, grads)`` is called once per training step with all parameters, keyed
by stable names such as ``"dense_1.w"``, and changes each ``params[name]`` in place. State
("slots", e.g. Adam's ``m`` and ``v``) is kept per parameter name, allocated as zeros with the
parameter's shape and dtype on first use, so float32 parameters keep float32 state.

Hyperparameter names and defaults follow ``torch.optim``; t is the step count
(``iterations``), 1 on the first update. Hyperparameters are read on every update, so a
schedule may assign ``optimizer.lr`` between steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array

# -- hyperparameter checks ---------------------------------------------------------------------


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _positive(name: str, value: Any) -> float:
    number = _number(name, value)
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _non_negative(name: str, value: Any) -> float:
    number = _number(name, value)
    if not (number >= 0 and math.isfinite(number)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def _unit_interval(name: str, value: Any) -> float:
    number = _number(name, value)
    if not 0 <= number < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


# -- the shared machinery ------------------------------------------------------------------------


class StatefulOptimizer(Configurable):
    """Base class: the step counter, lazily allocated per-parameter slots, get/set_state.

    A subclass names its slots in ``slots`` and defines ``_step(param, grad, *slot_arrays)``,
    which updates ``param`` and the slot arrays (in ``slots`` order) in place for one parameter.
    It may override ``_prepare_step()``, called once per update after ``iterations`` has been
    advanced, to compute what every parameter's step shares (e.g. bias corrections).

    ``get_state()`` is a flat dict: ``"iterations"`` → an int64 0-d array, and
    ``"<slot>/<parameter name>"`` → that slot's array; ``set_state`` restores it exactly.
    """

    slots: ClassVar[tuple[str, ...]] = ()
    _step: Callable[..., None]

    def __init__(self) -> None:
        self.iterations = 0
        self._state: dict[str, tuple[Array, ...]] = {}

    def _prepare_step(self) -> None:
        """Compute what the steps of every parameter share; called once per update."""

    def update(self, params: Mapping[str, Array], grads: Mapping[str, Array]) -> None:
        """Advance ``iterations`` and update every ``params[name]`` in place from
        ``grads[name]``."""
        self.iterations += 1
        self._prepare_step()
        state, step = self._state, self._step
        for name, param in params.items():
            try:
                grad = grads[name]
            except KeyError:
                raise KeyError(
                    f"{type(self).__name__}.update: no gradient for parameter {name!r}"
                ) from None
            slots = state.get(name)
            if slots is None:
                slots = state[name] = tuple(
                    np.zeros(param.shape, dtype=param.dtype) for _ in self.slots
                )
            elif slots and slots[0].shape != param.shape:
                raise ValueError(
                    f"{type(self).__name__}: parameter {name!r} has shape {param.shape} but its "
                    f"optimizer state has shape {slots[0].shape}; use a fresh optimizer for a "
                    f"rebuilt network."
                )
            step(param, grad, *slots)

    def get_state(self) -> dict[str, Array]:
        """A copy of the state: ``"iterations"`` and ``"<slot>/<parameter name>"`` arrays."""
        result: dict[str, Array] = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for name, arrays in self._state.items():
            for slot, array in zip(self.slots, arrays, strict=True):
                result[f"{slot}/{name}"] = array.copy()
        return result

    def set_state(self, state: Mapping[str, Array]) -> None:
        """Replace the state with a copy of ``state``, as :meth:`get_state` returns it.

        Raises ValueError, and changes nothing, if a key is not ``"iterations"`` or
        ``"<slot>/<name>"`` for one of this optimizer's slots, a value is not a NumPy array,
        or a parameter's slots are incomplete or disagree in shape.
        """
        label = f"{type(self).__name__}.set_state"
        if "iterations" not in state:
            raise ValueError(f"{label}: the state has no 'iterations' entry")
        iterations = state["iterations"]
        if not (
            isinstance(iterations, np.ndarray)
            and iterations.shape == ()
            and iterations.dtype.kind in "iu"
            and int(iterations) >= 0
        ):
            raise ValueError(
                f"{label}: 'iterations' must be a 0-d integer array >= 0, got {iterations!r}"
            )
        found: dict[str, dict[str, Array]] = {}
        for key, value in state.items():
            if key == "iterations":
                continue
            slot, _, name = key.partition("/")
            if slot not in self.slots or not name:
                expected = ", ".join(f"'{s}/<parameter name>'" for s in self.slots) or "none"
                raise ValueError(
                    f"{label}: unknown state entry {key!r}; besides 'iterations' this "
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
        self.iterations = int(iterations)
        self._state = restored


# -- the algorithms ------------------------------------------------------------------------------


class SGD(StatefulOptimizer):
    """Plain stochastic gradient descent: p ← p − lr·g."""

    def __init__(self, lr: float = 0.001) -> None:
        self.lr = _positive("lr", lr)
        super().__init__()

    def _step(self, param: Array, grad: Array) -> None:
        param -= self.lr * grad


class Momentum(StatefulOptimizer):
    """SGD with (heavy-ball) momentum, in PyTorch's form: v ← μ·v + g; p ← p − lr·v.

    PyTorch's ``torch.optim.SGD(momentum=μ)`` with dampening 0. (Polyak 1964.)
    """

    slots = ("v",)

    def __init__(self, lr: float = 0.001, momentum: float = 0.9) -> None:
        self.lr = _positive("lr", lr)
        self.momentum = _unit_interval("momentum", momentum)
        super().__init__()

    def _step(self, param: Array, grad: Array, v: Array) -> None:
        v *= self.momentum
        v += grad
        param -= self.lr * v


class Nesterov(Momentum):
    """Nesterov momentum, in PyTorch's form: v ← μ·v + g; p ← p − lr·(g + μ·v).

    PyTorch's ``torch.optim.SGD(momentum=μ, nesterov=True)``, a reformulation of
    Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum in
    deep learning", ICML 2013.
    """

    def _step(self, param: Array, grad: Array, v: Array) -> None:
        v *= self.momentum
        v += grad
        param -= self.lr * (grad + self.momentum * v)


class Adagrad(StatefulOptimizer):
    """Adagrad: s ← s + g²; p ← p − lr·g / (√s + ε).

    Duchi, Hazan & Singer, "Adaptive subgradient methods for online learning and stochastic
    optimization", JMLR 2011. As ``torch.optim.Adagrad`` (no lr decay, s starts at 0).
    """

    slots = ("s",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-10) -> None:
        self.lr = _positive("lr", lr)
        self.eps = _positive("eps", eps)
        super().__init__()

    def _step(self, param: Array, grad: Array, s: Array) -> None:
        s += np.square(grad)
        param -= self.lr * grad / (np.sqrt(s) + self.eps)


class RMSprop(StatefulOptimizer):
    """RMSprop: s ← ρ·s + (1 − ρ)·g²; p ← p − lr·g / (√s + ε).

    Tieleman & Hinton, "Neural networks for machine learning", lecture 6e, 2012. As
    ``torch.optim.RMSprop`` (which calls ρ ``alpha``), without momentum or centering.
    """

    slots = ("s",)

    def __init__(self, lr: float = 0.01, rho: float = 0.99, eps: float = 1e-8) -> None:
        self.lr = _positive("lr", lr)
        self.rho = _unit_interval("rho", rho)
        self.eps = _positive("eps", eps)
        super().__init__()

    def _step(self, param: Array, grad: Array, s: Array) -> None:
        s *= self.rho
        s += (1.0 - self.rho) * np.square(grad)
        param -= self.lr * grad / (np.sqrt(s) + self.eps)


class Adam(StatefulOptimizer):
    """Adam: p ← p − lr·m̂ / (√v̂ + ε), with bias-corrected moment estimates m̂ and v̂.

    m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; m̂ = m / (1 − β1^t); v̂ = v / (1 − β2^t).

    Kingma & Ba, "Adam: A method for stochastic optimization", ICLR 2015. As
    ``torch.optim.Adam``, which computes the step as (lr / (1 − β1^t))·m / (√v / √(1 − β2^t) + ε).
    """

    slots = ("m", "v")

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        self.lr = _positive("lr", lr)
        self.beta1 = _unit_interval("beta1", beta1)
        self.beta2 = _unit_interval("beta2", beta2)
        self.eps = _positive("eps", eps)
        super().__init__()

    def _prepare_step(self) -> None:
        t = self.iterations
        self._corrected_lr = self.lr / (1.0 - self.beta1**t)  # lr / (1 − β1^t)
        self._sqrt_correction2 = math.sqrt(1.0 - self.beta2**t)  # √(1 − β2^t)

    def _step(self, param: Array, grad: Array, m: Array, v: Array) -> None:
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        v += (1.0 - self.beta2) * np.square(grad)
        denominator = np.sqrt(v)  # √v̂ + ε = √v / √(1 − β2^t) + ε
        denominator /= self._sqrt_correction2
        denominator += self.eps
        param -= self._corrected_lr * m / denominator


class AdamW(Adam):
    """AdamW, Adam with decoupled weight decay: p ← p − lr·λ·p, then the Adam step.

    Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019. As
    ``torch.optim.AdamW`` (λ = ``weight_decay``; the decay uses lr, not the bias-corrected lr).
    """

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        self.weight_decay = _non_negative("weight_decay", weight_decay)
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps)

    def _step(self, param: Array, grad: Array, m: Array, v: Array) -> None:
        param *= 1.0 - self.lr * self.weight_decay
        super()._step(param, grad, m, v)


@hookimpl
def register_optimizers(register: Register) -> None:
    register(SGD, name="sgd")
    register(Momentum, name="momentum", aliases=("sgd_momentum",))
    register(Nesterov, name="nesterov", aliases=("nesterov_momentum",))
    register(Adagrad, name="adagrad")
    register(RMSprop, name="rmsprop")
    register(Adam, name="adam")
    register(AdamW, name="adamw")
