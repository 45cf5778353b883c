"""Checking user arrays before they reach a network: clear errors, nothing coerced silently."""

from __future__ import annotations

from typing import Any

import numpy as np

from plugnet.protocols import Array, Shape

_NUMERIC_KINDS = "biuf"

# A model's input batch: one array, or one per input (in the model's input order).
Inputs = Array | tuple[Array, ...]


def sample_count(x: Inputs) -> int:
    """The number of samples in a model's input batch."""
    return int((x[0] if isinstance(x, tuple) else x).shape[0])


def rows(x: Inputs, index: slice | Array) -> Inputs:
    """The samples ``index`` picks (a slice or an index array) from every input array."""
    if isinstance(x, tuple):
        return tuple(a[index] for a in x)
    return x[index]


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
    return cast_finite(array, dtype, name)


def as_indices(x: Any, count: int, *, who: str, name: str = "x") -> Array:
    """``x`` as it is, once checked to be integer token ids in ``range(count)`` with a batch
    axis, for ``who``, the layer that takes them (``"the first layer, 'embedding_1',"``).
    Never cast: a float array is refused rather than truncated."""
    array = np.asarray(x)
    if array.ndim < 1:
        raise ValueError(f"{name} is a scalar; give token ids with a batch axis, (samples, ...)")
    if array.shape[0] == 0 or array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); give at least one sample")
    check_indices(array, count, who=who, name=name)
    return array


def check_indices(array: Array, count: int, *, who: str, name: str) -> None:
    """Refuse anything but integer ids in [0, count): a cast would truncate floats, and NumPy
    indexing would wrap negative ids to the end, both silently. ``who`` takes the ids (a layer)
    and ``name`` is the array's name in the message."""
    if array.dtype.kind not in "iu":
        raise ValueError(
            f"{who} takes integer token ids in 0..{count - 1}, but {name} has dtype "
            f"{array.dtype}; pass integer ids, e.g. {name}.astype(np.int64) when they are whole "
            f"numbers"
        )
    if array.size == 0:
        return
    low, high = array.min(), array.max()
    if low < 0 or high >= count:
        bad = low if low < 0 else high
        index = tuple(int(i) for i in np.argwhere(array == bad)[0])
        raise ValueError(
            f"{who} takes token ids in 0..{count - 1}, but {name} holds {bad.item()} at index "
            f"{index}; map the ids into that range, or give the layer a larger input_dim"
        )


def cast_finite(array: Array, dtype: np.dtype[Any], name: str) -> Array:
    """``array`` in ``dtype``, refusing NaN and infinity, including values that only become
    infinite in the cast (1e300 in float32)."""
    check_finite(array, name)
    with np.errstate(over="ignore"):  # an overflow in the cast is reported below, by index
        cast = array.astype(dtype, copy=False)
    if cast is not array and not _all_finite(cast):
        index = _first_nonfinite(cast)
        raise ValueError(
            f"{name} holds {array[index].item()!r} at index {index}, which is too large for "
            f"{dtype.name} (largest {np.finfo(dtype).max:.4g}); scale {name} or use "
            f"dtype='float64'"
        )
    return cast


# From this many elements on, a finiteness check sums rows with BLAS (see _all_finite).
_BLAS_SUM_SIZE = 1 << 16


def _all_finite(array: Array) -> bool:
    # A NaN or inf makes a sum non-finite, and a sum allocates next to nothing, unlike
    # isfinite(array). Only when a sum is not finite (which huge finite values can cause too)
    # look closer. A large C-ordered array is summed per row as a matrix-vector product, which
    # BLAS runs on every core (60000×784 float32: 7 ms, against 15 ms for np.sum in float32
    # and 28 ms in float64); a NaN or inf in a row makes that row's product non-finite too.
    if array.dtype.kind != "f":
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if array.ndim >= 2 and array.size >= _BLAS_SUM_SIZE and array.flags.c_contiguous:
            matrix = array.reshape(array.shape[0], -1)
            sums = matrix @ np.ones(matrix.shape[1], dtype=array.dtype)
        else:
            sums = array.sum()
        if np.isfinite(sums).all():
            return True
    return bool(np.isfinite(array).all())


def _first_nonfinite(array: Array) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])


def check_finite(
    array: Array, name: str, *, advice: str = "clean or impute them before training"
) -> None:
    """Raise a ValueError naming ``name`` if a floating-point ``array`` holds NaN or infinity."""
    if not _all_finite(array):
        count = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(
            f"{name} holds {count} NaN or infinite values (the first at index "
            f"{_first_nonfinite(array)}); {advice}"
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
    check_finite(array, "t")
    if array.ndim == 1 and output_shape == (1,):
        array = array.reshape(-1, 1)
    elif array.ndim == 1 and len(output_shape) == 1 and output_shape[0] > 1:
        array = _class_labels(array)
        classes = output_shape[0]
        if array.min() < 0 or array.max() >= classes:
            raise ValueError(
                f"t holds class labels from {array.min()} to {array.max()}, but the network has "
                f"{classes} outputs, so labels must lie in 0..{classes - 1}"
            )
        one_hot = np.zeros((samples, classes), dtype=dtype)
        one_hot[np.arange(samples), array.astype(np.intp)] = 1
        return one_hot
    if array.shape[1:] != tuple(output_shape):
        raise ValueError(
            f"t has shape {array.shape} but the network's output has shape (N, "
            f"{', '.join(map(str, output_shape))}); give targets of that shape"
            + (", or integer class labels of shape (N,)" if len(output_shape) == 1 else "")
        )
    return cast_finite(array, dtype, "t")


def _class_labels(t: Array) -> Array:
    """Class labels; floats are accepted when every one is a whole number (``y.astype(float)``,
    or labels read from a CSV file)."""
    if t.dtype.kind == "f":
        fractional = t != np.round(t)
        if fractional.any():
            index = int(np.argmax(fractional))
            raise ValueError(
                f"t has shape {t.shape}, which for a network with several outputs means class "
                f"labels, but t[{index}] = {t[index].item()!r} is not a whole number. Give integer "
                f"labels, or targets of shape (N, outputs)"
            )
    return t


def are_classes(t: Array) -> bool:
    """Whether targets (after :func:`as_targets`) are class indicators: 0/1 values, and one-hot
    rows when there are several columns."""
    if t.ndim != 2 or not np.all((t == 0) | (t == 1)):
        return False
    return t.shape[1] == 1 or bool(np.all(t.sum(axis=1) == 1))
