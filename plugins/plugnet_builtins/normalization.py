"""Batch normalization for dense (N, C) and convolutional (N, C, H, W) inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance, Shape
from plugnet_builtins._checks import number


class BatchNorm(Configurable):
    """Batch normalization per channel C (axis 1), over the batch and, for images, H and W.

    Training, with μ and σ² the mean and (biased, 1/m) variance over the m values per channel:
    x̂ = (x − μ) / √(σ² + eps),  y = γ x̂ + β,  and the running statistics follow
    running = momentum · running + (1 − momentum) · batch  (Keras's convention).
    Evaluation uses the running mean and variance instead of μ and σ².

    Backward in training, with g = dE/dy and means over the same m values:
    dγ = Σ g x̂,  dβ = Σ g,  dx = γ / √(σ² + eps) · (g − mean(g) − x̂ · mean(g x̂)).
    In evaluation the statistics are constants: dx = γ g / √(running_var + eps).
    """

    conformance = Conformance(
        cases=(
            {"config": {}, "input_shape": (3,)},
            {"config": {}, "input_shape": (2, 3, 3)},
            {"config": {"momentum": 0.5, "eps": 1e-3}, "input_shape": (4,)},
        )
    )

    def __init__(self, momentum: float = 0.9, eps: float = 1e-5) -> None:
        self.momentum = number("batch_norm momentum", momentum)
        self.eps = number("batch_norm eps", eps)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"batch_norm momentum must be in [0, 1], got {momentum!r}")
        if not self.eps > 0.0:
            raise ValueError(f"batch_norm eps must be positive, got {eps!r}")
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.buffers: dict[str, Array] = {}

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        if len(input_shape) not in (1, 3):
            raise ValueError(
                f"batch_norm takes inputs of shape (features,) or (channels, height, width) per "
                f"sample, got {tuple(input_shape)}; flatten or reshape the input first"
            )
        channels = int(input_shape[0])
        self.axes = (0,) if len(input_shape) == 1 else (0, 2, 3)
        self.stat_shape = (1, channels) if len(input_shape) == 1 else (1, channels, 1, 1)
        self.params = {"gamma": np.ones(channels, dtype=dtype), "beta": np.zeros(channels, dtype)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.buffers = {
            "running_mean": np.zeros(channels, dtype=dtype),
            "running_var": np.ones(channels, dtype=dtype),
        }
        return input_shape

    def _per_channel(self, values: Array) -> Array:
        return values.reshape(self.stat_shape)

    def forward(self, x: Array, *, training: bool = False) -> Array:
        self.training = training
        if training:
            mean = x.mean(axis=self.axes, keepdims=True)
            centred = x - mean
            var = np.mean(np.square(centred), axis=self.axes, keepdims=True)  # two-pass: stable
            self._update_running(mean, var)
        else:
            centred = x - self._per_channel(self.buffers["running_mean"])
            var = self._per_channel(self.buffers["running_var"])
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = centred * self.inv_std
        gamma, beta = (self._per_channel(self.params[k]) for k in ("gamma", "beta"))
        return self.x_hat * gamma + beta

    def _update_running(self, mean: Array, var: Array) -> None:
        """running = momentum · running + (1 − momentum) · batch, in place (the saved arrays)."""
        for key, batch in (("running_mean", mean), ("running_var", var)):
            running = self.buffers[key]
            running *= self.momentum
            running += (1.0 - self.momentum) * batch.reshape(running.shape)

    def backward(self, grad: Array) -> Array:
        np.sum(grad * self.x_hat, axis=self.axes, out=self.grads["gamma"])
        np.sum(grad, axis=self.axes, out=self.grads["beta"])
        g = grad * self._per_channel(self.params["gamma"])  # dE/dx̂
        if not self.training:
            return g * self.inv_std
        g_mean = g.mean(axis=self.axes, keepdims=True)
        gx_mean = np.mean(g * self.x_hat, axis=self.axes, keepdims=True)
        return self.inv_std * (g - g_mean - self.x_hat * gx_mean)


@hookimpl
def register_layers(register: Register) -> None:
    register(BatchNorm, name="batch_norm", aliases=("batch_normalization",))
