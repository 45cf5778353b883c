"""Start-up cost of plugnet: median wall time of fresh interpreters, minus ``import numpy``.

    python benchmarks/startup.py [--runs 25] [--baseline PYTHONPATH]

Target: building the registry with the built-ins costs at most 30 ms beyond numpy. The last
line adds the scan and load of the ``plugnet`` entry points, which happens the first time a
name beyond the built-ins (or a listing) is needed.

Modules load from bytecode, as in an installed venv (pip compiles on install): the processes
write and read ``.pyc`` files in a temporary cache even where ``PYTHONDONTWRITEBYTECODE`` is
set, and each command runs once before it is timed. ``--baseline`` times a second source tree
(a ``PYTHONPATH``, e.g. a checkout's ``core:plugins``) in the same rounds, interleaved, so that
a before/after comparison sees the same machine load.
"""

from __future__ import annotations

import argparse
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


def median_seconds(code: str, runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(title: str, medians: dict[str, list[float]]) -> None:
    base = statistics.mean(medians["import numpy"])
    print(f"{title}\n{'command':<18} {'median':>9} {'beyond numpy':>13}")
    for label in COMMANDS:
        value = statistics.mean(medians[label])
        extra = "" if label == "import numpy" else f"{(value - base) * 1e3:+10.1f} ms"
        print(f"{label:<18} {value * 1e3:7.1f} ms {extra:>13}")
    overhead = (statistics.mean(medians["registry built"]) - base) * 1e3
    verdict = "meets" if overhead <= 30 else "MISSES"
    print(f"registry with built-ins: {overhead:.1f} ms beyond numpy ({verdict} the 30 ms target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25, help="fresh processes per command (>= 20)")
    parser.add_argument("--baseline", metavar="PYTHONPATH", help="a second tree to time alongside")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        trees = {"this tree": env}
        if args.baseline is not None:
            trees = {"baseline": {**env, "PYTHONPATH": args.baseline}, **trees}
        for tree_env in trees.values():  # the first run of each command writes its bytecode
            for code in COMMANDS.values():
                subprocess.run([sys.executable, "-c", code], check=True, env=tree_env)
        medians: dict[str, dict[str, list[float]]] = {tree: {} for tree in trees}
        for _ in range(2):  # interleave two rounds so drift hits every command alike
            for label, code in COMMANDS.items():
                for tree, tree_env in trees.items():
                    runs = args.runs // 2 + 1
                    medians[tree].setdefault(label, []).append(median_seconds(code, runs, tree_env))
    for tree in trees:
        report(f"-- {tree} ({args.runs // 2 + 1} runs x 2 rounds per command)", medians[tree])


if __name__ == "__main__":
    main()
