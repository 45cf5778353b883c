"""Metrics: scores accumulated over a whole epoch or data set, never a mean of batch scores.

Each keeps sums (counts, a confusion matrix, per-output sums) in float64 and computes its
result from them, so the result does not depend on the batch size and equals scikit-learn's
function of the same name on all the samples at once (``sklearn.metrics``; tests/test_metrics.py
compares them to 1e-12). ``update(y, t, sample_weight=None)`` takes a batch of outputs ``y`` and
targets ``t`` of the same shape; weights are finite, ≥ 0 and of shape ``(N,)``.

Class metrics read the predicted class as the argmax of each row of ``y`` and the true one as the
argmax of ``t`` (one-hot rows); with one output unit (a sigmoid) the class is ``y ≥ 0.5``, and
``t ≥ 0.5``, as plugnet's accuracy has always done (Keras thresholds with ``y > 0.5``; they differ
only at exactly 0.5). A division by zero (a class never predicted, in precision) counts as 0,
which is scikit-learn's ``zero_division=0``, without a warning. Regression metrics flatten each
sample's outputs and average the per-output scores (scikit-learn's ``"uniform_average"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

import numpy as np

from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Array, Conformance

Average = Literal["auto", "binary", "macro", "micro", "weighted"]
AVERAGES = ("auto", "binary", "macro", "micro", "weighted")


def _checked(name: str, y: Array, t: Array, sample_weight: Array | None) -> tuple[Array, Array]:
    """``y`` and ``t`` as arrays, after checking their shapes and the weights."""
    y, t = np.asarray(y), np.asarray(t)
    if y.ndim < 2 or y.shape != t.shape:
        raise ValueError(
            f"{name}: y has shape {y.shape} and t has shape {t.shape}; give a batch of outputs "
            f"and targets of the same shape (N, outputs), as the network sees them"
        )
    if sample_weight is not None:
        w = np.asarray(sample_weight)
        if w.shape != (y.shape[0],) or w.dtype.kind not in "biuf":
            raise ValueError(
                f"{name}: sample_weight has shape {w.shape} and dtype {w.dtype}; give one "
                f"number per sample, shape ({y.shape[0]},)"
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"{name}: sample_weight must be finite and >= 0")
    return y, t


def _batch(name: str, y: Array, t: Array, sample_weight: Array | None) -> tuple[Array, Array]:
    """``y`` and ``t`` as float64 of shape (N, outputs), after checking them and the weights."""
    y, t = _checked(name, y, t, sample_weight)
    rows = y.shape[0]
    return (
        y.reshape(rows, -1).astype(np.float64, copy=False),
        t.reshape(rows, -1).astype(np.float64, copy=False),
    )


def _weights(sample_weight: Array | None, rows: int) -> Array:
    if sample_weight is None:
        return np.ones(rows)
    return np.asarray(sample_weight, dtype=np.float64)


def _ratio(numerator: Array, denominator: Array) -> Array:
    """numerator / denominator, with 0 where the denominator is 0 (and no warning)."""
    out = np.zeros(np.shape(numerator))
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


class _ClassMetric(Configurable):
    name: ClassVar[str]
    targets: ClassVar[Literal["classes", "values"]] = "classes"

    def _labels(self, y: Array, t: Array, sample_weight: Array | None) -> tuple[Array, Array, int]:
        """Predicted and true class of each sample, and the number of classes."""
        if np.ndim(y) != 2:
            raise ValueError(
                f"{self.name}: y has shape {np.shape(y)}; a class metric takes outputs of "
                f"shape (N, classes), or (N, 1) for one sigmoid unit"
            )
        # No float64 copy: an argmax, or a comparison with 0.5 (exact in float32), needs none.
        y, t = _checked(self.name, y, t, sample_weight)
        if y.shape[1] == 1:
            return (y[:, 0] >= 0.5).astype(np.intp), (t[:, 0] >= 0.5).astype(np.intp), 2
        return y.argmax(axis=1), t.argmax(axis=1), y.shape[1]


class Accuracy(_ClassMetric):
    """accuracy = Σᵢ wᵢ [ŷᵢ = tᵢ] / Σᵢ wᵢ, the share of samples whose class is predicted.

    Weighted when sample weights are given. ``sklearn.metrics.accuracy_score``.
    """

    name = "accuracy"
    conformance = Conformance(cases=({"input_shape": (10,)}, {"input_shape": (1,)}))

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._correct = 0.0
        self._total = 0.0

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        predicted, true, _ = self._labels(y, t, sample_weight)
        hits = predicted == true
        if sample_weight is None:
            self._correct += int(np.count_nonzero(hits))
            self._total += hits.size
        else:
            w = _weights(sample_weight, hits.size)
            self._correct += float(w @ hits)
            self._total += float(w.sum())

    def result(self) -> float:
        return float(self._correct / self._total) if self._total > 0 else float("nan")


class TopKAccuracy(_ClassMetric):
    """The share of samples whose true class is among the k highest outputs.

    Ties rank the higher class index first, as ``sklearn.metrics.top_k_accuracy_score`` does.
    It needs more than k outputs (with k or fewer it would always be 1).
    """

    name = "top_k_accuracy"
    conformance = Conformance(
        cases=({"input_shape": (10,)}, {"config": {"k": 2}, "input_shape": (3,)})
    )

    def __init__(self, k: int = 5) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        self.k = k
        self.reset()

    def reset(self) -> None:
        self._hits = 0.0
        self._total = 0.0

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        if np.ndim(y) != 2 or np.shape(y)[1] <= self.k:
            raise ValueError(
                f"top_k_accuracy(k={self.k}) needs outputs of shape (N, classes) with more "
                f"than {self.k} classes, but y has shape {np.shape(y)}; choose a smaller k"
            )
        y2, t2 = _batch(self.name, y, t, sample_weight)
        classes = y2.shape[1]
        true = t2.argmax(axis=1)
        score = y2[np.arange(len(true)), true][:, None]
        later = np.arange(classes)[None, :] > true[:, None]
        rank = np.count_nonzero((y2 > score) | ((y2 == score) & later), axis=1)
        hits = rank < self.k
        w = _weights(sample_weight, len(hits))
        self._hits += float(w @ hits)
        self._total += float(w.sum())

    def result(self) -> float:
        return self._hits / self._total if self._total > 0 else float("nan")


_CONFUSION_CASES = Conformance(
    cases=(
        {"input_shape": (10,)},
        {"input_shape": (1,)},
        {"config": {"average": "binary"}, "input_shape": (1,)},
        {"config": {"average": "binary"}, "input_shape": (2,)},
        {"config": {"average": "micro"}},
        {"config": {"average": "weighted"}},
    )
)


class _ConfusionMetric(_ClassMetric):
    """A score per class from the accumulated confusion matrix C (rows: true class, columns:
    predicted), averaged as ``average`` says:

    - ``"macro"``: the plain mean over the classes that occur in the targets or predictions
      (scikit-learn leaves out a class that occurs in neither);
    - ``"weighted"``: the mean weighted by each class's (weighted) count in the targets;
    - ``"micro"``: the score of the summed counts of every class;
    - ``"binary"``: the score of class 1 alone, for one sigmoid unit (or two softmax units);
    - ``"auto"`` (the default): ``"binary"`` for one output unit, else ``"macro"``.

    ``average=None``, which means per-class scores in scikit-learn and Keras, is refused: a
    metric returns one number.
    """

    conformance = _CONFUSION_CASES

    def __init__(self, average: Average = "auto") -> None:
        if average is None:
            raise ValueError(
                f"{self.name}: average=None asks for a score per class (as in scikit-learn and "
                f"Keras), but a metric returns one number; use 'macro', 'micro', 'weighted' or "
                f"'binary' (the default 'auto' is 'binary' for one output unit, else 'macro')"
            )
        if average not in AVERAGES:
            raise ValueError(
                f"{self.name}: average must be one of {', '.join(map(repr, AVERAGES))}, "
                f"got {average!r}"
            )
        self.average = average
        self.reset()

    def reset(self) -> None:
        self._matrix: Array | None = None
        self._units = 0

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        predicted, true, classes = self._labels(y, t, sample_weight)
        units = np.shape(y)[1]
        if self.average == "binary" and units > 2:
            raise ValueError(
                f"{self.name}(average='binary') scores class 1 of two, but y has {units} "
                f"outputs; use average='macro', 'micro' or 'weighted' for several classes"
            )
        if self._matrix is None:
            self._matrix, self._units = np.zeros((classes, classes)), units
        elif units != self._units:
            raise ValueError(
                f"{self.name}: this batch has {units} outputs but earlier ones had "
                f"{self._units}; call reset() before scoring another network's outputs"
            )
        counts = np.bincount(
            true * classes + predicted,
            weights=None if sample_weight is None else _weights(sample_weight, len(true)),
            minlength=classes * classes,
        )
        self._matrix += counts.reshape(classes, classes)

    def _average_of(self, score: Callable[[Array, Array, Array], Array]) -> float:
        """``score(tp, predicted, true)`` (arrays of counts) averaged over the classes."""
        if self._matrix is None:
            return float("nan")
        tp = np.diag(self._matrix)
        predicted, true = self._matrix.sum(axis=0), self._matrix.sum(axis=1)
        if true.sum() == 0:  # only zero weights so far
            return float("nan")
        average = self.average
        if average == "auto":
            average = "binary" if self._units == 1 else "macro"
        if average == "binary":
            return float(score(tp[1:2], predicted[1:2], true[1:2])[0])
        if average == "micro":
            return float(score(tp.sum(keepdims=True), predicted.sum(keepdims=True),
                               true.sum(keepdims=True))[0])  # fmt: skip
        present = (true + predicted) > 0
        scores = score(tp[present], predicted[present], true[present])
        if average == "weighted":
            return float(np.average(scores, weights=true[present]))
        return float(scores.mean())


class Precision(_ConfusionMetric):
    """precision = TP / (TP + FP) per class, averaged over the classes as ``average`` says.

    0 for a class that is never predicted. ``sklearn.metrics.precision_score(...,
    zero_division=0)``.
    """

    name = "precision"

    def result(self) -> float:
        return self._average_of(lambda tp, predicted, true: _ratio(tp, predicted))


class Recall(_ConfusionMetric):
    """recall = TP / (TP + FN) per class, averaged over the classes as ``average`` says.

    0 for a class absent from the targets. ``sklearn.metrics.recall_score(...,
    zero_division=0)``.
    """

    name = "recall"

    def result(self) -> float:
        return self._average_of(lambda tp, predicted, true: _ratio(tp, true))


class F1(_ConfusionMetric):
    """F1 = 2 TP / (2 TP + FP + FN) per class, averaged over the classes as ``average`` says.

    The harmonic mean of precision and recall; 0 when TP + FP + FN = 0.
    ``sklearn.metrics.f1_score(..., zero_division=0)``: the macro F1 is the mean of the
    per-class F1, not the F1 of the macro precision and recall.
    """

    name = "f1"

    def result(self) -> float:
        return self._average_of(lambda tp, predicted, true: _ratio(2 * tp, predicted + true))


class _RegressionMetric(Configurable):
    """Per-output sums Σᵢ wᵢ term(yᵢ − tᵢ) and the total weight W over every sample so far; the
    result is the mean over the outputs of score(sum / W)."""

    name: ClassVar[str]
    targets: ClassVar[Literal["classes", "values"]] = "values"
    conformance = Conformance(cases=({"input_shape": (3,)}, {"input_shape": (1,)}))

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._sums: Array | None = None
        self._weight = 0.0

    def _term(self, residual: Array) -> Array:
        """What is summed for each output of each sample: the squared residual by default."""
        return residual * residual

    def _score(self, per_output: Array) -> Array:
        """Each output's score from its weighted mean of ``term``: the mean by default."""
        return per_output

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        y2, t2 = _batch(self.name, y, t, sample_weight)
        w = _weights(sample_weight, len(y2))
        sums = w @ self._term(y2 - t2)
        if self._sums is None:
            self._sums = sums
        elif sums.shape != self._sums.shape:
            raise ValueError(
                f"{self.name}: this batch has {sums.size} outputs per sample but earlier ones "
                f"had {self._sums.size}; call reset() before scoring another network's outputs"
            )
        else:
            self._sums = self._sums + sums
        self._weight += float(w.sum())

    def result(self) -> float:
        if self._sums is None or self._weight == 0:
            return float("nan")
        return float(self._score(self._sums / self._weight).mean())


