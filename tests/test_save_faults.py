"""Saves that are killed or fail: the old file stays intact and loads bit-identically, and what a
killed save leaves behind is recognized and removed by the next save to that path."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
import plugnet_builtins
from plugnet import serialization
from plugnet.network import Sequential
from plugnet.serialization import TEMPORARY_MARK, model_config

SAVER = """
import sys
import numpy as np
from plugnet.network import Sequential

net = Sequential(
    [{"type": "dense", "units": 320, "name": "a"}, {"type": "dense", "units": 320}],
    error="square",
    optimizer="adam",
    seed=int(sys.argv[2]),
)
x = np.random.default_rng(0).standard_normal((8, 320))
net.fit(x, x, epochs=1, batch_size=8, verbose=0)
print("saving", flush=True)
while True:
    net.save(sys.argv[1])
"""


def identity(net: Sequential) -> dict[str, Any]:
    return model_config(net, net.get_state(copy=False)["arrays"])


def saver(path: Path, seed: int) -> subprocess.Popen[str]:
    roots = {Path(plugnet.__file__).parent.parent, Path(plugnet_builtins.__file__).parent.parent}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, roots), os.environ.get(
        "PYTHONPATH", "")])}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-c", SAVER, str(path), str(seed)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMPORARY_MARK in p.name)


def test_killed_saves_leave_the_old_file_intact_and_their_leftovers_are_removed(
    tmp_path: Path,
) -> None:
    """Savers of two different models (seeds 7 and 11) are killed at random moments, some while
    a save is writing; each time the file must load as exactly one of the two models, as first
    seen."""
    target = tmp_path / "model.npz"
    processes = [saver(target, seed=7)]
    pattern = random.Random(0)
    seen: dict[int | None, dict[str, Any]] = {}
    left = []
    try:
        deadline = time.monotonic() + 60
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        for round in range(6):
            processes[-1].kill()
            processes[-1].wait()
            loaded = plugnet.load(target)
            assert loaded.seed in (7, 11)
            assert identity(loaded) == seen.setdefault(loaded.seed, identity(loaded))
            left.append(leftovers(tmp_path))
            if round < 5:
                processes.append(saver(target, seed=11))
                assert processes[-1].stdout is not None
                assert processes[-1].stdout.readline() == "saving\n"
                time.sleep(pattern.uniform(0.0, 0.1))
                if round % 2 == 0:  # and then wait for the moment a save is writing its file
                    writing = f"{TEMPORARY_MARK}{processes[-1].pid}-"
                    while time.monotonic() < deadline and not any(
                        writing in name for name in leftovers(tmp_path)
                    ):
                        time.sleep(0.0005)
                    time.sleep(pattern.uniform(0.0, 0.004))
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert any(left), "no kill landed inside a save; the test proved nothing"
    assert all(name.startswith(f".model.npz{TEMPORARY_MARK}") for names in left for name in names)
    assert max(len(names) for names in left) <= 2  # each saver removed the ones before it
    plugnet.load(target).save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def small() -> Sequential:
    net = Sequential([{"type": "dense", "units": 2}], error="square", seed=0)
    net.build((3,))
    return net


def test_the_next_save_removes_only_temporaries_whose_writer_is_gone(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        prefix = f".model.npz{TEMPORARY_MARK}"
        stale = tmp_path / f"{prefix}{gone.pid}-abc123"
        ours_stale = tmp_path / f"{prefix}{os.getpid()}-def456"  # not being written by us now
        busy = tmp_path / f"{prefix}{alive.pid}-0a0a0a"  # another live process's save
        other = tmp_path / f".other.npz{TEMPORARY_MARK}{gone.pid}-abc123"  # another target's
        odd = tmp_path / f"{prefix}notapid-1"
        for path in (stale, ours_stale, busy, other, odd):
            path.write_bytes(b"partial")
        small().save(target)
        remaining = sorted(p.name for p in tmp_path.iterdir())
        assert remaining == sorted(["model.npz", busy.name, other.name, odd.name])
    finally:
        alive.kill()
        alive.wait()


def test_a_save_in_progress_in_another_thread_is_not_taken_for_a_leftover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.npz"
    seen: list[list[str]] = []
    real_savez = np.savez

    def savez_then_save_again(handle: Any, **arrays: Any) -> None:
        # Another save to the same path starts while this one is writing.
        monkeypatch.setattr(np, "savez", real_savez)
        small().save(target)
        seen.append(leftovers(tmp_path))
        real_savez(handle, **arrays)

    monkeypatch.setattr(np, "savez", savez_then_save_again)
    small().save(target)
    assert len(seen) == 1 and len(seen[0]) == 1  # the outer save's temporary survived
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
    assert serialization._writing == set()


def test_a_failed_save_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.npz"
    small().save(target)
    before = target.read_bytes()

    def fail(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        small().save(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
