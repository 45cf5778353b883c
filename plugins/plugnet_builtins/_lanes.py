"""Lanes: a layer's chunk loop split over the cores, one Python thread per lane, with the BLAS
held to one thread per call while they run.

The compiled path of conv2d (:mod:`plugnet_builtins.jit`) walks a large batch in chunks of
samples, each with three small matrix products between compiled copies. With OpenBLAS's own
threads every product is split over the cores and every copy runs on one, and each of the
dozens of products per step waits for all of OpenBLAS's threads (on a virtual machine, a step
took 24–28 ms or 50–65 ms from one run to the next). In lanes each core runs whole chunks, its
copies and its products, from start to end: the numba kernels release the GIL and so does
NumPy's matmul.

The number of lanes is the BLAS's thread count (:func:`count`), so ``OPENBLAS_NUM_THREADS=1``
or ``threadpoolctl.threadpool_limits(1)`` keeps a layer on one core. The BLAS limit is
`threadpoolctl <https://github.com/joblib/threadpoolctl>`_'s (from the ``jit`` extra); without
it there is one lane, the calling thread, as before. While lanes run, the limit is process-wide:
a product that another Python thread starts then runs on one BLAS thread too.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # concurrent.futures is imported on the first lanes (7 ms at start-up)
    from concurrent.futures import Future, ThreadPoolExecutor

T = TypeVar("T")

_lock = threading.Lock()
_state: dict[str, Any] = {"active": 0, "limiter": None}  # lanes running, and their BLAS limit
_pool: list[ThreadPoolExecutor] = []  # the lanes' workers, once made
_override: list[int] = []  # the innermost use(...) block's lane count, if any


@functools.cache
def _blas() -> Any:
    """threadpoolctl's controller of the loaded BLAS libraries, made once; None without
    threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None  # not installed: one lane
    return ThreadpoolController().select(user_api="blas")


def count() -> int:
    """How many lanes a layer may run now: the BLAS's thread count (at least 1), or 1 without
    threadpoolctl, or within lanes already running, or inside ``use(1)``."""
    if _override:
        return _override[-1]
    blas = _blas()
    if blas is None or _state["active"]:
        return 1
    threads = [lib.num_threads for lib in blas.lib_controllers]
    return max(1, min(max(threads, default=1), os.cpu_count() or 1))


@contextmanager
def use(lanes: int) -> Iterator[None]:
    """Within the block, layers run ``lanes`` lanes (1: the calling thread only), whatever the
    BLAS's thread count; for tests and comparisons."""
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes must be a positive integer, got {lanes!r}")
    _override.append(lanes)
    try:
        yield
    finally:
        _override.pop()


def _executor() -> ThreadPoolExecutor:
    """The lanes' worker threads, made on first use."""
    from concurrent.futures import ThreadPoolExecutor

    with _lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(max(1, (os.cpu_count() or 2) - 1), "plugnet-lane"))
        return _pool[0]


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's threads: a copy of the parent's executor would
    wait forever for its workers, and the lock may have been held by one of them."""
    global _lock
    _lock = threading.Lock()
    _pool.clear()
    _state.update(active=0, limiter=None)


os.register_at_fork(after_in_child=_after_fork_in_child)


def _hold_blas(take: bool) -> None:
    """Limit the BLAS to one thread for the first lanes to start; restore it when the last end."""
    blas = _blas()
    if blas is None:
        return
    with _lock:
        if take:
            if _state["active"] == 0:
                _state["limiter"] = blas.limit(limits=1)
            _state["active"] += 1
        else:
            _state["active"] -= 1
            if _state["active"] == 0:
                _state["limiter"].restore_original_limits()
                _state["limiter"] = None


def run(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Each task's result, the first run on the calling thread and the others on the lanes'
    workers, all at once. Returns when every task has ended; the first exception raised in
    any of them is raised here, after all have ended (none still writes to a buffer)."""
    if len(tasks) == 1:
        return [tasks[0]()]
    from concurrent.futures import wait

    _hold_blas(True)
    futures: list[Future[T]] = []
    try:
        executor = _executor()
        futures = [executor.submit(task) for task in tasks[1:]]
        first = tasks[0]()
    finally:
        wait(futures)
        _hold_blas(False)
    return [first, *(future.result() for future in futures)]
