"""The expectations checks state: each raises :class:`ConformanceError` saying what was
wrong (``expect.array(y, shape=..., dtype=..., what="forward output")``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from plugnet.protocols import Array
from plugnet.testing.gradients import ConformanceError
from plugnet.testing.inputs import no_numpy_warnings


def unchanged(before: Array, after: Array, what: str) -> None:
    if before.shape != after.shape or not np.array_equal(before, after, equal_nan=True):
        changed = np.argwhere(before != after)
        where = tuple(int(i) for i in changed[0]) if len(changed) else ()
        raise ConformanceError(
            f"{what} was modified in place (first change at index {where}); work on a copy"
        )


def array(value: Any, *, shape: tuple[int, ...], dtype: np.dtype[Any], what: str) -> None:
    if not isinstance(value, np.ndarray):
        raise ConformanceError(f"{what} is a {type(value).__name__}, not a numpy array")
    if value.shape != shape:
        raise ConformanceError(f"{what} has shape {value.shape}, expected {shape}")
    if value.dtype != dtype:
        raise ConformanceError(
            f"{what} has dtype {value.dtype} for {dtype} inputs; keep the input's dtype "
            f"(use Python floats or arrays of the input's dtype for constants)"
        )


def finite(value: Array, what: str) -> None:
    if not np.all(np.isfinite(value)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
        raise ConformanceError(f"{what} is not finite: {value[bad]} at index {bad}")


def identical(first: Array, second: Array | None, what: str) -> None:
    if second is None:
        raise ConformanceError(f"{what}: the second is missing")
    if not np.array_equal(first, second):
        diff = float(np.max(np.abs(np.asarray(first, float) - np.asarray(second, float))))
        raise ConformanceError(f"{what} differ (worst absolute difference {diff:.3g})")


def quiet(what: str, compute: Callable[..., Any], *args: Any) -> Any:
    """``compute(*args)`` with NumPy's warnings turned into a ConformanceError naming ``what``."""
    try:
        with no_numpy_warnings():
            return compute(*args)
    except (FloatingPointError, Warning) as exc:
        raise ConformanceError(f"{what} raised a NumPy warning: {exc}") from None


def untouched(what: str, compute: Callable[..., Any], **inputs: Array) -> Any:
    """``compute(*inputs)``, checking that it left each input as it was (``what`` names the
    call, e.g. ``"backward"``, and the keywords the inputs)."""
    before = {name: value.copy() for name, value in inputs.items()}
    result = compute(*inputs.values())
    for name, value in inputs.items():
        unchanged(before[name], value, f"{what}'s input {name}")
    return result


def quiet_and_finite(what: str, compute: Callable[..., Any], *args: Any) -> Any:
    """``compute(*args)``, which must raise no NumPy warning and return only finite numbers."""
    value = quiet(what, compute, *args)
    finite(value, what)
    return value
