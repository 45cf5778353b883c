"""Models: a graph of layers (:class:`Model`), or a stack of them (:class:`Sequential`, the
chain case of the same engine), trained with an error function and an optimizer, built by
name."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from plugnet.arrays import (
    Inputs,
    are_classes,
    as_indices,
    as_inputs,
    as_targets,
    rows,
    sample_count,
)
from plugnet.domains import domain_of, output_problem
from plugnet.graph import Wiring, checked_names, wire
from plugnet.model_config import (
    REFUSALS,
    clip,
    component_record,
    components_from,
    misfit,
    provider_versions,
)
from plugnet.protocols import (
    METRIC_TARGETS,
    Array,
    HasBuffers,
    Layer,
    MergesInputs,
    Metric,
    OutputLayer,
    PerSampleError,
    Shape,
    SkipsInputGrad,
    Stateful,
    TakesIndices,
)

if TYPE_CHECKING:
    from plugnet._registry import Registry
    from plugnet.history import History
    from plugnet.protocols import Callback

DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
PREDICT_BATCH = 4096
# How many samples the output-layer check before training looks at.
OUTPUT_CHECK_SAMPLES = 256
# A model's repr names this many layers; summary() lists them all.
REPR_LAYERS = 8


def as_dtype(dtype: Any) -> np.dtype[Any]:
    """float32 or float64, from a name or a NumPy dtype; anything else is an error."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return resolved


class ParameterView(Mapping[str, Array]):
    """A read-through view of every layer's ``params`` (or ``grads``) under flat names such as
    ``"dense_1.w"``, so the optimizer always sees the arrays the layers hold now."""

    def __init__(self, entries: Sequence[tuple[str, dict[str, Array], str]]) -> None:
        self._entries = list(entries)
        self._index = {name: (source, key) for name, source, key in self._entries}

    def __getitem__(self, name: str) -> Array:
        source, key = self._index[name]
        return source[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._entries)


def _checked_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a layer's name must be a non-empty string, got {name!r}")
    return name


def _layer_name(spec: Any, instance: Any, counts: dict[str, int], registry: Registry) -> str:
    if isinstance(spec, Mapping) and "type" in spec and "name" in spec:
        return _checked_name(spec["name"])
    component = registry.component_of(instance)
    base = component.name if component is not None else type(instance).__name__.lower()
    counts[base] = counts.get(base, 0) + 1
    return f"{base}_{counts[base]}"


def is_trainable(layer: Layer) -> Any:
    """The layer's ``trainable`` flag, where it declares one
    (:class:`~plugnet.protocols.Freezable`), else True. Not coerced to bool: the wiring refuses
    a flag that is not True or False."""
    # This is isinstance(layer, Freezable) ("has a trainable attribute"), written as getattr
    # with the protocol's one member: isinstance on a runtime protocol costs about 40 µs on
    # Python 3.11, and this runs for every layer at every step (8% of an MLP epoch).
    return getattr(layer, "trainable", True)


def set_trainable(layer: Layer, name: str, trainable: Any) -> None:
    """Set ``layer.trainable`` (a plain attribute, which layers need not define) from a spec or
    a saved record, refusing anything but a bool and a layer that cannot take the attribute."""
    if not isinstance(trainable, bool):
        raise ValueError(f"layer {name!r} has 'trainable': {trainable!r}; it must be true or false")
    try:
        layer.trainable = trainable  # type: ignore[attr-defined]
    except AttributeError:
        raise ValueError(
            f"layer {name!r} ({type(layer).__name__}) does not allow setting .trainable, so it "
            f"cannot be frozen"
        ) from None


def _named_metrics(metrics: Any, registry: Registry) -> dict[str, Metric]:
    """Each metric spec resolved, under its registered name (the key of its scores); an
    unregistered instance goes by its class name in snake case, as it would be registered."""
    from plugnet._registry import _snake_case

    if isinstance(metrics, (str, Mapping)) or not isinstance(metrics, (list, tuple)):
        raise ValueError(
            f"metrics must be a list of metric specs or instances, got {metrics!r}; write "
            f"metrics=[{metrics!r}] for one"
        )
    named: dict[str, Metric] = {}
    for spec in metrics:
        metric: Metric = registry.resolve("metric", spec)
        component = registry.component_of(metric)
        name = component.name if component is not None else _snake_case(type(metric).__name__)
        if name in named:
            raise ValueError(
                f"metrics holds two metrics named {name!r}; each logs its score under its name, "
                f"so give each metric once"
            )
        if name == "loss":
            raise ValueError("metrics holds a metric named 'loss', the key of the loss in logs")
        if metric.targets not in METRIC_TARGETS:
            raise ValueError(
                f"the metric {name!r} declares targets={metric.targets!r}; "
                f"a metric declares one of {', '.join(map(repr, METRIC_TARGETS))}"
            )
        named[name] = metric
    return named


