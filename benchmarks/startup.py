"""Start-up cost of plugnet: median wall time of fresh interpreters, minus ``import numpy``.

    python benchmarks/startup.py [--runs 30] [--baseline PYTHONPATH] [--clean-venv DIR]

Targets (issue 16): building the registry with the built-ins costs at most 20 ms beyond numpy,
and the scan and load of the ``plugnet`` entry points (the first time a name beyond the
built-ins, or a listing, is needed) at most 20 ms more, in a clean venv.

Each tree is put first on the children's ``PYTHONPATH`` (this checkout's ``core:plugins``;
``--baseline`` names a second one, e.g. a ``git worktree`` of main), so the code timed is the
tree's own. By default the children run this interpreter, whose environment's distributions
the entry-point scan reads. ``--clean-venv DIR`` runs them in a venv at ``DIR`` instead, created
on first use and kept: only plugnet's runtime dependencies (numpy, pluggy, importlib-metadata
with zipp, tqdm; this interpreter's versions where it has them, else the newest) and plugnet
itself, installed from this checkout non-editable, as ``pip install plugnet`` would (an
editable install adds an import hook to every interpreter's start, which users do not have).
The installed copy supplies the distribution's metadata to the scan; the tree on
``PYTHONPATH`` shadows its modules.

Modules load from bytecode, as in an installed venv (pip compiles on install): the processes
write and read ``.pyc`` files in a temporary cache even where ``PYTHONDONTWRITEBYTECODE`` is
set, and each command runs once before it is timed. Each run times every command of every tree
once, interleaved, so that a before/after comparison sees the same machine load. On a busy
machine, compare the CPU times (user + system, of each child process; POSIX only), which the
load inflates far less than wall times.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "import numpy": "import numpy",
    "import plugnet": "import plugnet",
    "registry built": "import plugnet; plugnet.activation('relu')",
    "+ entry points": "import plugnet; plugnet.registry().providers",
}
# What a command's figure is measured beyond, and its budget in ms (issue 16).
BEYOND = {
    "registry built": ("import numpy", 20.0),
    "+ entry points": ("registry built", 20.0),
}
# plugnet's default install (pyproject.toml's dependencies), with importlib-metadata's zipp.
RUNTIME_DEPENDENCIES = ("numpy", "pluggy", "importlib-metadata", "zipp", "tqdm")
MARKER = "plugnet-clean-venv.json"


def tree_path(tree: Path) -> str:
    """The PYTHONPATH that puts a checkout's plugnet and plugnet_builtins first."""
    return os.pathsep.join(str(tree / part) for part in ("core", "plugins"))


def clean_venv(directory: Path, tree: Path = ROOT) -> Path:
    """The interpreter of a venv at ``directory`` holding only plugnet's runtime dependencies
    and plugnet installed non-editable from ``tree``; created on the first call, then reused
    (its marker file lists what was installed)."""
    directory = directory.resolve()
    python = directory / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if (directory / MARKER).is_file() and python.is_file():
        return python
    if directory.exists() and any(directory.iterdir()):
        raise SystemExit(
            f"--clean-venv {directory}: the folder exists and is not a venv this script made "
            f"(no {MARKER}, or its making was interrupted); delete it, or name a new folder"
        )
    print(f"creating the clean venv {directory} ...", file=sys.stderr)
    # From a venv's interpreter too, venv bases the new one on the installation's own Python.
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    pins = []
    for name in RUNTIME_DEPENDENCIES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *pins], check=True)
    with tempfile.TemporaryDirectory() as scratch:  # built from a copy: the tree stays clean
        source = Path(scratch)
        skip = shutil.ignore_patterns("__pycache__")
        for part in ("core", "plugins"):
            shutil.copytree(tree / part, source / part, ignore=skip)
        for part in ("pyproject.toml", "README.md"):
            shutil.copy2(tree / part, source / part)
        subprocess.run([*pip, "--no-deps", str(source)], check=True)  # a wheel, not editable
    listed = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m, json; "
         "print(json.dumps(sorted(f'{d.name}=={d.version}' for d in m.distributions())))"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    (directory / MARKER).write_text(
        json.dumps({"tree": str(tree), "distributions": json.loads(listed)}, indent=1) + "\n"
    )
    return python


