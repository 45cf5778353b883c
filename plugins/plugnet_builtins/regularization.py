"""Dropout: inverted dropout with a fresh uniform mask per element."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance, Shape
from plugnet_builtins._checks import number

if TYPE_CHECKING:
    from plugnet.onnx_export import OnnxGraph


class Dropout(Configurable):
    """Inverted dropout: while training, y = x ⊙ m / (1 − rate) with m_k = [u_k ≥ rate] and
    u_k ~ U[0, 1) drawn for every element (every sample and unit gets its own draw) from the
    network's Generator; so each unit is kept with probability 1 − rate and E[y] = x.
    With ``training=False`` it is the identity. Backward: dx = dy ⊙ m / (1 − rate).
    """

    conformance = Conformance(
        cases=(
            {"config": {"rate": 0.5}, "input_shape": (6,)},
            {"config": {"rate": 0.25}, "input_shape": (2, 3, 3)},
        )
    )

    def __init__(self, rate: float) -> None:
        value = number("dropout rate", rate)
        if not 0.0 <= value < 1.0:
            raise ValueError(
                f"dropout rate is the fraction of units dropped and must be in [0, 1), got {rate!r}"
            )
        self.rate = value
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.mask: Array | None = None

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        self.rng = rng
        return input_shape

    def forward(self, x: Array, *, training: bool = False) -> Array:
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        u = self.rng.random(x.shape, dtype=dtype)
        self.mask = (u >= self.rate).astype(dtype) * (1.0 / (1.0 - self.rate))
        return x * self.mask

    def backward(self, grad: Array) -> Array:
        return grad if self.mask is None else grad * self.mask


@hookimpl
def register_layers(register: Register) -> None:
    register(Dropout, name="dropout")


# -- ONNX lowerings (see plugnet.onnx_export) ------------------------------------------------


def lower_dropout(layer: Dropout, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    """At inference dropout is the identity, which is what an exported model does."""
    return str(graph.node("Identity", inputs, hint="kept"))


@hookimpl
def register_onnx_lowerings(register: Register) -> None:
    register(lower_dropout, "plugnet:dropout")
