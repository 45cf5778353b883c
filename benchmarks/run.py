"""Every benchmark in one run, printed as one table of ratios against each reference.

    python benchmarks/run.py [--repeats 15] [--quick] [--json OUT.json] [--plot OUT.png]
                             [--clean-venv DIR]

The rows come from the other scripts' functions (train_mlp.py, digits.py, conv.py,
pool_norm.py, recurrent.py, graph.py, startup.py), at their sizes. Within each group the runs
are interleaved (benchmarks/_timing.py's run_times), so repeat i of plugnet and of its reference
ran side by side: the ratio is the median over the repeats of plugnet's time / the reference's,
with the min–max of those per-repeat ratios. References: a hand-written NumPy loop, PyTorch CPU
(when importable, at its default thread count), scikit-learn, plugnet's own Sequential.

Start-up rows time fresh interpreters (startup.py), whose PYTHONPATH is only the directories
plugnet and plugnet_builtins come from; their figure is the median of the per-run differences
in wall time, in ms, against the issue's budget. They run this interpreter, or with
``--clean-venv DIR`` a venv holding only plugnet's runtime dependencies (made once at DIR).

``--quick`` is a smoke run: 3 repeats, small inputs; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import _timing  # benchmarks/ is on sys.path when a script runs
import conv
import digits
import graph
import numpy as np
import pool_norm
import recurrent
import startup
import train_mlp
from _timing import run_times

import plugnet
import plugnet_builtins
from plugnet_builtins import jit


@dataclass
class Row:
    """One line of the table; times in ms, memory in MiB (``unit``)."""

    benchmark: str
    plugnet: float | None
    reference: str
    reference_value: float | None
    figure: float | None  # plugnet / reference ("×"), or ms beyond the reference ("ms")
    figure_min: float | None
    figure_max: float | None
    target: float | None  # the figure must be ≤ target
    met: bool | None
    repeats: int
    unit: str = "ms"
    figure_unit: str = "×"


def torch_label() -> str | None:
    """'PyTorch 2.x, N threads', or None when torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    return f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads"


def compare(
    benchmark: str,
    ours: list[float],
    reference: str,
    theirs: list[float] | None,
    target: float | None,
) -> Row:
    """A row from the per-repeat seconds of plugnet and of its reference (None: not available)."""
    if theirs is None:
        return Row(benchmark, statistics.median(ours) * 1e3, reference, None, None, None, None,
                   target, None, len(ours))  # fmt: skip
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    ratio = statistics.median(ratios)
    return Row(
        benchmark,
        statistics.median(ours) * 1e3,
        reference,
        statistics.median(theirs) * 1e3,
        ratio,
        min(ratios),
        max(ratios),
        target,
        None if target is None else ratio <= target,
        len(ours),
    )


def against_torch(
    rows: list[Row], times: dict[str, list[float]], names: dict[str, str], target: float
) -> None:
    """Append a row per (times key → benchmark title); the reference is key "torch <key>"."""
    label = torch_label()
    for key, title in names.items():
        theirs = times.get(f"torch {key.removesuffix(NUMPY_ONLY)}")
        rows.append(compare(title, times[key], label or "PyTorch CPU (not installed)", theirs,
                            target))  # fmt: skip


# With the jit extra installed, the layers that have compiled kernels (plugnet_builtins.jit) get
# a second row each, their NumPy code alone: key + NUMPY_ONLY, the same PyTorch reference.
NUMPY_ONLY = " numpy"


def with_numpy_rows(
    runs: dict[str, Callable[[], None]],
    names: dict[str, str],
    steps: dict[str, Callable[[], Callable[[], None]]],
) -> None:
    """Where the compiled kernels are on, mark ``names``' rows for ``steps``' keys as theirs
    and add a row of each on the NumPy path: a fresh step from ``steps[key]()``, run inside
    ``jit.use(False)``. Without them, the rows are the NumPy path's already."""
    if not jit.enabled():
        return
    for key, make in steps.items():
        step = make()

        def numpy_step(step: Callable[[], None] = step) -> None:
            with jit.use(False):
                step()

        runs[key + NUMPY_ONLY] = numpy_step
        names[key + NUMPY_ONLY] = names[key] + ", NumPy only"
        names[key] += ", jit (numba)"


