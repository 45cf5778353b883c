"""scikit-learn estimators around plugnet networks: :class:`PlugnetClassifier` and
:class:`PlugnetRegressor`, for ``GridSearchCV``, ``cross_val_score``, ``clone`` and ``Pipeline``.

``layers`` are the hidden layers; ``fit`` appends the output layer (a dense layer sized to the
classes with softmax and cross-entropy for the classifier, to the targets with identity and
mean squared error for the regressor) and trains a fresh network on every call. Needs
scikit-learn >= 1.6: ``pip install "plugnet[sklearn]"``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import (
        _check_sample_weight,  # in scikit-learn's utilities for estimator developers
        check_is_fitted,
        check_random_state,
        validate_data,
    )
except ImportError as exc:  # not installed, or older than 1.6 (no validate_data)
    raise ImportError(
        f'plugnet.sklearn needs scikit-learn >= 1.6 ({exc}): pip install "plugnet[sklearn]"'
    ) from None

from plugnet.network import Model, Sequential
from plugnet.protocols import Array
from plugnet.specs import parse_string

__all__ = ["PlugnetClassifier", "PlugnetRegressor"]

#: The hidden layers when none are given: one dense layer of 32 ReLU units.
DEFAULT_LAYERS = ("dense(units=32, activation='relu')",)
# The parameters whose spec arguments `set_params` reaches with `name__argument` keys
# (and `layers__<index>` / `layers__<index>__argument` for one hidden layer).
_SPEC_PARAMETERS = ("optimizer", "error")


class _PlugnetEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters, nested set_params, the network
    built by fit, and pickling through the model's config and state."""

    _output_activation: str
    _default_error: str

    def __init__(
        self,
        layers: Sequence[Any] = DEFAULT_LAYERS,
        *,
        error: Any = None,
        optimizer: Any = "adam",
        metrics: Sequence[Any] | None = None,
        epochs: int = 20,
        batch_size: int = 32,
        validation_split: float = 0.0,
        callbacks: Sequence[Any] = (),
        random_state: Any = None,
        dtype: Any = "float32",
        verbose: int = 0,
    ) -> None:
        # Stored as given, checked by fit: scikit-learn's clone and set_params rely on it.
        self.layers = layers
        self.error = error
        self.optimizer = optimizer
        self.metrics = metrics
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.callbacks = callbacks
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    def set_params(self, **params: Any) -> Self:
        """Set parameters, also one argument of a spec: ``optimizer__lr=0.01``,
        ``error__delta=0.5``, ``layers__0=spec`` (one hidden layer) and
        ``layers__0__units=64`` (one argument of it). A spec string becomes a dict spec with
        the argument changed; the value you gave is never modified."""
        nested = {}
        plain = {}
        for key, value in params.items():
            head, _, rest = key.partition("__")
            if rest and head in (*_SPEC_PARAMETERS, "layers"):
                nested[key] = value
            else:
                plain[key] = value
        super().set_params(**plain)  # first, so that optimizer=... then optimizer__lr=... works
        for key, value in nested.items():
            head, _, rest = key.partition("__")
            if head == "layers":
                self.layers = _with_layer(self.layers, rest, value)
            else:
                current = getattr(self, head)
                if head == "error" and current is None:
                    current = self._default_error
                setattr(self, head, _with_argument(head, current, rest, value))
        return self

    def _seed(self) -> int | None:
        state = self.random_state
        if state is None:
            return None
        if isinstance(state, (int, np.integer)) and not isinstance(state, bool):
            if state < 0:
                raise ValueError(f"random_state must be None or an integer >= 0, got {state!r}")
            return int(state)
        # A RandomState instance, as scikit-learn allows: draw this fit's seed from it.
        return int(check_random_state(state).randint(np.iinfo(np.int32).max))

    def _network(self, units: int) -> Sequential:
        layers = self.layers
        if isinstance(layers, (str, Mapping)) or not isinstance(layers, Sequence):
            raise ValueError(
                f"layers must be a list of hidden-layer specs, e.g. "
                f"[\"dense(units=32, activation='relu')\"] (the output layer is added by fit), "
                f"got {layers!r}"
            )
        output = {"type": "dense", "units": units, "activation": self._output_activation}
        # Copies, so that instances given as specs (layers, an optimizer) start fresh each fit.
        return Sequential(
            [*copy.deepcopy(list(layers)), output],
            error=self._default_error if self.error is None else copy.deepcopy(self.error),
            optimizer=copy.deepcopy(self.optimizer),
            metrics=copy.deepcopy(self.metrics),
            seed=self._seed(),
            dtype=self.dtype,
        )

    def _fit_network(self, x: Array, t: Array, units: int, sample_weight: Any) -> None:
        model = self._network(units)
        self.history_ = model.fit(
            x,
            t,
            epochs=self.epochs,
            batch_size=self.batch_size,
            validation_split=self.validation_split,
            callbacks=copy.deepcopy(list(self.callbacks or ())),
            verbose=self.verbose,
            sample_weight=(
                None
                if sample_weight is None
                else _check_sample_weight(sample_weight, x, ensure_non_negative=True)
            ),
        )
        self.model_ = model

    def _outputs(self, x: Any) -> Array:
        check_is_fitted(self)
        checked = validate_data(self, x, reset=False)
        return np.asarray(self.model_.predict(checked), dtype=np.float64)

    # A fitted network is pickled as its config and state (plain data and arrays) and rebuilt
    # from them through the registry, as plugnet's model files are; not as live objects.
    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = dict(super().__getstate__())  # object's is the live __dict__
        model = state.get("model_")
        if isinstance(model, Model):
            state["model_"] = {"config": model.get_config(), "state": model.get_state()}
        history = state.get("history_")
        if getattr(history, "network", None) is not None:  # fit set it; __setstate__ restores it
            state["history_"] = copy.copy(history)
            del state["history_"].network
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.get("model_")
        if isinstance(saved, dict):
            model = Model.from_config(saved["config"])
            model.set_state(saved["state"])
            state = {**state, "model_": model}
            if "history_" in state:
                state["history_"].network = model
        super().__setstate__(state)


