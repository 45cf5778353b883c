"""The conformance checks, one module per kind of component, and the table of them.

Each kind's module holds its checks and a ``CHECKS`` dict from a check's name to a function
that takes a :class:`~plugnet.testing.checks.common.Subject`, raises
:class:`~plugnet.testing.gradients.ConformanceError` on failure and returns the worst error it
measured (or None). :data:`CHECKS` gathers them by kind; its order is the order in which
``plugnet check`` prints its tables and columns.
"""

from __future__ import annotations

from plugnet.testing.checks import (
    activation,
    callback,
    dataset,
    error_function,
    fused_backward,
    initializer,
    layer,
    metric,
    optimizer,
    schedule,
)
from plugnet.testing.checks.common import CheckFunction

CHECKS: dict[str, dict[str, CheckFunction]] = {
    "activation": activation.CHECKS,
    "error_function": error_function.CHECKS,
    "fused_backward": fused_backward.CHECKS,
    "layer": layer.CHECKS,
    "optimizer": optimizer.CHECKS,
    "initializer": initializer.CHECKS,
    "schedule": schedule.CHECKS,
    "metric": metric.CHECKS,
    "dataset": dataset.CHECKS,
    "callback": callback.CHECKS,
}