def plugnet_path() -> str:
    """Only plugnet's own source directories, for child processes: the reference libraries on
    this process's path (torch) stay off theirs."""
    return os.pathsep.join(
        str(Path(module.__file__ or "").resolve().parents[1])
        for module in (plugnet, plugnet_builtins)
    )


# The MLP's NumPy comparison runs in a child process that never imports torch: importing torch
# changes glibc malloc's state for the whole process (its trim and mmap thresholds), after which
# the hand-written loop's 800 KB temporaries stop being returned to the OS and paged in again,
# about 60000 page faults an epoch, and the loop runs about 15% faster than in a process of
# NumPy alone, which is where a hand-written NumPy loop runs.
_MLP_CHILD = """
import json, sys
import train_mlp
from _timing import run_times
x, labels, one_hot = train_mlp.make_data({samples})
runs = {{"numpy": train_mlp.numpy_epoch(x, one_hot),
        "plugnet": train_mlp.plugnet_epoch(x, one_hot)}}
times = run_times(runs, {repeats}, pause={pause})
memory = {{name: train_mlp.peak_memory(runs[name]) for name in runs}}
print(json.dumps({{"times": times, "memory": memory, "torch": "torch" in sys.modules}}))
"""


def mlp_rows(repeats: int, quick: bool) -> list[Row]:
    samples = 2000 if quick else 60000
    title = f"MLP epoch {samples}×784-256-128-10, SGD, batch 128"
    benchmarks = str(Path(__file__).resolve().parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((benchmarks, plugnet_path()))}
    child = subprocess.run(
        [sys.executable, "-c", _MLP_CHILD.format(samples=samples, repeats=repeats,
                                                     pause=_timing.PAUSE)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    measured = json.loads(child.stdout)
    assert not measured["torch"], "the NumPy comparison's process imported torch"
    times = measured["times"]
    rows = [compare(title + " (no torch in the process)", times["plugnet"],
                    "hand-written NumPy", times["numpy"], 0.95)]  # fmt: skip
    memory = {name: peak / 2**20 for name, peak in measured["memory"].items()}
    ratio = memory["plugnet"] / memory["numpy"]
    rows.append(
        Row("MLP epoch, peak memory (tracemalloc)", memory["plugnet"], "hand-written NumPy",
            memory["numpy"], ratio, ratio, ratio, 1.0, ratio <= 1.0, 1, unit="MiB")
    )  # fmt: skip
    x, labels, one_hot = train_mlp.make_data(samples)
    runs = {"plugnet": train_mlp.plugnet_epoch(x, one_hot)}
    torch_run = train_mlp.torch_epoch(x, labels)
    if torch_run is not None:
        runs["torch"] = torch_run
    times = run_times(runs, repeats)
    reference = torch_label() or "PyTorch CPU (not installed)"
    rows.insert(1, compare(title, times["plugnet"], reference, times.get("torch"), 0.8))
    return rows


def digits_rows(repeats: int, quick: bool) -> list[Row]:
    epochs = 3 if quick else digits.EPOCHS
    title = f"digits MLP 64-{digits.HIDDEN}-10, adam, {epochs} epochs, batch {digits.BATCH}"
    data = digits.load()  # scikit-learn is in the dev extra: the data come from it

    def run(fit: Callable[..., float]) -> Callable[[], None]:
        return lambda: fit(*data, 0, epochs=epochs) and None

    times = run_times({"plugnet": run(digits.run_plugnet), "sk": run(digits.run_sklearn)}, repeats)
    import sklearn

    reference = f"scikit-learn {sklearn.__version__} MLPClassifier"
    return [compare(title, times["plugnet"], reference, times["sk"], 1.0)]


def conv_rows(repeats: int, quick: bool) -> list[Row]:
    rng = np.random.default_rng(0)
    n = 8 if quick else conv.N
    x = rng.standard_normal((n, conv.C, conv.H, conv.W), dtype=np.float32)
    g = rng.standard_normal((n, conv.F, conv.H, conv.W), dtype=np.float32)
    pool_shape = (n, *conv.POOL_SHAPE[1:])
    pool_x = rng.standard_normal(pool_shape, dtype=np.float32)
    pool_g = rng.standard_normal(pool_shape, dtype=np.float32)
    seq_shape = (10 if quick else conv.SEQ_SHAPE[0], *conv.SEQ_SHAPE[1:])
    seq_x = rng.standard_normal(seq_shape, dtype=np.float32)
    seq_g = rng.standard_normal((seq_shape[0], conv.SEQ_FILTERS, seq_shape[2]), dtype=np.float32)
    step, layer = conv.conv_step(x, g)
    step1d, layer1d = conv.conv_step(seq_x, seq_g, layer_type="conv1d")
    runs = {
        "conv2d": step,
        "max_pool2d": conv.pool_step(pool_x),
        "avg_pool2d": pool_norm.avg_pool_step(pool_x),
        "batch_norm": pool_norm.batch_norm_step(pool_x, pool_g),
        "conv1d": step1d,
    }
    torch_runs = conv.torch_steps(x, g, layer.params["w"], pool_x)  # type: ignore[attr-defined]
    if torch_runs is not None:
        runs["torch conv2d"], runs["torch max_pool2d"] = torch_runs
        runs["torch avg_pool2d"] = conv.torch_pool(pool_x)  # type: ignore[assignment]
        runs["torch batch_norm"] = pool_norm.torch_batch_norm(pool_x, pool_g)  # type: ignore[assignment]
        runs["torch conv1d"] = conv.torch_conv(seq_x, seq_g, layer1d.params["w"])  # type: ignore[attr-defined]
    names = {
        "conv2d": f"conv2d fwd+bwd {x.shape}, {conv.F} 3×3 filters",
        "max_pool2d": f"max_pool2d 2×2 fwd+bwd {pool_shape}",
        "avg_pool2d": f"avg_pool2d 2×2 fwd+bwd {pool_shape}",
        "batch_norm": f"batch_norm fwd+bwd (training) {pool_shape}",
        "conv1d": f"conv1d fwd+bwd {seq_shape}, {conv.SEQ_FILTERS} filters of width 5",
    }
    with_numpy_rows(runs, names, {
        "conv2d": lambda: conv.conv_step(x, g)[0],
        "max_pool2d": lambda: conv.pool_step(pool_x),
        "avg_pool2d": lambda: pool_norm.avg_pool_step(pool_x),
        "batch_norm": lambda: pool_norm.batch_norm_step(pool_x, pool_g),
        "conv1d": lambda: conv.conv_step(seq_x, seq_g, layer_type="conv1d")[0],
    })  # fmt: skip
    times = run_times(runs, repeats)
    rows: list[Row] = []
    against_torch(rows, times, names, 1.0)
    rows.append(conv_memory_row(step, layer, x))
    return rows


def conv_memory_row(step: Callable[[], None], layer: Any, x: np.ndarray) -> Row:
    """conv2d's memory beside its input batch: the buffers it keeps between steps (im2col
    columns, reused for dX; padding; δ) plus tracemalloc's peak of what one step allocates."""
    step()
    kept = layer.workspace.nbytes() / 2**20
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    ratio = (kept + peak) / (x.nbytes / 2**20)
    title = f"conv2d step memory {x.shape}: {kept:.1f} MiB kept + {peak:.1f} MiB peak of a step"
    return Row(title, kept + peak, "the input batch x", x.nbytes / 2**20, ratio, ratio, ratio,
               None, None, 1, unit="MiB")  # fmt: skip


def digits_cnn_rows(repeats: int, quick: bool) -> list[Row]:
    """examples/digits_cnn.toml's two conv2d layers at batch 32, one epoch's 42 steps a repeat."""
    rng = np.random.default_rng(0)
    steps = 3 if quick else 42  # 1347 training samples / batch 32
    runs: dict[str, Callable[[], None]] = {}
    names: dict[str, str] = {}
    numpy_steps: dict[str, Callable[[], Callable[[], None]]] = {}
    # (input shape, filters, dE/dx): the first layer needs none, after the reshape
    for key, shape, filters, input_grad in (
        ("cnn1", (32, 1, 8, 8), 16, False), ("cnn2", (32, 16, 4, 4), 32, True)
    ):  # fmt: skip
        x = rng.standard_normal(shape, dtype=np.float32)
        g = rng.standard_normal((shape[0], filters, *shape[2:]), dtype=np.float32)
        step, layer = conv.conv_step(x, g, input_grad=input_grad)
        other = conv.torch_conv(x, g, layer.params["w"], input_grad=input_grad)  # type: ignore[attr-defined]
        runs[key] = repeat_steps(step, steps)
        if other is not None:
            runs[f"torch {key}"] = repeat_steps(other, steps)
        dx = "" if input_grad else ", no dx"
        names[key] = f"digits CNN conv2d {shape}, {filters} 3×3{dx}, {steps} steps"
        numpy_steps[key] = partial(
            lambda x, g, input_grad: repeat_steps(
                conv.conv_step(x, g, input_grad=input_grad)[0], steps
            ),
            x, g, input_grad,
        )  # fmt: skip
    with_numpy_rows(runs, names, numpy_steps)
    times = run_times(runs, repeats)
    rows: list[Row] = []
    against_torch(rows, times, names, 1.0)
    return rows


def repeat_steps(step: Callable[[], None], count: int) -> Callable[[], None]:
    """``step`` run ``count`` times: a step of the digits CNN is too short to time alone."""

    def run() -> None:
        for _ in range(count):
            step()

    return run


def recurrent_rows(repeats: int, quick: bool) -> list[Row]:
    rng = np.random.default_rng(0)
    shape = (10 if quick else recurrent.N, recurrent.T, recurrent.F)
    x = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal((shape[0], recurrent.UNITS), dtype=np.float32)
    runs: dict[str, Callable[[], None]] = {}
    for kind in recurrent.KINDS:
        runs[kind], layer = recurrent.plugnet_step(kind, x, g)
        other = recurrent.torch_step(kind, x, g, layer.params)  # type: ignore[attr-defined]
        if other is not None:
            runs[f"torch {kind}"] = other
    names = {k: f"{k} fwd+bwd {shape}, {recurrent.UNITS} units" for k in recurrent.KINDS}
    with_numpy_rows(runs, names, {"lstm": lambda: recurrent.plugnet_step("lstm", x, g)[0]})
    times = run_times(runs, repeats)
    rows: list[Row] = []
    against_torch(rows, times, names, 1.5)
    return rows


def graph_rows(repeats: int, quick: bool) -> list[Row]:
    samples = 1000 if quick else 20000
    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, graph.WIDTH), dtype=np.float32)
    t = rng.integers(0, graph.CLASSES, samples)
    options: dict[str, Any] = {"error": "cross_entropy", "optimizer": "sgd(lr=0.01)", "seed": 0}
    models = {
        "sequential": plugnet.Sequential(graph.CHAIN, **options),
        "chain": plugnet.Model(graph.NAMED, **options),
        "residual": plugnet.Model(graph.RESIDUAL, **options),
    }
    times = run_times({name: graph.epoch(m, x, t) for name, m in models.items()}, repeats)
    title = f"{samples}×256, dense 256-256-256-10, epoch"
    reference, base = "plugnet Sequential, same layers", times["sequential"]
    return [
        compare(f"graph Model chain, {title}", times["chain"], reference, base, 1.05),
        compare(f"graph Model + residual add, {title}", times["residual"], reference, base, None),
    ]  # fmt: skip


