"""Time and memory bounds for the hostile-input tests: each call is timed, and its peak traced."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail unless the block finishes within ``seconds`` (it is not interrupted: a hang shows as
    the test's own timeout)."""
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.3f} s (limit {seconds} s)"


@dataclass
class Traced:
    """What :func:`traced` measured: the peak of traced allocations and the wall time."""

    peak: int = 0
    seconds: float = 0.0


@contextmanager
def traced() -> Iterator[Traced]:
    """Trace the block's allocations (tracemalloc) and time it; the result is filled on exit,
    also when the block raises."""
    result = Traced()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        result.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
