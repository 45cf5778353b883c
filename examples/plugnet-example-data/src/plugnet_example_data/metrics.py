"""The example metric: balanced accuracy, the mean over the classes of each class's recall.

A metric accumulates over an epoch (``reset``, ``update`` per batch, ``result``; the
:class:`~plugnet.protocols.Metric` protocol), so it keeps sums, never per-batch scores: for
each class the (weighted) number of samples and of those predicted right. As
``sklearn.metrics.balanced_accuracy_score``, a class that never occurs in the targets is left
out of the mean.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from plugnet.configurable import Configurable
from plugnet.protocols import Array


class BalancedAccuracy(Configurable):
    """Mean per-class recall: robust to imbalanced classes, 1/classes for a constant guess."""

    targets: ClassVar[Literal["classes", "values"]] = "classes"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._seen: Array | None = None  # per true class: weight seen, weight predicted right
        self._right: Array | None = None

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        y, t = np.asarray(y), np.asarray(t)
        if y.ndim != 2 or y.shape != t.shape:
            raise ValueError(
                f"balanced_accuracy: y has shape {y.shape} and t {t.shape}; give outputs and "
                f"one-hot targets of the same shape (N, classes)"
            )
        if y.shape[1] == 1:  # one sigmoid unit: classes 0 and 1 at the 0.5 threshold
            predicted, true, classes = (y[:, 0] >= 0.5).astype(int), (t[:, 0] >= 0.5), 2
            true = true.astype(int)
        else:
            predicted, true, classes = y.argmax(axis=1), t.argmax(axis=1), y.shape[1]
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        if self._seen is None or self._right is None:
            self._seen, self._right = np.zeros(classes), np.zeros(classes)
        elif len(self._seen) != classes:
            raise ValueError(
                f"balanced_accuracy: this batch has {classes} classes, earlier ones "
                f"{len(self._seen)}; reset() between data sets"
            )
        self._seen += np.bincount(true, weights=w, minlength=classes)
        self._right += np.bincount(true, weights=w * (predicted == true), minlength=classes)

    def result(self) -> float:
        if self._seen is None or self._right is None or not np.any(self._seen > 0):
            return float("nan")
        present = self._seen > 0
        return float(np.mean(self._right[present] / self._seen[present]))