def startup_rows(repeats: int, quick: bool, clean_venv: Path | None = None) -> list[Row]:
    runs = 3 if quick else max(repeats, 30)
    # In the default interpreter's environment unless a clean venv is asked for (startup.py).
    python = None if clean_venv is None else startup.clean_venv(clean_venv)
    # torch's distributions on this process's path would add to the entry-point scan.
    results = startup.measure(runs, {"tree": {"PYTHONPATH": plugnet_path()}}, python)["tree"]

    def beyond(label: str, title: str) -> Row:
        base, target = startup.BEYOND[label]  # what it is measured beyond, and its budget
        extra = startup.differences(results, label, base, 0)  # per-run wall ms
        figure = statistics.median(extra)
        ours, theirs = ([wall for wall, _ in results[key]] for key in (label, base))
        return Row(title, statistics.median(ours) * 1e3, f"fresh process: {base}",
                   statistics.median(theirs) * 1e3, figure, min(extra), max(extra), target,
                   figure <= target, runs, figure_unit="ms")  # fmt: skip

    return [
        beyond("registry built", "start-up: registry with built-ins"),
        beyond("+ entry points", "start-up: entry-point scan on top"),
    ]


GROUPS: tuple[Callable[[int, bool], list[Row]], ...] = (
    mlp_rows, digits_rows, conv_rows, digits_cnn_rows, recurrent_rows, graph_rows, startup_rows
)  # fmt: skip


