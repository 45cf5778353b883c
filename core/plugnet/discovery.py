"""Which plugins to load: the built-ins always, then the ``plugnet`` entry points.

The registry is built on first use, once per process. The entry points are scanned and loaded
the first time something beyond a built-in name is needed (built-in short names are reserved, so
they never depend on third parties); strict mode loads them at once. Environment switches:

- ``PLUGNET_DISABLE_PLUGIN_AUTOLOAD=1``: built-ins only;
- ``PLUGNET_PLUGINS=a,b``: only these entry points (by entry-point or distribution name);
- ``PLUGNET_DISABLE_PLUGINS=a,b``: all but these;
- ``PLUGNET_STRICT_PLUGINS=1``: a plugin that fails to load raises instead of warning.
"""

from __future__ import annotations

import importlib
import os
import warnings
from _thread import RLock  # threading's RLock is this; importing threading costs 0.6 ms
from collections.abc import Callable, Mapping

from plugnet._registry import BUILTIN_PROVIDER, Registry
from plugnet._version import __version__
from plugnet.errors import PluginWarning
from plugnet.specs import normalize

ENTRY_POINT_GROUP = "plugnet"

_registry: Registry | None = None
# Re-entrant, and _building lets the thread that builds the registry see it before it is
# published: in strict mode plugins load during the build, and a plugin's import code may use
# plugnet. Other threads wait on the lock and then see the whole registry.
_lock = RLock()
_building: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on the first call."""
    global _registry, _building
    registry = _registry
    if registry is not None:
        return registry
    with _lock:
        if _registry is not None:
            return _registry
        if _building is not None:
            return _building
        try:
            _registry = build_registry(publish=_publish)
        finally:
            _building = None
    return _registry


def _publish(registry: Registry) -> None:
    global _building
    _building = registry


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _name_set(environ: Mapping[str, str], name: str) -> dict[str, str] | None:
    """The names listed in a comma-separated variable, normalized, mapped to their spelling."""
    value = environ.get(name, "").strip()
    if not value:
        return None
    return {normalize(part): part.strip() for part in value.split(",") if part.strip()}


def build_registry(
    environ: Mapping[str, str] | None = None,
    *,
    publish: Callable[[Registry], None] | None = None,
) -> Registry:
    """A new registry with the built-ins and the entry points the environment allows.

    ``publish(registry)`` is called once the built-ins are in, before any third-party plugin
    loads (which strict mode does here).
    """
    environ = os.environ if environ is None else environ
    registry = Registry(strict=_flag(environ, "PLUGNET_STRICT_PLUGINS"))
    import plugnet_builtins

    for module_name in plugnet_builtins.PLUGIN_MODULES:
        registry.add_plugin(
            importlib.import_module(module_name),
            provider=BUILTIN_PROVIDER,
            version=__version__,
            builtin=True,
        )
    if publish is not None:
        publish(registry)
    if _flag(environ, "PLUGNET_DISABLE_PLUGIN_AUTOLOAD"):
        return registry
    only = _name_set(environ, "PLUGNET_PLUGINS")
    blocked = _name_set(environ, "PLUGNET_DISABLE_PLUGINS")
    registry.defer(lambda deferred: _load_entry_points(deferred, only, blocked))
    if registry.strict:
        registry.load_deferred()  # strict mode surfaces a broken plugin at once
    return registry


def _load_entry_points(
    registry: Registry, only: dict[str, str] | None, blocked: dict[str, str] | None
) -> None:
    import importlib_metadata

    matched: set[str] = set()
    for entry_point in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        provider = dist.name if dist is not None else entry_point.name
        version = dist.version if dist is not None else ""
        names = {normalize(entry_point.name), normalize(provider)}
        matched |= names & set(only or {})
        if registry.find_provider(provider, entry_point.name) is not None:
            continue  # settled by an earlier, interrupted run of this loader
        if (only is not None and not names & set(only)) or (blocked and names & set(blocked)):
            registry.add_disabled(provider, version, entry_point.name)
            continue
        try:
            plugin = entry_point.load()
        except KeyboardInterrupt:
            raise  # nothing is recorded, so the next use imports it again
        except BaseException as exc:  # SystemExit, or anything else a module's import raises
            record = registry.provider_record(provider, version, entry_point.name, False)
            registry.record_failure(record, exc)
            continue
        registry.add_plugin(
            plugin, provider=provider, version=version, entry_point=entry_point.name
        )
    unmatched = sorted(spelling for key, spelling in (only or {}).items() if key not in matched)
    if unmatched:
        warnings.warn(
            f"PLUGNET_PLUGINS names {', '.join(unmatched)}, which no installed plugin matches; "
            f"`plugnet plugins` lists the installed ones.",
            PluginWarning,
            stacklevel=3,
        )
