"""The training loop behind ``Model.fit`` (and so ``Sequential.fit``)."""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet._registry import KINDS
from plugnet.arrays import rows, sample_count
from plugnet.errors import NonFiniteLossError
from plugnet.history import History
from plugnet.progress import progress_callbacks
from plugnet.protocols import Callback, EpochAware, HasLearningRate
from plugnet.weights import (
    checked_sample_weight,
    require_per_sample,
    sample_weights,
    weighted_sum,
)

if TYPE_CHECKING:
    from plugnet.arrays import Inputs
    from plugnet.network import Model
    from plugnet.protocols import Array

# More epochs than anyone can wait for is a typo; "until a callback stops it" is a large count.
MAX_EPOCHS = 10**9
_MEMBERS = [*KINDS["callback"].methods, "get_config"]


def _check_settings(epochs: Any, batch_size: Any, validation_split: Any) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if epochs > MAX_EPOCHS:
        raise ValueError(
            f"epochs must be at most {MAX_EPOCHS:,}, got {epochs!r}; to train until a callback "
            f"such as EarlyStopping ends it, give a large count such as 10**6"
        )
    if (
        isinstance(validation_split, bool)
        or not isinstance(validation_split, (int, float))
        or not 0.0 <= validation_split < 1.0
    ):
        raise ValueError(f"validation_split must be a fraction in [0, 1), got {validation_split!r}")


def _resolve_callbacks(net: Model, callbacks: Any) -> list[Callback]:
    """The callbacks, each an instance or a spec (``"early_stopping(patience=5)"``, a dict)
    resolved by the network's registry."""
    if not isinstance(callbacks, (list, tuple)):
        raise ValueError(
            f"callbacks must be a list of callbacks, got a {type(callbacks).__name__}; write "
            f"callbacks=[{type(callbacks).__name__}(...)] for one"
        )
    resolved = []
    for callback in callbacks:
        if isinstance(callback, (str, Mapping)):
            callback = net.registry.resolve("callback", callback)
        if not isinstance(callback, Callback):
            # Which of the protocol's members it lacks, for the message only.
            missing = [m for m in _MEMBERS if not callable(getattr(callback, m, None))]
            raise ValueError(
                f"callbacks holds a {type(callback).__name__}, which is not a callback (it lacks "
                f"{', '.join(missing)}); subclass plugnet.Callback, or name a registered "
                f"callback such as 'early_stopping(patience=5)'"
            )
        resolved.append(callback)
    return resolved


class _StepGuard:
    """Holds Ctrl-C back while a training step runs, so that every layer's parameters and the
    optimizer's state always reflect the same number of steps; the KeyboardInterrupt comes as
    soon as the step is complete. Only the main thread receives SIGINT, and a handler other
    than Python's default is left alone."""

    def __init__(self) -> None:
        self.in_step = False
        self.pending = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.in_step:
            raise KeyboardInterrupt
        self.pending = True

    @contextmanager
    def installed(self) -> Iterator[_StepGuard]:
        ours = (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        )
        if ours:
            signal.signal(signal.SIGINT, self.handle)
        try:
            yield self
        finally:
            if ours:
                signal.signal(signal.SIGINT, signal.default_int_handler)


def _nonfinite_loss(
    net: Model, loss: float, epoch: int, epochs: int, batch: int, history: History
) -> NonFiniteLossError:
    lr = net.optimizer.get_config().get("lr")  # get_config is the protocol; lr is optional
    rate = f" (lr={lr:g})" if isinstance(lr, (int, float)) and not isinstance(lr, bool) else ""
    return NonFiniteLossError(
        f"the loss became {loss} in epoch {epoch + 1}/{epochs}, batch {batch + 1}: training "
        f"diverged. Try a smaller learning rate{rate}, scale the inputs, or check the data; "
        f"the error's .history holds the {len(history.epoch)} epochs completed before it",
        epoch=epoch,
        batch=batch,
        history=history,
    )


