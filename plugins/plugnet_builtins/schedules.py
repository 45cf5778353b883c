"""Learning-rate schedules: the learning rate of each optimizer step, from the base rate.

A schedule is called as ``schedule(t, base_lr)`` with t a 1-based step and returns that step's
learning rate. Give one to an optimizer with ``schedule=``, e.g.
``plugnet.optimizer("adam(lr=0.01, schedule='cosine(t_max=1000)')")``; the optimizer keeps its
configured ``lr`` as the base rate. What t counts is the optimizer's ``schedule_unit``:

- ``"step"`` (the default): t is the optimizer update, one per minibatch; update 1 is the first.
- ``"epoch"``: t is the epoch, counted from 1 as the logs count, and every update of epoch t
  uses ``schedule(t, lr)``: ``adam(lr=0.01, schedule='step(step_size=10, gamma=0.5)',
  schedule_unit='epoch')`` halves the rate every 10 epochs.

The schedules themselves do not know the unit: ``step_size``, ``t_max`` and ``steps`` are in
whatever the optimizer counts. Where PyTorch has the same schedule (``torch.optim.lr_scheduler``)
the value at step t is the one PyTorch gives when ``scheduler.step()`` is called after every
``optimizer.step()`` (or, in epochs, after every epoch), i.e. its ``last_epoch`` is t − 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from plugnet import nested
from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Conformance, Schedule
from plugnet_builtins.optimizers import _non_negative, _positive


def _steps(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_step(step: int) -> None:
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(
            f"schedule steps (updates or epochs) are integers numbered from 1, got {step!r}"
        )


class Constant(Configurable):
    """lr_t = base_lr for every step t."""

    def __call__(self, step: int, base_lr: float) -> float:
        _check_step(step)
        return base_lr


class Step(Configurable):
    """Step decay: lr_t = base_lr · γ^⌊(t − 1) / step_size⌋.

    The rate is multiplied by γ every ``step_size`` steps (updates or epochs): steps 1 …
    step_size use base_lr, the next step_size use γ·base_lr, and so on.
    ``torch.optim.lr_scheduler.StepLR``.
    """

    conformance = Conformance(
        cases=({"config": {"step_size": 10}}, {"config": {"step_size": 3, "gamma": 0.5}})
    )

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _steps("step_size", step_size)
        self.gamma = _positive("gamma", gamma)

    def __call__(self, step: int, base_lr: float) -> float:
        _check_step(step)
        return base_lr * self.gamma ** ((step - 1) // self.step_size)


class Exponential(Configurable):
    """Exponential decay: lr_t = base_lr · γ^(t − 1).

    ``torch.optim.lr_scheduler.ExponentialLR``, stepped once per step (update or epoch).
    """

    conformance = Conformance(cases=({"config": {"gamma": 0.99}},))

    def __init__(self, gamma: float) -> None:
        self.gamma = _positive("gamma", gamma)

    def __call__(self, step: int, base_lr: float) -> float:
        _check_step(step)
        return base_lr * self.gamma ** (step - 1)


class Cosine(Configurable):
    """Cosine annealing: lr_t = η_min + (base_lr − η_min) · (1 + cos(π · (t − 1) / T_max)) / 2.

    Starts at base_lr on step 1 and reaches η_min on step T_max + 1; it stays at η_min after that
    (PyTorch's ``CosineAnnealingLR`` would climb back up; restarts are not implied here).
    Loshchilov & Hutter, "SGDR: Stochastic gradient descent with warm restarts", ICLR 2017,
    without the restarts.
    """

    conformance = Conformance(
        cases=({"config": {"t_max": 100}}, {"config": {"t_max": 50, "eta_min": 0.01}})
    )

    def __init__(self, t_max: int, eta_min: float = 0.0) -> None:
        self.t_max = _steps("t_max", t_max)
        self.eta_min = _non_negative("eta_min", eta_min)

    def __call__(self, step: int, base_lr: float) -> float:
        _check_step(step)
        elapsed = min(step - 1, self.t_max)
        cosine = (1.0 + math.cos(math.pi * elapsed / self.t_max)) / 2.0
        return self.eta_min + (base_lr - self.eta_min) * cosine


class Warmup(Configurable):
    """Linear warm-up, then another schedule.

    lr_t = base_lr · t / steps for t ≤ steps; after that lr_t = then(t − steps, base_lr), so the
    ``then`` schedule starts at its own step 1 on step steps + 1 (for the built-ins, at base_lr).
    ``then`` is a schedule spec (a name such as ``"cosine(t_max=900)"``, a dict or an instance);
    ``get_config`` records it as a dict spec.
    """

    conformance = Conformance(
        cases=(
            {"config": {"steps": 10}},
            {"config": {"steps": 5, "then": {"name": "cosine", "t_max": 100}}},
        )
    )

    def __init__(self, steps: int, then: Schedule | str | Mapping[str, Any] = "constant") -> None:
        self.component_specs: dict[str, dict[str, Any]] = {}
        self.steps = _steps("steps", steps)
        self._then: Schedule = nested.argument(self, "then", "schedule", then)

    def get_config(self) -> dict[str, Any]:
        return {"steps": self.steps, "then": nested.spec(self, "then", self._then)}

    def __call__(self, step: int, base_lr: float) -> float:
        _check_step(step)
        if step <= self.steps:
            return base_lr * step / self.steps
        return self._then(step - self.steps, base_lr)


@hookimpl
def register_schedules(register: Register) -> None:
    register(Constant, name="constant")
    register(Step, name="step")
    register(Exponential, name="exponential")
    register(Cosine, name="cosine")
    register(Warmup, name="warmup")
