"""The ``onnx`` check of layers and activations: the component's registered ONNX lowering,
exported in a one-layer model and run by ONNX Runtime, must give what its forward gives (in
inference mode) within :data:`TOLERANCE`, in float32 and float64.

It applies only to a component with a registered lowering (``Registry.onnx_lowering``); where
``onnx`` or ``onnxruntime`` is not installed it is not run, and ``plugnet check`` says so
(:func:`missing_runtime`), while ``check_layer``/``check_activation`` on a component with a
lowering fail, naming the extra to install."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.protocols import Array
from plugnet.testing.checks.common import DTYPES, Subject
from plugnet.testing.gradients import ConformanceError

if TYPE_CHECKING:
    from plugnet._registry import Component
    from plugnet.network import Model

TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-9}
"""The largest |ONNX Runtime − forward| / max(1, |forward|) allowed, by dtype (the issue's)."""
EXTRA = 'pip install "plugnet[onnx]"'


def has_lowering(component: Component | None) -> bool:
    """Whether an ONNX lowering is registered for ``component`` (an unregistered one has
    none: lowerings are keyed by qualified name)."""
    if component is None or component.kind not in ("layer", "activation"):
        return False
    from plugnet.discovery import get_registry

    return get_registry().onnx_lowering(component) is not None


def missing_runtime() -> str | None:
    """Why the check cannot run here (onnx or onnxruntime not importable), or None."""
    missing = []
    for module in ("onnx", "onnxruntime"):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if not missing:
        return None
    verb, pronoun = ("are", "them") if len(missing) > 1 else ("is", "it")
    return f"{' and '.join(missing)} {verb} not installed; install {pronoun} with: {EXTRA}"


Example = tuple["Model", list[Array], Array, Array | None]
"""What the check runs for one dtype: the built one-layer model, its inputs, the forward's
output on them, and the activation's input (named in a failure) or None."""


def check(subject: Subject, example: Callable[[np.dtype[Any]], Example], inputs: str) -> float:
    """The check itself, for both kinds, on ``example(dtype)`` for each dtype (``inputs``
    describes them in messages); returns the worst float64 difference."""
    if not has_lowering(subject.component):
        raise ConformanceError(
            "no ONNX lowering is registered for it; a plugin gives it one with the "
            "register_onnx_lowerings hook (see docs/export.md)"
        )
    reason = missing_runtime()
    if reason is not None:
        raise ConformanceError(f"its ONNX lowering cannot be checked: {reason}")
    worst = 0.0
    for dtype in DTYPES:
        model, xs, expected, x = example(dtype)
        difference = _compare(_onnx_runtime(model, xs), expected, dtype, inputs, x)
        worst = difference if dtype == np.float64 else worst
    return worst


_scratch: list[tempfile.TemporaryDirectory[str]] = []


def _onnx_runtime(model: Model, xs: Sequence[Array]) -> Array:
    onnxruntime = importlib.import_module("onnxruntime")  # untyped; the onnx extra's

    # One folder for the process's exports (removed at exit): removing a folder per check
    # cost more than the check itself on some file systems.
    if not _scratch:
        _scratch.append(tempfile.TemporaryDirectory(prefix="plugnet-onnx-check-"))
    path = model.to_onnx(Path(_scratch[0].name) / "component.onnx")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # ONNX Runtime's own warnings are not the check's
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (output,) = session.run(None, dict(zip(model.input_names, xs, strict=True)))
    return np.asarray(output)


def _compare(
    got: Array, expected: Array, dtype: np.dtype[Any], inputs: str, x: Array | None = None
) -> float:
    """The worst |got − expected| / max(1, |expected|), refused beyond the dtype's tolerance;
    non-finite values must sit where the forward's are and equal them."""
    what = f"ONNX Runtime's output of the lowering on {inputs} {dtype} inputs"
    if got.shape != expected.shape:
        raise ConformanceError(f"{what} has shape {got.shape}, the forward's {expected.shape}")
    finite = np.isfinite(expected)
    if not np.array_equal(np.isfinite(got), finite) or not np.array_equal(
        got[~finite], expected[~finite]
    ):
        raise ConformanceError(f"{what} is not finite where the forward's is, or the reverse")
    if not finite.any():
        return 0.0
    difference = np.abs(got[finite].astype(np.float64) - expected[finite])
    scaled = difference / np.maximum(1.0, np.abs(expected[finite]))
    worst = float(scaled.max())
    if worst > TOLERANCE[dtype]:
        at = int(np.argmax(scaled))
        where = "" if x is None else f" at x = {float(x[finite][at])!r}"
        raise ConformanceError(
            f"{what} differs from the forward's by {worst:.2e} (relative where |y| > 1), more "
            f"than {TOLERANCE[dtype]:.0e}: {float(got[finite][at])!r}{where}, where the forward "
            f"gives {float(expected[finite][at])!r}"
        )
    return worst
