"""Fused output backwards: dE/da for an output activation and error function taken together."""

from __future__ import annotations

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


@hookimpl
def register_fused_backwards(register: Register) -> None:
    register(SoftmaxCrossEntropy, name=("softmax", "cross_entropy"))
