"""plugnet: a NumPy neural-network framework in which every component is a plugin.

``import plugnet`` is cheap: the registry (pluggy, entry points, the built-ins) is built on the
first call that needs it.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from plugnet._version import API_VERSION, __version__
from plugnet.errors import (
    AmbiguousComponentError,
    MissingProviderError,
    ModelFileError,
    NonFiniteLossError,
    PluginError,
    PluginWarning,
    SpecError,
    UnknownComponentError,
)

if TYPE_CHECKING:
    from plugnet._registry import Provider, Registry
    from plugnet.callbacks import Callback, CSVLogger, EarlyStopping
    from plugnet.history import History
    from plugnet.hookspecs import hookimpl
    from plugnet.network import Model, Sequential, load
    from plugnet.protocols import (
        Activation,
        ErrorFunction,
        FusedBackward,
        Initializer,
        Layer,
        Optimizer,
        Schedule,
    )
    from plugnet.sweeps import sweep

__all__ = [
    "API_VERSION",
    "AmbiguousComponentError",
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "MissingProviderError",
    "Model",
    "ModelFileError",
    "NonFiniteLossError",
    "PluginError",
    "PluginWarning",
    "Sequential",
    "SpecError",
    "UnknownComponentError",
    "__version__",
    "activation",
    "available",
    "error_function",
    "fused_backward",
    "get",
    "hookimpl",
    "initializer",
    "layer",
    "load",
    "optimizer",
    "register_plugin",
    "registry",
    "schedule",
    "sweep",
]


def registry() -> Registry:
    """The process-wide registry: components, providers and failures."""
    from plugnet.discovery import get_registry

    return get_registry()


def get(kind: str, spec: Any) -> Any:
    """Build a component of ``kind`` from a name, a spec string, a dict or an instance."""
    return registry().resolve(kind, spec)


def activation(spec: Any) -> Activation:
    """An activation from a spec, e.g. ``"leaky_relu(alpha=0.1)"``."""
    return registry().resolve("activation", spec)


def error_function(spec: Any) -> ErrorFunction:
    """An error function from a spec, e.g. ``"cross_entropy"``."""
    return registry().resolve("error_function", spec)


def layer(spec: Any) -> Layer:
    """A layer from a spec, e.g. ``{"type": "dense", "units": 10}``."""
    return registry().resolve("layer", spec)


def optimizer(spec: Any) -> Optimizer:
    """An optimizer from a spec, e.g. ``"adam(lr=1e-3)"``."""
    return registry().resolve("optimizer", spec)


def initializer(spec: Any) -> Initializer:
    """An initializer from a spec, e.g. ``"he"``."""
    return registry().resolve("initializer", spec)


def schedule(spec: Any) -> Schedule:
    """A learning-rate schedule from a spec, e.g. ``"cosine(t_max=1000)"``."""
    return registry().resolve("schedule", spec)


def fused_backward(activation: Any, error: Any) -> FusedBackward | None:
    """The fused output backward for (activation, error), or None when none is registered."""
    return registry().fused_backward(activation, error)


def available(kind: str) -> list[str]:
    """Sorted canonical names of the registered components of ``kind``."""
    return registry().available(kind)


def register_plugin(plugin: object, name: str | None = None, version: str = "") -> Provider:
    """Register an in-process plugin (a module or object with ``@plugnet.hookimpl`` functions).

    ``name`` is its provider name, used in qualified names; it defaults to the module's name.
    A plugin that is invalid raises :class:`PluginError` and registers nothing.
    """
    provider = name or getattr(plugin, "__name__", None) or type(plugin).__name__
    return registry().add_plugin(plugin, provider=provider, version=version, strict=True)


_LAZY = {
    "hookimpl": "plugnet.hookspecs",
    "Model": "plugnet.network",
    "Sequential": "plugnet.network",
    "History": "plugnet.history",
    "Callback": "plugnet.callbacks",
    "EarlyStopping": "plugnet.callbacks",
    "CSVLogger": "plugnet.callbacks",
    "load": "plugnet.network",
    "sweep": "plugnet.sweeps",  # needs the sweep extra (Optuna) when called
}


def __getattr__(name: str) -> Any:
    # Imported on first access so that `import plugnet` stays cheap (no numpy, no pluggy).
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'plugnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The lazy names are not module globals until first used, so the default dir() misses them:
    # list __all__ for dir(), IPython's tab completion and the plain REPL's (rlcompleter), with
    # the public submodules imported so far (plugnet.errors, ...), but not typing's Any & co.
    submodules = [
        name
        for name, value in globals().items()
        if not name.startswith("_")
        and isinstance(value, ModuleType)
        and value.__name__ == f"{__name__}.{name}"
    ]
    return sorted({*__all__, *submodules})
