"""The exceptions and warnings plugnet raises; importing this module costs nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class SpecError(ValueError):
    """A component spec (string, dict or instance) is malformed or names bad arguments."""


class UnknownComponentError(LookupError):
    """No registered component of ``kind`` answers to ``name``. ``failed`` maps each plugin
    that failed to load (distribution name) to its error, since the name may have been its."""

    def __init__(
        self,
        kind: str,
        name: str,
        *,
        suggestions: Sequence[str] = (),
        available: Sequence[str] = (),
        detail: str = "",
        failed: Mapping[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.suggestions = list(suggestions)
        self.available = list(available)
        self.failed = dict(failed or {})
        message = f"unknown {kind.replace('_', ' ')} {name!r}"
        if detail:
            message += f" ({detail})"
        message += "."
        if self.suggestions:
            quoted = " or ".join(repr(s) for s in self.suggestions)
            message += f" Did you mean {quoted}?"
        if self.failed:
            count = len(self.failed)
            broken = "; ".join(f"{n} ({e})" if e else n for n, e in self.failed.items())
            message += (
                f" {count} plugin{'s' if count > 1 else ''} failed to load: {broken}; "
                "`plugnet plugins` shows why."
            )
        shown = ", ".join(self.available) if self.available else "none"
        message += (
            f" Available {kind.replace('_', ' ')}s: {shown}."
            " Names ignore case, '_', '-' and spaces; `plugnet plugins` lists what is installed."
        )
        super().__init__(message)

    def __str__(self) -> str:  # LookupError would otherwise repr() the message
        return str(self.args[0])


class AmbiguousComponentError(LookupError):
    """A short name is registered by several third-party providers; qualify it."""

    def __init__(self, kind: str, name: str, qualified: Sequence[str]) -> None:
        self.kind = kind
        self.name = name
        self.qualified = list(qualified)
        choices = ", ".join(repr(q) for q in self.qualified)
        super().__init__(
            f"the {kind.replace('_', ' ')} name {name!r} is registered by several plugins: "
            f"{choices}. Use one of these qualified names to say which one you mean."
        )

    def __str__(self) -> str:
        return str(self.args[0])


class PluginError(RuntimeError):
    """A plugin failed to load or register (raised only in strict mode or for built-ins)."""


class PluginWarning(UserWarning):
    """A plugin failed and was skipped, or registered a name it may not have."""


class MissingProviderError(LookupError):
    """A saved model needs a component whose distribution is not installed."""

    def __str__(self) -> str:
        return str(self.args[0])


class ModelFileError(ValueError):
    """A model file cannot be loaded: not a plugnet file, truncated, corrupt, tampered with, or
    declaring sizes it does not hold. ``path`` is the file; the message starts with it."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class NonFiniteLossError(FloatingPointError):
    """Training stopped because the loss became NaN or infinite. ``epoch`` and ``batch`` say where
    (0-based), and ``history`` holds the epochs completed before it."""

    def __init__(self, message: str, *, epoch: int, batch: int, history: object = None) -> None:
        self.epoch = epoch
        self.batch = batch
        self.history = history
        super().__init__(message)
