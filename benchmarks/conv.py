"""conv2d, max_pool2d and conv1d forward + backward: plugnet against PyTorch CPU, in one process.

    python benchmarks/conv.py [--repeats 15] [--only conv1d]

conv2d: input (64, 16, 32, 32) float32, 32 filters 3×3, stride 1, "same" padding; one step is
forward, then backward with dE/dx (as for any layer but the first), the weight and bias
gradients. Another plugnet line skips dE/dx, as the first layer of a network does, and with
the jit extra on a machine of several cores one runs its chunks on one lane (one thread).
max_pool2d: input (64, 32, 32, 32) float32, 2×2 windows, stride 2.
conv1d: input (100, 25, 40) float32, 25 filters of width 5, stride 1, "same" padding, the
same step as conv2d's.

PyTorch runs with its default thread count and again with as many threads as NumPy's BLAS
gets here (the machine's cores unless OPENBLAS_NUM_THREADS/OMP_NUM_THREADS say otherwise).
Times are medians of interleaved repeats after a warm-up. Memory: the bytes of conv2d's reused
im2col buffers, and the tracemalloc peak of one conv2d step (everything NumPy allocates).

Targets: conv2d ≤ 2 × PyTorch, conv1d ≤ 1 × PyTorch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tracemalloc
from collections.abc import Callable

import numpy as np
from _timing import run_times  # benchmarks/ is on sys.path when a script runs

import plugnet
from plugnet_builtins import _lanes, jit

N, C, H, W, F, K = 64, 16, 32, 32, 32, 3
POOL_SHAPE = (64, 32, 32, 32)
SEQ_SHAPE, SEQ_FILTERS, SEQ_WIDTH = (100, 25, 40), 25, 5


def conv_step(
    x: np.ndarray, g: np.ndarray, *, input_grad: bool = True, layer_type: str = "conv2d"
) -> tuple[Callable[[], None], object]:
    filters, kernel = g.shape[1], K if layer_type == "conv2d" else SEQ_WIDTH  # g: the output's
    spec = {"type": layer_type, "filters": filters, "kernel_size": kernel, "padding": "same"}
    layer = plugnet.layer(spec)
    layer.build(x.shape[1:], rng=np.random.default_rng(0), dtype=np.dtype(np.float32))

    def step() -> None:
        layer.forward(x, training=True)
        layer.backward(g, need_input_grad=input_grad)

    return step, layer


def pool_step(x: np.ndarray, spec: str = "max_pool2d(pool_size=2)") -> Callable[[], None]:
    layer = plugnet.layer(spec)
    out = layer.build(x.shape[1:], rng=np.random.default_rng(0), dtype=np.dtype(np.float32))
    g = np.random.default_rng(1).standard_normal((x.shape[0], *out), dtype=np.float32)

    def step() -> None:
        layer.forward(x, training=True)
        layer.backward(g)

    return step


def torch_conv(
    x: np.ndarray, g: np.ndarray, weights: np.ndarray, *, input_grad: bool = True
) -> Callable[[], None] | None:
    """PyTorch's training step of the same convolution (conv1d for (N, C, L) inputs, else
    conv2d), "same" padding, dE/dx only with ``input_grad``; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    convolve = torch.nn.functional.conv1d if x.ndim == 3 else torch.nn.functional.conv2d
    xt = torch.from_numpy(x).requires_grad_(input_grad)
    wt = torch.from_numpy(weights.copy()).requires_grad_()
    bt = torch.zeros(weights.shape[0], requires_grad=True)
    gt = torch.from_numpy(g)

    def step() -> None:
        xt.grad = wt.grad = bt.grad = None
        convolve(xt, wt, bt, padding="same").backward(gt)

    return step


