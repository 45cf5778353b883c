"""Optional compiled kernels: numba, from the ``jit`` extra (``pip install "plugnet[jit]"``).

Where numba is installed, batch_norm on (N, C, H, W) inputs, lstm, conv2d's and conv1d's
im2col, col2im and layout swaps, and the max and average pools whose windows tile the input
(stride = pool_size, no padding, no rows or columns left over) run loops that numba compiles
(:mod:`plugnet_builtins._jit_kernels`) in place of chains of NumPy operations; elsewhere the
NumPy code runs. A layer chooses at each forward and keeps that choice for its backward. Both
compute the same formulas and agree to float rounding; float32 stays float32. numba is imported
the first time a kernel is needed, never at ``import plugnet``, and each kernel is compiled on
its first call (about a second, then cached on disk).

``PLUGNET_JIT=0`` turns the kernels off, ``PLUGNET_JIT=1`` requires them (an ImportError naming
the extra where numba is missing); unset, they are used where numba imports. :func:`use` switches
them within a ``with`` block, e.g. to compare both paths.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np

from plugnet.protocols import Array

ENVIRONMENT_VARIABLE = "PLUGNET_JIT"
_INSTALL = 'pip install "plugnet[jit]"'
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_override: list[bool] = []  # the innermost use(...) block's choice, if any
_loaded: list[ModuleType | None] = []  # the kernels module (or None), once looked for
_why: list[str] = []  # why it is None


def _requested() -> bool | None:
    """PLUGNET_JIT as True (1), False (0) or None (unset or empty: where numba imports)."""
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if value in ("", "auto"):
        return None
    if value in ("0", "1"):
        return value == "1"
    raise ValueError(
        f"{ENVIRONMENT_VARIABLE}={value!r} is not a setting: use 1 (require the compiled "
        f"kernels), 0 (NumPy only) or leave it unset (compiled kernels where numba is installed)"
    )


def _load(required: bool) -> ModuleType | None:
    """The kernels module, importing numba once; None where numba is missing or broken and
    the kernels are not required (a RuntimeWarning, once, where it is broken)."""
    if not _loaded:
        _loaded.append(None)
        if importlib.util.find_spec("numba") is None:
            _why.append("numba is not installed")
        else:
            try:
                from plugnet_builtins import _jit_kernels
            except Exception as error:  # numba present but unusable (e.g. NumPy too new)
                _why.append(f"numba does not import ({type(error).__name__}: {error})")
                warnings.warn(
                    f"{_why[0]}; plugnet runs its NumPy kernels instead (set "
                    f"{ENVIRONMENT_VARIABLE}=0 to silence this)",
                    RuntimeWarning,
                    stacklevel=3,
                )
            else:
                _loaded[0] = _jit_kernels
    if _loaded[0] is None and required:
        raise ImportError(
            f"the compiled kernels are required ({ENVIRONMENT_VARIABLE}=1 or jit.use(True)), "
            f"but {_why[0]}; install them with {_INSTALL}, or unset {ENVIRONMENT_VARIABLE}"
        )
    return _loaded[0]


def kernels() -> ModuleType | None:
    """The compiled kernels module where they are on, else None (run the NumPy code)."""
    choice = _override[-1] if _override else _requested()
    if choice is False:
        return None
    return _load(required=choice is True)


def takes(like: Array) -> bool:
    """Whether the kernels take ``like``: a non-empty float32 or float64 array, the two dtypes
    they are compiled for."""
    return like.size > 0 and like.dtype in _DTYPES


def for_array(like: Array) -> ModuleType | None:
    """:func:`kernels` for an array the kernels take (:func:`takes`), else None."""
    return kernels() if takes(like) else None


def enabled() -> bool:
    """Whether layers run the compiled kernels now."""
    return kernels() is not None


@contextmanager
def use(flag: bool) -> Iterator[None]:
    """Within the block, run the compiled kernels (True; an ImportError where numba is
    missing) or the NumPy code (False), whatever ``PLUGNET_JIT`` says."""
    if flag:
        _load(required=True)
    _override.append(bool(flag))
    try:
        yield
    finally:
        _override.pop()
