"""benchmarks/run.py --quick runs the whole suite and writes every row; no timing assertions here.

Speed is measured by the benchmarks themselves (docs/performance.md); the suite only checks
that the one-table run works end to end, so that it does not rot.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GROUPS = (
    "MLP epoch", "MLP epoch, peak memory", "digits MLP", "conv2d", "conv2d step memory",
    "max_pool2d", "avg_pool2d", "batch_norm", "conv1d", "digits CNN conv2d (32, 1, 8, 8)",
    "digits CNN conv2d (32, 16, 4, 4)",
    "gru", "lstm", "graph Model chain", "graph Model + residual", "start-up: registry",
    "start-up: entry-point",
)  # fmt: skip


def test_quick_run_writes_every_row_with_numbers(tmp_path: Path) -> None:
    out, png = tmp_path / "table.json", tmp_path / "table.png"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json", str(out),
         "--plot", str(png)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())
    names = [row["benchmark"] for row in rows]
    for group in GROUPS:
        assert any(name.startswith(group) for name in names), (group, names)
    have_torch = importlib.util.find_spec("torch") is not None
    for row in rows:
        assert math.isfinite(row["plugnet"]) and row["plugnet"] > 0, row
        if row["reference"].startswith("PyTorch") and not have_torch:
            assert row["figure"] is None and row["met"] is None, row
            continue
        assert math.isfinite(row["reference_value"]) and row["reference_value"] > 0, row
        assert row["figure_min"] <= row["figure"] <= row["figure_max"], row
        if row["target"] is not None:
            assert row["met"] is (row["figure"] <= row["target"]), row
        assert row["benchmark"] in done.stdout  # the printed table has the same rows
    # with the jit extra, each layer with compiled kernels has a second row, its NumPy code
    numpy_only = [name for name in names if name.endswith(", NumPy only")]
    assert len(numpy_only) == (8 if importlib.util.find_spec("numba") else 0)
    for name in numpy_only:
        assert name.removesuffix(", NumPy only") + ", jit (numba)" in names
    assert sum(row["reference"].startswith("PyTorch") for row in rows) == 10 + len(numpy_only)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
