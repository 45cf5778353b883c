"""Callbacks: hooks into the training loop, as in Keras."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal

import numpy as np

from plugnet.specs import AtLeast

if TYPE_CHECKING:
    from plugnet.network import Sequential


class Callback:
    """Override any of these; ``self.network`` is set before ``on_train_begin``.

    Set ``network.stop_training = True`` to end training after the current epoch.
    """

    network: Sequential

    def on_train_begin(self, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, logs: dict[str, Any]) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best``, the parameters of the best epoch are copied back at the end.
    ``mode`` is "min", "max", or "auto" (max for names containing "acc", else min).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: Annotated[int, AtLeast(0)] = 5,
        min_delta: Annotated[float, AtLeast(0)] = 0.0,
        mode: Literal["auto", "min", "max"] = "auto",
        restore_best: bool = True,
    ) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
        self.restore_best = restore_best

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.best = -math.inf if self.maximize else math.inf
        self.best_epoch = -1
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._best_params: dict[str, np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this run does not report; it "
                f"reports {', '.join(logs)}. Pass validation_data or validation_split for "
                f"'val_*' values, or monitor one of those"
            )
        value = logs[self.monitor]
        improved = (
            value > self.best + self.min_delta
            if self.maximize
            else value < self.best - self.min_delta
        )
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self._best_params = {k: v.copy() for k, v in self.network.params.items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.network.stop_training = True

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self.restore_best and self._best_params is not None:
            for name, value in self._best_params.items():
                self.network.params[name][...] = value


class CSVLogger(Callback):
    """Append one row per epoch (epoch, then every metric) to a CSV file."""

    def __init__(self, path: str | Path, append: bool = False) -> None:
        self.path = Path(path)
        self.append = append
        self._file: IO[str] | None = None
        self._writer: Any = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        exists = self.append and self.path.exists() and self.path.stat().st_size > 0
        self._file = self.path.open("a" if self.append else "w", newline="", encoding="utf-8")
        self._writer = None
        self._header_written = exists

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        assert self._file is not None
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *logs])
            if not self._header_written:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **logs})
        self._file.flush()

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
