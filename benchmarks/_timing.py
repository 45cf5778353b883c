"""The timing loop the benchmarks share."""

from __future__ import annotations

import time
from collections.abc import Callable

# Seconds to wait before each timed run. OpenBLAS's worker threads (NumPy) and OpenMP's
# (PyTorch) keep spinning for a while after each call, and a run that starts while the other
# library's threads still spin shares the 2 cores with them: PyTorch's conv2d step took 46 ms
# right after a NumPy one and 21 ms after a pause of 0.2 s (0.05 s was not enough: 77 ms).
# After the pause one untimed run wakes the run's own threads and warms its caches, so the
# timed run is a step of a training loop's steady state, where steps follow each other.
PAUSE = 0.25


def run_times(
    runs: dict[str, Callable[[], None]], repeats: int, *, pause: float | None = None
) -> dict[str, list[float]]:
    """Seconds per repeat of each run, interleaving the runs so that drift hits each alike,
    each after ``pause`` seconds idle (default :data:`PAUSE`, read at the call) and one
    untimed run of its own, so that it never shares the cores with the threads of the run
    before it, nor pays to wake its own."""
    pause = PAUSE if pause is None else pause
    for run in runs.values():
        run()
        run()  # warm-up: buffers, BLAS threads
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            if pause:
                time.sleep(pause)
                run()
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times
