"""Callbacks, history, learning-curve plots and progress reporting."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np
import pytest

import plugnet
from plugnet.callbacks import Callback
from plugnet.network import Sequential
from plugnet.progress import EpochLogger, ProgressBar

X = np.random.default_rng(0).standard_normal((64, 4))
T = (X[:, 0] > 0).astype(int)


def net(seed: int = 0, optimizer: str = "adam(lr=0.01)") -> Sequential:
    return Sequential(
        [
            {"type": "dense", "units": 8, "activation": "relu"},
            {"type": "dense", "units": 2, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer=optimizer,
        seed=seed,
    )


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_train_begin(self, logs: dict[str, object]) -> None:
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch: int) -> None:
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self.events.append(f"batch {batch}")

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs: dict[str, object]) -> None:
        self.events.append("train_end")


def test_callbacks_are_called_in_order_and_the_last_batch_may_be_smaller() -> None:
    recorder = Recorder()
    net().fit(X[:50], T[:50], epochs=2, batch_size=32, callbacks=[recorder], verbose=0)
    metrics = "['accuracy', 'loss', 'lr']"
    assert recorder.events == [
        "train_begin",
        "epoch_begin 0", "batch 0", "batch 1", f"epoch_end 0 {metrics}",
        "epoch_begin 1", "batch 0", "batch 1", f"epoch_end 1 {metrics}",
        "train_end",
    ]  # fmt: skip
    assert recorder.network is not None


def test_history_holds_per_epoch_lists() -> None:
    history = net().fit(X, T, epochs=3, validation_split=0.25, verbose=0)
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(v) == 3 for v in history.history.values())


def test_early_stopping_stops_and_restores_the_best_parameters() -> None:
    class WorseningLoss(Callback):
        """Feeds EarlyStopping a monitored value that is best at epoch 1."""

        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            logs["score"] = [3.0, 1.0, 2.0, 2.5, 2.6, 2.7, 2.8][epoch]

    snapshots: list[dict[str, np.ndarray]] = []

    class Snapshot(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            snapshots.append({k: v.copy() for k, v in self.network.params.items()})

    stopper = plugnet.EarlyStopping(monitor="score", patience=2, restore_best=True, mode="min")
    model = net()
    history = model.fit(X, T, epochs=7, callbacks=[WorseningLoss(), Snapshot(), stopper], verbose=0)
    assert history.epoch == [0, 1, 2, 3] and stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, snapshots[1][name])


def test_early_stopping_names_what_it_cannot_find() -> None:
    with pytest.raises(ValueError, match="monitors 'val_loss', which this run does not report"):
        net().fit(X, T, epochs=2, callbacks=[plugnet.EarlyStopping()], verbose=0)


def test_csv_logger_writes_one_row_per_epoch(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    net().fit(X, T, epochs=3, callbacks=[plugnet.CSVLogger(path)], verbose=0)
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "lr"}


def test_history_plot_writes_a_png(tmp_path: Path) -> None:
    history = net().fit(X, T, epochs=3, validation_split=0.25, verbose=0)
    target = history.plot(tmp_path / "curves.png")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def png_width(path: Path) -> int:
    """The width in pixels, from the PNG's IHDR chunk (bytes 16-20, big-endian)."""
    return int.from_bytes(path.read_bytes()[16:20], "big")


def test_history_plot_draws_the_learning_rate_only_when_it_changed(tmp_path: Path) -> None:
    flat = net().fit(X, T, epochs=3, verbose=0)  # a constant lr: loss and accuracy panels
    assert len(set(flat.history["lr"])) == 1
    changing = plugnet.Sequential(
        [{"type": "dense", "units": 3, "activation": "softmax"}],
        error="cross_entropy",
        optimizer="sgd(lr=0.1, schedule='step(step_size=1, gamma=0.5)', schedule_unit='epoch')",
        seed=0,
    ).fit(X, T, epochs=3, verbose=0)
    assert len(set(changing.history["lr"])) == 3
    two = png_width(flat.plot(tmp_path / "flat.png"))
    three = png_width(changing.plot(tmp_path / "changing.png"))
    assert three == pytest.approx(two * 3 / 2, rel=0.01)  # one panel more, each as wide


def test_history_plot_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    history = net().fit(X, T, epochs=1, verbose=0)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "plugnet\[plot\]"'):
        history.plot("never.png")


def test_verbose_0_is_silent_and_1_off_a_terminal_prints_a_line_per_epoch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    net().fit(X, T, epochs=2, verbose=0)
    assert capsys.readouterr() == ("", "")
    net().fit(X, T, epochs=2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2 - loss ") and " - accuracy " in lines[0]


def test_progress_bar_shows_metrics() -> None:
    stream = io.StringIO()
    bar = ProgressBar(epochs=1, batches=2, stream=stream)
    bar.on_epoch_begin(0)
    bar.on_batch_end(0, {"loss": 0.5})
    bar.on_batch_end(1, {"loss": 0.25, "accuracy": 0.75})
    bar.on_epoch_end(0, {"loss": 0.25, "accuracy": 0.75})
    text = stream.getvalue()
    assert "epoch 1/1" in text and "2/2" in text and "loss 0.2500 - accuracy 0.7500" in text


def test_epoch_logger_format() -> None:
    stream = io.StringIO()
    logger = EpochLogger(epochs=3, stream=stream)
    logger.on_epoch_begin(1)
    logger.on_epoch_end(1, {"loss": 0.12345, "val_loss": 0.5})
    assert stream.getvalue().startswith("epoch 2/3 - loss 0.1235 - val_loss 0.5000 (")
