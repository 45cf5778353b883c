"""ONNX export: a built model written as an ONNX graph, each component through its lowering.

Each layer and activation lowers itself: a plugin registers, through the
``register_onnx_lowerings`` hook, a function that adds the component's nodes to an
:class:`OnnxGraph` (see :class:`plugnet.protocols.OnnxLowering`). The exporter walks the model's
layers in topological order, so graphs and ``Sequential`` stacks export alike, and writes a
model with named inputs (the model's input names) and output (``output``), a dynamic batch
axis, and the model's float dtype. ``onnx`` is imported only here, from the ``onnx`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.protocols import Shape

if TYPE_CHECKING:
    from plugnet._registry import Registry
    from plugnet.network import Model

#: The ONNX operator set the export targets (the issue's floor; LayerNormalization is in 17).
OPSET = 17
#: The name of the exported model's output value.
OUTPUT = "output"
EXTRA = 'pip install "plugnet[onnx]"'


class MissingLoweringError(ValueError):
    """A model holds a component that no installed plugin lowers to ONNX."""


def onnx_modules() -> tuple[Any, Any, Any]:
    """``(onnx, onnx.helper, onnx.numpy_helper)``, or an ImportError saying which extra to
    install."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise ImportError(f"ONNX export needs the onnx package; install it with: {EXTRA}") from None
    return onnx, helper, numpy_helper


class OnnxGraph:
    """The ONNX graph being written, as lowerings see it: fresh value names, initializers,
    nodes, per-sample shapes, and :meth:`lower` for nested components.

    ``dtype`` is the model's float dtype (float32 or float64); :meth:`constant` stores float
    arrays in it. Every value carries the batch axis first.
    """

    def __init__(self, registry: Registry, dtype: np.dtype[Any], opset: int = OPSET) -> None:
        _, self._helper, self._numpy_helper = onnx_modules()
        self.registry = registry
        self.dtype = np.dtype(dtype)
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._taken: set[str] = set()
        self._shapes: dict[str, Shape] = {}
        #: The layer being lowered; :meth:`fresh` names its values ``scope.hint``.
        self.scope = ""

    @property
    def float_type(self) -> int:
        """The ONNX element type of the model's floats (``TensorProto.FLOAT`` or ``DOUBLE``)."""
        return int(self._helper.np_dtype_to_tensor_dtype(self.dtype))

    def fresh(self, hint: str) -> str:
        """A value name not used yet: ``hint``, or ``hint_2``, ``hint_3``, ..."""
        hint = f"{self.scope}.{hint}" if self.scope else hint
        base = "".join(c if c.isalnum() or c in "_." else "_" for c in hint) or "value"
        name, count = base, 1
        while name in self._taken:
            count += 1
            name = f"{base}_{count}"
        self._taken.add(name)
        return name

    def reserve(self, name: str) -> None:
        """Claim ``name`` as is (a model input's, or the output's)."""
        if name in self._taken:
            raise ValueError(f"the ONNX value name {name!r} is used twice")
        self._taken.add(name)

    def shape(self, name: str) -> Shape:
        """The per-sample shape (without the batch axis) of a value the exporter knows: the
        model's inputs and the outputs of the layers lowered so far."""
        try:
            return self._shapes[name]
        except KeyError:
            raise KeyError(f"the shape of ONNX value {name!r} is not known") from None

    def set_shape(self, name: str, shape: Sequence[int]) -> None:
        self._shapes[name] = tuple(int(d) for d in shape)

    def constant(self, value: Any, hint: str = "const", *, dtype: Any = None) -> str:
        """An initializer holding ``value``; floats in the model's dtype unless ``dtype`` says
        otherwise (integers keep theirs: int64 for shapes and axes)."""
        array = np.asarray(value)
        if dtype is not None:
            array = array.astype(dtype)
        elif array.dtype.kind == "f":
            array = array.astype(self.dtype)
        elif array.dtype.kind in "iub":
            array = array.astype(np.int64) if array.dtype.kind != "b" else array
        name = self.fresh(hint)
        # np.require, not ascontiguousarray, which would make a 0-d scalar 1-d
        tensor = self._numpy_helper.from_array(np.require(array, requirements="C"), name)
        self.initializers.append(tensor)
        return name

    def node(
        self,
        op_type: str,
        inputs: Sequence[str],
        *,
        hint: str | None = None,
        outputs: int = 1,
        **attributes: Any,
    ) -> Any:
        """Add one ONNX node; returns its output's name (a list of names for ``outputs`` > 1).
        An empty string in ``inputs`` is an omitted optional input, as ONNX has it."""
        names = [self.fresh(f"{hint or op_type.lower()}") for _ in range(outputs)]
        self.nodes.append(
            self._helper.make_node(
                op_type, list(inputs), names, name=self.fresh(f"{op_type}_node"), **attributes
            )
        )
        return names[0] if outputs == 1 else names

    def lower(self, component: Any, inputs: Sequence[str], *, what: str | None = None) -> str:
        """Lower ``component`` (a layer or an activation) on the values ``inputs`` with the
        lowering registered for it; raises :class:`MissingLoweringError` naming it when none is.
        ``what`` names the component in that message (``"layer 'dense_1'"``)."""
        record = self.registry.component_of(component)
        scope = f"a component of layer {self.scope!r}" if self.scope else "a component"
        label = what or scope
        if record is None:
            raise MissingLoweringError(
                f"{label} ({type(component).__name__}) is not a registered component, so no "
                f"ONNX lowering can be found for it; register its plugin (plugnet.register_plugin)"
                f" and a lowering with the register_onnx_lowerings hook"
            )
        lowering = self.registry.onnx_lowering(record)
        if lowering is None:
            raise MissingLoweringError(
                f"{label} is {record.kind} {record.qualified_name!r} (from {record.provider!r}, "
                f"version {record.version or 'unknown'}), which has no ONNX lowering; a plugin "
                f"gives it one with the register_onnx_lowerings hook: "
                f"register(lower, {record.qualified_name!r}) (see docs/export.md)"
            )
        output = lowering.function(component, self, list(inputs))
        if not isinstance(output, str):
            raise TypeError(
                f"the ONNX lowering of {record.qualified_name!r} (from {lowering.provider!r}) "
                f"returned {output!r}, not the name of its output value"
            )
        return output


