"""plugnet in Jupyter: the progress bar chosen by environment, and a real ipykernel (started by
nbclient) showing fit's widget bar, a model's table, summary() once and History.plot() inline."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from plugnet import progress
from plugnet.progress import REFRESH_SECONDS, EpochLogger, ProgressBar, progress_callbacks


class Shell:
    def __init__(self, kernel: object | None) -> None:
        if kernel is not None:
            self.kernel = kernel


def fake_ipython(monkeypatch: pytest.MonkeyPatch, shell: object | None) -> None:
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", module)


def test_in_notebook_needs_an_ipython_shell_with_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not progress.in_notebook()
    assert "IPython" not in sys.modules  # not imported to find out
    fake_ipython(monkeypatch, None)  # IPython imported, no shell running
    assert not progress.in_notebook()
    fake_ipython(monkeypatch, Shell(kernel=None))  # a terminal IPython
    assert not progress.in_notebook()
    fake_ipython(monkeypatch, Shell(kernel=object()))
    assert progress.in_notebook()


def test_a_kernel_gets_the_widget_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ipython(monkeypatch, Shell(kernel=object()))
    (bar,) = progress_callbacks(1, epochs=3, batches=10)
    assert isinstance(bar, ProgressBar) and bar.notebook
    (logger,) = progress_callbacks(2, epochs=3, batches=10)
    assert isinstance(logger, EpochLogger)


def test_a_kernel_without_ipywidgets_prints_lines_and_a_hint_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_ipython(monkeypatch, Shell(kernel=object()))
    monkeypatch.setattr(progress, "_hinted", [])
    real_find_spec = progress.importlib.util.find_spec
    monkeypatch.setattr(
        progress.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ipywidgets" else real_find_spec(name, *a),
    )
    for _ in range(2):
        (logger,) = progress_callbacks(1, epochs=3, batches=10)
        assert isinstance(logger, EpochLogger)
    err = capsys.readouterr().err
    assert err.count("pip install ipywidgets") == 1 and "restart the kernel" in err


# -- a real kernel -------------------------------------------------------------------------------

SETUP = """\
import json, sys, time
import numpy as np
import plugnet
print(json.dumps([sys.executable, plugnet.__file__]))
rng = np.random.default_rng(0)
x = rng.normal(size=(1000, 4))
t = (x[:, 0] > 0).astype(int)
net = plugnet.Sequential(
    [{"type": "dense", "units": 8, "activation": "relu", "name": "hidden<1>"},
     {"type": "dense", "units": 2, "activation": "softmax"}],
    error="cross_entropy", seed=0,
)
"""
FIT = """\
start = time.perf_counter()
history = net.fit(x, t, epochs=2, batch_size=1, verbose=1)
print(time.perf_counter() - start)
"""


def kernel_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cells: list[str]) -> Any:
    """Run ``cells`` in a fresh ipykernel of this very interpreter; the executed notebook and the
    number of widget updates (comm messages) each cell sent."""
    import nbformat
    from nbclient import NotebookClient

    # A "python3" kernelspec first on JUPYTER_PATH, so that the kernel is this interpreter (its
    # venv, its plugnet), whatever kernelspecs the machine or the user has installed.
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "plugnet tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's default: inline figures
    # And this plugnet: the folders it and the built-ins were imported from (a relative
    # PYTHONPATH such as core:plugins would not hold in the kernel's working directory).
    import plugnet
    import plugnet_builtins

    folders = [str(Path(m.__file__).parent.parent) for m in (plugnet, plugnet_builtins)]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(dict.fromkeys(folders)))

    class CountingClient(NotebookClient):
        updates: dict[int, int]

        def handle_comm_msg(self, outs: Any, msg: dict[str, Any], cell_index: int) -> None:
            if msg["msg_type"] == "comm_msg":
                self.updates[cell_index] = self.updates.get(cell_index, 0) + 1
            super().handle_comm_msg(outs, msg, cell_index)

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = CountingClient(
        notebook, kernel_name="python3", timeout=60, resources={"metadata": {"path": tmp_path}}
    )
    client.updates = {}
    client.execute()
    return notebook, client.updates


def test_a_kernel_shows_the_bar_the_model_summary_once_and_the_figure_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cells = [SETUP, FIT, "net", "net.summary()", "history.plot()", "history"]
    notebook, updates = kernel_outputs(tmp_path, monkeypatch, cells)
    setup, fit, model, summary, plot, history = (cell.outputs for cell in notebook.cells)

    import plugnet

    assert json.loads(setup[0]["text"]) == [sys.executable, plugnet.__file__]

    # fit: one widget bar per epoch, each ending with the loss and accuracy in its right text.
    views = [o["data"] for o in fit if o["output_type"] == "display_data"]
    assert len(views) == 2
    assert "epoch 1/2" in views[0]["text/plain"] and "epoch 2/2" in views[1]["text/plain"]
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    for view in views:
        assert "application/vnd.jupyter.widget-view+json" in view
        box = state[view["application/vnd.jupyter.widget-view+json"]["model_id"]]["state"]
        label, bar, right = (state[c.removeprefix("IPY_MODEL_")]["state"] for c in box["children"])
        assert label["value"].replace("\u2007", " ").startswith("epoch ")
        assert bar["value"] == bar["max"] == 1000 and bar["bar_style"] == "success"
        text = right["value"].replace("\u2007", " ")
        assert "loss 0." in text and "accuracy 0." in text
    # A bounded update rate: 2000 batches, but a few messages per refresh (each sets the bar's
    # value and texts), one refresh per REFRESH_SECONDS at most, and the first and last.
    (seconds,) = (float(o["text"]) for o in fit if o["output_type"] == "stream")
    assert 0 < updates[1] <= 4 * 2 * (3 + seconds / REFRESH_SECONDS) < 2000

    assert [o["output_type"] for o in model] == ["execute_result"]
    html = model[0]["data"]["text/html"]
    assert "<td>hidden&lt;1&gt;</td>" in html and "<td>(N, 8)</td><td>40</td>" in html

    # summary() prints once and shows no value.
    assert [o["output_type"] for o in summary] == ["stream"]
    assert summary[0]["text"].count("total parameters: 58") == 1

    # The figure once, as the cell's value (closed, so the inline backend does not show it too).
    assert [o["output_type"] for o in plot] == ["execute_result"]
    assert "image/png" in plot[0]["data"]

    assert "<th>loss</th>" in history[0]["data"]["text/html"]
    assert history[0]["data"]["text/plain"] == "History(epochs=2, keys=[loss, accuracy, lr])"
