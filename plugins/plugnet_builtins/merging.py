"""Merge layers: ``add``, ``concatenate`` and ``multiply``, which read several values of a graph
model (the layers named in their ``inputs``) and return one.

Each implements :class:`plugnet.protocols.MergesInputs`: ``build`` gets the list of the inputs'
per-sample shapes, ``forward`` the list of their arrays, and ``backward(grad)`` returns one
dE/dx_i per input, in the same order. They have no parameters. Shapes must match exactly (as
Keras's merge layers require); nothing is broadcast.

The gradients they return may share memory with ``grad`` (``add`` returns ``grad`` itself for
every input, ``concatenate`` slices of it): nobody writes to a gradient it is given (the
conformance kit checks that every layer leaves its ``grad`` alone), and the graph model adds the
gradients of branches into new arrays (``a + b``), never in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance, Shape

if TYPE_CHECKING:
    from plugnet.onnx_export import OnnxGraph

_IN_A_GRAPH = 'use it in a graph model, where it names its inputs: "inputs": ["a", "b"]'


def _shape_list(name: str, input_shapes: Any) -> list[Shape]:
    """The per-sample shapes a merge layer was built for, refusing a single shape (a merge layer
    in a ``Sequential``) and fewer than two inputs."""
    if (
        isinstance(input_shapes, Sequence)
        and len(input_shapes) > 0
        and all(isinstance(d, (int, np.integer)) for d in input_shapes)
    ):
        raise ValueError(
            f"{name} merges several inputs, but was built for the one per-sample shape "
            f"{tuple(input_shapes)}; {_IN_A_GRAPH}"
        )
    shapes = [tuple(int(d) for d in shape) for shape in input_shapes]
    if len(shapes) < 2:
        raise ValueError(
            f"{name} merges two or more inputs, got {len(shapes)} "
            f"({', '.join(map(str, shapes)) or 'none'}); {_IN_A_GRAPH}"
        )
    return shapes


def _listed(shapes: Sequence[Shape]) -> str:
    return ", ".join(str(s) for s in shapes)


class _Merge(Configurable):
    """What the merge layers share: no parameters, and the checks of the inputs' count and
    shapes in ``build`` (refused with a ValueError) and ``forward``."""

    merges_inputs: ClassVar[Literal[True]] = True
    name: ClassVar[str] = "merge"

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def build(
        self, input_shapes: Sequence[Shape], *, rng: np.random.Generator, dtype: np.dtype[Any]
    ) -> Shape:
        shapes = _shape_list(self.name, input_shapes)
        output = self._output_shape(shapes)
        self.input_shapes = shapes
        return output

    def _output_shape(self, shapes: list[Shape]) -> Shape:
        """Equal shapes, for the elementwise merges; ``concatenate`` overrides it."""
        if any(shape != shapes[0] for shape in shapes):
            raise ValueError(
                f"{self.name} takes inputs of one per-sample shape, got {_listed(shapes)}; "
                f"it does not broadcast: reshape the inputs, or give them the same number "
                f"of units"
            )
        return shapes[0]

    def _checked(self, xs: Sequence[Array]) -> list[Array]:
        """``xs`` as a list, refused unless it matches what ``build`` was given (so that a
        mismatch is never broadcast)."""
        xs = list(xs)
        shapes = [tuple(x.shape[1:]) for x in xs]
        if shapes != self.input_shapes or len({x.shape[0] for x in xs}) != 1:
            raise ValueError(
                f"{self.name} was built for {len(self.input_shapes)} inputs of per-sample "
                f"shapes {_listed(self.input_shapes)}, but forward got {len(xs)} arrays of "
                f"shapes {_listed([x.shape for x in xs])}; pass one array per input, "
                f"each (N, *shape) with the same N"
            )
        return xs


class Add(_Merge):
    """The elementwise sum of the inputs, y = x_1 + … + x_k (a residual connection).

    As ``torch.add`` and Keras's ``Add``. Backward: dE/dx_i = dE/dy for every input."""

    name = "add"
    conformance = Conformance(
        cases=(
            {"config": {}, "input_shapes": [(4,), (4,)]},
            {"config": {}, "input_shapes": [(2, 3), (2, 3), (2, 3)]},
        )
    )

    def forward(self, xs: Sequence[Array], *, training: bool = False) -> Array:
        xs = self._checked(xs)
        y = xs[0] + xs[1]  # a new array, so the in-place sums below leave the inputs alone
        for x in xs[2:]:
            y += x
        return y

    def backward(self, grad: Array) -> list[Array]:
        # ∂y/∂x_i = I for each i. The same array for every input: see the module's docstring.
        return [grad] * len(self.input_shapes)