class Model:
    """A graph of layers trained with an error function and an optimizer.

    ``layers`` are specs (``{"type": "dense", "units": 128, "activation": "relu"}``, strings or
    instances). A dict spec with ``"type"`` may carry ``"name"`` to name the layer (default
    ``dense_1``, ``dense_2``, ... as in Keras; or ``layer_names`` names them all) and
    ``"inputs"``, the names of the values it reads: the model's ``inputs`` and other layers
    (``layer_inputs`` gives them all). A layer that names none reads the layer listed before it,
    the first layer the model's first input. Merge layers
    (:class:`~plugnet.protocols.MergesInputs`: ``add``, ``concatenate``, ``multiply``) read
    several values; every other layer reads one. Exactly one layer, the output, is read by no
    other; cycles, unknown names and unread inputs are refused here, naming the layers, and
    shapes that do not fit when the model is built. Names are resolved here, once, by
    ``registry`` (default: the process-wide registry, which is built only then); the input
    shapes are inferred on the first ``fit``/``predict``. A model with several inputs takes
    ``x`` as a dict ``{input name: array}``. The optimizer defaults to ``"adam"`` with
    PyTorch's settings (lr=1e-3).

    A dict spec may carry ``"trainable": False`` to freeze the layer, as may code later with
    ``net["dense_1"].trainable = False``: the flag is the layer's ``trainable`` attribute, which
    layers need not define (without it a layer is trainable). Frozen parameters are never
    given to the optimizer, so they neither change nor get optimizer state; dE/dx still flows
    through the layer.

    ``metrics`` are metric specs or instances (``["accuracy", "f1(average='macro')"]``), logged
    under their names (``f1``, and ``val_f1`` for validation data); None, the default, is
    accuracy for class targets and nothing for regression.
    """

    # Sequential sets this: its layers each read the one before, and a spec may not say else.
    _chain_only = False

    def __init__(
        self,
        layers: Sequence[Any],
        *,
        error: Any,
        optimizer: Any = "adam",
        metrics: Sequence[Any] | None = None,
        seed: int | None = None,
        dtype: Any = "float32",
        registry: Registry | None = None,
        layer_names: Sequence[str] | None = None,
        inputs: Sequence[str] = ("input",),
        layer_inputs: Sequence[Sequence[str] | None] | None = None,
    ) -> None:
        if isinstance(layers, (str, Mapping)) or not layers:
            raise ValueError("layers must be a non-empty list of layer specs or instances")
        for given, what in ((layer_names, "name"), (layer_inputs, "list of input names")):
            if given is not None and (isinstance(given, str) or len(given) != len(layers)):
                argument = "layer_names" if what == "name" else "layer_inputs"
                raise ValueError(
                    f"{argument} must be one {what} per layer ({len(layers)}), got {given!r}"
                )
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
        if registry is None:
            from plugnet.discovery import get_registry

            registry = get_registry()
        self.registry = registry
        self.dtype = as_dtype(dtype)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.layers: list[Layer] = []
        self.layer_names: list[str] = []
        reads: list[Sequence[str] | None] = []
        counts: dict[str, int] = {}
        for index, spec in enumerate(layers):
            named = isinstance(spec, Mapping) and "type" in spec
            layer_spec = spec
            if isinstance(spec, Mapping):  # "name", "inputs" (with "type") and "trainable"
                own = ("name", "inputs", "trainable") if named else ("trainable",)  # are ours
                layer_spec = {k: v for k, v in spec.items() if k not in own}
            layer = registry.resolve("layer", layer_spec)
            if layer_names is None:
                name = _layer_name(spec, layer, counts, registry)
            else:
                name = _checked_name(layer_names[index])
                if named and spec.get("name", name) != name:
                    raise ValueError(
                        f"layer {index} is named {spec['name']!r} in its spec but {name!r} "
                        f"in layer_names; give its name once"
                    )
            if name in self.layer_names:
                raise ValueError(f"two layers are named {name!r}; layer names must be unique")
            reads.append(self._reads_of(spec if named else {}, index, name, layer_inputs))
            if isinstance(spec, Mapping) and "trainable" in spec:
                set_trainable(layer, name, spec["trainable"])
            self.layers.append(layer)
            self.layer_names.append(name)
        self.wiring: Wiring = wire(inputs, self.layer_names, reads)
        self.input_names = list(self.wiring.input_names)
        self.layer_inputs = [list(read) for read in self.wiring.reads]
        self._check_arity()
        self._plan_forward()
        self.error = registry.resolve("error_function", error)
        self.optimizer = registry.resolve("optimizer", optimizer)
        self.metrics = None if metrics is None else _named_metrics(metrics, registry)
        self.input_shapes: tuple[Shape, ...] | None = None
        self.output_shapes: list[Shape] = []
        self.stop_training = False
        self.history: History | None = None  # the last fit's, also when it was interrupted

    def _reads_of(
        self,
        spec: Mapping[str, Any],
        index: int,
        name: str,
        layer_inputs: Sequence[Sequence[str] | None] | None,
    ) -> Sequence[str] | None:
        """The values layer ``index`` names in its spec's ``"inputs"`` or in ``layer_inputs``
        (not both, unless they agree); None for the default, the layer before it."""
        given = None if layer_inputs is None else layer_inputs[index]
        if "inputs" in spec:
            if self._chain_only:
                raise ValueError(
                    f"layer {name!r} names its inputs {spec['inputs']!r}, but each layer of a "
                    f"Sequential reads the one before it; build a graph with plugnet.Model"
                )
            if given is not None and list(given) != list(spec["inputs"]):
                raise ValueError(
                    f"layer {name!r} reads {spec['inputs']!r} in its spec but {given!r} in "
                    f"layer_inputs; give its inputs once"
                )
            given = spec["inputs"]
        elif given is not None and self._chain_only:
            raise ValueError(
                "a Sequential's layers each read the one before; build a graph with plugnet.Model"
            )
        return None if given is None else checked_names(given, f"layer {name!r}'s inputs")

    def _check_arity(self) -> None:
        """A merge layer reads two values or more and any other layer one; a layer that takes
        indices (:class:`~plugnet.protocols.TakesIndices`) reads model inputs, which feed
        nothing else (they stay integers, which other layers would not expect)."""
        wiring = self.wiring
        self._merges = [isinstance(layer, MergesInputs) for layer in self.layers]
        self._index_inputs: dict[int, tuple[int, str]] = {}  # slot -> (index count, reader)
        for index, (name, layer) in enumerate(zip(self.layer_names, self.layers, strict=True)):
            reads = wiring.reads[index]
            if self._merges[index] and len(reads) < 2:
                raise ValueError(
                    f"layer {name!r} ({type(layer).__name__}) merges values but reads only "
                    f"{reads[0]!r}; name two or more in its inputs"
                )
            if not self._merges[index] and len(reads) != 1:
                raise ValueError(
                    f"layer {name!r} ({type(layer).__name__}) reads one value, but its inputs "
                    f"name {len(reads)}: {', '.join(map(repr, reads))}; merge them first with "
                    f"an add, concatenate or multiply layer"
                )
            if isinstance(layer, TakesIndices):
                source = wiring.sources[index][0]
                if source >= len(wiring.input_names):
                    raise ValueError(
                        f"layer {name!r} ({type(layer).__name__}) takes integer indices, so it "
                        f"must read an input of the model, not the layer {reads[0]!r}"
                    )
                # the smallest range of the layers reading it, and the layer whose range it is
                fewest = (layer.index_count, name)
                self._index_inputs[source] = min(self._index_inputs.get(source, fewest), fewest)
        for source in self._index_inputs:
            others = [
                self.layer_names[i]
                for i in wiring.readers(source)
                if not isinstance(self.layers[i], TakesIndices)
            ]
            if others:
                raise ValueError(
                    f"the input {wiring.input_names[source]!r} holds integer indices for "
                    f"{self._index_inputs[source][1]!r}, but {', '.join(map(repr, others))} "
                    f"read it too; give those their own input"
                )

    def _plan_forward(self) -> None:
        """The forward steps in topological order: each layer, the slot it writes, the slot it
        reads (a merge layer: the tuple of slots it reads, else None), and the slots nothing
        reads after it (freed at once)."""
        wiring = self.wiring
        first = len(wiring.input_names)
        last_read: dict[int, int] = {}
        for step, index in enumerate(wiring.order):
            for slot in wiring.sources[index]:
                last_read[slot] = step
        self._forward_steps: list[tuple[Any, int, int, tuple[int, ...] | None, tuple[int, ...]]]
        self._forward_steps = [
            (
                self.layers[index],
                first + index,
                wiring.sources[index][0],
                wiring.sources[index] if self._merges[index] else None,
                tuple(s for s in set(wiring.sources[index]) if s >= first and last_read[s] == step),
            )
            for step, index in enumerate(wiring.order)
        ]
        self._slot_count = first + len(self.layers)
        self._output_slot = first + wiring.output

    # -- structure ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __getitem__(self, key: int | str) -> Layer:
        """A layer by index or by name."""
        if isinstance(key, str):
            try:
                return self.layers[self.layer_names.index(key)]
            except ValueError:
                raise KeyError(
                    f"no layer named {key!r}; the layers are {', '.join(self.layer_names)}"
                ) from None
        return self.layers[key]

    @property
    def built(self) -> bool:
        return self.input_shapes is not None

    @property
    def input_shape(self) -> Shape | dict[str, Shape] | None:
        """The per-sample input shape (None until built); for several inputs, by name."""
        if self.input_shapes is None:
            return None
        if len(self.input_names) == 1:
            return self.input_shapes[0]
        return dict(zip(self.input_names, self.input_shapes, strict=True))

    @property
    def output_shape(self) -> Shape:
        self._require_built()
        return self.output_shapes[self.wiring.output]

    def build(self, input_shape: Sequence[int] | Mapping[str, Sequence[int]]) -> None:
        """Create every layer's parameters for per-sample ``input_shape`` (for a model with
        several inputs, a dict of shapes by input name), in topological order. Raises
        ValueError naming the layer whose inputs' shapes it cannot take."""
        given = self._shapes_by_input(input_shape)
        wiring = self.wiring
        shapes: list[Shape | None] = [*given, *([None] * len(self.layers))]
        first = len(given)
        for index in wiring.order:
            layer, name = self.layers[index], self.layer_names[index]
            read = [shapes[s] for s in wiring.sources[index]]
            try:
                shape = layer.build(
                    read if self._merges[index] else read[0],  # type: ignore[arg-type]
                    rng=self.rng,
                    dtype=self.dtype,
                )
            except ValueError as exc:
                if wiring.is_chain:
                    raise
                shown = ", ".join(
                    f"{source!r} (N, {', '.join(map(str, s or ()))})"
                    for source, s in zip(wiring.reads[index], read, strict=True)
                )
                raise ValueError(f"layer {name!r} cannot read {shown}: {exc}") from exc
            shapes[first + index] = tuple(int(d) for d in shape)
        self.input_shapes = given
        self.output_shapes = [s for s in shapes[first:] if s is not None]
        self._wire()

    def _shapes_by_input(self, input_shape: Any) -> tuple[Shape, ...]:
        names = self.input_names
        if isinstance(input_shape, Mapping):
            if set(input_shape) != set(names):
                raise ValueError(
                    f"the input shapes are given for {sorted(map(str, input_shape))}, but the "
                    f"model's inputs are {names}"
                )
            return tuple(tuple(int(d) for d in input_shape[n]) for n in names)
        if len(names) != 1:
            raise ValueError(
                f"the model has inputs {names}; give their shapes as a dict by name, got "
                f"{input_shape!r}"
            )
        return (tuple(int(d) for d in input_shape),)

    def _trainable_flags(self) -> list[bool]:
        """Each layer's ``trainable`` (:class:`~plugnet.protocols.Freezable`; True where a layer
        has none)."""
        return [is_trainable(layer) for layer in self.layers]

    def _wire(self) -> None:
        """Precompute what the hot loop needs: flat parameter views (all, and the trainable
        ones the optimizer gets) and the backward steps. Rewired when a ``trainable`` changes.

        A layer's backward runs only if it or a layer upstream of it has trainable parameters,
        and it is asked for dE/dx only where something upstream does: the rest of the graph
        (the input side of the first layers with parameters) is skipped.
        """
        flags = self._trainable_flags()
        for name, flag in zip(self.layer_names, flags, strict=True):
            if not isinstance(flag, bool):
                raise ValueError(f"layer {name!r} has trainable={flag!r}; set it to True or False")
        params, grads = [], []
        trainable_params, trainable_grads = [], []
        for name, layer, flag in zip(self.layer_names, self.layers, flags, strict=True):
            for key in layer.params:
                params.append((f"{name}.{key}", layer.params, key))
                grads.append((f"{name}.{key}", layer.grads, key))
                if flag:
                    trainable_params.append(params[-1])
                    trainable_grads.append(grads[-1])
        self.params = ParameterView(params)
        self.grads = ParameterView(grads)
        self._flags = flags
        self._per_sample = isinstance(self.error, PerSampleError)
        # What optimizer.update gets: every parameter, as before, unless a layer is frozen.
        self._optimized = (
            (self.params, self.grads)
            if all(flags)
            else (ParameterView(trainable_params), ParameterView(trainable_grads))
        )
        wiring, first = self.wiring, len(self.input_names)
        pairs = zip(self.layers, flags, strict=True)
        trains = [bool(layer.params) and flag for layer, flag in pairs]
        upstream = [False] * len(self.layers)  # a layer it reads from, near or far, trains
        for index in wiring.order:
            reads = [s - first for s in wiring.sources[index] if s >= first]
            upstream[index] = any(trains[i] or upstream[i] for i in reads)
        self._trains = any(trains)

        def targets(index: int) -> tuple[int, tuple[int, ...] | None]:
            """The slot the gradient of layer ``index``'s backward flows to, and for a merge
            layer the tuple of them; -1 for a value that needs none (a model input, or a branch
            with nothing trainable upstream)."""
            sources = wiring.sources[index]
            if not self._merges[index]:
                return (sources[0] if upstream[index] else -1), None
            return -1, tuple(
                s if s >= first and (trains[s - first] or upstream[s - first]) else -1
                for s in sources
            )

        out = wiring.output
        last = self.layers[out]
        self._fused = None
        self._output_linear: Callable[..., Any] | None = None
        if isinstance(last, OutputLayer):
            self._fused = self.registry.fused_backward(last.activation, self.error)
            if self._fused is not None:
                self._output_linear = self._skip_input_grad(
                    last, last.backward_linear, is_first=not upstream[out]
                )
        self._output_backward = self._skip_input_grad(
            last, last.backward, is_first=not upstream[out]
        )
        self._output_targets = targets(out)
        # The backward of every other layer that needs one, from the output down.
        self._backward_methods: dict[int, Callable[..., Any]] = {}
        self._backward_steps: list[tuple[Callable[..., Any], int, int, tuple[int, ...] | None]]
        self._backward_steps = []
        for index in reversed(wiring.order):
            if index == out or not (trains[index] or upstream[index]):
                continue
            layer = self.layers[index]
            method = self._skip_input_grad(layer, layer.backward, is_first=not upstream[index])
            self._backward_methods[index] = method
            self._backward_steps.append((method, first + index, *targets(index)))

    @staticmethod
    def _skip_input_grad(
        layer: Layer, method: Callable[..., Any], *, is_first: bool
    ) -> Callable[..., Any]:
        """A layer's dE/dx is not needed when nothing upstream of it trains, so skip it where
        the layer declares it can (:class:`~plugnet.protocols.SkipsInputGrad`)."""
        if is_first and isinstance(layer, SkipsInputGrad):
            return functools.partial(method, need_input_grad=False)
        return method

    def _require_built(self) -> None:
        if self.input_shapes is None:
            raise RuntimeError("the network is not built yet; call fit, predict or build first")

    def _summary_table(self) -> tuple[list[tuple[str, ...]], list[str]]:
        """The summary's rows (a header, then one per layer: name, type, output shape, params
        and, for a graph, the values it reads) and its closing lines (the counts)."""
        graph = not self._chain_only
        rows = [("layer", "type", "output shape", "params", *(("inputs",) if graph else ()))]
        total = frozen = 0
        for index, (name, layer) in enumerate(zip(self.layer_names, self.layers, strict=True)):
            shape = _shape_text(self.output_shapes[index]) if self.built else "?"
            count = sum(int(p.size) for p in layer.params.values())
            total += count
            trainable = is_trainable(layer)
            frozen += 0 if trainable else count
            mark = "" if trainable else " (frozen)"
            reads = (", ".join(self.layer_inputs[index]),) if graph else ()
            rows.append((name, type(layer).__name__, shape, f"{count:,}{mark}", *reads))
        totals = [
            f"total parameters: {total:,}" + ("" if self.built else " (not built yet)"),
            f"trainable parameters: {total - frozen:,}",
            f"non-trainable parameters: {frozen:,}",
        ]
        return rows, totals

    @overload
    def summary(self, print_fn: None) -> str: ...
    @overload
    def summary(self, print_fn: Callable[[str], None] = ...) -> None: ...
    def summary(self, print_fn: Callable[[str], None] | None = print) -> str | None:
        """A table of layers, output shapes and parameter counts (and, for a graph, the values
        each layer reads), then the total, trainable and non-trainable (frozen) counts, as Keras
        prints them: given to ``print_fn`` (default ``print``), returning None as Keras does, so
        that a notebook cell ending in ``net.summary()`` shows it once; ``print_fn=None``
        returns the text instead."""
        rows, totals = self._summary_table()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        text = "\n".join([*lines, *totals])
        if print_fn is None:
            return text
        print_fn(text)
        return None

    def __repr__(self) -> str:
        names = self.layer_names[:REPR_LAYERS]
        if len(self.layer_names) > REPR_LAYERS:
            names.append(f"... ({len(self.layer_names) - REPR_LAYERS} more)")
        parts = [f"{len(self.layers)} layers: {', '.join(names)}"]
        if self.input_names != ["input"]:
            parts.insert(0, f"inputs: {', '.join(self.input_names)}")
        if self.built:
            count = sum(int(p.size) for layer in self.layers for p in layer.params.values())
            inputs = ", ".join(_shape_text(shape) for shape in self.input_shapes or ())
            parts.append(f"{inputs} -> {_shape_text(self.output_shape)}")
            parts.append(f"{count:,} parameters")
        else:
            parts.append("not built yet")
        return f"{type(self).__name__}({'; '.join(parts)})"

    def _repr_html_(self) -> str:
        """The summary as an HTML table, which Jupyter shows for a model at the end of a cell;
        hovering over a layer's type shows its configuration."""
        from html import escape  # here: html.entities costs ms at start-up

        rows, totals = self._summary_table()
        head = "".join(f"<th>{escape(cell)}</th>" for cell in rows[0])
        body = []
        for layer, row in zip(self.layers, rows[1:], strict=True):
            cells = [f"<td>{escape(cell)}</td>" for cell in row]
            cells[1] = f'<td title="{escape(repr(layer))}">{escape(row[1])}</td>'
            body.append(f"<tr>{''.join(cells)}</tr>")
        foot = "".join(
            f'<tr><td colspan="{len(rows[0])}">{escape(line)}</td></tr>' for line in totals
        )
        return (
            f'<table class="plugnet-summary"><caption>{escape(repr(self))}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            f"<tfoot>{foot}</tfoot></table>"
        )

    def to_mermaid(self) -> str:
        """The graph as a Mermaid flowchart: one node per input and layer (its name and type),
        an arrow for every value a layer reads."""
        lines = ["flowchart TD"]
        ids = {name: f"v{i}" for i, name in enumerate([*self.input_names, *self.layer_names])}
        for name in self.input_names:
            lines.append(f'    {ids[name]}[/"{_mermaid_text(name)}"/]')
        for name, layer in zip(self.layer_names, self.layers, strict=True):
            label = f"{_mermaid_text(name)}<br/><small>{type(layer).__name__}</small>"
            lines.append(f'    {ids[name]}["{label}"]')
        for name, reads in zip(self.layer_names, self.layer_inputs, strict=True):
            for source in reads:
                lines.append(f"    {ids[source]} --> {ids[name]}")
        return "\n".join(lines)

    # -- computation ----------------------------------------------------------------------------

    def forward(self, x: Inputs, *, training: bool) -> Array:
        """The output for ``x`` (one array per sample batch; a tuple of them in the order of
        ``input_names`` for several inputs), each layer run after what it reads."""
        values: list[Any] = [None] * self._slot_count
        if isinstance(x, tuple):
            values[: len(x)] = x
        else:
            values[0] = x
        for layer, slot, source, merged, done in self._forward_steps:
            if merged is None:
                values[slot] = layer.forward(values[source], training=training)
            else:
                values[slot] = layer.forward([values[s] for s in merged], training=training)
            for s in done:  # nothing reads it any more
                values[s] = None
        output: Array = values[self._output_slot]
        return output

    def backward(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        """Fill every layer's ``grads`` for the last forward's output ``y`` and targets ``t``
        (weighted by ``sample_weight``, float64 of shape (N,), when given: see
        :mod:`plugnet.weights`).

        From the output down, in reverse topological order: the output step, then each layer's
        backward, given the sum of the gradients that flowed back along every branch reading
        its output (:func:`add_branch_gradient`). Layers with nothing trainable at or above
        them are skipped; frozen ones above a trainable layer compute grads that nothing uses.
        """
        if self._flags != self._trainable_flags():
            self._wire()  # a layer's trainable changed since the last step
        if not self._trains:
            return  # no trainable parameters anywhere
        pending: list[Any] = [None] * self._slot_count  # dE/d(value) by slot, summed so far
        send_back(pending, *self._output_targets, self._output_step(y, t, sample_weight))
        for backward, slot, target, targets in self._backward_steps:
            grad, pending[slot] = backward(pending[slot]), None  # all its readers have sent
            send_back(pending, target, targets, grad)

    def _output_step(self, y: Array, t: Array, sample_weight: Array | None) -> Any:
        """The output layer's backward. With a fused backward for (its activation, the error),
        δ = dE/du comes in one step and goes to ``backward_linear``, skipping the activation's
        Jacobian; otherwise the chain: dE/dy from the error, then the layer's backward. Weights
        scale the rows of δ or dE/dy, which is exact because each row is one sample's."""
        if self._output_linear is not None:
            assert self._fused is not None
            delta = self._fused.backward(y, t)
            if sample_weight is not None:
                delta = delta * self._row_scale(sample_weight, delta)
            return self._output_linear(delta)
        grad = self.error.backward(y, t)
        if sample_weight is not None:
            grad = grad * self._row_scale(sample_weight, grad)
        return self._output_backward(grad)

    def _row_scale(self, sample_weight: Array, like: Array) -> Array:
        from plugnet.weights import require_per_sample, row_scale

        if not self._per_sample:  # only a PerSampleError promises that row i is sample i's alone
            require_per_sample(self.error)
        return row_scale(sample_weight, like)

    def train_step(self, x: Inputs, t: Array, sample_weight: Array | None = None) -> Array:
        """One minibatch: forward, backward, optimizer update of the trainable parameters.
        Returns the output. ``sample_weight`` (float64, shape (N,), sum > 0) weights the
        error as ``fit`` does."""
        y = self.forward(x, training=True)
        self.backward(y, t, sample_weight)
        self.optimizer.update(*self._optimized)
        return y

    def prepare_data(self, x: Any, t: Any, *, build: bool = True) -> tuple[Inputs, Array]:
        """``x`` and ``t`` as training and evaluation use them: checked, in the network's dtype
        (integer indices stay integers), class labels one-hot encoded.

        With ``build``, the network is built on first use, and its output layer is checked
        against the error function (on the first samples) before anything trains on it. A call
        that raises changes nothing: a first build is undone, down to the Generator's state.
        """
        inputs = self.as_model_inputs(x)
        newly_built = build and not self.built
        rng_state = self.rng.bit_generator.state
        if newly_built:
            self.build(self._shapes_of(inputs))
        self._require_built()
        try:
            targets = as_targets(t, self.output_shape, self.dtype, samples=sample_count(inputs))
            if build:
                check = slice(0, OUTPUT_CHECK_SAMPLES)
                self._check_output(rows(inputs, check), targets[check])
        except ValueError:
            if newly_built:
                self.input_shapes, self.output_shapes = None, []
                self.rng.bit_generator.state = rng_state
            raise
        return inputs, targets

    def _shapes_of(self, inputs: Inputs) -> dict[str, Shape]:
        arrays = inputs if isinstance(inputs, tuple) else (inputs,)
        return {name: a.shape[1:] for name, a in zip(self.input_names, arrays, strict=True)}

    def as_model_inputs(self, x: Any) -> Inputs:
        """``x`` checked for this model: one array (or, for several inputs, a dict of arrays by
        input name or a tuple of them in input order, returned as a tuple), each converted to
        the network's dtype, or kept integer where a layer takes indices, with the same number
        of samples and the per-sample shapes the network was built for."""
        names = self.input_names
        if isinstance(x, Mapping):
            if set(x) != set(names):
                raise ValueError(
                    f"x is a dict with keys {sorted(map(str, x))}, but the model's inputs are "
                    f"{names}; give one array for each"
                )
            given = [x[name] for name in names]
        elif len(names) == 1:
            given = [x]
        elif isinstance(x, tuple) and len(x) == len(names):
            given = list(x)  # in input order, as this method returns them
        else:
            raise ValueError(
                f"the model has inputs {names}; give x as a dict {{input name: array}}"
            )
        arrays = []
        for slot, (name, value) in enumerate(zip(names, given, strict=True)):
            label = "x" if len(names) == 1 else f"x[{name!r}]"
            if slot in self._index_inputs:
                count, reader = self._index_inputs[slot]
                who = f"the first layer, {reader!r}," if self.wiring.is_chain else f"{reader!r}"
                array = as_indices(value, count, who=who, name=label)
            else:
                array = as_inputs(value, self.dtype, name=label)
            if self.input_shapes is not None and array.shape[1:] != self.input_shapes[slot]:
                raise ValueError(
                    f"{label} has per-sample shape {array.shape[1:]}, but the network was "
                    f"built for {self.input_shapes[slot]}"
                )
            arrays.append(array)
        counts = {a.shape[0] for a in arrays}
        if len(counts) > 1:
            raise ValueError(
                "the inputs have different numbers of samples: "
                + ", ".join(f"{n!r} {a.shape[0]}" for n, a in zip(names, arrays, strict=True))
            )
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    def _check_output(self, x: Inputs, t: Array) -> None:
        """Refuse an output layer that cannot feed the error function (logits into
        cross-entropy), which would otherwise train on a meaningless loss."""
        domain = domain_of(self.error)
        if domain == "real":
            return
        problem = output_problem(domain, self.forward(x, training=False), t)
        if problem is not None:
            raise ValueError(
                f"the output layer {self.layer_names[self.wiring.output]!r} cannot feed the "
                f"error function {type(self.error).__name__}: {problem}."
            )

    def predict(self, x: Any, *, batch_size: int = PREDICT_BATCH) -> Array:
        """The network's output for ``x``, computed in batches, with ``training=False``."""
        inputs = self.as_model_inputs(x)
        if not self.built:
            self.build(self._shapes_of(inputs))
        n = sample_count(inputs)
        outputs = [
            self.forward(rows(inputs, slice(i, i + batch_size)), training=False)
            for i in range(0, n, batch_size)
        ]
        return outputs[0].copy() if len(outputs) == 1 else np.concatenate(outputs)

    def metrics_for(self, t: Array) -> dict[str, Metric]:
        """The metrics to score targets ``t`` (as :meth:`prepare_data` returns them) with, by
        name, each reset: those given to the constructor, or by default accuracy when ``t`` holds
        classes. A metric that needs classes refuses other targets."""
        classes = are_classes(t)
        if self.metrics is None:
            metrics = {"accuracy": self.registry.resolve("metric", "accuracy")} if classes else {}
        else:
            metrics = self.metrics
        for name, metric in metrics.items():
            if metric.targets == "classes" and not classes:
                raise ValueError(
                    f"the metric {name!r} needs class targets ({METRIC_TARGETS['classes']}), but "
                    f"these targets are not classes; for regression use metrics such as 'mse', "
                    f"'mae', 'rmse' or 'r2', or remove {name!r} from metrics="
                )
            metric.reset()
        return metrics

    def evaluate(
        self,
        x: Any,
        t: Any,
        *,
        batch_size: int = PREDICT_BATCH,
        sample_weight: Any = None,
    ) -> dict[str, float]:
        """``{"loss": ...}`` plus each metric's score (see :meth:`metrics_for`), each computed
        over the whole set: the metrics accumulate over the batches. With ``sample_weight``
        (one finite weight >= 0 per sample, not all 0) the loss is Σ w_i e_i / Σ w_i and the
        metrics are weighted too."""
        from plugnet.weights import checked_sample_weight, require_per_sample, weighted_sum

        x, t = self.prepare_data(x, t)
        n = sample_count(x)
        weights = None
        if sample_weight is not None:
            weights = checked_sample_weight(sample_weight, n)
            require_per_sample(self.error)
        metrics = self.metrics_for(t)
        loss, mass = 0.0, 0.0
        for i in range(0, n, batch_size):
            y = self.forward(rows(x, slice(i, i + batch_size)), training=False)
            tb = t[i : i + batch_size]
            wb = None if weights is None else weights[i : i + batch_size]
            if wb is None:
                loss += self.error.forward(y, tb) * len(tb)
            else:
                total, batch_mass = weighted_sum(self.error, y, tb, wb)
                loss, mass = loss + total, mass + batch_mass
            for metric in metrics.values():
                if wb is None:  # as before, for metrics without sample_weight
                    metric.update(y, tb)
                else:
                    metric.update(y, tb, wb)
        loss = loss / n if weights is None else loss / mass
        return {"loss": loss, **{name: m.result() for name, m in metrics.items()}}

    def fit(
        self,
        x: Any,
        t: Any,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        validation_data: tuple[Any, ...] | None = None,
        validation_split: float = 0.0,
        callbacks: Sequence[Callback | str | Mapping[str, Any]] = (),
        verbose: int = 1,
        class_weight: Mapping[int, float] | str | None = None,
        sample_weight: Any = None,
    ) -> History:
        """Train with minibatches; returns the per-epoch :class:`~plugnet.history.History`.
        ``callbacks`` holds instances or specs by name (``"early_stopping(patience=5)"``).

        ``class_weight`` (``{class index: weight}``, or ``"balanced"`` as scikit-learn defines
        it) and ``sample_weight`` (one finite weight >= 0 per sample) weight the error, their
        product where both are given: each batch trains on Σ w_i e_i / Σ w_i, as PyTorch's
        ``CrossEntropyLoss(weight=...)`` does, and the metrics get the same weights.
        ``validation_data`` may be ``(x, t, w)`` to weight validation; with
        ``validation_split`` the held-out samples keep their ``sample_weight``.
        """
        from plugnet.training import fit

        return fit(
            self,
            x,
            t,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            validation_data=validation_data,
            validation_split=validation_split,
            callbacks=callbacks,
            verbose=verbose,
            class_weight=class_weight,
            sample_weight=sample_weight,
        )

    # -- configuration and state ----------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The architecture as JSON-able data, which :meth:`from_config` rebuilds.

        ``dtype``, ``seed``, ``input_shape`` (None until built), ``layer_names``, a record
        ``{kind, name, provider, version, config}`` for each of ``layers`` (with
        ``"trainable": False`` for a frozen one), ``error_function`` and ``optimizer``, and
        ``providers`` (distribution -> version). A graph (not a :class:`Sequential`) adds its
        ``inputs`` (their names), each record's ``"inputs"`` (the values the layer reads) and,
        for several inputs, ``input_shape`` as a dict by input name. Raises ValueError if a
        component is not registered, so that no name could rebuild it.
        """
        graph = not self._chain_only
        records = [component_record("layer", layer, self.registry) for layer in self.layers]
        for index, (record, layer) in enumerate(zip(records, self.layers, strict=True)):
            if graph:
                record["inputs"] = list(self.layer_inputs[index])
            if is_trainable(layer) is False:
                record["trainable"] = False  # only when frozen: other records are as before
        error = component_record("error_function", self.error, self.registry)
        optimizer = component_record("optimizer", self.optimizer, self.registry)
        metrics = (
            None
            if self.metrics is None
            else [component_record("metric", m, self.registry) for m in self.metrics.values()]
        )
        shape = self.input_shape
        return {
            **({"inputs": list(self.input_names)} if graph else {}),
            "dtype": self.dtype.name,
            "seed": self.seed,
            "input_shape": (
                None
                if shape is None
                else {k: list(v) for k, v in shape.items()}
                if isinstance(shape, dict)
                else list(shape)
            ),
            "layer_names": list(self.layer_names),
            "layers": records,
            "error_function": error,
            "optimizer": optimizer,
            "metrics": metrics,
            "providers": provider_versions(
                [*records, error, optimizer, *(metrics or [])], self.registry
            ),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, registry: Registry | None = None) -> Model:
        """A new network from :meth:`get_config`'s data, its components rebuilt by name through
        ``registry`` (default: the process-wide one). It is built when ``input_shape`` is given,
        with fresh parameters; :meth:`set_state` sets them. ``Model.from_config`` of a config
        without ``inputs`` (a Sequential's) gives a :class:`Sequential`.

        Raises :class:`~plugnet.errors.MissingProviderError` naming the distribution to
        ``pip install`` when a component's plugin is not installed, and ValueError for any
        other config it cannot rebuild, naming the key or the component (and a provider whose
        version changed since the config was made).
        """
        if registry is None:
            from plugnet.discovery import get_registry

            registry = get_registry()
        layers, error, optimizer, metrics = components_from(config, registry)
        graph = "inputs" in config
        if graph and cls._chain_only:
            raise ValueError(
                f"the config is a graph model's (it has 'inputs'), which a {cls.__name__} cannot "
                f"be; rebuild it with plugnet.Model.from_config"
            )
        model = Sequential if cls is Model and not graph else cls
        options: dict[str, Any] = {}
        if graph:
            options["inputs"] = config["inputs"]
            options["layer_inputs"] = [record.get("inputs") for record in config["layers"]]
        try:
            net = model(
                layers,
                error=error,
                optimizer=optimizer,
                metrics=metrics,
                seed=config.get("seed"),
                dtype=config.get("dtype", "float32"),
                registry=registry,
                layer_names=config.get("layer_names"),
                **options,
            )
        except REFUSALS as exc:
            raise ValueError(f"the saved network cannot be assembled: {clip(exc)}") from None
        for layer, name, record in zip(net.layers, net.layer_names, config["layers"], strict=True):
            if "trainable" in record:
                set_trainable(layer, name, record["trainable"])
        shape = config.get("input_shape")
        if shape is not None:
            try:
                net.build(shape)
            except REFUSALS as exc:
                shown = shape if isinstance(shape, Mapping) else tuple(shape)
                raise ValueError(
                    f"the network cannot be built for input shape {shown}: {clip(exc)}"
                ) from None
        return net

    def _model_arrays(self) -> dict[str, Array]:
        """The live parameters and layer buffers, by the names a model file uses."""
        arrays = {f"params/{name}": value for name, value in self.params.items()}
        for layer_name, layer in zip(self.layer_names, self.layers, strict=True):
            if isinstance(layer, HasBuffers):
                for key, value in layer.buffers.items():
                    arrays[f"buffers/{layer_name}.{key}"] = value
        return arrays

    def get_state(self, *, copy: bool = True) -> dict[str, Any]:
        """``{"arrays": {name: array}, "rng": Generator state}``, which :meth:`set_state` restores.

        The arrays are the parameters (``params/<layer>.<key>``), the buffers of layers that
        have them (``buffers/<layer>.<key>``) and the optimizer's state
        (``optimizer/<key>``); ``"rng"`` is ``rng.bit_generator.state``. They are copies, unless
        ``copy=False``: then parameters and buffers are read-only views of the live arrays,
        which change as the network trains (what :meth:`save` writes from, without a copy).
        """
        self._require_built()
        arrays = self._model_arrays()
        for key, value in arrays.items():
            arrays[key] = value.copy() if copy else value.view()
            arrays[key].flags.writeable = copy
        if isinstance(self.optimizer, Stateful):  # its get_state gives copies already
            state = self.optimizer.get_state()
            arrays.update({f"optimizer/{k}": np.asarray(v) for k, v in state.items()})
        return {"arrays": arrays, "rng": self.rng.bit_generator.state}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned into this (built) network, by copying.

        Every parameter and buffer must be given, with the shape and dtype the network has;
        optimizer state and ``"rng"`` are optional. Raises ValueError naming what does not
        fit, and then changes nothing.
        """
        self._require_built()
        if (
            not isinstance(state, Mapping)
            or "arrays" not in state
            or set(state) - {"arrays", "rng"}
        ):
            raise ValueError(
                "state must be a dict with 'arrays' and optionally 'rng', as get_state returns; "
                f"got keys {sorted(map(str, state)) if isinstance(state, Mapping) else state!r}"
            )
        arrays = {key: np.asarray(value) for key, value in state["arrays"].items()}
        expected = self._model_arrays()
        problem = misfit(arrays, expected)
        if problem is not None:
            raise ValueError(problem)
        rng = state.get("rng")
        if rng is not None:
            try:  # on a spare bit generator first, so that a bad state changes nothing
                type(self.rng.bit_generator)().state = rng
            except REFUSALS as exc:
                raise ValueError(f"the saved random state is invalid: {clip(exc)}") from None
        optimizer_state = {
            k.removeprefix("optimizer/"): v for k, v in arrays.items() if k.startswith("optimizer/")
        }
        if optimizer_state:
            if not isinstance(self.optimizer, Stateful):
                raise ValueError(
                    f"the state holds optimizer arrays, but the optimizer "
                    f"{type(self.optimizer).__name__} keeps no state"
                )
            try:
                self.optimizer.set_state(optimizer_state)
            except REFUSALS as exc:
                raise ValueError(f"the saved optimizer state is invalid: {clip(exc)}") from None
        for key, value in expected.items():
            value[...] = arrays[key]
        if rng is not None:
            self.rng.bit_generator.state = rng

    # -- persistence ----------------------------------------------------------------------------

    def to_onnx(self, path: str | os.PathLike[str], *, opset: int = 17) -> Path:
        """Write the built model as an ONNX model (opset ``opset``, 17 or later), each layer
        and activation through its registered lowering; needs the ``onnx`` extra. The input
        is named as the model's (``input``), the output ``output``; the batch axis is dynamic.
        Raises :class:`~plugnet.onnx_export.MissingLoweringError` naming a component that no
        plugin lowers, and then writes nothing."""
        from plugnet.onnx_export import to_onnx

        return to_onnx(self, path, opset=opset)

    def save(self, path: str | os.PathLike[str], *, allow_nonfinite: bool = False) -> None:
        """Write weights, optimizer state and config to one ``.npz`` file, atomically.

        A symlink is followed and an existing file keeps its permissions. NaN or infinite
        weights, buffers or optimizer state are refused unless ``allow_nonfinite=True``.
        """
        from plugnet.serialization import save

        save(self, path, allow_nonfinite=allow_nonfinite)


def send_back(pending: list[Any], target: int, targets: tuple[int, ...] | None, grad: Any) -> None:
    """Send a layer's input gradients (``grad``, its backward's result) to the values it read:
    to slot ``target`` for a layer that reads one value, to each of ``targets`` for a merge
    layer's list; -1 for a value that needs no gradient."""
    if target >= 0:
        add_branch_gradient(pending, target, grad)
    elif targets is not None:
        for slot, grad_of_slot in zip(targets, grad, strict=True):
            if slot >= 0:
                add_branch_gradient(pending, slot, grad_of_slot)


def add_branch_gradient(pending: list[Any], slot: int, grad: Array) -> None:
    """Add ``grad``, a gradient flowing back along one branch, into ``pending[slot]``, the
    gradient of the value the branch reads. Where a value branches to several readers,
    dE/dvalue is the SUM of the gradients flowing back along the branches, as the seed's
    dX = δ₁W₁ᵀ + δ₂W₂ᵀ for an x that feeds two layers. The sum makes a new array, so no layer's
    returned gradient is changed in place."""
    held = pending[slot]
    pending[slot] = grad if held is None else held + grad


class Sequential(Model):
    """A stack of layers, each reading the one before: the chain case of :class:`Model`,
    with the same training, saving and loading (one code path). A layer spec may not name
    ``inputs``; build a :class:`Model` for branches and merges."""

    _chain_only = True

    def __init__(
        self,
        layers: Sequence[Any],
        *,
        error: Any,
        optimizer: Any = "adam",
        metrics: Sequence[Any] | None = None,
        seed: int | None = None,
        dtype: Any = "float32",
        registry: Registry | None = None,
        layer_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            layers,
            error=error,
            optimizer=optimizer,
            metrics=metrics,
            seed=seed,
            dtype=dtype,
            registry=registry,
            layer_names=layer_names,
        )


def _shape_text(shape: Sequence[int]) -> str:
    """A per-sample shape with the batch dimension: ``(N, 28, 28, 1)``."""
    return f"(N, {', '.join(map(str, shape))})"


def _mermaid_text(name: str) -> str:
    """A name as Mermaid shows it inside quotes: its quotes and angle brackets as entities."""
    for char, entity in (("&", "&amp;"), ('"', "&quot;"), ("<", "&lt;"), (">", "&gt;")):
        name = name.replace(char, entity)
    return name


def load(path: str | os.PathLike[str], *, registry: Registry | None = None) -> Model:
    """Rebuild a model written by :meth:`Model.save` (a :class:`Sequential` if it was one);
    nothing in the file is executed.
    Components are looked up in ``registry`` (default: the process-wide one).

    Raises :class:`~plugnet.errors.ModelFileError` (a ``ValueError``) naming the file for any
    file that is not an intact plugnet model, and
    :class:`~plugnet.errors.MissingProviderError` when a component's plugin is not installed.
    """
    from plugnet import serialization

    return serialization.load(path, model=Model, registry=registry)
