"""The notebooks in ``notebooks/`` are committed without outputs and run top to bottom in a real
Jupyter kernel (nbclient + ipykernel) of this test run's own interpreter, with their asserts.

The kernel is ``sys.executable -m ipykernel_launcher`` through a kernelspec written to a
temporary directory, so it never picks up another Python installed on the machine; its first
cell (added here, not in the notebook) asserts that it imports the same plugnet as the tests.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import plugnet

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "plugnet-test-kernel"
CELL_TIMEOUT = 120  # seconds per cell; each notebook takes a few seconds in all
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks
# Figures a notebook must show inline (image/png outputs), so that "look" is checked too.
FIGURES = {"train-and-look": 4, "im2col-and-convolution": 1}


def test_the_notebooks_are_the_four_of_the_docs() -> None:
    assert {path.stem for path in NOTEBOOKS} == {
        "backprop-from-scratch",
        "train-and-look",
        "im2col-and-convolution",
        "write-a-plugin",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {index} has outputs; clear them"
            assert cell.execution_count is None, f"{path.name}: cell {index} has a count"
    assert "widgets" not in notebook.metadata, f"{path.name}: saved widget state; clear it"


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """A kernelspec that runs this interpreter, with this run's PYTHONPATH made absolute (the
    kernel starts in another directory) and the inline matplotlib backend, which needs no
    display."""
    folder = tmp_path_factory.mktemp("kernels")
    entries = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    python_path = [str(Path(entry).resolve()) for entry in entries if entry]
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "plugnet tests",
        "language": "python",
        "env": {
            "PYTHONPATH": os.pathsep.join(python_path),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        },
    }
    (folder / KERNEL).mkdir()
    (folder / KERNEL / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(folder)])


def run(path: Path, specs: KernelSpecManager, cwd: Path) -> tuple[nbformat.NotebookNode, float]:
    """Execute the notebook cell by cell; fail naming the cell, its source and the traceback."""
    notebook = nbformat.read(path, as_version=4)
    same_interpreter = (
        "import sys, plugnet\n"
        f"assert sys.executable == {sys.executable!r}, sys.executable\n"
        f"assert plugnet.__file__ == {plugnet.__file__!r}, plugnet.__file__"
    )
    notebook.cells.insert(0, nbformat.v4.new_code_cell(same_interpreter))
    manager = KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT,
        startup_timeout=120,
        resources={"metadata": {"path": str(cwd)}},
    )
    start = time.perf_counter()
    failure = None
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                where = "the interpreter check" if index == 0 else f"cell {index - 1}"
                failure = f"{path.name}: {where} failed:\n{ANSI.sub('', str(error))}"
                break
    if failure is not None:  # outside the except block: the report is the cell's traceback only
        pytest.fail(failure, pytrace=False)
    return notebook, time.perf_counter() - start


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_runs_in_a_kernel(
    path: Path, kernel_specs: KernelSpecManager, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notebook, seconds = run(path, kernel_specs, tmp_path)
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = sum("image/png" in o.get("data", {}) for o in outputs)
    assert figures >= FIGURES.get(path.stem, 0), f"{path.name} showed {figures} figures"
    assert not any(o.get("name") == "stderr" for o in outputs), "a notebook prints no warnings"
    with capsys.disabled():
        print(f"\n{path.name}: {seconds:.1f} s in the kernel")
