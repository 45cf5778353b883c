"""Training progress: a tqdm bar per epoch on a terminal, one line per epoch elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from plugnet.callbacks import Callback

REFRESH_SECONDS = 0.2


def format_metrics(logs: dict[str, float]) -> str:
    # A learning rate such as 1e-05 would read 0.0000 with four decimals.
    return " - ".join(
        f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}" for key, value in logs.items()
    )


class ProgressBar(Callback):
    """A tqdm bar per epoch showing the running loss and metrics, refreshed at a bounded rate."""

    def __init__(self, epochs: int, batches: int, stream: TextIO | None = None) -> None:
        self.epochs, self.batches, self.stream = epochs, batches, stream
        self._bar: Any = None
        self._last_refresh = 0.0

    def on_epoch_begin(self, epoch: int) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self.batches,
            desc=f"epoch {epoch + 1}/{self.epochs}",
            unit="batch",
            mininterval=REFRESH_SECONDS,
            leave=True,
            file=self.stream,
            dynamic_ncols=True,
        )

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self._bar.update(1)
        now = time.monotonic()
        if now - self._last_refresh >= REFRESH_SECONDS:
            self._last_refresh = now
            self._bar.set_postfix_str(format_metrics(logs), refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self._bar.set_postfix_str(format_metrics(logs), refresh=True)
        self._bar.close()
        self._bar = None

    def on_train_end(self, logs: dict[str, object]) -> None:
        if self._bar is not None:  # training ended inside an epoch: an error or Ctrl-C
            self._bar.close()
            self._bar = None


class EpochLogger(Callback):
    """One line per epoch: ``epoch 3/30 - loss 0.1234 - accuracy 0.9712 (0.4 s)``."""

    def __init__(self, epochs: int, stream: TextIO | None = None) -> None:
        self.epochs = epochs
        self.stream = stream

    def on_epoch_begin(self, epoch: int) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        seconds = time.perf_counter() - self._start
        line = f"epoch {epoch + 1}/{self.epochs} - {format_metrics(logs)} ({seconds:.1f} s)"
        print(line, file=self.stream or sys.stdout, flush=True)


def progress_callbacks(verbose: int, epochs: int, batches: int) -> list[Callback]:
    """verbose=0: silent; 1: a bar on a terminal, else lines; 2: lines."""
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    if verbose == 0:
        return []
    if verbose == 1 and sys.stderr.isatty():
        return [ProgressBar(epochs, batches)]
    return [EpochLogger(epochs)]
