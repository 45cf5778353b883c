"""max_pool2d, avg_pool2d and batch_norm forward + backward: plugnet against PyTorch CPU, in one
process.

    python benchmarks/pool_norm.py [--repeats 25] [--torch-threads N]

Input (64, 32, 32, 32) float32 for all three, as conv.py's max_pool2d. The pools: 2×2 windows,
stride 2. batch_norm: training mode (batch statistics over N, H, W per channel, the running
averages updated), then backward with dE/dx and the gamma and beta gradients; PyTorch runs
``torch.nn.functional.batch_norm`` with training=True on the same input. Times are medians of
interleaved repeats after a warm-up, PyTorch at its default thread count unless
``--torch-threads`` sets it (NumPy's elementwise operations run on one core); the ratio is the
median of the per-repeat ratios, with their min–max.

Target: ≤ 1 × PyTorch for all three.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import numpy as np
from _timing import run_times  # benchmarks/ is on sys.path when a script runs
from conv import POOL_SHAPE, pool_step, report, torch_pool

import plugnet

SHAPE = POOL_SHAPE
AVG_POOL = "avg_pool2d(pool_size=2)"


def avg_pool_step(x: np.ndarray) -> Callable[[], None]:
    return pool_step(x, AVG_POOL)


def batch_norm_step(x: np.ndarray, g: np.ndarray) -> Callable[[], None]:
    layer = plugnet.layer("batch_norm")
    layer.build(x.shape[1:], rng=np.random.default_rng(0), dtype=np.dtype(np.float32))

    def step() -> None:
        layer.forward(x, training=True)
        layer.backward(g)

    return step


def torch_batch_norm(x: np.ndarray, g: np.ndarray) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    channels = x.shape[1]
    xt = torch.from_numpy(x).requires_grad_()
    gamma = torch.ones(channels, requires_grad=True)
    beta = torch.zeros(channels, requires_grad=True)
    mean, var = torch.zeros(channels), torch.ones(channels)
    gt = torch.from_numpy(g)

    def step() -> None:
        xt.grad = gamma.grad = beta.grad = None
        out = torch.nn.functional.batch_norm(xt, mean, var, gamma, beta, training=True)
        out.backward(gt)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--torch-threads", type=int, default=0, help="0: PyTorch's default")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    g = rng.standard_normal(SHAPE, dtype=np.float32)
    runs = {
        "plugnet max_pool2d": pool_step(x),
        "plugnet avg_pool2d": avg_pool_step(x),
        "plugnet batch_norm": batch_norm_step(x, g),
    }
    references = {
        "max_pool2d": torch_pool(x, "max"),
        "avg_pool2d": torch_pool(x),
        "batch_norm": torch_batch_norm(x, g),
    }
    threads = ""
    for name, reference in references.items():
        if reference is not None:
            runs[f"torch {name}"] = reference
    if "torch batch_norm" in runs:
        import torch

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        threads = f", PyTorch on {torch.get_num_threads()} threads"
    times = run_times(runs, args.repeats)
    print(f"forward + backward, float32, {args.repeats} interleaved repeats{threads}")
    pool = "2×2, stride 2"
    titles = {"max_pool2d": pool, "avg_pool2d": pool, "batch_norm": "training"}
    for name, title in titles.items():
        rows = [("plugnet", times[f"plugnet {name}"])]
        if f"torch {name}" in times:
            rows.append(("torch", times[f"torch {name}"]))
        report(f"{name}: x {SHAPE}, {title}", rows, times.get(f"torch {name}"))
        if f"torch {name}" in times:
            pairs = zip(times[f"plugnet {name}"], times[f"torch {name}"], strict=True)
            ratios = [ours / theirs for ours, theirs in pairs]
            print(
                f"  per-repeat ratio {statistics.median(ratios):.2f} × torch "
                f"({min(ratios):.2f} – {max(ratios):.2f})"
            )
    if not threads:
        print("(pytorch not installed: pip install torch to compare)")


if __name__ == "__main__":
    main()