def fit(
    net: Model,
    x: Any,
    t: Any,
    *,
    epochs: int,
    batch_size: int,
    shuffle: bool,
    validation_data: tuple[Any, ...] | None,
    validation_split: float,
    callbacks: Sequence[Callback | str | Mapping[str, Any]],
    verbose: int,
    class_weight: Any = None,
    sample_weight: Any = None,
) -> History:
    """Minibatch training; see :meth:`plugnet.network.Model.fit`."""
    _check_settings(epochs, batch_size, validation_split)
    resolved = _resolve_callbacks(net, callbacks)
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    if validation_data is not None and (
        not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3)
    ):
        raise ValueError(
            "validation_data must be a pair (x_val, t_val) or a triple (x_val, t_val, w_val)"
        )
    inputs, targets = net.prepare_data(x, t)
    weights = None
    if sample_weight is not None:
        weights = checked_sample_weight(sample_weight, sample_count(inputs))
    validation: tuple[Inputs, Array] | None = None
    validation_weights: Array | None = None
    if validation_data is not None:
        validation = net.prepare_data(*validation_data[:2], build=False)
        if len(validation_data) == 3:
            validation_weights = checked_sample_weight(
                validation_data[2], sample_count(validation[0]), name="validation_data[2]"
            )
    elif validation_split:
        held_out = round(sample_count(inputs) * validation_split)
        if held_out < 1 or held_out >= sample_count(inputs):
            raise ValueError(
                f"validation_split={validation_split} of {sample_count(inputs)} samples leaves no "
                f"training or no validation data"
            )
        validation = rows(inputs, slice(-held_out, None)), targets[-held_out:]
        inputs, targets = rows(inputs, slice(None, -held_out)), targets[:-held_out]
        if weights is not None:  # the held-out samples keep their weights, as in Keras
            validation_weights, weights = weights[-held_out:], weights[:-held_out]
            for part, held in ((weights, "leaves for training"), (validation_weights, "holds out")):
                if not np.any(part > 0):
                    raise ValueError(
                        f"sample_weight is 0 for every sample that validation_split {held}; at "
                        f"least one needs weight > 0"
                    )
    weights = sample_weights(class_weight, weights, targets)
    if weights is not None or validation_weights is not None:
        require_per_sample(net.error)

    n = sample_count(inputs)
    batches = -(-n // batch_size)
    history = History()
    net.history = history
    progress = progress_callbacks(verbose, epochs, batches)
    # Progress first, so that what a callback prints follows the epoch's line.
    listeners: list[Callback] = [history, *progress, *resolved]
    for callback in listeners:
        callback.network = net  # type: ignore[attr-defined]  # the contract: set here
    net.stop_training = False
    metrics = net.metrics_for(targets)
    error, rng = net.error, net.rng
    # Optional capabilities of the optimizer: told when an epoch begins, reports its rate.
    counts_epochs = net.optimizer if isinstance(net.optimizer, EpochAware) else None
    reports_lr = net.optimizer if isinstance(net.optimizer, HasLearningRate) else None
    batch_logs: dict[str, float] = {}
    val_options = {} if validation_weights is None else {"sample_weight": validation_weights}

    with _StepGuard().installed() as guard:
        try:
            for callback in listeners:
                callback.on_train_begin(
                    {"epochs": epochs, "samples": n, "batches": batches, "verbose": verbose}
                )
            for epoch in range(epochs):
                if counts_epochs is not None:
                    counts_epochs.start_epoch()
                for callback in listeners:
                    callback.on_epoch_begin(epoch)
                order = rng.permutation(n) if shuffle else None
                loss_sum = mass = 0.0
                wb = None
                diverged = False
                for metric in metrics.values():
                    metric.reset()
                for batch, start in enumerate(range(0, n, batch_size)):
                    if order is None:
                        xb = rows(inputs, slice(start, start + batch_size))
                        tb = targets[start : start + batch_size]
                        if weights is not None:
                            wb = weights[start : start + batch_size]
                    else:
                        index = order[start : start + batch_size]
                        xb, tb = rows(inputs, index), targets[index]
                        if weights is not None:
                            wb = weights[index]
                    if wb is not None and not np.any(wb > 0):
                        # Nothing to learn from: no step, and the logs stay as they were
                        # (NaN before any weight in the epoch, as a metric of nothing is).
                        batch_logs["loss"] = loss_sum / mass if mass else math.nan
                        batch_logs.update({k: m.result() for k, m in metrics.items()})
                        for callback in listeners:
                            callback.on_batch_end(batch, batch_logs)
                        continue
                    # Overflow in a diverging step is reported once, as the non-finite loss
                    # it always leads to, instead of as a stream of NumPy warnings.
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        guard.in_step = True
                        y = net.train_step(xb, tb, wb)
                        guard.in_step = False
                        if guard.pending:
                            raise KeyboardInterrupt
                        if wb is None:
                            loss = error.forward(y, tb)
                            batch_sum, batch_mass = loss * len(tb), float(len(tb))
                        else:  # Σ w e / Σ w, over the batch and over the epoch
                            batch_sum, batch_mass = weighted_sum(error, y, tb, wb)
                            loss = batch_sum / batch_mass
                    if not math.isfinite(loss):
                        # A callback that sets stop_training here (terminate_on_nan) ends
                        # training cleanly, without the incomplete epoch; else it is an error.
                        nonfinite = {**batch_logs, "loss": loss}
                        for callback in listeners:
                            callback.on_batch_end(batch, nonfinite)
                        if not net.stop_training:
                            raise _nonfinite_loss(net, loss, epoch, epochs, batch, history)
                        diverged = True
                        break
                    loss_sum += batch_sum
                    mass += batch_mass
                    batch_logs["loss"] = loss_sum / mass
                    for name, metric in metrics.items():  # over the epoch so far, as in Keras
                        if wb is None:  # as before, for metrics without sample_weight
                            metric.update(y, tb)
                        else:
                            metric.update(y, tb, wb)
                        batch_logs[name] = metric.result()
                    for callback in listeners:
                        callback.on_batch_end(batch, batch_logs)
                if diverged:
                    break
                logs = dict(batch_logs)
                if validation is not None:
                    scores = net.evaluate(
                        *validation, batch_size=max(batch_size, 1024), **val_options
                    )
                    logs.update({f"val_{k}": v for k, v in scores.items()})
                if reports_lr is not None:
                    logs["lr"] = float(reports_lr.current_lr)
                for callback in listeners:
                    callback.on_epoch_end(epoch, logs)
                if net.stop_training:
                    break
        except BaseException:
            for callback in progress:  # leave the terminal tidy; user callbacks hear nothing
                callback.on_train_end({})
            raise
    for callback in listeners:
        callback.on_train_end({})
    return history