class Multiply(_Merge):
    """The elementwise product of the inputs, y = x_1 ⊙ … ⊙ x_k (a gate).

    As ``torch.mul`` and Keras's ``Multiply``. Backward: dE/dx_i = dE/dy ⊙ Π_{j≠i} x_j."""

    name = "multiply"
    conformance = Conformance(
        cases=(
            {"config": {}, "input_shapes": [(4,), (4,)]},
            {"config": {}, "input_shapes": [(2, 3), (2, 3), (2, 3)]},
        )
    )

    def forward(self, xs: Sequence[Array], *, training: bool = False) -> Array:
        self.xs = self._checked(xs)
        y = self.xs[0] * self.xs[1]
        for x in self.xs[2:]:
            y *= x
        return y

    def backward(self, grad: Array) -> list[Array]:
        # dE/dx_i = g ⊙ (x_1 ⊙ … ⊙ x_{i−1}) ⊙ (x_{i+1} ⊙ … ⊙ x_k): the products before and after
        # i, built in one pass each way, never y / x_i (so x_i = 0 is fine). 2(k − 1) products.
        xs = self.xs
        before = [grad]  # before[i] = g ⊙ x_1 ⊙ … ⊙ x_{i−1}
        for x in xs[:-1]:
            before.append(before[-1] * x)
        dxs = [before[-1]]  # the last input's: nothing after it
        after = xs[-1]  # x_{i+1} ⊙ … ⊙ x_k
        for i in range(len(xs) - 2, -1, -1):
            dxs.append(before[i] * after)
            if i:
                after = after * xs[i]
        return dxs[::-1]


class Concatenate(_Merge):
    """The inputs joined along ``axis`` (0 being the batch axis), as ``torch.cat(dim=axis)``.

    As Keras's ``Concatenate(axis)`` too, ``axis`` counts the batch axis as 0, so -1 (the
    default) is the last axis and 1 the first axis of a sample (the channels of (N, C, H, W)
    images). Joining along the batch axis (0) is refused. The shapes must be equal except on
    ``axis``. Backward: each dE/dx_i is the slice of dE/dy where x_i's values went."""

    name = "concatenate"
    conformance = Conformance(
        cases=(
            {"config": {}, "input_shapes": [(4,), (3,)]},
            {"config": {"axis": -1}, "input_shapes": [(2, 3), (2, 5)]},
            {"config": {"axis": 1}, "input_shapes": [(2, 3), (1, 3), (3, 3)]},
            {"config": {"axis": 2}, "input_shapes": [(2, 3, 2), (2, 1, 2)]},
            {"config": {"axis": -2}, "input_shapes": [(2, 3), (4, 3)]},
        )
    )

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"concatenate axis must be an integer such as -1 or 1, got {axis!r}")
        if axis == 0:
            raise ValueError(
                "concatenate cannot join along axis 0, the batch axis: axis counts the batch "
                "axis as 0, as in Keras and torch.cat, so use 1 for a sample's first axis or -1 "
                "(the default) for its last"
            )
        self.axis = int(axis)

    def _output_shape(self, shapes: list[Shape]) -> Shape:
        rank = len(shapes[0])
        if any(len(shape) != rank for shape in shapes):
            raise ValueError(
                f"concatenate takes inputs of one rank, got per-sample shapes {_listed(shapes)}; "
                f"reshape or flatten them first"
            )
        if not (1 <= self.axis <= rank or -rank <= self.axis <= -1):
            batch = " (the batch axis)" if self.axis == -rank - 1 else ""
            raise ValueError(
                f"concatenate axis={self.axis}{batch} is out of range for per-sample shapes "
                f"{_listed(shapes)}, arrays (N, ...) of rank {rank + 1}: use an axis in 1 … "
                f"{rank} or -{rank} … -1 (axis 0 is the batch axis)"
            )
        self.full_axis = self.axis if self.axis > 0 else rank + 1 + self.axis
        at = self.full_axis - 1  # in the per-sample shape
        if any(s[:at] + s[at + 1 :] != shapes[0][:at] + shapes[0][at + 1 :] for s in shapes):
            raise ValueError(
                f"concatenate(axis={self.axis}) joins per-sample shapes that differ only on "
                f"that axis, got {_listed(shapes)}; reshape the inputs, or pick the axis on "
                f"which they differ"
            )
        sizes = [s[at] for s in shapes]
        self.splits = np.cumsum(sizes[:-1]).tolist()  # where each input's slice of y starts
        return (*shapes[0][:at], sum(sizes), *shapes[0][at + 1 :])

    def forward(self, xs: Sequence[Array], *, training: bool = False) -> Array:
        return np.concatenate(self._checked(xs), axis=self.full_axis)

    def backward(self, grad: Array) -> list[Array]:
        # y = [x_1, …, x_k] along the axis, so ∂y/∂x_i picks x_i's slice: dE/dx_i is that slice
        # of dE/dy (a view; see the module's docstring).
        return np.split(grad, self.splits, axis=self.full_axis)


@hookimpl
def register_layers(register: Register) -> None:
    register(Add, name="add")
    register(Concatenate, name="concatenate")
    register(Multiply, name="multiply")


# -- ONNX lowerings (see plugnet.onnx_export) ------------------------------------------------


def lower_add(layer: Add, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    return str(graph.node("Sum", inputs, hint="sum"))


def lower_multiply(layer: Multiply, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    product = inputs[0]
    for value in inputs[1:]:  # ONNX's Mul takes two inputs
        product = graph.node("Mul", [product, value], hint="product")
    return product


def lower_concatenate(layer: Concatenate, graph: OnnxGraph, inputs: Sequence[str]) -> str:
    return str(graph.node("Concat", inputs, hint="joined", axis=layer.axis))


@hookimpl
def register_onnx_lowerings(register: Register) -> None:
    register(lower_add, "plugnet:add")
    register(lower_multiply, "plugnet:multiply")
    register(lower_concatenate, "plugnet:concatenate")
