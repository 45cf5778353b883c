"""Forward + backward of every built-in activation on a 4096 × 1024 float32 array.

    python benchmarks/activations.py [--repeats 5]

Prints the median time of each, relative to relu, slowest last, so the costly ones stand out.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from plugnet.discovery import build_registry


def time_activation(activation: object, x: np.ndarray, grad: np.ndarray, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        start = time.perf_counter()
        y = activation.forward(x)  # type: ignore[attr-defined]
        activation.backward(x, y, grad)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, 1024), dtype=np.float32) * 3
    grad = rng.standard_normal((4096, 1024), dtype=np.float32)
    registry = build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
    times = {
        c.name: time_activation(c.create(), x, grad, args.repeats)
        for c in registry.components("activation")
    }
    relu = times["relu"]
    print(f"forward + backward on {x.shape} float32, median of {args.repeats}:")
    print(f"  {'activation':<16} {'ms':>8} {'× relu':>8}")
    for name, seconds in sorted(times.items(), key=lambda item: item[1]):
        print(f"  {name:<16} {seconds * 1e3:8.2f} {seconds / relu:8.2f}")


if __name__ == "__main__":
    main()
