"""The protocols every plugin component satisfies.

Arrays are :class:`numpy.ndarray`. Shapes given to ``Layer.build`` are per sample, without the
batch axis. Every component also has ``get_config() -> dict`` with JSON-safe hyperparameters, so
that ``factory(**get_config())`` rebuilds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from plugnet.datasets.base import Dataset, Splits

# numpy.typing.NDArray[Any], spelled without importing numpy.typing (about 1 ms of start-up).
Array = np.ndarray[tuple[Any, ...], np.dtype[Any]]
Shape = tuple[int, ...]


@runtime_checkable
class Activation(Protocol):
    """A stateless elementwise or per-row function y = f(x)."""

    def forward(self, x: Array) -> Array:
        """Return y = f(x), with x's shape and dtype."""
        ...

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        """Return dE/dx given ``grad`` = dE/dy: a vector-Jacobian product."""
        ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class ErrorFunction(Protocol):
    """A loss E(y, t): the mean over the batch of each sample's error."""

    def forward(self, y: Array, t: Array) -> float:
        """Return E, the mean over the batch (axis 0)."""
        ...

    def backward(self, y: Array, t: Array) -> Array:
        """Return dE/dy, which includes the 1/N of the batch mean."""
        ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class FusedBackward(Protocol):
    """dE/da for an output activation y = f(a) followed by an error E(y, t), in one step."""

    def backward(self, y: Array, t: Array) -> Array:
        """Return dE/da, where a is the pre-activation and y = f(a)."""
        ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class Layer(Protocol):
    """A layer with parameters. It keeps what backward needs from the last forward.

    ``params`` and ``grads`` are dicts with the same keys. ``backward`` writes each gradient
    into ``grads`` under its parameter's key.
    """

    params: dict[str, Array]
    grads: dict[str, Array]

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        """Create parameters for per-sample ``input_shape``; return the per-sample output shape."""
        ...

    def forward(self, x: Array, *, training: bool) -> Array: ...

    def backward(self, grad: Array) -> Array:
        """Given dE/dy, fill ``grads`` and return dE/dx."""
        ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class Optimizer(Protocol):
    """Updates parameters in place, keeping state per parameter name and its own step count."""

    def update(self, params: Mapping[str, Array], grads: Mapping[str, Array]) -> None: ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class Initializer(Protocol):
    """Draws an initial parameter array from the given Generator."""

    def __call__(
        self, shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]
    ) -> Array: ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class Schedule(Protocol):
    """A learning-rate schedule: the learning rate for each optimizer step, from the base rate.

    Steps are numbered from 1 and count optimizer updates (``schedule(1, base_lr)`` is the rate
    of the first update), or epochs when the optimizer is given ``schedule_unit="epoch"``
    (``schedule(1, base_lr)`` is then the rate of the whole first epoch).
    """

    def __call__(self, step: int, base_lr: float) -> float:
        """Return the learning rate for the 1-based step (update or epoch) ``step``."""
        ...

    def get_config(self) -> dict[str, Any]: ...


METRIC_TARGETS: dict[str, str] = {
    "classes": "one-hot rows, or 0/1 in one column for one sigmoid unit (classification)",
    "values": "any real numbers of the output's shape (regression)",
}
"""What a metric's ``targets`` may declare, with what each means."""


