"""Error functions. ``forward(y, t)`` returns E as a float, ``backward(y, t)`` returns dE/dy.

Two averaging conventions, each stated in the class docstring:

- per-sample errors averaged over the batch (axis 0, N rows): E = (1/N) Σ_i e_i, where e_i sums
  over sample i's outputs (square, cross_entropy, binary_cross_entropy, kl_divergence, hinge, nll);
- a mean over all elements, like PyTorch's ``reduction="mean"`` (mean_squared, mean_absolute,
  huber), where the divisor is y.size.

Either way backward includes the divisor. Gradients keep y's dtype (targets are cast to it), the
inputs are never changed, and logs are of values clipped away from 0, so E and dE/dy stay finite.

Every one is a :class:`~plugnet.protocols.PerSampleError`: ``per_sample(y, t)`` gives each
sample's error (its sum over the sample's outputs, or for the y.size family their mean), whose
mean over the batch is E; sample weights use it.
"""

from __future__ import annotations

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance


def row_sums(terms: Array) -> Array:
    """Each sample's sum of ``terms`` (an array with the batch on axis 0): shape (N,)."""
    return terms.reshape(terms.shape[0], -1).sum(axis=1)


def row_means(terms: Array) -> Array:
    """Each sample's mean of ``terms``: the per-sample errors of the y.size family."""
    return terms.reshape(terms.shape[0], -1).mean(axis=1)


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

    def per_sample(self, y: Array, t: Array) -> Array:
        d = y - matching_target(y, t)
        return 0.5 * row_sums(d * d)

    def backward(self, y: Array, t: Array) -> Array:
        return (y - matching_target(y, t)) / y.shape[0]


class CrossEntropy(Configurable):
    """Categorical cross-entropy: E = −(1/N) Σ_i Σ_k t_ik log y_ik; dE/dy = −t / (N y).

    y is clipped below at the dtype's machine epsilon inside the log and the division, so E and
    its gradient stay finite as y → 0. ``t`` holds one-hot rows (or any distribution).
    """

    conformance = Conformance(domain="probabilities")

    def forward(self, y: Array, t: Array) -> float:
        return float(-self._terms(y, t).sum() / y.shape[0])

    def per_sample(self, y: Array, t: Array) -> Array:
        return -row_sums(self._terms(y, t))

    @staticmethod
    def _terms(y: Array, t: Array) -> Array:
        terms = np.log(y.clip(np.finfo(y.dtype).eps, 1.0))
        terms *= matching_target(y, t)
        return terms

    def backward(self, y: Array, t: Array) -> Array:
        t = matching_target(y, t)
        return -t / (y.shape[0] * np.maximum(y, np.finfo(y.dtype).eps))


class BinaryCrossEntropy(Configurable):
    """Binary cross-entropy, averaged over the batch (not over the outputs):
    E = −(1/N) Σ_i Σ_k [t_ik log y_ik + (1 − t_ik) log(1 − y_ik)];
    dE/dy = (y − t) / (N y (1 − y)).

    y is clipped into [ε, 1 − ε] (ε = the dtype's machine epsilon) in both, so E and the gradient
    stay finite as y → 0 or 1. Each t_ik is a probability (usually 0 or 1).
    """

    conformance = Conformance(domain="binary")

    def forward(self, y: Array, t: Array) -> float:
        return float(-np.sum(self._terms(y, t)) / y.shape[0])

    def per_sample(self, y: Array, t: Array) -> Array:
        return -row_sums(self._terms(y, t))

    @staticmethod
    def _terms(y: Array, t: Array) -> Array:
        t = matching_target(y, t)
        eps = np.finfo(y.dtype).eps
        yc = np.clip(y, eps, 1.0 - eps)
        return t * np.log(yc) + (1.0 - t) * np.log1p(-yc)

    def backward(self, y: Array, t: Array) -> Array:
        t = matching_target(y, t)
        eps = np.finfo(y.dtype).eps
        yc = np.clip(y, eps, 1.0 - eps)
        return (yc - t) / (y.shape[0] * yc * (1.0 - yc))


class MeanSquared(Configurable):
    """Mean squared error over all elements (PyTorch's mse_loss): E = (1/M) Σ (y − t)², with
    M = y.size; dE/dy = 2(y − t) / M."""

    def forward(self, y: Array, t: Array) -> float:
        d = y - matching_target(y, t)
        return float(np.mean(d * d))

    def per_sample(self, y: Array, t: Array) -> Array:
        d = y - matching_target(y, t)
        return row_means(d * d)

    def backward(self, y: Array, t: Array) -> Array:
        return 2.0 * (y - matching_target(y, t)) / y.size


class MeanAbsolute(Configurable):
    """Mean absolute error over all elements (PyTorch's l1_loss): E = (1/M) Σ |y − t|, with
    M = y.size; dE/dy = sign(y − t) / M, which is 0 where y = t."""

    def forward(self, y: Array, t: Array) -> float:
        return float(np.mean(np.abs(y - matching_target(y, t))))

    def per_sample(self, y: Array, t: Array) -> Array:
        return row_means(np.abs(y - matching_target(y, t)))

    def backward(self, y: Array, t: Array) -> Array:
        return np.sign(y - matching_target(y, t)) / y.size


