"""Sequential networks: a stack of layers, an error function and an optimizer, built by name."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.arrays import are_classes, as_inputs, as_targets, correct_predictions
from plugnet.domains import domain_of, output_problem
from plugnet.protocols import Array, Layer, OutputLayer, Shape, SkipsInputGrad

if TYPE_CHECKING:
    from plugnet._registry import Registry
    from plugnet.callbacks import Callback
    from plugnet.history import History

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


def _layer_name(spec: Any, instance: Any, counts: dict[str, int], registry: Registry) -> str:
    if isinstance(spec, Mapping) and "type" in spec and "name" in spec:
        if not isinstance(spec["name"], str) or not spec["name"]:
            raise ValueError(f"a layer's name must be a non-empty string, got {spec['name']!r}")
        return spec["name"]
    component = registry.component_of(instance)
    base = component.name if component is not None else type(instance).__name__.lower()
    counts[base] = counts.get(base, 0) + 1
    return f"{base}_{counts[base]}"


class Sequential:
    """A stack of layers trained with an error function and an optimizer.

    ``layers`` are specs (``{"type": "dense", "units": 128, "activation": "relu"}``, strings or
    instances); a dict spec with ``"type"`` may carry ``"name"`` to name the layer (default
    ``dense_1``, ``dense_2``, ... as in Keras). Names are resolved here,
    once, by ``registry`` (default: the process-wide registry, which is built only then); the
    input shape is inferred on the first ``fit``/``predict``. The optimizer defaults to
    ``"adam"`` with PyTorch's settings (lr=1e-3).
    """

    def __init__(
        self,
        layers: Sequence[Any],
        *,
        error: Any,
        optimizer: Any = "adam",
        seed: int | None = None,
        dtype: Any = "float32",
        registry: Registry | None = None,
    ) -> None:
        if isinstance(layers, (str, Mapping)) or not layers:
            raise ValueError("layers must be a non-empty list of layer specs or instances")
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
        for spec in layers:
            named = isinstance(spec, Mapping) and "type" in spec
            layer_spec = {k: v for k, v in spec.items() if k != "name"} if named else spec
            layer = registry.resolve("layer", layer_spec)
            name = _layer_name(spec, layer, counts, registry)
            if name in self.layer_names:
                raise ValueError(f"two layers are named {name!r}; layer names must be unique")
            self.layers.append(layer)
            self.layer_names.append(name)
        self.error = registry.resolve("error_function", error)
        self.optimizer = registry.resolve("optimizer", optimizer)
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
        shapes = []
        for layer in self.layers:
            shape = tuple(layer.build(shape, rng=self.rng, dtype=self.dtype))
            shapes.append(shape)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.output_shapes = shapes
        self._wire()

    def _wire(self) -> None:
        """Precompute what the hot loop needs: flat parameter views and the backward path."""
        params, grads = [], []
        for name, layer in zip(self.layer_names, self.layers, strict=True):
            for key in layer.params:
                params.append((f"{name}.{key}", layer.params, key))
                grads.append((f"{name}.{key}", layer.grads, key))
        self.params = ParameterView(params)
        self.grads = ParameterView(grads)
        last = self.layers[-1]
        # Backward stops at the first layer with parameters: nothing before it has gradients to
        # compute, and its own dE/dx is never used (a reshape or flatten in front changes nothing).
        self._stop = next(
            (i for i, layer in enumerate(self.layers) if layer.params), len(self.layers)
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
        """A table of layers, output shapes and parameter counts (printed unless print_fn=None)."""
        rows = [("layer", "type", "output shape", "params")]
        total = 0
        for index, (name, layer) in enumerate(zip(self.layer_names, self.layers, strict=True)):
            shape = f"(N, {', '.join(map(str, self.output_shapes[index]))})" if self.built else "?"
            count = sum(int(p.size) for p in layer.params.values())
            total += count
            rows.append((name, type(layer).__name__, shape, f"{count:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"total parameters: {total:,}" + ("" if self.built else " (not built yet)"))
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    # -- computation ----------------------------------------------------------------------------

    def forward(self, x: Array, *, training: bool) -> Array:
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, y: Array, t: Array) -> None:
        """Fill every layer's ``grads`` for the last forward's output ``y`` and targets ``t``.

        From the output down: the output step, then each layer's backward in turn, down to the
        first layer with parameters, which is asked not to compute its dE/dx. The
        parameter-free layers in front of it are skipped.
        """
        if self._stop == len(self.layers):
            return  # no parameters anywhere
        grad = self._output_step(y, t)
        for backward in self._backwards:
            grad = backward(grad)

    def _output_step(self, y: Array, t: Array) -> Array | None:
        """The last layer's backward. With a fused backward for (its activation, the error),
        δ = dE/du comes in one step and goes to ``backward_linear``, skipping the activation's
        Jacobian; otherwise the chain: dE/dy from the error, then the layer's backward."""
        if self._output_linear is not None:
            assert self._fused is not None
            return self._output_linear(self._fused.backward(y, t))
        return self._output_backward(self.error.backward(y, t))

    def train_step(self, x: Array, t: Array) -> Array:
        """One minibatch: forward, backward, optimizer update. Returns the output."""
        y = self.forward(x, training=True)
        self.backward(y, t)
        self.optimizer.update(self.params, self.grads)
        return y

    def prepare_data(self, x: Any, t: Any, *, build: bool = True) -> tuple[Array, Array]:
        """``x`` and ``t`` as training and evaluation use them: checked, in the network's dtype,
        class labels one-hot encoded.

        With ``build``, the network is built on first use, and its output layer is checked
        against the error function (on the first samples) before anything trains on it. A call
        that raises changes nothing: a first build is undone, down to the Generator's state.
        """
        inputs = as_inputs(x, self.dtype)
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

    def _check_input_shape(self, x: Array) -> None:
        if self.input_shape is not None and x.shape[1:] != self.input_shape:
            raise ValueError(
                f"x has per-sample shape {x.shape[1:]}, but the network was built for "
                f"{self.input_shape}"
            )

    def predict(self, x: Any, *, batch_size: int = PREDICT_BATCH) -> Array:
        """The network's output for ``x``, computed in batches, with ``training=False``."""
        inputs = as_inputs(x, self.dtype)
        self._check_input_shape(inputs)
        if not self.built:
            self.build(inputs.shape[1:])
        outputs = [
            self.forward(inputs[i : i + batch_size], training=False)
            for i in range(0, inputs.shape[0], batch_size)
        ]
        return outputs[0].copy() if len(outputs) == 1 else np.concatenate(outputs)

    def evaluate(self, x: Any, t: Any, *, batch_size: int = PREDICT_BATCH) -> dict[str, float]:
        """``{"loss": ...}`` plus ``"accuracy"`` when the targets are classes."""
        x, t = self.prepare_data(x, t)
        loss, correct, n = 0.0, 0, x.shape[0]
        classes = are_classes(t)
        for i in range(0, n, batch_size):
            y = self.forward(x[i : i + batch_size], training=False)
            tb = t[i : i + batch_size]
            loss += self.error.forward(y, tb) * len(tb)
            if classes:
                correct += correct_predictions(y, tb)
        metrics = {"loss": loss / n}
        if classes:
            metrics["accuracy"] = correct / n
        return metrics

    def fit(
        self,
        x: Any,
        t: Any,
        *,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float = 0.0,
        callbacks: Sequence[Callback] = (),
        verbose: int = 1,
    ) -> History:
        """Train with minibatches; returns the per-epoch :class:`~plugnet.history.History`."""
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
        )

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
