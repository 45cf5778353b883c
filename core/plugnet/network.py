"""Sequential networks: a stack of layers, an error function and an optimizer, built by name."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.arrays import are_classes, as_indices, as_inputs, as_targets
from plugnet.domains import domain_of, output_problem
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


class Sequential:
    """A stack of layers trained with an error function and an optimizer.

    ``layers`` are specs (``{"type": "dense", "units": 128, "activation": "relu"}``, strings or
    instances); a dict spec with ``"type"`` may carry ``"name"`` to name the layer (default
    ``dense_1``, ``dense_2``, ... as in Keras), or ``layer_names`` names them all. Names are
    resolved here,
    once, by ``registry`` (default: the process-wide registry, which is built only then); the
    input shape is inferred on the first ``fit``/``predict``. The optimizer defaults to
    ``"adam"`` with PyTorch's settings (lr=1e-3).

    A dict spec may carry ``"trainable": False`` to freeze the layer, as may code later with
    ``net["dense_1"].trainable = False``: the flag is the layer's ``trainable`` attribute, which
    layers need not define (without it a layer is trainable). Frozen parameters are never
    given to the optimizer, so they neither change nor get optimizer state; dE/dx still flows
    through the layer.

    ``metrics`` are metric specs or instances (``["accuracy", "f1(average='macro')"]``), logged
    under their names (``f1``, and ``val_f1`` for validation data); None, the default, is
    accuracy for class targets and nothing for regression.
    """

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
        if isinstance(layers, (str, Mapping)) or not layers:
            raise ValueError("layers must be a non-empty list of layer specs or instances")
        if layer_names is not None and (
            isinstance(layer_names, str) or len(layer_names) != len(layers)
        ):
            raise ValueError(
                f"layer_names must be one name per layer ({len(layers)}), got {layer_names!r}"
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
        counts: dict[str, int] = {}
        for index, spec in enumerate(layers):
            named = isinstance(spec, Mapping) and "type" in spec
            layer_spec = spec
            if isinstance(spec, Mapping):  # "name" (with "type") and "trainable" are the net's
                own = ("name", "trainable") if named else ("trainable",)
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
            if isinstance(spec, Mapping) and "trainable" in spec:
                set_trainable(layer, name, spec["trainable"])
            self.layers.append(layer)
            self.layer_names.append(name)
        self.error = registry.resolve("error_function", error)
        self.optimizer = registry.resolve("optimizer", optimizer)
        self.metrics = None if metrics is None else _named_metrics(metrics, registry)
        self.input_shape: Shape | None = None
        self.output_shapes: list[Shape] = []
        self.stop_training = False
        self.history: History | None = None  # the last fit's, also when it was interrupted

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
        return self.input_shape is not None

    @property
    def output_shape(self) -> Shape:
        self._require_built()
        return self.output_shapes[-1]

    def build(self, input_shape: Sequence[int]) -> None:
        """Create every layer's parameters for per-sample ``input_shape``."""
        shape = tuple(int(d) for d in input_shape)
        for name, layer in zip(self.layer_names[1:], self.layers[1:], strict=True):
            if isinstance(layer, TakesIndices):
                raise ValueError(
                    f"layer {name!r} takes token ids, which only the first layer can read (the "
                    f"layers before it would turn them into floats); put it first"
                )
        shapes = []
        for layer in self.layers:
            shape = tuple(layer.build(shape, rng=self.rng, dtype=self.dtype))
            shapes.append(shape)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output_shapes = shapes
        self._wire()

    def _trainable_flags(self) -> list[bool]:
        """Each layer's ``trainable`` (:class:`~plugnet.protocols.Freezable`; True where a layer
        has none)."""
        return [is_trainable(layer) for layer in self.layers]

    def _wire(self) -> None:
        """Precompute what the hot loop needs: flat parameter views (all, and the trainable
        ones the optimizer gets) and the backward path. Rewired when a ``trainable`` changes."""
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
        last = self.layers[-1]
        # Backward stops at the first trainable layer with parameters: nothing before it has
        # gradients to compute (a frozen layer's are not needed), and its own dE/dx is never
        # used (a reshape, flatten or frozen layer in front changes nothing).
        self._stop = next(
            (i for i, layer in enumerate(self.layers) if layer.params and flags[i]),
            len(self.layers),
        )
        last_index = len(self.layers) - 1
        last_is_stop = self._stop == last_index
        self._fused = None
        self._output_linear: Callable[..., Any] | None = None
        if isinstance(last, OutputLayer):
            self._fused = self.registry.fused_backward(last.activation, self.error)
            if self._fused is not None:
                self._output_linear = self._skip_input_grad(
                    last, last.backward_linear, is_first=last_is_stop
                )
        # The backward of each layer below the output, from the top down to the stop layer.
        self._backwards: list[Callable[..., Any]] = []
        if self._stop <= last_index:
            first = self.layers[self._stop]
            self._stop_backward = self._skip_input_grad(first, first.backward, is_first=True)
            middle = [layer.backward for layer in self.layers[last_index - 1 : self._stop : -1]]
            self._backwards = [*middle, self._stop_backward] if not last_is_stop else []
            self._output_backward = self._stop_backward if last_is_stop else last.backward

    @staticmethod
    def _skip_input_grad(
        layer: Layer, method: Callable[..., Any], *, is_first: bool
    ) -> Callable[..., Any]:
        """The first layer's dE/dx is never used, so skip it where the layer declares it can
        (:class:`~plugnet.protocols.SkipsInputGrad`)."""
        if is_first and isinstance(layer, SkipsInputGrad):
            return functools.partial(method, need_input_grad=False)
        return method

    def _require_built(self) -> None:
        if self.input_shape is None:
            raise RuntimeError("the network is not built yet; call fit, predict or build first")

    def summary(self, print_fn: Callable[[str], None] | None = print) -> str:
        """A table of layers, output shapes and parameter counts, then the total, trainable and
        non-trainable (frozen) counts, as Keras prints them (printed unless print_fn=None)."""
        rows = [("layer", "type", "output shape", "params")]
        total = frozen = 0
        for index, (name, layer) in enumerate(zip(self.layer_names, self.layers, strict=True)):
            shape = f"(N, {', '.join(map(str, self.output_shapes[index]))})" if self.built else "?"
            count = sum(int(p.size) for p in layer.params.values())
            total += count
            trainable = is_trainable(layer)
            frozen += 0 if trainable else count
            mark = "" if trainable else " (frozen)"
            rows.append((name, type(layer).__name__, shape, f"{count:,}{mark}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"total parameters: {total:,}" + ("" if self.built else " (not built yet)"))
        lines.append(f"trainable parameters: {total - frozen:,}")
        lines.append(f"non-trainable parameters: {frozen:,}")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    # -- computation ----------------------------------------------------------------------------

    def forward(self, x: Array, *, training: bool) -> Array:
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        """Fill every layer's ``grads`` for the last forward's output ``y`` and targets ``t``
        (weighted by ``sample_weight``, float64 of shape (N,), when given: see
        :mod:`plugnet.weights`).

        From the output down: the output step, then each layer's backward in turn, down to the
        first trainable layer with parameters, which is asked not to compute its dE/dx. The
        layers in front of it are skipped; frozen ones above it compute grads that nothing uses.
        """
        if self._flags != self._trainable_flags():
            self._wire()  # a layer's trainable changed since the last step
        if self._stop == len(self.layers):
            return  # no trainable parameters anywhere
        grad = self._output_step(y, t, sample_weight)
        for backward in self._backwards:
            grad = backward(grad)

    def _output_step(self, y: Array, t: Array, sample_weight: Array | None) -> Array | None:
        """The last layer's backward. With a fused backward for (its activation, the error),
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

    def train_step(self, x: Array, t: Array, sample_weight: Array | None = None) -> Array:
        """One minibatch: forward, backward, optimizer update of the trainable parameters.
        Returns the output. ``sample_weight`` (float64, shape (N,), sum > 0) weights the
        error as ``fit`` does."""
        y = self.forward(x, training=True)
        self.backward(y, t, sample_weight)
        self.optimizer.update(*self._optimized)
        return y

    def prepare_data(self, x: Any, t: Any, *, build: bool = True) -> tuple[Array, Array]:
        """``x`` and ``t`` as training and evaluation use them: checked, in the network's dtype,
        class labels one-hot encoded.

        With ``build``, the network is built on first use, and its output layer is checked
        against the error function (on the first samples) before anything trains on it. A call
        that raises changes nothing: a first build is undone, down to the Generator's state.
        """
        inputs = self._as_inputs(x)
        self._check_input_shape(inputs)
        newly_built = build and not self.built
        rng_state = self.rng.bit_generator.state
        if newly_built:
            self.build(inputs.shape[1:])
        self._require_built()
        try:
            targets = as_targets(t, self.output_shape, self.dtype, samples=inputs.shape[0])
            if build:
                self._check_output(inputs[:OUTPUT_CHECK_SAMPLES], targets[:OUTPUT_CHECK_SAMPLES])
        except ValueError:
            if newly_built:
                self.input_shape, self.output_shapes = None, []
                self.rng.bit_generator.state = rng_state
            raise
        return inputs, targets

    def _check_output(self, x: Array, t: Array) -> None:
        """Refuse an output layer that cannot feed the error function (logits into
        cross-entropy), which would otherwise train on a meaningless loss."""
        domain = domain_of(self.error)
        if domain == "real":
            return
        problem = output_problem(domain, self.forward(x, training=False), t)
        if problem is not None:
            raise ValueError(
                f"the output layer {self.layer_names[-1]!r} cannot feed the error function "
                f"{type(self.error).__name__}: {problem}."
            )

    def _as_inputs(self, x: Any) -> Array:
        """``x`` checked: in the network's dtype, or, when the first layer takes indices, the
        integer ids as given (:class:`~plugnet.protocols.TakesIndices`)."""
        first = self.layers[0]
        if isinstance(first, TakesIndices):
            return as_indices(x, first.index_count, layer=self.layer_names[0])
        return as_inputs(x, self.dtype)

    def _check_input_shape(self, x: Array) -> None:
        if self.input_shape is not None and x.shape[1:] != self.input_shape:
            raise ValueError(
                f"x has per-sample shape {x.shape[1:]}, but the network was built for "
                f"{self.input_shape}"
            )

    def predict(self, x: Any, *, batch_size: int = PREDICT_BATCH) -> Array:
        """The network's output for ``x``, computed in batches, with ``training=False``."""
        inputs = self._as_inputs(x)
        self._check_input_shape(inputs)
        if not self.built:
            self.build(inputs.shape[1:])
        outputs = [
            self.forward(inputs[i : i + batch_size], training=False)
            for i in range(0, inputs.shape[0], batch_size)
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
        n = x.shape[0]
        weights = None
        if sample_weight is not None:
            weights = checked_sample_weight(sample_weight, n)
            require_per_sample(self.error)
        metrics = self.metrics_for(t)
        loss, mass = 0.0, 0.0
        for i in range(0, n, batch_size):
            y = self.forward(x[i : i + batch_size], training=False)
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
        ``providers`` (distribution -> version). Raises ValueError if a
        component is not registered, so that no name could rebuild it.
        """
        records = [component_record("layer", layer, self.registry) for layer in self.layers]
        for record, layer in zip(records, self.layers, strict=True):
            if is_trainable(layer) is False:
                record["trainable"] = False  # only when frozen: other records are as before
        error = component_record("error_function", self.error, self.registry)
        optimizer = component_record("optimizer", self.optimizer, self.registry)
        metrics = (
            None
            if self.metrics is None
            else [component_record("metric", m, self.registry) for m in self.metrics.values()]
        )
        return {
            "dtype": self.dtype.name,
            "seed": self.seed,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
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
    def from_config(
        cls, config: Mapping[str, Any], *, registry: Registry | None = None
    ) -> Sequential:
        """A new network from :meth:`get_config`'s data, its components rebuilt by name through
        ``registry`` (default: the process-wide one). It is built when ``input_shape`` is given,
        with fresh parameters; :meth:`set_state` sets them.

        Raises :class:`~plugnet.errors.MissingProviderError` naming the distribution to
        ``pip install`` when a component's plugin is not installed, and ValueError for any
        other config it cannot rebuild, naming the key or the component (and a provider whose
        version changed since the config was made).
        """
        if registry is None:
            from plugnet.discovery import get_registry

            registry = get_registry()
        layers, error, optimizer, metrics = components_from(config, registry)
        try:
            net = cls(
                layers,
                error=error,
                optimizer=optimizer,
                metrics=metrics,
                seed=config.get("seed"),
                dtype=config.get("dtype", "float32"),
                registry=registry,
                layer_names=config.get("layer_names"),
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
                raise ValueError(
                    f"the network cannot be built for input shape {tuple(shape)}: {clip(exc)}"
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

    def save(self, path: str | os.PathLike[str], *, allow_nonfinite: bool = False) -> None:
        """Write weights, optimizer state and config to one ``.npz`` file, atomically.

        A symlink is followed and an existing file keeps its permissions. NaN or infinite
        weights, buffers or optimizer state are refused unless ``allow_nonfinite=True``.
        """
        from plugnet.serialization import save

        save(self, path, allow_nonfinite=allow_nonfinite)


def load(path: str | os.PathLike[str], *, registry: Registry | None = None) -> Sequential:
    """Rebuild a model written by :meth:`Sequential.save`; nothing in the file is executed.
    Components are looked up in ``registry`` (default: the process-wide one).

    Raises :class:`~plugnet.errors.ModelFileError` (a ``ValueError``) naming the file for any
    file that is not an intact plugnet model, and
    :class:`~plugnet.errors.MissingProviderError` when a component's plugin is not installed.
    """
    from plugnet import serialization

    return serialization.load(path, model=Sequential, registry=registry)
