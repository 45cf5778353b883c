"""benchmarks/startup.py's clean-venv option: what it refuses and what it runs, without building
a venv (that takes the package index and half a minute; docs/performance.md has its figures)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/ is not a package; startup.py imports only the standard library
_spec = importlib.util.spec_from_file_location("startup", ROOT / "benchmarks" / "startup.py")
assert _spec is not None and _spec.loader is not None
startup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(startup)


def test_a_folder_that_is_not_its_venv_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(SystemExit, match=r"--clean-venv .*not a venv this script made"):
        startup.clean_venv(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # nothing written


def test_a_made_venv_is_reused(tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text("")
    (tmp_path / startup.MARKER).write_text("{}\n")
    assert startup.clean_venv(tmp_path) == python


def test_measure_runs_the_given_interpreter_for_each_tree() -> None:
    tree = {"PYTHONPATH": startup.tree_path(ROOT)}
    results = startup.measure(1, {"a": tree, "b": tree}, sys.executable)
    assert set(results) == {"a", "b"}
    for runs in results.values():
        assert set(runs) == set(startup.COMMANDS)
        assert all(len(pairs) == 1 and pairs[0][0] > 0 for pairs in runs.values())
