"""Training progress: a tqdm bar per epoch in a Jupyter kernel (a widget) and on a terminal
(text), one line per epoch elsewhere (logs, pipes)."""

from __future__ import annotations

import importlib.util
import sys
import time
from typing import Any, TextIO

from plugnet.callbacks import Callback

REFRESH_SECONDS = 0.2
WIDGETS_HINT = (
    "plugnet: this Jupyter kernel has no ipywidgets, so fit(verbose=1) prints a line per epoch; "
    'for a live progress bar: pip install ipywidgets (or "plugnet[notebook]"), then restart '
    "the kernel"
)
_hinted: list[bool] = []  # the hint is given once per process


def format_metrics(logs: dict[str, float]) -> str:
    # A learning rate such as 1e-05 would read 0.0000 with four decimals.
    return " - ".join(
        f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}" for key, value in logs.items()
    )


class ProgressBar(Callback):
    """A tqdm bar per epoch showing the running loss and metrics, refreshed at a bounded rate:
    tqdm's notebook widget with ``notebook=True``, else its text bar on ``stream``."""

    def __init__(
        self, epochs: int, batches: int, stream: TextIO | None = None, *, notebook: bool = False
    ) -> None:
        self.epochs, self.batches, self.stream = epochs, batches, stream
        self.notebook = notebook
        self._bar: Any = None
        self._last_refresh = 0.0

    def on_epoch_begin(self, epoch: int) -> None:
        if self.notebook:
            from tqdm.notebook import tqdm
        else:
            from tqdm.std import tqdm

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


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel: IPython's shell with a kernel (a terminal IPython
    has none). IPython is not imported here when it is not already: outside IPython it never is."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return getattr(shell, "kernel", None) is not None


def progress_callbacks(verbose: int, epochs: int, batches: int) -> list[Callback]:
    """verbose=0: silent; 1: a bar in a Jupyter kernel or on a terminal, else lines; 2: lines."""
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    if verbose == 0:
        return []
    if verbose == 1 and in_notebook():
        # tqdm's widget needs ipywidgets; without it tqdm.notebook raises, so print lines.
        if importlib.util.find_spec("ipywidgets") is not None:
            return [ProgressBar(epochs, batches, notebook=True)]
        if not _hinted:
            _hinted.append(True)
            print(WIDGETS_HINT, file=sys.stderr, flush=True)
    elif verbose == 1 and sys.stderr.isatty():
        return [ProgressBar(epochs, batches)]
    return [EpochLogger(epochs)]
