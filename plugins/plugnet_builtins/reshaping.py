"""Layers that only change the shape of each sample: flatten and reshape."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance, Shape

if TYPE_CHECKING:
    from plugnet.onnx_export import OnnxGraph


class Flatten(Configurable):
    """Each sample as a vector: (N, d1, d2, ...) → (N, d1·d2·...), in C (row-major) order.
    Backward reshapes the gradient back."""

    conformance = Conformance(
        cases=(
            {"config": {}, "input_shape": (2, 3, 4)},
            {"config": {}, "input_shape": (5,)},
        )
    )

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        return (math.prod(input_shape),)

    def forward(self, x: Array, *, training: bool = False) -> Array:
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad: Array) -> Array:
        return grad.reshape(self.x_shape)


def _target_shape(shape: Any) -> tuple[int, ...]:
    items = tuple(shape) if isinstance(shape, (list, tuple)) else None
    if (
        not items
        or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in items)
        or not all(d > 0 or d == -1 for d in items)
        or items.count(-1) > 1
    ):
        raise ValueError(
            f"reshape shape must be a non-empty list of positive integers, with at most one -1 "
            f"for 'the rest', e.g. [1, 8, 8]; got {shape!r}"
        )
    return tuple(int(d) for d in items)


class Reshape(Configurable):
    """Each sample to ``shape`` (without the batch axis), in C order: (N, ...) → (N, *shape).
    One entry may be -1, meaning whatever the element count leaves. Backward reshapes back."""

    conformance = Conformance(
        cases=(
            {"config": {"shape": [1, 2, 3]}, "input_shape": (6,)},
            {"config": {"shape": [-1, 4]}, "input_shape": (2, 2, 3)},
        )
    )

    def __init__(self, shape: list[int] | tuple[int, ...]) -> None:
        self.target = _target_shape(shape)
        self.shape = list(self.target)
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        size, known = math.prod(input_shape), math.prod(d for d in self.target if d != -1)
        output = tuple(size // known if d == -1 else d for d in self.target)
        if math.prod(output) != size:
            raise ValueError(
                f"reshape cannot turn per-sample shape {tuple(input_shape)} ({size} elements) "
                f"into {tuple(self.shape)}; the shape must hold exactly {size} elements"
            )
        self.output_shape = output
        return output

    def forward(self, x: Array, *, training: bool = False) -> Array:
        self.x_shape = x.shape
        return x.reshape(x.shape[0], *self.output_shape)

    def backward(self, grad: Array) -> Array:
        return grad.reshape(self.x_shape)


@hookimpl
def register_layers(register: Register) -> None:
    register(Flatten, name="flatten")
    register(Reshape, name="reshape")


# -- ONNX lowerings (see plugnet.onnx_export) ------------------------------------------------


def lower_flatten(layer: Flatten, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    return str(graph.node("Flatten", inputs, hint="flat", axis=1))


def lower_reshape(layer: Reshape, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    shape = graph.constant([0, *layer.target], "shape")  # 0: keep the batch axis as it is
    return str(graph.node("Reshape", [inputs[0], shape], hint="reshaped"))


@hookimpl
def register_onnx_lowerings(register: Register) -> None:
    register(lower_flatten, "plugnet:flatten")
    register(lower_reshape, "plugnet:reshape")
