"""Start-up cost of plugnet: median wall time of fresh interpreters, minus ``import numpy``.

    python benchmarks/startup.py [--runs 25] [--baseline PYTHONPATH]

Target: building the registry with the built-ins costs at most 30 ms beyond numpy. The last
line adds the scan and load of the ``plugnet`` entry points, which happens the first time a
name beyond the built-ins (or a listing) is needed.

Modules load from bytecode, as in an installed venv (pip compiles on install): the processes
write and read ``.pyc`` files in a temporary cache even where ``PYTHONDONTWRITEBYTECODE`` is
set, and each command runs once before it is timed. ``--baseline`` times a second source tree
(a ``PYTHONPATH``, e.g. a checkout's ``core:plugins``) in the same runs, interleaved, so that
a before/after comparison sees the same machine load. On a busy machine, compare the CPU times
(user + system, of each child process; POSIX only), which the load inflates far less than wall
times.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "import numpy": "import numpy",
    "import plugnet": "import plugnet",
    "registry built": "import plugnet; plugnet.activation('relu')",
    "+ entry points": "import plugnet; plugnet.registry().providers",
}


def run_once(code: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh interpreter running ``code`` (CPU: NaN without wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    if hasattr(os, "wait4"):
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
    else:
        process.wait()
        cpu = math.nan
    wall = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(f"{code!r} failed with exit status {process.returncode}")
    return wall, cpu


def report(title: str, results: dict[str, list[tuple[float, float]]]) -> None:
    def median(label: str, which: int) -> float:
        return statistics.median(pair[which] for pair in results[label])

    print(title)
    print(f"{'command':<18} {'wall':>9} {'beyond numpy':>13} {'cpu':>9} {'beyond numpy':>13}")
    for label in COMMANDS:
        cells = []
        for which in (0, 1):
            value, base = median(label, which), median("import numpy", which)
            extra = "" if label == "import numpy" else f"{(value - base) * 1e3:+10.1f} ms"
            cells.append(f"{value * 1e3:7.1f} ms {extra:>13}")
        print(f"{label:<18} {' '.join(cells)}")
    overhead = (median("registry built", 0) - median("import numpy", 0)) * 1e3
    cpu = (median("registry built", 1) - median("import numpy", 1)) * 1e3
    verdict = "meets" if overhead <= 30 else "MISSES"
    print(
        f"registry with built-ins: {overhead:.1f} ms beyond numpy ({verdict} the 30 ms target); "
        f"CPU time {cpu:.1f} ms beyond numpy"
    )


def measure(
    runs: int, trees: dict[str, dict[str, str]]
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """(wall, CPU) seconds of each run of each command, per tree: environment variables to set."""
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        tree_envs = {tree: {**env, **extra} for tree, extra in trees.items()}
        for tree_env in tree_envs.values():  # the first run of each command writes its bytecode
            for code in COMMANDS.values():
                subprocess.run([sys.executable, "-c", code], check=True, env=tree_env)
        results: dict[str, dict[str, list[tuple[float, float]]]] = {
            tree: {label: [] for label in COMMANDS} for tree in trees
        }
        # Each run times every command of every tree once, so that drift in the machine's load
        # hits them all alike; the figures are medians over the runs.
        for _ in range(runs):
            for label, code in COMMANDS.items():
                for tree, tree_env in tree_envs.items():
                    results[tree][label].append(run_once(code, tree_env))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25, help="fresh processes per command (>= 20)")
    parser.add_argument("--baseline", metavar="PYTHONPATH", help="a second tree to time alongside")
    args = parser.parse_args()
    trees = {"this tree": {}}
    if args.baseline is not None:
        trees = {"baseline": {"PYTHONPATH": args.baseline}, **trees}
    results = measure(args.runs, trees)
    for tree in trees:
        report(f"-- {tree} (median of {args.runs} runs per command)", results[tree])


if __name__ == "__main__":
    main()
