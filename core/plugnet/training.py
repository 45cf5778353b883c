"""The training loop behind ``Sequential.fit``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from plugnet.arrays import are_classes, correct_predictions
from plugnet.history import History
from plugnet.progress import progress_callbacks

if TYPE_CHECKING:
    from plugnet.callbacks import Callback
    from plugnet.network import Sequential
    from plugnet.protocols import Array


def _check_settings(epochs: Any, batch_size: Any, validation_split: Any) -> None:
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(validation_split, (int, float)) or not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be a fraction in [0, 1), got {validation_split!r}")


def fit(
    net: Sequential,
    x: Any,
    t: Any,
    *,
    epochs: int,
    batch_size: int,
    shuffle: bool,
    validation_data: tuple[Any, Any] | None,
    validation_split: float,
    callbacks: Sequence[Callback],
    verbose: int,
) -> History:
    """Minibatch training; see :meth:`plugnet.network.Sequential.fit`."""
    _check_settings(epochs, batch_size, validation_split)
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    if validation_data is not None and (
        not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2
    ):
        raise ValueError("validation_data must be a pair (x_val, t_val)")
    inputs, targets = net._prepare(x, t, build=True)
    validation: tuple[Array, Array] | None = None
    if validation_data is not None:
        validation = net._prepare(*validation_data, build=False)
    elif validation_split:
        held_out = round(inputs.shape[0] * validation_split)
        if held_out < 1 or held_out >= inputs.shape[0]:
            raise ValueError(
                f"validation_split={validation_split} of {inputs.shape[0]} samples leaves no "
                f"training or no validation data"
            )
        validation = inputs[-held_out:], targets[-held_out:]
        inputs, targets = inputs[:-held_out], targets[:-held_out]

    n = inputs.shape[0]
    batches = -(-n // batch_size)
    history = History()
    listeners = [history, *callbacks, *progress_callbacks(verbose, epochs, batches)]
    for callback in listeners:
        callback.network = net
    net.stop_training = False
    classes = are_classes(targets)
    error, rng = net.error, net.rng
    batch_logs: dict[str, float] = {}

    for callback in listeners:
        callback.on_train_begin({"epochs": epochs, "samples": n, "batches": batches})
    for epoch in range(epochs):
        for callback in listeners:
            callback.on_epoch_begin(epoch)
        order = rng.permutation(n) if shuffle else None
        loss_sum, correct = 0.0, 0
        for batch, start in enumerate(range(0, n, batch_size)):
            if order is None:
                xb, tb = inputs[start : start + batch_size], targets[start : start + batch_size]
            else:
                index = order[start : start + batch_size]
                xb, tb = inputs[index], targets[index]
            y = net.train_step(xb, tb)
            loss_sum += error.forward(y, tb) * len(tb)
            if classes:
                correct += correct_predictions(y, tb)
            seen = min(start + batch_size, n)
            batch_logs["loss"] = loss_sum / seen
            if classes:
                batch_logs["accuracy"] = correct / seen
            for callback in listeners:
                callback.on_batch_end(batch, batch_logs)
        logs = dict(batch_logs)
        if validation is not None:
            scores = net._evaluate_prepared(*validation, batch_size=max(batch_size, 1024))
            logs.update({f"val_{k}": v for k, v in scores.items()})
        for callback in listeners:
            callback.on_epoch_end(epoch, logs)
        if net.stop_training:
            break
    for callback in listeners:
        callback.on_train_end({})
    return history