def to_onnx(model: Model, path: str | os.PathLike[str], *, opset: int = OPSET) -> Path:
    """Write the built ``model`` to ``path`` as an ONNX model that ``onnx.checker`` accepts;
    returns the file written. It appears whole or not at all, as a model file does
    (:func:`plugnet.serialization.write_atomically`)."""
    onnx, helper, _ = onnx_modules()
    if not model.built:
        raise RuntimeError("the model is not built yet; fit it, or call build, before exporting")
    if opset < OPSET:
        raise ValueError(f"opset must be {OPSET} or later, got {opset}")
    graph = OnnxGraph(model.registry, model.dtype, opset)
    values: dict[str, str] = {}
    inputs = []
    assert model.input_shapes is not None
    for slot, (name, shape) in enumerate(zip(model.input_names, model.input_shapes, strict=True)):
        graph.reserve(name)
        graph.set_shape(name, shape)
        element = onnx.TensorProto.INT64 if slot in model._index_inputs else graph.float_type
        inputs.append(helper.make_tensor_value_info(name, element, ["N", *shape]))
        values[name] = name
    graph.reserve(OUTPUT)
    for index in model.wiring.order:
        name = model.layer_names[index]
        reads = [values[source] for source in model.layer_inputs[index]]
        graph.scope = name
        output = graph.lower(model.layers[index], reads, what=f"layer {name!r}")
        graph.scope = ""
        graph.set_shape(output, model.output_shapes[index])
        values[name] = output
    last = values[model.layer_names[model.wiring.output]]
    graph.nodes.append(helper.make_node("Identity", [last], [OUTPUT], name="output_identity"))
    output_info = helper.make_tensor_value_info(
        OUTPUT, graph.float_type, ["N", *model.output_shape]
    )
    from plugnet._version import __version__

    proto = helper.make_model(
        helper.make_graph(graph.nodes, "plugnet", inputs, [output_info], graph.initializers),
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="plugnet",
        producer_version=__version__,
    )
    onnx.checker.check_model(proto, full_check=True)
    from plugnet.serialization import write_atomically

    data = proto.SerializeToString()
    return write_atomically(Path(path), lambda handle: handle.write(data))
