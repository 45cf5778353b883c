"""Error functions. E is the mean over the batch (axis 0, N rows) of each sample's error."""

from __future__ import annotations

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array


def matching_target(y: Array, t: Array) -> Array:
    """``t`` in ``y``'s dtype, after checking that the shapes agree."""
    if t.shape != y.shape:
        raise ValueError(
            f"targets have shape {t.shape} but outputs have shape {y.shape}; they must match "
            f"(one-hot encode class labels first)."
        )
    return t.astype(y.dtype, copy=False)


class Square(Configurable):
    """Sum of squares: E = (1/N) Σ_i ½‖y_i − t_i‖²; dE/dy = (y − t) / N."""

    def forward(self, y: Array, t: Array) -> float:
        d = y - matching_target(y, t)
        return float(0.5 * np.sum(d * d) / y.shape[0])

    def backward(self, y: Array, t: Array) -> Array:
        return (y - matching_target(y, t)) / y.shape[0]


class CrossEntropy(Configurable):
    """Categorical cross-entropy: E = −(1/N) Σ_i Σ_k t_ik log y_ik; dE/dy = −t / (N y).

    y is clipped below at the dtype's machine epsilon inside the log and the division, so E and
    its gradient stay finite as y → 0. ``t`` holds one-hot rows (or any distribution).
    """

    def forward(self, y: Array, t: Array) -> float:
        t = matching_target(y, t)
        log_y = np.log(np.clip(y, np.finfo(y.dtype).eps, 1.0))
        return float(-np.sum(t * log_y) / y.shape[0])

    def backward(self, y: Array, t: Array) -> Array:
        t = matching_target(y, t)
        return -t / (y.shape[0] * np.maximum(y, np.finfo(y.dtype).eps))


@hookimpl
def register_error_functions(register: Register) -> None:
    register(Square, name="square")
    register(CrossEntropy, name="cross_entropy", aliases=("categorical_cross_entropy",))