def cell(value: float | None, unit: str) -> str:
    """A table cell: "1.23×" for a ratio, "+12.3 ms" for a difference ("ms+"), else "12.3 ms"."""
    if value is None:
        return "—"
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "ms+":
        return f"{value:+.1f} ms"
    return f"{value:.1f} {unit}"


def markdown(rows: list[Row]) -> str:
    """The table as Markdown, as printed and as docs/performance.md shows it."""
    lines = [
        "| benchmark | plugnet | reference | reference's | figure | min–max | target | met |",
        "|---|--:|---|--:|--:|--:|--:|:-:|",
    ]
    for row in rows:
        unit = "×" if row.figure_unit == "×" else "ms+"
        spread = (
            "—" if row.figure_min is None
            else f"{cell(row.figure_min, unit)} – {cell(row.figure_max, unit)}"
        )  # fmt: skip
        target = "—" if row.target is None else f"≤ {cell(row.target, unit).lstrip('+')}"
        met = {True: "yes", False: "**no**", None: "—"}[row.met]
        lines.append(
            f"| {row.benchmark} | {cell(row.plugnet, row.unit)} | {row.reference} | "
            f"{cell(row.reference_value, row.unit)} | {cell(row.figure, unit)} | {spread} | "
            f"{target} | {met} |"
        )
    return "\n".join(lines)