def run_once(python: str, code: str, env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh interpreter running ``code`` (CPU: NaN without wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen([python, "-c", code], env=env, cwd=cwd)
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


def differences(
    results: dict[str, list[tuple[float, float]]], label: str, base: str, which: int
) -> list[float]:
    """Per-run ms of ``label`` beyond ``base`` (which: 0 wall, 1 CPU): both ran in that run."""
    return [(a[which] - b[which]) * 1e3 for a, b in zip(results[label], results[base], strict=True)]


def report(title: str, results: dict[str, list[tuple[float, float]]]) -> None:
    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):+7.1f} ({min(values):+.1f} – {max(values):+.1f})"

    print(title)
    print(f"{'command':<16} {'wall':>9} {'cpu':>9}   ms beyond: median (min – max) of the runs")
    for label in COMMANDS:
        wall = statistics.median(pair[0] for pair in results[label]) * 1e3
        cpu = statistics.median(pair[1] for pair in results[label]) * 1e3
        extra = ""
        if label in BEYOND:
            base = BEYOND[label][0]
            extra = (f"{base}: wall {spread(differences(results, label, base, 0))}, "
                     f"cpu {spread(differences(results, label, base, 1))}")  # fmt: skip
        print(f"{label:<16} {wall:6.1f} ms {cpu:6.1f} ms   {extra}")
    for label, (base, target) in BEYOND.items():
        figure = statistics.median(differences(results, label, base, 0))
        verdict = "meets" if figure <= target else "MISSES"
        print(
            f"{label}: {figure:+.1f} ms wall beyond {base} ({verdict} the {target:.0f} ms target)"
        )


def measure(
    runs: int, trees: dict[str, dict[str, str]], python: str | os.PathLike[str] | None = None
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """(wall, CPU) seconds of each run of each command, per tree: environment variables to set.
    ``python`` is the interpreter to run (default: this one)."""
    python = str(python or sys.executable)
    with tempfile.TemporaryDirectory() as scratch:
        cache, cwd = os.path.join(scratch, "pycache"), os.path.join(scratch, "cwd")
        os.mkdir(cwd)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        tree_envs = {tree: {**env, **extra} for tree, extra in trees.items()}
        for tree_env in tree_envs.values():  # the first run of each command writes its bytecode
            for code in COMMANDS.values():
                subprocess.run([python, "-c", code], check=True, env=tree_env, cwd=cwd)
        results: dict[str, dict[str, list[tuple[float, float]]]] = {
            tree: {label: [] for label in COMMANDS} for tree in trees
        }
        # The children run in an empty folder: ``python -c`` puts its working directory first on
        # sys.path, where a checkout's build metadata (plugnet.egg-info) would join the scan.
        # Each run times every command of every tree once, so that drift in the machine's load
        # hits them all alike; the figures are medians over the runs.
        for _ in range(runs):
            for label, code in COMMANDS.items():
                for tree, tree_env in tree_envs.items():
                    results[tree][label].append(run_once(python, code, tree_env, cwd))
    return results


def distribution_count(python: str) -> int:
    code = "import importlib.metadata as m; print(len(list(m.distributions())))"
    return int(subprocess.run([python, "-c", code], check=True, capture_output=True,
                              text=True).stdout)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="fresh processes per command (>= 30)")
    parser.add_argument("--baseline", metavar="PYTHONPATH", help="a second tree to time alongside")
    parser.add_argument(
        "--clean-venv", metavar="DIR", type=Path,
        help="run in a venv at DIR with only plugnet's runtime dependencies (made once, kept)",
    )  # fmt: skip
    args = parser.parse_args()
    python = sys.executable if args.clean_venv is None else str(clean_venv(args.clean_venv))
    trees = {"this tree": {"PYTHONPATH": tree_path(ROOT)}}
    if args.baseline is not None:
        trees = {"baseline": {"PYTHONPATH": args.baseline}, **trees}
    results = measure(args.runs, trees, python)
    where = f"{python}, {distribution_count(python)} distributions"
    for tree in trees:
        report(f"-- {tree} (median of {args.runs} runs per command; {where})", results[tree])
    if args.baseline is not None:
        compare(results["baseline"], results["this tree"])


def compare(before: dict[str, list[tuple[float, float]]],
            after: dict[str, list[tuple[float, float]]]) -> None:  # fmt: skip
    """The change of each figure: this tree's per-run difference minus the baseline's, in ms
    (the two ran side by side in each run)."""
    print("-- this tree − baseline, ms: median (min – max) of the runs")
    for label, (base, _) in BEYOND.items():
        cells = []
        for which, unit in ((0, "wall"), (1, "cpu")):
            ours = differences(after, label, base, which)
            theirs = differences(before, label, base, which)
            change = [a - b for a, b in zip(ours, theirs, strict=True)]
            cells.append(f"{unit} {statistics.median(change):+6.1f} "
                         f"({min(change):+.1f} – {max(change):+.1f})")  # fmt: skip
        print(f"{label} beyond {base}: {', '.join(cells)}")


if __name__ == "__main__":
    main()
