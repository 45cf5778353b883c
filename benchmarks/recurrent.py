"""gru and lstm forward + backward: plugnet against PyTorch CPU, in one process.

    python benchmarks/recurrent.py [--repeats 25]

Input (N, T, F) = (100, 40, 8) float32, 64 units, only the last hidden state returned (as a
classifier's recurrent layer does); one step is forward, then backward with dE/dx and the four
parameter gradients. PyTorch runs ``torch.nn.GRU``/``LSTM`` (batch_first, one layer) with the
same weights, at its default thread count. Times are medians of interleaved repeats after a
warm-up.

Target: ≤ 1.5 × PyTorch.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import numpy as np
from _timing import run_times  # benchmarks/ is on sys.path when a script runs

import plugnet

N, T, F, UNITS = 100, 40, 8, 64
KINDS = ("gru", "lstm")


def plugnet_step(kind: str, x: np.ndarray, g: np.ndarray) -> tuple[Callable[[], None], object]:
    layer = plugnet.layer({"type": kind, "units": UNITS})
    layer.build(x.shape[1:], rng=np.random.default_rng(0), dtype=np.dtype(np.float32))

    def step() -> None:
        layer.forward(x, training=True)
        layer.backward(g)

    return step, layer


def torch_step(kind: str, x: np.ndarray, g: np.ndarray, params: dict) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    module = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind](F, UNITS, batch_first=True)
    with torch.no_grad():
        for key, value in params.items():
            name = key.replace("w_", "weight_").replace("b_", "bias_") + "_l0"
            getattr(module, name).copy_(torch.from_numpy(value))
    xt = torch.from_numpy(x).requires_grad_()
    gt = torch.from_numpy(g)

    def step() -> None:
        xt.grad = None
        module.zero_grad()
        out, _ = module(xt)
        out[:, -1].backward(gt)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, F), dtype=np.float32)
    g = rng.standard_normal((N, UNITS), dtype=np.float32)
    runs: dict[str, Callable[[], None]] = {}
    have_torch = False
    for kind in KINDS:
        runs[f"plugnet {kind}"], layer = plugnet_step(kind, x, g)
        other = torch_step(kind, x, g, layer.params)  # type: ignore[attr-defined]
        if other is not None:
            runs[f"torch {kind}"], have_torch = other, True
    times = run_times(runs, args.repeats)
    print(
        f"forward + backward, float32, x {(N, T, F)}, {UNITS} units, {args.repeats} "
        f"interleaved repeats"
    )
    for kind in KINDS:
        ours = statistics.median(times[f"plugnet {kind}"])
        line = f"  {kind:<5} plugnet {ours * 1e3:6.2f} ms"
        if have_torch:
            theirs = statistics.median(times[f"torch {kind}"])
            line += f"   torch {theirs * 1e3:6.2f} ms   ratio {ours / theirs:4.2f} × torch"
        print(line)
    if not have_torch:
        print("(pytorch not installed: pip install torch to compare)")


if __name__ == "__main__":
    main()
