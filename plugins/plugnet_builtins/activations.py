"""Activation functions. Each ``backward(x, y, grad)`` returns dE/dx = (dy/dx)ᵀ · dE/dy."""

from __future__ import annotations

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array


class Identity(Configurable):
    """Identity: y = x; dy/dx = 1."""

    def forward(self, x: Array) -> Array:
        return x

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad


class ReLU(Configurable):
    """Rectified linear unit: y = max(0, x); dy/dx = 1 for x > 0, else 0 (0 at the kink)."""

    def forward(self, x: Array) -> Array:
        return np.maximum(x, 0)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * (x > 0)


class Sigmoid(Configurable):
    """Logistic sigmoid: y = 1 / (1 + e^-x); dy/dx = y (1 − y).

    Computed as (1 + tanh(x/2)) / 2, which equals it exactly and never overflows.
    """

    def forward(self, x: Array) -> Array:
        return 0.5 * (1.0 + np.tanh(0.5 * x))

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return grad * y * (1.0 - y)


class Softmax(Configurable):
    """Softmax over the last axis: y_k = e^(x_k − max x) / Σ_j e^(x_j − max x).

    The Jacobian is diag(y) − y yᵀ, so the vector-Jacobian product is
    dE/dx = y ⊙ (g − Σ_k g_k y_k) with g = dE/dy.
    """

    def forward(self, x: Array) -> Array:
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return y * (grad - np.sum(grad * y, axis=-1, keepdims=True))


@hookimpl
def register_activations(register: Register) -> None:
    register(Identity, name="identity", aliases=("linear",))
    register(ReLU, name="relu")
    register(Sigmoid, name="sigmoid", aliases=("logistic",))
    register(Softmax, name="softmax")