@runtime_checkable
class Metric(Protocol):
    """A score that accumulates over a whole epoch (or data set), never a mean of per-batch
    values: ``reset()``, then ``update(y, t)`` once per batch, then ``result()``.

    ``y`` is a batch of the network's outputs and ``t`` its targets as the network sees them,
    with ``y``'s shape: one-hot rows for classes (or 0/1 in one column for one sigmoid unit,
    thresholded at 0.5), values for regression. ``sample_weight`` (shape ``(N,)``, finite and
    ≥ 0) weights each sample; None weighs them all 1. ``update`` does not modify its inputs,
    and the result does not depend on how the samples are split into batches.

    ``result()`` is a Python float computed in float64, NaN when nothing (or only zero weight)
    has been seen. ``targets`` declares what the metric needs (:data:`METRIC_TARGETS`):
    ``"classes"`` (accuracy, f1) or ``"values"`` (mse, r2), which works on any targets.
    """

    targets: ClassVar[Literal["classes", "values"]]

    def reset(self) -> None:
        """Forget every update."""
        ...

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        """Add one batch of outputs ``y`` and targets ``t``."""
        ...

    def result(self) -> float:
        """The score over every sample since the last ``reset``."""
        ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class DataSource(Protocol):
    """A data set by name: its training and test splits, made reproducibly from a seed.

    ``load(seed)`` returns :class:`plugnet.datasets.Splits` whose ``train`` and ``test`` are
    :class:`plugnet.datasets.Dataset` objects (``test`` is None when the set has no test part)
    and whose ``validation`` is None: ``plugnet train`` takes validation data out of ``train``
    (``data.validation_split``). The same seed gives the same arrays, and a test sample is not
    also a training sample. The options of a set (``n``, ``noise``, ``classes``,
    ``test_size``) are its factory's arguments, checked against the factory's annotations like
    any component's, so ``"spiral(n=300, classes=3)"`` and a ``[data]`` table name them.
    """

    def load(self, seed: int = 0) -> Splits:
        """The train and test parts, the same for the same ``seed``."""
        ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class Callback(Protocol):
    """A hook into the training loop (``Sequential.fit``), as in Keras.

    Before ``on_train_begin`` the loop sets ``callback.network`` to the network it trains, so a
    callback reads and changes it there (``self.network.params``, ``self.network.optimizer``).
    The loop then calls, in this order, with epochs and batches counted from 0:

    - ``on_train_begin(logs)``: ``logs`` holds ``epochs``, ``samples`` (training samples),
      ``batches`` (per epoch) and ``verbose`` (fit's; a callback prints its messages only when
      it is > 0);
    - per epoch, ``on_epoch_begin(epoch)``; per batch, ``on_batch_end(batch, logs)`` with the
      running values of the epoch so far (``loss`` and each metric by name);
    - ``on_epoch_end(epoch, logs)``, ``logs`` holding the epoch's values: ``loss``, each metric
      by its name, and with validation data the same names prefixed ``val_``;
    - ``on_train_end(logs)``, with empty ``logs``, once training ends normally or is stopped.
      When training fails (an error, Ctrl-C) it is not called.

    A callback reads ``logs`` and does not change them: every later callback, and the history,
    gets the same dict. Setting ``self.network.stop_training = True`` ends training after the
    current epoch; set in ``on_batch_end`` for a batch whose loss is not finite, it ends
    training there, cleanly, instead of raising :class:`plugnet.NonFiniteLossError`.
    Subclass :class:`plugnet.Callback`, which has every method as a no-op, and override those
    you need.
    """

    def on_train_begin(self, logs: dict[str, Any]) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...

    def on_train_end(self, logs: dict[str, Any]) -> None: ...

    def get_config(self) -> dict[str, Any]: ...


# -- optional capabilities ----------------------------------------------------------------------
# The core and the kit use a capability only through these protocols (``isinstance``), and the
# registry refuses, at registration, a component that claims one but implements it wrongly.


@runtime_checkable
class OutputLayer(Layer, Protocol):
    """A layer that ends in an activation y = f(u) and can take δ = dE/du directly.

    When the registry has a fused backward for (``activation``, the error function), the network
    computes δ with it and calls ``backward_linear(δ)`` instead of ``backward(dE/dy)``, skipping
    the activation's own backward. ``backward_linear`` fills ``grads`` and returns dE/dx, like
    ``backward``. A layer that has ``backward_linear`` must have an ``activation``.
    """

    activation: Activation

    def backward_linear(self, delta: Array) -> Array | None:
        """Given δ = dE/du, fill ``grads`` and return dE/dx."""
        ...


@runtime_checkable
class PerSampleError(ErrorFunction, Protocol):
    """An error function that also gives each sample's error, which sample weights
    (``fit(class_weight=..., sample_weight=...)``) need.

    ``per_sample(y, t)`` returns an array of shape (N,) in y's dtype whose mean is
    ``forward(y, t)``. Entry i depends only on row i of y and t, and row i of
    ``backward(y, t)`` is its gradient with respect to y_i divided by N. Then the weighted
    error E_w = Σ_i w_i e_i / Σ_i w_i has the gradient ``backward(y, t)`` with row i scaled by
    N w_i / Σ_i w_i, which is how the network trains with weights, through a fused backward
    too (whose rows are per sample in the same way). An error function without it cannot
    train with weights; the network says so.
    """

    def per_sample(self, y: Array, t: Array) -> Array:
        """Each sample's error, shape (N,); its mean is ``forward(y, t)``."""
        ...


