"""The learning-rate schedule checks."""

from __future__ import annotations

import numpy as np

from plugnet.testing.checks.common import CheckTable, Subject, rebuild
from plugnet.testing.gradients import ConformanceError

CHECKS = CheckTable()


@CHECKS.check("values")
def _values(subject: Subject) -> None:
    schedule = subject.fresh()
    for step in range(1, 1001):
        lr = schedule(step, 0.1)
        if not isinstance(lr, (float, int)) or not np.isfinite(lr) or lr < 0:
            raise ConformanceError(
                f"schedule({step}, 0.1) returned {lr!r}; a learning rate is a finite number ≥ 0"
            )


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    schedule = subject.fresh()
    rebuilt = rebuild(subject, schedule)
    for step in (1, 2, 10, 100, 1000):
        if schedule(step, 0.1) != rebuilt(step, 0.1):
            raise ConformanceError(f"the original and the rebuilt schedule differ at step {step}")
