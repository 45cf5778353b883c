"""One MLP training epoch: plugnet against a hand-written NumPy loop and PyTorch CPU eager.

    python benchmarks/train_mlp.py [--repeats 3] [--samples 60000]

60000 × 784 random float32 inputs, 10 classes, network 784-256-128-10 (relu, relu, softmax +
cross_entropy), plain SGD, batch 128, shuffled. All three do the same math on the same data in
one process; the script prints median epoch times and ratios, then peak memory (tracemalloc) of
one epoch for plugnet and the hand-written loop.

Targets: plugnet ≤ 1.10 × the hand-written loop, faster than PyTorch; peak memory ≤ 1.2 × the
hand-written loop's.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import plugnet

SIZES = (784, 256, 128, 10)
BATCH, LR = 128, 0.01


def make_data(samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, SIZES[0]), dtype=np.float32)
    labels = rng.integers(0, SIZES[-1], samples)
    one_hot = np.eye(SIZES[-1], dtype=np.float32)[labels]
    return x, labels, one_hot


def plugnet_epoch(x: np.ndarray, t: np.ndarray) -> Callable[[], None]:
    net = plugnet.Sequential(
        [
            {"type": "dense", "units": SIZES[1], "activation": "relu"},
            {"type": "dense", "units": SIZES[2], "activation": "relu"},
            {"type": "dense", "units": SIZES[3], "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer=f"sgd(lr={LR})",
        seed=0,
    )
    net.build((SIZES[0],))
    return lambda: net.fit(x, t, epochs=1, batch_size=BATCH, verbose=0) and None


def numpy_epoch(x: np.ndarray, t: np.ndarray) -> Callable[[], None]:
    """The same math written out by hand: the baseline."""
    rng = np.random.default_rng(0)
    weights = [
        (rng.standard_normal((a, b), dtype=np.float32) * np.float32(np.sqrt(2 / a)),
         np.zeros(b, dtype=np.float32))
        for a, b in itertools.pairwise(SIZES)
    ]  # fmt: skip
    (w1, b1), (w2, b2), (w3, b3) = weights

    def epoch() -> None:
        nonlocal w1, b1, w2, b2, w3, b3  # updated in place
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            index = order[start : start + BATCH]
            xb, tb = x[index], t[index]
            u1 = xb @ w1
            u1 += b1
            h1 = np.maximum(u1, 0)
            u2 = h1 @ w2
            u2 += b2
            h2 = np.maximum(u2, 0)
            u3 = h2 @ w3
            u3 += b3
            e = np.exp(u3 - u3.max(axis=1, keepdims=True))
            y = e / e.sum(axis=1, keepdims=True)
            float(-np.sum(tb * np.log(np.clip(y, 1e-7, 1))) / len(xb))  # the loss, as fit reports
            d3 = (y - tb) / len(xb)
            g3 = h2.T @ d3
            d2 = (d3 @ w3.T) * (u2 > 0)
            g2 = h1.T @ d2
            d1 = (d2 @ w2.T) * (u1 > 0)
            g1 = xb.T @ d1
            w3 -= LR * g3
            b3 -= LR * d3.sum(axis=0)
            w2 -= LR * g2
            b2 -= LR * d2.sum(axis=0)
            w1 -= LR * g1
            b1 -= LR * d1.sum(axis=0)

    return epoch


def torch_epoch(x: np.ndarray, labels: np.ndarray) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.ReLU(),
        torch.nn.Linear(SIZES[1], SIZES[2]), torch.nn.ReLU(),
        torch.nn.Linear(SIZES[2], SIZES[3]),
    )  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, lt = torch.from_numpy(x), torch.from_numpy(labels)

    def epoch() -> None:
        order = torch.randperm(len(xt))
        for start in range(0, len(xt), BATCH):
            index = order[start : start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[index]), lt[index])
            loss.backward()
            optimizer.step()
            loss.item()

    return epoch


def median_times(runs: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median seconds per run, interleaving the runs so that drift hits each alike."""
    for run in runs.values():
        run()  # warm-up: first-touch allocations, BLAS threads, registry build
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def peak_memory(run: Callable[[], None]) -> int:
    run()
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60000)
    args = parser.parse_args()
    x, labels, one_hot = make_data(args.samples)
    runs = {"numpy (hand-written)": numpy_epoch(x, one_hot), "plugnet": plugnet_epoch(x, one_hot)}
    torch_run = torch_epoch(x, labels)
    if torch_run is not None:
        import torch

        runs[f"pytorch {torch.__version__} eager"] = torch_run
    times = median_times(runs, args.repeats)
    base = times["numpy (hand-written)"]
    print(f"one epoch, {args.samples} samples, batch {BATCH}, median of {args.repeats}:")
    for name, seconds in times.items():
        print(f"  {name:<28} {seconds * 1e3:8.1f} ms   {seconds / base:5.2f} × numpy")
    if torch_run is None:
        print("  (pytorch not installed: pip install torch==2.13.0 to compare)")
    ratio = times["plugnet"] / base
    print(f"plugnet / hand-written = {ratio:.3f} (target ≤ 1.10)")
    memory = {name: peak_memory(runs[name]) for name in ("numpy (hand-written)", "plugnet")}
    mem_ratio = memory["plugnet"] / memory["numpy (hand-written)"]
    for name, peak in memory.items():
        print(f"  peak memory of one epoch, {name:<22} {peak / 2**20:7.2f} MiB")
    print(f"plugnet / hand-written peak memory = {mem_ratio:.2f} (target ≤ 1.2)")


if __name__ == "__main__":
    main()