def torch_pool(x: np.ndarray, kind: str = "avg") -> Callable[[], None] | None:
    """PyTorch's avg_pool2d (or, with kind="max", max_pool2d) 2×2 step on x."""
    try:
        import torch
    except ImportError:
        return None
    xt = torch.from_numpy(x).requires_grad_()
    gt = torch.randn(x.shape[0], x.shape[1], x.shape[2] // 2, x.shape[3] // 2)
    pool = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d

    def step() -> None:
        xt.grad = None
        pool(xt, 2).backward(gt)

    return step


def torch_steps(
    x: np.ndarray, g: np.ndarray, weights: np.ndarray, pool_x: np.ndarray
) -> tuple[Callable[[], None], Callable[[], None]] | None:
    """PyTorch's conv2d step (:func:`torch_conv`) and its 2×2 max_pool2d step on ``pool_x``."""
    conv, pool = torch_conv(x, g, weights), torch_pool(pool_x, "max")
    if conv is None or pool is None:
        return None
    return conv, pool


def blas_threads() -> int:
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return os.cpu_count() or 1


def report(title: str, rows: list[tuple[str, list[float]]], base: list[float] | None) -> None:
    print(title)
    print(f"  {'':<34} {'median':>9} {'min':>9}")
    for name, values in rows:
        median, best = statistics.median(values), min(values)
        ratio = ""
        if base is not None:
            ratio = f"  {median / statistics.median(base):5.2f} / {best / min(base):5.2f} × torch"
        print(f"  {name:<34} {median * 1e3:6.1f} ms {best * 1e3:6.1f} ms{ratio}")


def bench_conv1d(repeats: int) -> None:
    """conv1d at the issue's size, with and without dE/dx, against torch when importable."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SEQ_SHAPE, dtype=np.float32)
    g = rng.standard_normal((SEQ_SHAPE[0], SEQ_FILTERS, SEQ_SHAPE[2]), dtype=np.float32)
    conv, layer = conv_step(x, g, layer_type="conv1d")
    conv_first, _ = conv_step(x, g, input_grad=False, layer_type="conv1d")
    runs = {"plugnet": conv, "plugnet, no dx (first layer)": conv_first}
    other = torch_conv(x, g, layer.params["w"])  # type: ignore[attr-defined]
    if other is not None:
        import torch

        runs[f"torch {torch.__version__}, {torch.get_num_threads()} threads"] = other
    times = run_times(runs, repeats)
    print(f"forward + backward, float32, {repeats} interleaved repeats")
    report(
        f"conv1d: x {SEQ_SHAPE}, {SEQ_FILTERS} filters of width {SEQ_WIDTH}, stride 1, "
        "same padding",
        list(times.items()),
        list(times.values())[-1] if torch is not None else None,
    )
    if torch is None:
        print("(pytorch not installed: pip install torch to compare)")


def bench_2d(repeats: int) -> None:
    """conv2d and max_pool2d, torch at its default and at NumPy's thread count; memory."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    g = rng.standard_normal((N, F, H, W), dtype=np.float32)
    pool_x = rng.standard_normal(POOL_SHAPE, dtype=np.float32)
    conv, layer = conv_step(x, g)
    conv_first, _ = conv_step(x, g, input_grad=False)
    runs = {
        "plugnet conv2d": conv,
        "plugnet conv2d, no dx": conv_first,
        "plugnet max_pool2d": pool_step(pool_x),
    }
    lanes = _lanes.count()
    if lanes > 1 and jit.enabled():  # the compiled chunks on the calling thread only
        conv_one_lane, _ = conv_step(x, g)

        def one_lane() -> None:
            with _lanes.use(1):
                conv_one_lane()

        runs["plugnet conv2d, one lane"] = one_lane
    threads = blas_threads()
    torch_runs = torch_steps(x, g, layer.params["w"], pool_x)  # type: ignore[attr-defined]
    torch_rows: list[tuple[str, list[float]]] = []
    torch_pool: list[tuple[str, list[float]]] = []
    if torch_runs is not None:
        import torch

        default_threads = torch.get_num_threads()
        runs["torch conv2d"], runs["torch max_pool2d"] = torch_runs
        times = run_times(runs, repeats)
        label = f"torch {torch.__version__}, {default_threads} threads"
        torch_rows.append((label, times["torch conv2d"]))
        torch_pool.append((label, times["torch max_pool2d"]))
        if default_threads != threads:
            torch.set_num_threads(threads)
            same = run_times(
                dict(zip(("conv", "pool"), torch_runs, strict=True)) | {"plugnet": conv},
                repeats,
            )
            torch.set_num_threads(default_threads)
            torch_rows.append((f"torch, {threads} threads", same["conv"]))
            torch_pool.append((f"torch, {threads} threads", same["pool"]))
    else:
        times = run_times(runs, repeats)
    print(
        f"forward + backward, float32, {repeats} interleaved repeats, NumPy BLAS threads: {threads}"
    )
    base = times.get("torch conv2d")
    report(
        f"conv2d: x {(N, C, H, W)}, {F} filters {K}×{K}, stride 1, same padding",
        [(f"plugnet ({lanes} lanes)" if lanes > 1 else "plugnet", times["plugnet conv2d"]),
         *[("plugnet, one lane", times[key]) for key in times if key.endswith("one lane")],
         ("plugnet, no dx (first layer)", times["plugnet conv2d, no dx"]), *torch_rows],
        base,
    )  # fmt: skip
    report(
        f"max_pool2d: x {POOL_SHAPE}, 2×2, stride 2",
        [("plugnet", times["plugnet max_pool2d"]), *torch_pool],
        times.get("torch max_pool2d"),
    )
    if torch_runs is None:
        print("(pytorch not installed: pip install torch to compare)")
    workspace = layer.workspace.nbytes()  # type: ignore[attr-defined]
    cols = C * K * K * N * H * W * 4
    conv()
    tracemalloc.start()
    conv()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"conv2d im2col column matrix: {cols / 2**20:.1f} MiB (one, reused for dX)")
    print(f"conv2d reused buffers in all: {workspace / 2**20:.1f} MiB")
    print(f"conv2d one step, tracemalloc peak of new allocations: {peak / 2**20:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--only", choices=("2d", "conv1d"), help="run only these benchmarks")
    args = parser.parse_args()
    if args.only != "conv1d":
        bench_2d(args.repeats)
    if args.only != "2d":
        bench_conv1d(args.repeats)


if __name__ == "__main__":
    main()
