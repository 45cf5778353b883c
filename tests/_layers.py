"""Small correct layers that several test files check, subclass or register: a merge
layer (ScaledSum) and an index layer (Lookup)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from plugnet.configurable import Configurable

Array = np.ndarray


class ScaledSum(Configurable):
    """y = s ⊙ x₁ + x₂, a merge layer with one parameter vector s."""

    merges_inputs = True

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def build(self, input_shapes: Any, *, rng: Any, dtype: Any) -> tuple[int, ...]:
        shape = tuple(input_shapes[0])
        self.params = {"s": (1.0 + rng.random(shape)).astype(dtype)}
        self.grads = {"s": np.zeros(shape, dtype=dtype)}
        return shape

    def forward(self, xs: list[Array], *, training: bool = False) -> Array:
        self.x = xs[0]
        return xs[0] * self.params["s"] + xs[1]

    def backward(self, grad: Array) -> list[Array]:
        self.grads["s"][...] = np.sum(grad * self.x, axis=0)
        return [grad * self.params["s"], grad]


class Lookup(Configurable):
    """A correct index layer: y = W[x], dW[v] = Σ of g where x = v, refusing ids out of range."""

    takes_indices: ClassVar[Literal[True]] = True

    def __init__(self, count: int = 5) -> None:
        self.count = count
        self.index_count = count
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def build(self, input_shape: tuple[int, ...], *, rng: Any, dtype: Any) -> tuple[int, ...]:
        self.params = {"w": rng.standard_normal((self.count, 2)).astype(dtype)}
        self.grads = {"w": np.zeros((self.count, 2), dtype=dtype)}
        return (*input_shape, 2)

    def forward(self, x: Array, *, training: bool = False) -> Array:
        if x.dtype.kind not in "iu" or x.min() < 0 or x.max() >= self.count:
            raise ValueError(f"ids must be integers in 0..{self.count - 1}")
        self.x = x
        return self.params["w"][x]

    def backward(self, grad: Array) -> Any:
        self.grads["w"].fill(0)
        np.add.at(self.grads["w"], self.x.reshape(-1), grad.reshape(-1, 2))
        return None
