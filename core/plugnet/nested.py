"""Arguments that are components, for a component built directly rather than by a registry.

A registry that builds a component resolves the arguments it declares as components
(:class:`~plugnet.protocols.TakesComponents`) and passes instances, so these functions never
look anything up on that path. Only a component constructed by hand with a spec
(``Dense(units=3, activation="tanh")``), or with an instance whose spec no registry recorded,
falls back to the process-wide registry here, as ``plugnet.get`` would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def argument(owner: Any, name: str, kind: str, value: Any) -> Any:
    """``value`` as an instance of ``kind``: an instance that satisfies the kind's protocol
    passes through; a spec is resolved by the process-wide registry, which records it in
    ``owner.component_specs[name]`` (and refuses anything else, naming what it lacks)."""
    from plugnet._registry import KINDS

    if not isinstance(value, (str, Mapping)) and isinstance(value, KINDS[kind].protocol):
        return value
    from plugnet.discovery import get_registry

    registry = get_registry()
    instance = registry.resolve(kind, value)
    owner.component_specs[name] = registry.spec_of(instance)
    return instance


def spec(owner: Any, name: str, instance: Any) -> dict[str, Any]:
    """The spec of ``instance``, the component argument ``name`` of ``owner``: as recorded by
    the registry that built ``owner``, else (an instance passed by hand) from the process-wide
    registry."""
    recorded = owner.component_specs.get(name)
    if recorded is not None:
        return dict(recorded)
    from plugnet.discovery import get_registry

    return get_registry().spec_of(instance)
