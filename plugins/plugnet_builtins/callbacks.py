"""The built-in training callbacks, registered through ``register_callbacks`` like any plugin's.

Callbacks that watch a logged value (``monitor``) take any name the run logs: ``loss``, each
metric's name, ``lr`` when the optimizer logs it, each with ``val_`` for validation data. With
``mode="auto"`` the direction comes from the name, without ``val_`` (see :func:`maximizes`).
Messages (why training stopped, what was saved) are printed when ``fit``'s ``verbose`` > 0,
with epochs counted from 1, as the progress lines count them.
"""

from __future__ import annotations

import math
from typing import IO, Annotated, Any, Literal

import numpy as np

from plugnet.callbacks import Callback
from plugnet.configurable import Configurable
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import AdjustableLearningRate, Conformance
from plugnet.specs import AtLeast

Mode = Literal["auto", "min", "max"]

#: Names (without ``val_``) that ``mode="auto"`` reads as scores to maximize; so is any name
#: that ends in "accuracy" or "acc".
MAXIMIZED = ("precision", "recall", "f1", "f1_score", "r2", "r2_score", "auc")
#: Names (without ``val_``) read as values to minimize; so is any name that ends in "loss" or
#: "error".
MINIMIZED = ("mse", "mae", "rmse", "mean_squared_error", "mean_absolute_error",
             "root_mean_squared_error", "lr")  # fmt: skip


