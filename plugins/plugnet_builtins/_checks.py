"""Argument checks shared by the built-in components."""

from __future__ import annotations

from typing import Any

import numpy as np


def number(name: str, value: Any) -> float:
    """``value`` as a float, refusing bools, strings and other non-numbers by ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)
