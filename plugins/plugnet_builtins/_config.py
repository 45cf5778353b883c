"""``get_config`` for components written as dataclasses: their fields are their config."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


class DataclassConfig:
    """Mixin: ``get_config()`` returns the dataclass fields, so ``cls(**config)`` rebuilds it."""

    def get_config(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
