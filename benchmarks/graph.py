"""A graph model against the same layers in a Sequential: one training epoch each, in one process.

    python benchmarks/graph.py [--repeats 7] [--samples 20000]

20000 × 256 random float32 inputs, 10 classes, batch 128, plain SGD, seed 0 for all:
- ``sequential``: a Sequential of dense 256-256-256-256-10 (relu, relu, relu, softmax);
- ``graph chain``: the same layers as a ``plugnet.Model`` whose layers name their inputs, the
  same math on the same data, so the ratio is the graph engine's own cost;
- ``residual``: the same layers with one skip connection, ``add(h1, h3)`` before the output
  layer: the same matrix products plus one addition forward and one gradient sum backward.

Times are medians of interleaved repeats after a warm-up. Target: graph chain / sequential
within noise (≤ 1.05), residual / sequential close to 1 (the add is O(N·256) per batch).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
from _timing import run_times  # benchmarks/ is on sys.path when a script runs

import plugnet

WIDTH, CLASSES, BATCH = 256, 10, 128


def hidden(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "dense", "units": WIDTH, "activation": "relu", "name": name, **extra}


OUTPUT = {"type": "dense", "units": CLASSES, "activation": "softmax", "name": "out"}
CHAIN = [hidden("h1"), hidden("h2"), hidden("h3"), OUTPUT]
NAMED = [
    hidden("h1", inputs=["input"]),
    hidden("h2", inputs=["h1"]),
    hidden("h3", inputs=["h2"]),
    {**OUTPUT, "inputs": ["h3"]},
]
RESIDUAL = [
    hidden("h1"),
    hidden("h2"),
    hidden("h3"),
    {"type": "add", "name": "skip", "inputs": ["h1", "h3"]},
    OUTPUT,
]


def epoch(model: Any, x: np.ndarray, t: np.ndarray) -> Callable[[], None]:
    def run() -> None:
        model.fit(x, t, epochs=1, batch_size=BATCH, verbose=0)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--samples", type=int, default=20000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.samples, WIDTH), dtype=np.float32)
    t = rng.integers(0, CLASSES, args.samples)
    options: dict[str, Any] = {"error": "cross_entropy", "optimizer": "sgd(lr=0.01)", "seed": 0}
    models = {
        "sequential": plugnet.Sequential(CHAIN, **options),
        "graph chain": plugnet.Model(NAMED, **options),
        "residual": plugnet.Model(RESIDUAL, **options),
    }
    times = run_times({name: epoch(m, x, t) for name, m in models.items()}, args.repeats)
    base = statistics.median(times["sequential"])
    print(f"one epoch, {args.samples} samples, batch {BATCH}; median of {args.repeats}")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"  {name:12s} {median * 1e3:8.1f} ms   {median / base:5.2f} × sequential")


if __name__ == "__main__":
    main()
