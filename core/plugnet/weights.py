"""Sample weights: ``fit``'s ``class_weight`` and ``sample_weight`` checked and combined, and the
weighted error they train on.

The weighted error of a batch is E_w = Σ_i w_i e_i / Σ_i w_i, e_i being each sample's error
(:class:`~plugnet.protocols.PerSampleError`): PyTorch's ``CrossEntropyLoss(weight=...)`` /
``NLLLoss(weight=...)`` with ``reduction="mean"`` for class weights, and
``(loss(reduction="none") * w).sum() / w.sum()`` for sample weights. Its gradient is the error's
``backward`` with row i scaled by N w_i / Σ_i w_i (:func:`row_scale`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np

from plugnet.arrays import are_classes
from plugnet.protocols import Array, ErrorFunction, PerSampleError


def checked_sample_weight(value: Any, samples: int, *, name: str = "sample_weight") -> Array:
    """``value`` as float64 weights of shape ``(samples,)``: real numbers, finite, >= 0 and not
    all 0; otherwise a ValueError naming ``name``."""
    weights = np.asarray(value)
    if weights.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} has dtype {weights.dtype}; it must hold real numbers, one weight per sample"
        )
    if weights.shape != (samples,):
        raise ValueError(
            f"{name} has shape {weights.shape}; give one weight per sample, shape ({samples},)"
        )
    weights = weights.astype(np.float64)
    if not np.all(np.isfinite(weights)):
        bad = int(np.argmax(~np.isfinite(weights)))
        raise ValueError(f"{name}[{bad}] is {weights[bad]}; weights must be finite")
    if np.any(weights < 0):
        bad = int(np.argmax(weights < 0))
        raise ValueError(f"{name}[{bad}] is {weights[bad]}; weights must be >= 0")
    if not np.any(weights > 0):
        raise ValueError(f"{name} is 0 for every sample; at least one sample needs weight > 0")
    return weights


def class_labels(t: Array) -> tuple[Array, int]:
    """Each sample's class index and the number of classes, from class targets (one-hot rows,
    or 0/1 in one column for one sigmoid unit: classes 0 and 1)."""
    if t.shape[1] == 1:
        return t[:, 0].astype(np.intp), 2
    return t.argmax(axis=1), t.shape[1]


def class_weight_table(class_weight: Any, t: Array) -> Array:
    """The weight of each class index for targets ``t`` (as ``prepare_data`` returns them).

    ``"balanced"`` is scikit-learn's ``compute_class_weight("balanced", classes=np.unique(y),
    y=y)``: n_samples / (n_classes * count) for each class present, n_classes counting the
    classes present. A dict maps class indices to weights; classes it leaves out weigh 1, as
    scikit-learn's dict form does.
    """
    if not are_classes(t):
        raise ValueError(
            "class_weight needs class targets (class labels, one-hot rows, or 0/1 for one "
            "sigmoid unit); for other targets give sample_weight"
        )
    labels, classes = class_labels(t)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"class_weight must be a dict {{class index: weight}} or 'balanced', got "
                f"{class_weight!r}"
            )
        counts = np.bincount(labels, minlength=classes).astype(np.float64)
        present = counts > 0
        table = np.zeros(classes)
        table[present] = len(labels) / (np.count_nonzero(present) * counts[present])
        return table
    if not isinstance(class_weight, Mapping):
        raise ValueError(
            f"class_weight must be a dict {{class index: weight}} or 'balanced', got a "
            f"{type(class_weight).__name__}"
        )
    table = np.ones(classes)
    for key, value in class_weight.items():
        if (
            isinstance(key, bool)
            or not isinstance(key, (int, np.integer))
            or not 0 <= key < classes
        ):
            raise ValueError(
                f"class_weight has the key {key!r}; its keys are class indices 0 to "
                f"{classes - 1} (the network has {classes} classes)"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.integer, np.floating))
            or not np.isfinite(value)
            or value < 0
        ):
            raise ValueError(
                f"class_weight[{key!r}] is {value!r}; a class weight is a finite number >= 0"
            )
        table[int(key)] = float(value)
    return table


def sample_weights(class_weight: Any, sample_weight: Array | None, t: Array) -> Array | None:
    """The per-sample weights to train on: the class weights of ``t``'s classes times
    ``sample_weight`` (already checked), as Keras multiplies them; None when neither is given."""
    if class_weight is None:
        return sample_weight
    weights = class_weight_table(class_weight, t)[class_labels(t)[0]]
    if sample_weight is not None:
        weights = weights * sample_weight
    if not np.any(weights > 0):
        raise ValueError(
            "class_weight (times sample_weight) gives every training sample weight 0; at least "
            "one sample needs weight > 0"
        )
    return weights


def require_per_sample(error: ErrorFunction) -> None:
    """Refuse weights for an error function that cannot give each sample's error."""
    if not isinstance(error, PerSampleError):
        raise ValueError(
            f"the error function {type(error).__name__} has no per_sample(y, t), so it cannot "
            f"train or evaluate with class_weight or sample_weight; give it per_sample (see "
            f"plugnet.protocols.PerSampleError) or train without weights"
        )


def weighted_sum(error: ErrorFunction, y: Array, t: Array, w: Array) -> tuple[float, float]:
    """(Σ w_i e_i, Σ w_i) for one batch, in float64: the numerator and denominator of E_w, which
    add up over batches to the weighted mean over an epoch. ``error`` has passed
    :func:`require_per_sample`."""
    per_sample = np.asarray(cast(PerSampleError, error).per_sample(y, t), dtype=np.float64)
    return float(np.dot(w, per_sample)), float(np.sum(w))


def row_scale(w: Array, like: Array) -> Array:
    """N w_i / Σ_i w_i in ``like``'s dtype, shaped to scale the rows of ``like`` (N, ...):
    turns dE/dy of the batch mean into dE_w/dy. All-ones weights give exactly 1."""
    total = np.sum(w) if np.shape(w) == like.shape[:1] else 0.0
    if not total > 0:
        raise ValueError(
            f"sample_weight has shape {np.shape(w)} and sum {np.sum(w)}, for a batch of "
            f"{like.shape[0]}; give one weight >= 0 per sample, not all 0"
        )
    scale = (len(w) * w / total).astype(like.dtype, copy=False)
    return scale.reshape(-1, *(1,) * (like.ndim - 1))