def plot(rows: list[Row], path: str) -> None:
    """A horizontal bar per ratio row: the median, min–max whiskers, the 1.0 line, the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.figure_unit == "×" and r.figure is not None]
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(shown) + 1.2))
    ys = range(len(shown))
    medians = [r.figure or 0.0 for r in shown]
    spread = [
        [m - (r.figure_min or m) for m, r in zip(medians, shown, strict=True)],
        [(r.figure_max or m) - m for m, r in zip(medians, shown, strict=True)],
    ]
    colours = ["tab:green" if r.met else "tab:red" if r.met is False else "tab:gray" for r in shown]
    ax.barh(list(ys), medians, xerr=spread, color=colours, capsize=3)
    for y, r in zip(ys, shown, strict=True):
        if r.target is not None:
            ax.plot([r.target, r.target], [y - 0.4, y + 0.4], color="black", linewidth=2)
    ax.axvline(1.0, color="gray", linestyle="--", linewidth=1)
    ax.set_yticks(list(ys), [f"{r.benchmark} / {r.reference.split(',')[0]}" for r in shown],
                  fontsize=7)  # fmt: skip
    ax.invert_yaxis()
    ax.set_xlabel("plugnet / reference: median, min–max whiskers; black tick: target")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="interleaved repeats (>= 15)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 repeats, small sizes")
    parser.add_argument("--json", metavar="OUT", help="write the rows as JSON")
    parser.add_argument("--plot", metavar="OUT.png", help="draw the ratios as a bar chart")
    parser.add_argument("--clean-venv", metavar="DIR", type=Path,
                        help="start-up rows in a venv at DIR with only plugnet's runtime "
                             "dependencies (startup.py; made once, kept)")  # fmt: skip
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    if args.quick:
        _timing.PAUSE = 0.0  # a smoke run's figures mean nothing anyway
    groups = [partial(startup_rows, clean_venv=args.clean_venv) if group is startup_rows else group
              for group in GROUPS]  # fmt: skip
    rows = [row for group in groups for row in group(repeats, args.quick)]
    print(markdown(rows))
    if args.json is not None:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    if args.plot is not None:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
