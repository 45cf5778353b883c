"""The timing loop the benchmarks share."""

from __future__ import annotations

import time
from collections.abc import Callable


def run_times(runs: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    """Seconds per repeat of each run, interleaving the runs so that drift hits each alike."""
    for run in runs.values():
        run()
        run()  # warm-up: buffers, BLAS threads
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times