class MSE(_RegressionMetric):
    """Mean squared error, (1/W) Σᵢ wᵢ (yᵢ − tᵢ)² per output, averaged over the outputs.

    ``sklearn.metrics.mean_squared_error``.
    """

    name = "mse"


class MAE(_RegressionMetric):
    """Mean absolute error, (1/W) Σᵢ wᵢ |yᵢ − tᵢ| per output, averaged over the outputs.

    ``sklearn.metrics.mean_absolute_error``.
    """

    name = "mae"

    def _term(self, residual: Array) -> Array:
        return np.abs(residual)


class RMSE(_RegressionMetric):
    """Root mean squared error, √((1/W) Σᵢ wᵢ (yᵢ − tᵢ)²) per output, averaged over the outputs.

    As ``sklearn.metrics.root_mean_squared_error`` does; Keras instead takes the root of the mean
    over all outputs (the two agree for one output).
    """

    name = "rmse"

    def _score(self, per_output: Array) -> Array:
        return np.sqrt(per_output)


class R2(Configurable):
    """R² = 1 − Σᵢ wᵢ (tᵢ − yᵢ)² / Σᵢ wᵢ (tᵢ − t̄)² per output, averaged over the outputs.

    The coefficient of determination; t̄ is the weighted mean of the targets.
    ``sklearn.metrics.r2_score``: an output whose targets are constant scores 1 when it is
    predicted exactly and 0 otherwise, and fewer than two samples give NaN.

    The spread Σᵢ wᵢ (tᵢ − t̄)² is accumulated by Chan, Golub and LeVeque's pairwise update of
    the mean and the sum of squared deviations ("Updating formulae and a pairwise algorithm for
    computing sample variances", 1979), which loses no precision to cancellation as
    Σ w t² − (Σ w t)² / W would when the targets are far from 0.
    """

    name = "r2"
    targets: ClassVar[Literal["classes", "values"]] = "values"
    conformance = Conformance(cases=({"input_shape": (3,)}, {"input_shape": (1,)}))

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._samples = 0
        self._weight = 0.0
        self._mean: Array | None = None  # of t, per output
        self._spread: Array | None = None  # Σ w (t − mean)², per output
        self._residual: Array | None = None  # Σ w (t − y)², per output

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        y2, t2 = _batch(self.name, y, t, sample_weight)
        if self._mean is not None and self._mean.shape[0] != t2.shape[1]:
            raise ValueError(
                f"r2: this batch has {t2.shape[1]} outputs per sample but earlier ones had "
                f"{self._mean.shape[0]}; call reset() before scoring another network's outputs"
            )
        w = _weights(sample_weight, len(t2))
        weight = float(w.sum())
        residual = w @ ((t2 - y2) ** 2)
        self._samples += len(t2)
        if self._mean is None or self._spread is None or self._residual is None:
            self._mean, self._spread = np.zeros(t2.shape[1]), np.zeros(t2.shape[1])
            self._residual = residual
        else:
            self._residual = self._residual + residual
        if weight == 0:
            return
        mean = (w @ t2) / weight
        spread = w @ ((t2 - mean) ** 2)
        total = self._weight + weight
        delta = mean - self._mean
        self._mean = self._mean + delta * (weight / total)
        self._spread = self._spread + spread + delta * delta * (self._weight * weight / total)
        self._weight = total

    def result(self) -> float:
        if self._samples < 2 or self._weight == 0 or self._spread is None:
            return float("nan")
        assert self._residual is not None
        explained = _ratio(self._residual, self._spread)
        scores = np.where(self._spread != 0, 1.0 - explained, 0.0)
        scores[(self._residual == 0)] = 1.0
        return float(scores.mean())


@hookimpl
def register_metrics(register: Register) -> None:
    register(Accuracy, name="accuracy", aliases=("acc",))
    register(TopKAccuracy, name="top_k_accuracy")
    register(Precision, name="precision")
    register(Recall, name="recall")
    register(F1, name="f1", aliases=("f1_score",))
    register(MSE, name="mse", aliases=("mean_squared_error",))
    register(MAE, name="mae", aliases=("mean_absolute_error",))
    register(RMSE, name="rmse", aliases=("root_mean_squared_error",))
    register(R2, name="r2", aliases=("r2_score",))