class PlugnetClassifier(ClassifierMixin, _PlugnetEstimator):
    """A plugnet network as a scikit-learn classifier.

    ``layers`` are the hidden layers (specs or instances; ``()`` for multinomial logistic
    regression); ``fit`` adds a dense softmax layer with one unit per class and trains with
    ``error`` (default cross-entropy). ``classes_`` holds the labels in sorted order (any
    labels ``numpy.unique`` sorts: integers, strings); ``predict_proba`` gives one column per
    class. ``random_state`` (an integer, or a NumPy RandomState) seeds the initialization,
    the shuffling and the validation split. After fit: ``model_`` (the network),
    ``history_`` (its :class:`~plugnet.history.History`), ``classes_``, ``n_features_in_``.
    """

    _output_activation = "softmax"
    _default_error = "cross_entropy"

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Train a fresh network on ``X`` (samples, features) and labels ``y``."""
        x, labels = validate_data(self, X, y)
        check_classification_targets(labels)
        self.classes_, encoded = np.unique(labels, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y, but y holds only one "
                f"class: {self.classes_[0]!r}"
            )
        self._fit_network(x, encoded, len(self.classes_), sample_weight)
        return self

    def predict_proba(self, X: Any) -> Array:
        """The probability of each class (columns in the order of ``classes_``), float64."""
        return self._outputs(X)

    def predict(self, X: Any) -> Array:
        """The most probable class of each sample."""
        probabilities = self.predict_proba(X)  # first: it says when the model is not fitted
        return self.classes_[np.argmax(probabilities, axis=1)]


class PlugnetRegressor(RegressorMixin, _PlugnetEstimator):
    """A plugnet network as a scikit-learn regressor.

    ``layers`` are the hidden layers (``()`` for linear regression); ``fit`` adds a dense
    layer with one identity unit per target column and trains with ``error`` (default mean
    squared error). ``y`` is (samples,) or (samples, targets); ``predict`` returns the same
    shape. Targets are used as given: scale them (``TransformedTargetRegressor`` with a
    ``StandardScaler``) when they are far from unit size. After fit: ``model_``,
    ``history_``, ``n_features_in_``, ``n_outputs_``.
    """

    _output_activation = "identity"
    _default_error = "mean_squared"

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Train a fresh network on ``X`` (samples, features) and targets ``y``."""
        x, targets = validate_data(self, X, y, multi_output=True, y_numeric=True)
        self._single_output = targets.ndim == 1
        self.n_outputs_ = 1 if targets.ndim == 1 else targets.shape[1]
        self._fit_network(x, np.asarray(targets, dtype=np.float64), self.n_outputs_, sample_weight)
        return self

    def predict(self, X: Any) -> Array:
        """The predicted targets: shape (samples,) when fit got (samples,)."""
        outputs = self._outputs(X)
        return outputs[:, 0] if self._single_output else outputs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _with_layer(layers: Any, path: str, value: Any) -> list[Any]:
    """``layers`` (a new list) with ``layers__<path>`` set: ``<index>`` replaces a hidden
    layer, ``<index>__<argument>`` sets one argument of its spec."""
    index_text, _, argument = path.partition("__")
    if isinstance(layers, (str, Mapping)) or not isinstance(layers, Sequence):
        raise ValueError(f"cannot set layers__{path}: layers is {layers!r}, not a list of specs")
    if not index_text.isdigit() or int(index_text) >= len(layers):
        raise ValueError(
            f"cannot set layers__{path}: {index_text!r} is not the index of a hidden layer "
            f"(0..{len(layers) - 1}); keys look like layers__0 or layers__0__units"
        )
    index = int(index_text)
    changed = list(layers)
    if argument:
        changed[index] = _with_argument(f"layers__{index}", layers[index], argument, value)
    else:
        changed[index] = value
    return changed


def _with_argument(name: str, spec: Any, argument: str, value: Any) -> dict[str, Any]:
    """A new dict spec: ``spec`` (a spec string or dict) with ``argument`` set to ``value``."""
    key = f"{name}__{argument}"
    if "__" in argument or not argument.isidentifier():
        raise ValueError(
            f"cannot set {key}: {argument!r} is not an argument name; a key sets one argument "
            f"of {name}'s spec, e.g. optimizer__lr or layers__0__units"
        )
    if isinstance(spec, str):
        parsed = parse_string(spec)
        return {"type": parsed.display, **parsed.kwargs, argument: value}
    if isinstance(spec, Mapping):  # checked when fit builds the network, as every spec is
        return {**spec, argument: value}
    raise ValueError(
        f"cannot set {key}: {name} is a {type(spec).__name__} instance, whose arguments are "
        f"its own; give {name} as a spec string or dict (e.g. 'adam(lr=1e-3)') to set them"
    )