@runtime_checkable
class SkipsInputGrad(Protocol):
    """A layer whose backward can skip dE/dx, declared by ``skips_input_grad = True``.

    Its ``backward(grad, *, need_input_grad=True)`` (and ``backward_linear`` too, when it is an
    :class:`OutputLayer`) returns None without computing dE/dx when ``need_input_grad`` is
    False; the network asks for that at the first layer with parameters, whose dE/dx nobody
    uses. The declaration is explicit, as Chainer's ``FunctionNode.backward`` declares which
    input gradients are wanted: the core never inspects a signature to find out.
    """

    skips_input_grad: ClassVar[Literal[True]]

    def backward(self, grad: Array, *, need_input_grad: bool = True) -> Array | None: ...


@runtime_checkable
class MergesInputs(Protocol):
    """A layer that reads several values (``add``, ``concatenate``, ``multiply``), declared by
    ``merges_inputs = True``.

    ``build`` gets the list of the inputs' per-sample shapes, ``forward`` the list of their
    arrays (in the order of the layer's ``inputs``), and ``backward(grad)`` returns a list of
    one dE/dx per input, in that order. A graph model hands a layer lists exactly when it
    declares this, and refuses a merge layer that reads fewer than two values.
    """

    merges_inputs: ClassVar[Literal[True]]

    def build(
        self, input_shapes: Sequence[Shape], *, rng: np.random.Generator, dtype: np.dtype[Any]
    ) -> Shape: ...

    def forward(self, xs: Sequence[Array], *, training: bool) -> Array: ...

    def backward(self, grad: Array) -> list[Array]: ...


@runtime_checkable
class TakesIndices(Protocol):
    """A layer whose input is integer indices (token ids) in ``range(index_count)``, as
    ``embedding``'s is, declared by ``takes_indices = True``.

    Indices are not differentiable: the network gives such a layer its input as integers
    (checked to be an integer array in range) instead of converting it to float, and it must
    read a model input directly; its ``backward`` fills ``grads`` and returns None, as there is
    no dE/dx. The testing kit feeds it integer indices and checks only its parameters'
    gradients (Chainer's ``no_grads``).
    """

    takes_indices: ClassVar[Literal[True]]
    index_count: int


@runtime_checkable
class OnnxLowering(Protocol):
    """How one component (a layer or an activation) becomes ONNX nodes, registered through the
    ``register_onnx_lowerings`` hook under the component's qualified name.

    ``lower(component, graph, inputs)`` gets the built component, the
    :class:`plugnet.onnx_export.OnnxGraph` being written and the names of its input values
    (one for an activation or a layer, several for a merge layer), adds nodes and initializers
    through ``graph`` and returns the name of the output value. Values have a batch axis; a
    layer's per-sample input shapes are ``graph.shape(name)``. A layer with a nested
    activation lowers it with ``graph.lower(layer.activation, [name])``.
    """

    def __call__(self, component: Any, graph: Any, inputs: Sequence[str]) -> str: ...


@runtime_checkable
class TakesComponents(Protocol):
    """A component some of whose arguments are components (a dense layer's ``activation`` and
    ``initializer``, an optimizer's ``schedule``), declared by annotating them with the kind's
    protocol: ``activation: Activation | str = "relu"``.

    The registry that builds it resolves each such argument that is a spec (a name, a dict),
    passes the instance in, and records the spec it came from in ``component_specs`` under
    the argument's name, so that ``get_config`` can return specs. The component itself never
    looks a name up.
    """

    component_specs: dict[str, dict[str, Any]]


@runtime_checkable
class Freezable(Protocol):
    """A layer that says whether training may change its parameters: ``trainable`` is True or
    False. A layer need not define it: the network treats a layer without it as trainable, and
    ``net["dense_1"].trainable = False`` (or ``"trainable": False`` in a dict spec) sets it on
    any layer that takes attributes. A frozen layer's parameters are kept out of the optimizer's
    views, and its record in the model's config says ``"trainable": false``.
    """

    trainable: bool


@runtime_checkable
class HasBuffers(Protocol):
    """A component with arrays that are not parameters but are saved with them (a batch norm's
    running statistics): ``buffers`` maps a name to an array the component updates in place.
    """

    buffers: dict[str, Array]


@runtime_checkable
class Stateful(Protocol):
    """A component with state to save and restore (an optimizer's moments and step count).

    ``get_state()`` returns a flat mapping of names to arrays; ``set_state(state)`` restores
    exactly what ``get_state`` returned, copying it. A component has both or neither.
    """

    def get_state(self) -> Mapping[str, Array]: ...

    def set_state(self, state: Mapping[str, Array]) -> None: ...