class Huber(Configurable):
    """Huber loss over all elements (PyTorch's huber_loss): with d = y − t and M = y.size,
    E = (1/M) Σ h(d), h(d) = ½d² for |d| ≤ δ, else δ(|d| − ½δ);
    dE/dy = clip(d, −δ, δ) / M (continuous at |d| = δ, so no kink in the gradient)."""

    conformance = Conformance(cases=({"config": {}}, {"config": {"delta": 0.3}}))

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = delta

    def forward(self, y: Array, t: Array) -> float:
        return float(np.mean(self._terms(y, t)))

    def per_sample(self, y: Array, t: Array) -> Array:
        return row_means(self._terms(y, t))

    def _terms(self, y: Array, t: Array) -> Array:
        d = np.abs(y - matching_target(y, t))
        quadratic = np.minimum(d, self.delta)
        return 0.5 * quadratic * quadratic + self.delta * (d - quadratic)

    def backward(self, y: Array, t: Array) -> Array:
        d = y - matching_target(y, t)
        return np.clip(d, -self.delta, self.delta) / y.size


class KLDivergence(Configurable):
    """Kullback–Leibler divergence KL(t ‖ y), averaged over the batch:
    E = (1/N) Σ_i Σ_k t_ik (log t_ik − log y_ik), with 0·log 0 = 0; dE/dy = −t / (N y).

    y is clipped below at the dtype's machine epsilon, as in cross_entropy; t and y are
    distributions (probabilities, not log-probabilities).
    """

    conformance = Conformance(domain="probabilities")

    def forward(self, y: Array, t: Array) -> float:
        return float(np.sum(self._terms(y, t)) / y.shape[0])

    def per_sample(self, y: Array, t: Array) -> Array:
        return row_sums(self._terms(y, t))

    @staticmethod
    def _terms(y: Array, t: Array) -> Array:
        t = matching_target(y, t)
        positive = t > 0
        t_log_t = np.where(positive, t * np.log(np.where(positive, t, 1.0)), 0.0)
        log_y = np.log(np.maximum(y, np.finfo(y.dtype).eps))
        return t_log_t - t * log_y

    def backward(self, y: Array, t: Array) -> Array:
        t = matching_target(y, t)
        return -t / (y.shape[0] * np.maximum(y, np.finfo(y.dtype).eps))


class Hinge(Configurable):
    """Hinge loss, averaged over the batch: E = (1/N) Σ_i Σ_k max(0, 1 − s_ik y_ik);
    dE/dy = −s / N where s·y < 1, else 0 (0 at the hinge point s·y = 1).

    s is the target as a sign: s = +1 where t > 0, else −1, so targets may be given as ±1 or as
    0/1 (0 means the negative class).
    """

    conformance = Conformance(domain="signs")

    def forward(self, y: Array, t: Array) -> float:
        s = np.where(matching_target(y, t) > 0, 1.0, -1.0).astype(y.dtype, copy=False)
        return float(np.sum(np.maximum(1.0 - s * y, 0.0)) / y.shape[0])

    def per_sample(self, y: Array, t: Array) -> Array:
        s = np.where(matching_target(y, t) > 0, 1.0, -1.0).astype(y.dtype, copy=False)
        return row_sums(np.maximum(1.0 - s * y, 0.0))

    def backward(self, y: Array, t: Array) -> Array:
        s = np.where(matching_target(y, t) > 0, 1.0, -1.0).astype(y.dtype, copy=False)
        return -s * (s * y < 1.0) / y.shape[0]


class NLL(Configurable):
    """Negative log-likelihood of log-probabilities (use after log_softmax), averaged over the
    batch: E = −(1/N) Σ_i Σ_k t_ik y_ik where y = log p; dE/dy = −t / N. ``t`` holds one-hot rows
    (or any distribution)."""

    conformance = Conformance(domain="log_probabilities")

    def forward(self, y: Array, t: Array) -> float:
        return float(-np.sum(matching_target(y, t) * y) / y.shape[0])

    def per_sample(self, y: Array, t: Array) -> Array:
        return -row_sums(matching_target(y, t) * y)

    def backward(self, y: Array, t: Array) -> Array:
        return -matching_target(y, t) / y.shape[0]


@hookimpl
def register_error_functions(register: Register) -> None:
    register(Square, name="square")
    register(CrossEntropy, name="cross_entropy", aliases=("categorical_cross_entropy",))
    register(BinaryCrossEntropy, name="binary_cross_entropy", aliases=("bce",))
    register(MeanSquared, name="mean_squared", aliases=("mse",))
    register(MeanAbsolute, name="mean_absolute", aliases=("mae", "l1"))
    register(Huber, name="huber")
    register(KLDivergence, name="kl_divergence", aliases=("kl",))
    register(Hinge, name="hinge")
    register(NLL, name="nll", aliases=("negative_log_likelihood",))
