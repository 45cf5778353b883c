"""Checking user arrays before they reach a network: clear errors, nothing coerced silently."""

from __future__ import annotations

from typing import Any

import numpy as np

from plugnet.protocols import Array, Shape

_NUMERIC_KINDS = "biuf"


def as_inputs(x: Any, dtype: np.dtype[Any], *, name: str = "x") -> Array:
    """``x`` as a finite array of ``dtype`` with a batch axis and at least one feature axis."""
    array = np.asarray(x)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"{name} has dtype {array.dtype}; it must hold numbers (int or float)")
    if array.ndim < 2:
        raise ValueError(
            f"{name} has shape {array.shape}; it needs a batch axis and feature axes, "
            f"(samples, features...). For one feature per sample use {name}.reshape(-1, 1)"
        )
    if array.shape[0] == 0 or array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); give at least one sample")
    _check_finite(array, name)
    return array.astype(dtype, copy=False)


def _check_finite(
    array: Array, name: str, *, advice: str = "clean or impute them before training"
) -> None:
    # A NaN or inf makes the sum non-finite; the sum allocates nothing, unlike isfinite(array).
    # Only when the sum is not finite (which huge finite values can cause too) look closer.
    if array.dtype.kind != "f":
        return
    with np.errstate(over="ignore"):
        if np.isfinite(np.sum(array, dtype=np.float64)):
            return
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))
        raise ValueError(
            f"{name} holds {len(bad)} NaN or infinite values (the first at index "
            f"{tuple(int(i) for i in bad[0])}); {advice}"
        )


def as_targets(t: Any, output_shape: Shape, dtype: np.dtype[Any], *, samples: int) -> Array:
    """Targets shaped like the network's output.

    Integer class labels of shape (N,) become one-hot rows when the output has several units;
    a vector of shape (N,) becomes (N, 1) when the output has one unit.
    """
    array = np.asarray(t)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"t has dtype {array.dtype}; targets must be numbers")
    if array.ndim == 0 or array.shape[0] != samples:
        length = "a scalar" if array.ndim == 0 else f"{array.shape[0]} samples"
        raise ValueError(f"x has {samples} samples but t has {length}; they must match")
    _check_finite(array, "t")
    if array.ndim == 1 and output_shape == (1,):
        array = array.reshape(-1, 1)
    elif array.ndim == 1 and len(output_shape) == 1 and array.dtype.kind in "iu":
        classes = output_shape[0]
        if array.min() < 0 or array.max() >= classes:
            raise ValueError(
                f"t holds class labels from {array.min()} to {array.max()}, but the network has "
                f"{classes} outputs, so labels must lie in 0..{classes - 1}"
            )
        one_hot = np.zeros((samples, classes), dtype=dtype)
        one_hot[np.arange(samples), array] = 1
        return one_hot
    if array.shape[1:] != tuple(output_shape):
        raise ValueError(
            f"t has shape {array.shape} but the network's output has shape (N, "
            f"{', '.join(map(str, output_shape))}); give targets of that shape"
            + (", or integer class labels of shape (N,)" if len(output_shape) == 1 else "")
        )
    return array.astype(dtype, copy=False)


def are_classes(t: Array) -> bool:
    """Whether targets (after :func:`as_targets`) are class indicators: 0/1 values, and one-hot
    rows when there are several columns."""
    if t.ndim != 2 or not np.all((t == 0) | (t == 1)):
        return False
    return t.shape[1] == 1 or bool(np.all(t.sum(axis=1) == 1))


def correct_predictions(y: Array, t: Array) -> int:
    """How many rows of ``y`` pick the class that ``t`` marks (0.5 threshold for one column)."""
    if t.shape[1] == 1:
        return int(np.count_nonzero((y >= 0.5) == (t >= 0.5)))
    return int(np.count_nonzero(y.argmax(axis=1) == t.argmax(axis=1)))
