"""Fused output backwards: dE/da for an output activation and error function taken together."""

from __future__ import annotations

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array
from plugnet_builtins.errors import matching_target


class SoftmaxCrossEntropy(Configurable):
    """softmax then cross_entropy: dE/da = (y − t) / N, where y = softmax(a).

    The chain −t/(N y) through the softmax Jacobian collapses to this because each row of t
    sums to 1.
    """

    def backward(self, y: Array, t: Array) -> Array:
        return (y - matching_target(y, t)) / y.shape[0]


class SigmoidBinaryCrossEntropy(Configurable):
    """sigmoid then binary_cross_entropy: dE/da = (y − t) / N, where y = sigmoid(a).

    The chain (y − t)/(N y (1 − y)) times sigmoid's y (1 − y) collapses to this; unlike the
    chain it needs no clipping, so it stays exact as y saturates at 0 or 1.
    """

    def backward(self, y: Array, t: Array) -> Array:
        return (y - matching_target(y, t)) / y.shape[0]


class LogSoftmaxNLL(Configurable):
    """log_softmax then nll: dE/da = (softmax(a) − t) / N, with softmax(a) = eʸ for
    y = log_softmax(a).

    The chain −t/N through log_softmax's Jacobian gives (eʸ Σ_k t_k − t)/N, which is this because
    each row of t sums to 1.
    """

    def backward(self, y: Array, t: Array) -> Array:
        return (np.exp(y) - matching_target(y, t)) / y.shape[0]


@hookimpl
def register_fused_backwards(register: Register) -> None:
    register(SoftmaxCrossEntropy, name=("softmax", "cross_entropy"))
    register(SigmoidBinaryCrossEntropy, name=("sigmoid", "binary_cross_entropy"))
    register(LogSoftmaxNLL, name=("log_softmax", "nll"))
