"""Lanes (plugnet_builtins._lanes): conv2d's chunk loop in several threads at once, the BLAS
held to one thread while they run and given back after, errors raised only once every lane
has stopped, and one lane where threadpoolctl is missing."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet_builtins import _lanes, jit
from tests.test_jit import run_python

pytest.importorskip("numba")
threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_threads() -> list[int]:
    return [lib.num_threads for lib in _lanes._blas().lib_controllers]


def test_run_returns_each_result_in_order_from_the_calling_thread_and_workers() -> None:
    def where(value: int) -> Any:
        return lambda: (value, threading.current_thread().name, _lanes.count(), blas_threads())

    before = blas_threads()
    results = _lanes.run([where(k) for k in range(3)])
    assert [value for value, *_ in results] == [0, 1, 2]
    assert results[0][1] == threading.current_thread().name
    assert all(name.startswith("plugnet-lane") for _, name, *_ in results[1:])
    for _, _, lanes, threads in results:
        assert lanes == 1  # no lanes within lanes
        assert set(threads) == {1}  # the BLAS on one thread while they run
    assert blas_threads() == before  # and given back after


@pytest.mark.parametrize("failing", [0, 1])
def test_an_error_is_raised_after_every_lane_has_stopped(failing: int) -> None:
    finished: list[int] = []

    def task(index: int) -> Any:
        def body() -> int:
            if index == failing:
                raise ValueError(f"lane {index} failed")
            time.sleep(0.05)
            finished.append(index)
            return index

        return body

    before = blas_threads()
    with pytest.raises(ValueError, match=f"lane {failing} failed"):
        _lanes.run([task(k) for k in range(3)])
    assert sorted(finished) == [k for k in range(3) if k != failing]
    assert blas_threads() == before


def test_count_follows_the_blas_threads_and_use_overrides_it() -> None:
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert _lanes.count() == 1
    with _lanes.use(3):
        assert _lanes.count() == 3
        with _lanes.use(1):
            assert _lanes.count() == 1
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(ValueError, match="lanes must be a positive"), _lanes.use(bad):
            pass


def test_conv2d_runs_its_chunks_in_lanes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forward and backward each build columns on two threads when given two lanes."""
    from plugnet_builtins import _jit_kernels, conv

    monkeypatch.setattr(conv, "CHUNK_COLUMN_BYTES", 1)  # one sample a chunk
    seen: set[str] = set()
    compiled = _jit_kernels.im2col_rows

    def im2col_rows(*args: Any) -> None:
        seen.add(threading.current_thread().name)
        compiled(*args)

    monkeypatch.setattr(_jit_kernels, "im2col_rows", im2col_rows)
    layer = plugnet.layer({"type": "conv2d", "filters": 2, "kernel_size": 3})
    layer.build((1, 5, 5), rng=np.random.default_rng(0), dtype=np.dtype(np.float32))
    x = np.random.default_rng(1).standard_normal((4, 1, 5, 5)).astype(np.float32)
    with jit.use(True), _lanes.use(2):
        y = layer.forward(x, training=True)
        assert len(seen) == 2 and threading.current_thread().name in seen
        seen.clear()
        layer.backward(np.ones_like(y))
        assert len(seen) == 2
    assert layer.workspace.lane(1).nbytes() > 0  # the second lane's own buffers
    assert layer.workspace.nbytes() > layer.workspace.lane(1).nbytes()


STEP = """
    import numpy as np
    import plugnet
    from plugnet_builtins import _lanes, conv
    conv.CHUNK_COLUMN_BYTES = 1
    layer = plugnet.layer({"type": "conv2d", "filters": 2, "kernel_size": 3})
    layer.build((1, 5, 5), rng=np.random.default_rng(0), dtype=np.dtype(np.float32))
    x = np.ones((4, 1, 5, 5), np.float32)
    def step():
        with _lanes.use(2):
            y = layer.forward(x, training=True)
            layer.backward(np.ones_like(y))
        return float(layer.grads["w"].sum())
"""


def test_a_forked_child_gets_workers_of_its_own() -> None:
    """A child forked after lanes ran (multiprocessing's fork) would wait forever on the
    parent's workers, which it does not have."""
    result = run_python(
        STEP
        + """
    import os, signal
    parent = step()
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)  # a hang kills the child, and the parent sees it
        os._exit(0 if step() == parent else 3)
    _, status = os.waitpid(pid, 0)
    print("child exit:", os.waitstatus_to_exitcode(status))
    """
    )
    assert result.returncode == 0, result.stderr
    assert "child exit: 0" in result.stdout


def test_without_threadpoolctl_there_is_one_lane() -> None:
    result = run_python(
        """
    import sys
    sys.modules["threadpoolctl"] = None  # as if not installed: importing it fails
    """
        + STEP
        + """
    print("lanes:", _lanes.count(), "sum:", step())
    """
    )
    assert result.returncode == 0, result.stderr
    assert "lanes: 1 sum:" in result.stdout
