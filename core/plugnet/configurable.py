"""A mixin for components whose hyperparameters are their ``__init__`` arguments."""

from __future__ import annotations

import inspect
from typing import Any


class Configurable:
    """``get_config()``, ``repr`` and ``==`` from the ``__init__`` arguments.

    Follow one rule: store each ``__init__`` argument as an attribute of the same name. Then
    ``type(c)(**c.get_config())`` rebuilds ``c``. (A plain class costs nothing at import, unlike
    a dataclass, which matters when a plugin registers dozens of components.)
    """

    def get_config(self) -> dict[str, Any]:
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Configurable)
        return self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self), repr(self)))
