"""Start-up cost of plugnet: median wall time of fresh interpreters, minus ``import numpy``.

    python benchmarks/startup.py [--runs 25]

Target: building the registry with the built-ins costs at most 30 ms beyond numpy. The last
line adds the scan and load of the ``plugnet`` entry points, which happens the first time a
name beyond the built-ins (or a listing) is needed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import numpy": "import numpy",
    "import plugnet": "import plugnet",
    "registry built": "import plugnet; plugnet.activation('relu')",
    "+ entry points": "import plugnet; plugnet.registry().providers",
}


def median_seconds(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25, help="fresh processes per command (>= 20)")
    args = parser.parse_args()
    medians = {}
    for _ in range(2):  # interleave two rounds so drift hits every command alike
        for label, code in COMMANDS.items():
            medians.setdefault(label, []).append(median_seconds(code, args.runs // 2 + 1))
    base = statistics.mean(medians["import numpy"])
    print(f"{'command':<18} {'median':>9} {'beyond numpy':>13}")
    for label in COMMANDS:
        value = statistics.mean(medians[label])
        extra = "" if label == "import numpy" else f"{(value - base) * 1e3:+10.1f} ms"
        print(f"{label:<18} {value * 1e3:7.1f} ms {extra:>13}")
    overhead = (statistics.mean(medians["registry built"]) - base) * 1e3
    verdict = "meets" if overhead <= 30 else "MISSES"
    print(f"registry with built-ins: {overhead:.1f} ms beyond numpy ({verdict} the 30 ms target)")


if __name__ == "__main__":
    main()