@runtime_checkable
class WholeData(Protocol):
    """A data source whose splits are parts of one whole set that it can give: ``data(seed)``
    returns every sample, in the order made, before any split (the ``seed`` that ``load``
    splits with makes the same set). ``plugnet.datasets.load`` returns it for a set by name; for
    a source without it, train and test one after the other."""

    def data(self, seed: int = 0) -> Dataset: ...


@runtime_checkable
class EpochAware(Protocol):
    """A component told when an epoch of training begins: an optimizer whose learning-rate
    schedule counts epochs (``schedule_unit="epoch"``).

    ``fit`` calls ``start_epoch()`` once before each epoch's first update (before the callbacks'
    ``on_epoch_begin``), in every ``fit`` call, so the count goes on across calls as the step
    count does; a component that depends on the count keeps it in its :class:`Stateful` state,
    so that it survives save and load.
    """

    def start_epoch(self) -> None: ...


@runtime_checkable
class HasLearningRate(Protocol):
    """An optimizer that reports the learning rate in force: ``current_lr`` is the rate its last
    update used (a schedule's value, if it has one), or the base rate before the first update.
    ``fit`` logs it as ``lr`` at the end of every epoch, in the history and the callbacks' logs.
    """

    current_lr: float


@runtime_checkable
class DocumentsStd(Protocol):
    """An initializer that documents the standard deviation of its draws, which the conformance
    kit checks on large samples."""

    def expected_std(self, shape: Shape) -> float:
        """The standard deviation of a draw of ``shape`` with this configuration."""
        ...


class Conformance:
    """What a component declares for the conformance kit, as one class attribute
    ``conformance = Conformance(...)`` (every field optional):

    - ``cases``: the configurations to check, e.g. ``({"config": {"units": 3}, "input_shape":
      (4,)},)``; a layer case also gives the per-sample input shape. Default: the default
      configuration (and input shape ``(4,)`` for layers).
    - ``kinks`` (activations): the x where the derivative jumps, or a function of the instance
      that returns them when they depend on the hyperparameters; gradients are checked away
      from them.
    - ``domain`` (error functions): where y and t live, one of :data:`plugnet.domains.DOMAINS`.
    """

    # A plain class that behaves as the frozen dataclass it was (fields by position or keyword,
    # compared and hashed by value, read-only; copies and pickles keep working): importing
    # dataclasses and creating one cost about 2 ms of every registry build, as the built-ins
    # declare their conformance at import.
    __match_args__ = ("cases", "kinks", "domain")

    cases: tuple[Mapping[str, Any], ...]
    kinks: tuple[float, ...] | Callable[[Any], Sequence[float]]
    domain: str

    def __init__(
        self,
        cases: tuple[Mapping[str, Any], ...] = (),
        kinks: tuple[float, ...] | Callable[[Any], Sequence[float]] = (),
        domain: str = "real",
    ) -> None:
        vars(self).update(cases=cases, kinks=kinks, domain=domain)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.cases, self.kinks, self.domain) == (other.cases, other.kinks, other.domain)

    def __hash__(self) -> int:
        return hash((self.cases, self.kinks, self.domain))

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(cases={self.cases!r}, kinks={self.kinks!r}, "
            f"domain={self.domain!r})"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to {name!r}: a Conformance is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete {name!r}: a Conformance is read-only")

    def kinks_of(self, instance: Any) -> list[float]:
        """The kinks of ``instance`` (a component with this declaration)."""
        declared = self.kinks(instance) if callable(self.kinks) else self.kinks
        return [float(k) for k in declared]


@runtime_checkable
class DeclaresConformance(Protocol):
    """A component (class or instance) with conformance declarations."""

    conformance: Conformance


def conformance_of(component: Any) -> Conformance:
    """The declarations of a component class or instance; ``Conformance()`` when it has none."""
    if isinstance(component, DeclaresConformance):
        return component.conformance
    # The older spelling, an attribute per declaration, is still read so that plugins written
    # for it keep their cases; this is the only place that reads those names.
    legacy: dict[str, Any] = {}
    for field, attribute in _LEGACY_DECLARATIONS.items():
        value = getattr(component, attribute, None)
        if value is not None and not isinstance(value, property):
            legacy[field] = (
                tuple(value() if callable(value) else value) if field == "kinks" else value
            )
    return Conformance(**legacy)


_LEGACY_DECLARATIONS = {
    "cases": "conformance_cases",
    "kinks": "kinks",
    "domain": "conformance_domain",
}


@runtime_checkable
class AdjustableLearningRate(Protocol):
    """An optimizer whose base learning rate ``lr`` may be set between steps (by a callback
    such as ``reduce_lr_on_plateau``); a schedule, when it has one, scales the new value."""

    lr: float