def maximizes(monitor: str, mode: str, who: str) -> bool:
    """Whether ``monitor`` improves by rising: ``mode`` "max" or "min" says so; under "auto"
    the name does (:data:`MAXIMIZED`, :data:`MINIMIZED`), and a name it cannot read is an
    error naming ``who`` rather than a guess."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode == "max"
    base = monitor.removeprefix("val_")
    if base.endswith(("accuracy", "acc")) or base in MAXIMIZED:
        return True
    if base.endswith(("loss", "error")) or base in MINIMIZED:
        return False
    raise ValueError(
        f"{who}: mode='auto' cannot tell whether {monitor!r} should rise or fall; give "
        f"mode='max' (a score) or mode='min' (an error)"
    )


def _value(who: str, monitor: str, logs: dict[str, float]) -> float:
    if monitor not in logs:
        raise ValueError(
            f"{who} monitors {monitor!r}, which this run does not report; it reports "
            f"{', '.join(logs)}. Pass validation_data or validation_split for 'val_*' values, "
            f"or monitor one of those"
        )
    return float(logs[monitor])


class _Monitoring(Callback, Configurable):
    """What the callbacks that watch a value share: the direction, the best value so far, and
    whether to print."""

    monitor: str
    min_delta: float
    _maximize: bool
    verbose = 0

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.verbose = int(logs.get("verbose", 0))
        self.best = -math.inf if self._maximize else math.inf

    def _improved(self, value: float) -> bool:
        if self._maximize:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def _say(self, text: str) -> None:
        if self.verbose > 0:
            print(text, flush=True)


class EarlyStopping(_Monitoring):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best``, the parameters of the best epoch are copied back at the end.
    ``mode`` is "min", "max", or "auto" (from the name: max for accuracies, precision, recall,
    f1, r2; min for losses, errors, mse, mae, rmse, lr; any other name needs "min" or "max").
    ``best_epoch`` and ``stopped_epoch`` count from 0, as the loop does.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: Annotated[int, AtLeast(0)] = 5,
        min_delta: Annotated[float, AtLeast(0)] = 0.0,
        mode: Mode = "auto",
        restore_best: bool = True,
    ) -> None:
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        self._maximize = maximizes(monitor, mode, "early_stopping")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.mode = mode
        self.restore_best = restore_best

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        super().on_train_begin(logs)
        self.best_epoch = -1
        self.last_epoch = -1
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._best_params: dict[str, np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        value = _value("EarlyStopping", self.monitor, logs)
        self.last_epoch = epoch
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self._best_params = {k: v.copy() for k, v in self.network.params.items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.network.stop_training = True
            self._say(
                f"early_stopping: {self.monitor} has not improved for {self.wait} epochs; "
                f"stopping after epoch {epoch + 1}"
            )

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self.restore_best and self._best_params is not None:
            for name, value in self._best_params.items():
                self.network.params[name][...] = value
            if self.best_epoch != self.last_epoch:
                self._say(
                    f"early_stopping: restored the parameters of epoch {self.best_epoch + 1} "
                    f"({self.monitor} {self.best:.4f})"
                )


class ModelCheckpoint(_Monitoring):
    """Save the network after each epoch, or each that improved ``monitor``, to a path template.

    It saves with ``net.save``, which is atomic; ``path`` is a template of the epoch (from 1)
    and the logged values: ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``.

    With ``save_best_only``, only an epoch whose ``monitor`` improved on the best so far is
    saved (``mode`` as for early stopping). ``saved`` lists the files written.
    """

    conformance = Conformance(cases=({"config": {"path": "checkpoint-{epoch}.npz"}},))

    def __init__(
        self,
        path: str,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: Mode = "auto",
    ) -> None:
        self._fields = _template_fields(path)
        self._maximize = maximizes(monitor, mode, "model_checkpoint") if save_best_only else False
        self.path = path
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.mode = mode
        self.min_delta = 0.0
        self.saved: list[str] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        values = {**logs, "epoch": epoch + 1}
        missing = [name for name in self._fields if name not in values]
        if missing:
            raise ValueError(
                f"model_checkpoint: the path {self.path!r} names {', '.join(missing)}, which "
                f"this run does not log; it logs epoch, {', '.join(logs)}"
            )
        if self.save_best_only:
            value = _value("ModelCheckpoint", self.monitor, logs)
            if not self._improved(value):
                return
            self.best = value
        try:
            target = self.path.format(**values)
        except (ValueError, TypeError) as exc:  # a format spec that does not fit the value
            raise ValueError(
                f"model_checkpoint: cannot fill in the path {self.path!r}: {exc}"
            ) from None
        from pathlib import Path  # here, not at the top: pathlib costs ~5 ms of start-up

        Path(target).parent.mkdir(parents=True, exist_ok=True)
        self.network.save(target)
        self.saved.append(target)
        self._say(f"model_checkpoint: saved epoch {epoch + 1} to {target}")


def _template_fields(path: str) -> list[str]:
    """The names a checkpoint path template uses; only plain names, so that filling it in
    reads no attribute or item of a value."""
    try:
        import string  # here, not at start-up: only a checkpoint path needs it

        parsed = list(string.Formatter().parse(path))
    except ValueError as exc:
        raise ValueError(
            f"model_checkpoint: the path {path!r} is not a valid template: {exc}"
        ) from None
    fields = []
    for _, name, _, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or conversion is not None:
            raise ValueError(
                f"model_checkpoint: the path {path!r} has the field {{{name}}}; name a logged "
                f"value, e.g. {{epoch:02d}} or {{val_loss:.3f}} (write {{{{ and }}}} for braces)"
            )
        fields.append(name)
    return fields


class ReduceLROnPlateau(_Monitoring):
    """Multiply the optimizer's ``lr`` by ``factor`` when ``monitor`` stops improving.

    That is, when it has not improved by ``min_delta`` for ``patience`` epochs; never below
    ``min_lr``, and then it waits ``cooldown`` epochs before counting again. As Keras's; the
    optimizer must have a settable ``lr`` (:class:`~plugnet.protocols.AdjustableLearningRate`).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: Annotated[int, AtLeast(0)] = 10,
        mode: Mode = "auto",
        min_delta: Annotated[float, AtLeast(0)] = 1e-4,
        cooldown: Annotated[int, AtLeast(0)] = 0,
        min_lr: Annotated[float, AtLeast(0)] = 0.0,
    ) -> None:
        if not 0.0 < factor < 1.0:
            raise ValueError(
                f"reduce_lr_on_plateau: factor must be in (0, 1), got {factor}; the learning "
                f"rate is multiplied by it"
            )
        self._maximize = maximizes(monitor, mode, "reduce_lr_on_plateau")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.mode = mode
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        optimizer = self.network.optimizer
        if not isinstance(optimizer, AdjustableLearningRate):
            raise TypeError(
                f"reduce_lr_on_plateau sets the optimizer's lr, and this {type(optimizer).__name__}"
                f" has none; use an optimizer with a learning rate lr (sgd, adam, ...)"
            )
        super().on_train_begin(logs)
        self.wait = 0
        self.cooldown_left = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        value = _value("ReduceLROnPlateau", self.monitor, logs)
        optimizer = self.network.optimizer
        assert isinstance(optimizer, AdjustableLearningRate)  # checked on_train_begin
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
        elif self.cooldown_left == 0:
            self.wait += 1
            if self.wait >= self.patience and optimizer.lr > self.min_lr:
                old = optimizer.lr
                optimizer.lr = max(old * self.factor, self.min_lr)
                self.cooldown_left, self.wait = self.cooldown, 0
                self._say(
                    f"reduce_lr_on_plateau: {self.monitor} has not improved; lr {old:g} -> "
                    f"{optimizer.lr:g} after epoch {epoch + 1}"
                )


