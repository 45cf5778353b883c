"""The callback checks: a short fit of a tiny network with the callback, its logs left as given,
a second fit with the same instance, and the config round trip.

Each fit runs in a fresh temporary directory (the working directory while it runs), so a
callback that writes files (a log, a checkpoint) given a relative path in its case writes them
there. The network: one softmax layer on :data:`SAMPLES` samples of 3 features and 2 classes,
``sgd``, :data:`EPOCHS` epochs with a quarter held out for validation, so the logs hold
``loss``, ``accuracy``, ``val_loss`` and ``val_accuracy``.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from typing import Any

import numpy as np

from plugnet.callbacks import Callback
from plugnet.testing.checks.common import SEED, CheckTable, Subject, rebuild
from plugnet.testing.gradients import ConformanceError

CHECKS = CheckTable()

SAMPLES = 32
EPOCHS = 3


class _Snapshot(Callback):
    """Keeps a copy of each logs dict it is given, before the callback under check sees it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.seen.append(("on_train_begin", copy.deepcopy(logs)))

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self.seen.append((f"on_batch_end({batch})", dict(logs)))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.seen.append((f"on_epoch_end({epoch})", dict(logs)))

    def on_train_end(self, logs: dict[str, Any]) -> None:
        self.seen.append(("on_train_end", copy.deepcopy(logs)))


class _Compare(_Snapshot):
    """Records the same dicts after the callback under check had them."""


def _fit(callback: Any, *, extra: tuple[Any, ...] = ()) -> Any:
    """Train the tiny network for EPOCHS epochs with ``callback``; the network."""
    from plugnet.network import Sequential

    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((SAMPLES, 3))
    t = np.eye(2)[(x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)]
    net = Sequential(
        [{"type": "dense", "units": 2, "activation": "softmax"}],
        error="cross_entropy",
        optimizer="sgd(lr=0.1)",
        seed=SEED,
    )
    callbacks = [extra[0], callback, *extra[1:]] if extra else [callback]
    with tempfile.TemporaryDirectory() as where, contextlib.chdir(where):
        net.fit(x, t, epochs=EPOCHS, batch_size=8, validation_split=0.25, callbacks=callbacks,
                verbose=0)  # fmt: skip
    return net


@CHECKS.check("fit")
def _short_fit(subject: Subject) -> None:
    """A fit with the callback completes, and ``callback.network`` is the network trained."""
    callback = subject.fresh()
    net = _fit(callback)
    if getattr(callback, "network", None) is not net:
        raise ConformanceError("after fit, callback.network is not the network it trained")


@CHECKS.check("logs")
def _logs_unchanged(subject: Subject) -> None:
    """The callback leaves every logs dict as it was given: later callbacks and the history
    see what the loop logged."""
    before, after = _Snapshot(), _Compare()
    _fit(subject.fresh(), extra=(before, after))
    for (call, given), (_, seen) in zip(before.seen, after.seen, strict=True):
        if given != seen:
            raise ConformanceError(
                f"{call} changed its logs from {given!r} to {seen!r}; a callback reads logs and "
                f"keeps what it needs in its own attributes"
            )


@CHECKS.check("refit")
def _refit(subject: Subject) -> None:
    """The same instance serves a second fit: ``on_train_begin`` starts its state afresh."""
    callback = subject.fresh()
    _fit(callback)
    _fit(callback)


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    """``get_config()`` is JSON-serializable and rebuilds an equal configuration."""
    instance = subject.fresh()
    config = instance.get_config()
    rebuilt = rebuild(subject, instance).get_config()
    if rebuilt != config:
        raise ConformanceError(f"get_config() gave {config!r}, its rebuild gives {rebuilt!r}")
