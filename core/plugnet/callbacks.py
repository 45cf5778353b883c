"""Callbacks: hooks into the training loop, as in Keras (the contract is
:class:`plugnet.protocols.Callback`).

This module holds the base class; the built-in callbacks (early stopping, checkpoints, ...)
are components of the ``callback`` kind registered by :mod:`plugnet_builtins.callbacks`, and
:class:`EarlyStopping` and :class:`CSVLogger` are importable from here, as they always were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugnet.configurable import Configurable

if TYPE_CHECKING:
    from plugnet.network import Model
    from plugnet_builtins.callbacks import CSVLogger, EarlyStopping

__all__ = ["CSVLogger", "Callback", "EarlyStopping"]


class Callback:
    """Override any of these; ``self.network`` is set before ``on_train_begin``.

    Set ``network.stop_training = True`` to end training after the current epoch. The
    methods, their order and their ``logs`` are :class:`plugnet.protocols.Callback`'s.
    ``get_config()`` returns the ``__init__`` arguments, each read from the attribute of the
    same name (:class:`~plugnet.configurable.Configurable`'s rule); override it otherwise.
    """

    network: Model

    def on_train_begin(self, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, logs: dict[str, Any]) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None: ...

    def get_config(self) -> dict[str, Any]:
        return Configurable.get_config(self)  # type: ignore[arg-type]


def __getattr__(name: str) -> Any:
    # The built-ins live with the other built-in components; imported here on first use.
    if name in ("EarlyStopping", "CSVLogger"):
        from plugnet_builtins import callbacks

        return getattr(callbacks, name)
    raise AttributeError(f"module 'plugnet.callbacks' has no attribute {name!r}")