class CSVLogger(Callback, Configurable):
    """Write one CSV row per epoch: the epoch and every logged value.

    The row holds ``epoch`` (from 0, as the history numbers them), then every value logged
    (loss, each metric, lr, their val_ values). The columns are those of the first
    epoch; ``append`` adds to an existing file under its header."""

    conformance = Conformance(cases=({"config": {"path": "log.csv"}},))

    def __init__(self, path: str, append: bool = False) -> None:
        self.path = str(path)  # a Path works too; kept as a string for get_config
        self.append = append
        self._file: IO[str] | None = None
        self._writer: Any = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        from pathlib import Path  # here, not at the top: pathlib costs ~5 ms of start-up

        path = Path(self.path)
        exists = self.append and path.exists() and path.stat().st_size > 0
        self._file = path.open("a" if self.append else "w", newline="", encoding="utf-8")
        self._writer = None
        self._header_written = exists

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        assert self._file is not None
        if self._writer is None:
            import csv  # here, not at start-up: only a CSV log needs it

            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *logs], restval="")
            if not self._header_written:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **logs})
        self._file.flush()

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TerminateOnNaN(Callback, Configurable):
    """End training cleanly at the first batch whose loss is NaN or infinite.

    Without it, training raises :class:`plugnet.NonFiniteLossError` there. ``fit`` returns the
    history of the completed epochs; the parameters are those after the diverged step unless
    another callback (``early_stopping(restore_best=True)``) restores them at the end."""

    def __init__(self) -> None:
        self.stopped_at: tuple[int, int] | None = None  # (epoch, batch), from 0

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.verbose = int(logs.get("verbose", 0))
        self.stopped_at = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int) -> None:
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        loss = logs.get("loss", 0.0)
        if not math.isfinite(loss):
            self.stopped_at = (self._epoch, batch)
            self.network.stop_training = True
            if self.verbose > 0:
                print(
                    f"terminate_on_nan: the loss became {loss} in epoch {self._epoch + 1}, "
                    f"batch {batch + 1}; stopping",
                    flush=True,
                )


class TensorBoard(Callback, Configurable):
    """Write each epoch's logged values as TensorBoard scalars.

    They go to an event file in ``log_dir``, with step = epoch, from 1. Needs tensorboardX:
    ``pip install "plugnet[tensorboard]"``."""

    conformance = Conformance(cases=({"config": {"log_dir": "runs"}},))

    def __init__(self, log_dir: str = "runs") -> None:
        try:
            import tensorboardX  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                'the tensorboard callback needs tensorboardX: pip install "plugnet[tensorboard]"'
            ) from exc
        self.log_dir = str(log_dir)
        self._writer: Any = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        from tensorboardX import SummaryWriter

        self._writer = SummaryWriter(logdir=self.log_dir)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        assert self._writer is not None
        for key, value in logs.items():
            self._writer.add_scalar(key, float(value), epoch + 1)
        self._writer.flush()  # a run that fails later keeps the epochs written so far

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@hookimpl
def register_callbacks(register: Register) -> None:
    register(EarlyStopping, name="early_stopping")
    register(ModelCheckpoint, name="model_checkpoint")
    register(ReduceLROnPlateau, name="reduce_lr_on_plateau")
    register(CSVLogger, name="csv_logger")
    register(TerminateOnNaN, name="terminate_on_nan")
    register(TensorBoard, name="tensorboard")
