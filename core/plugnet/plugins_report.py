"""What ``plugnet plugins`` prints: the providers, their components and failures, as a table
or as JSON."""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plugnet._version import __version__
from plugnet.specs import normalize

if TYPE_CHECKING:
    from plugnet._registry import Component, Provider, Registry


def print_plugins(
    kind: str | None = None,
    *,
    show_all: bool = False,
    as_json: bool = False,
    as_requirements: bool = False,
) -> int:
    """Print the installed providers (every kind, or only ``kind``, with each component's
    details when ``kind`` or ``show_all`` is given), or with ``as_requirements`` the plugin
    distributions as a requirements file (see :func:`requirements`); returns the exit status, 0.
    Plugin warnings are part of the report, not printed as warnings."""
    from plugnet.discovery import get_registry
    from plugnet.errors import PluginWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        registry = get_registry()
        registry.load_deferred()
    for warning in caught:
        if not issubclass(warning.category, PluginWarning):
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if as_requirements:  # the warnings are for the table's reader, not for pip
        print(requirements(registry.providers), end="")
        return 0
    details = show_all or kind is not None
    providers = [provider_facts(registry, p, kind, details) for p in registry.providers]
    notes = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    if as_json:
        report = {"plugnet_version": __version__, "providers": providers, "warnings": notes}
        print(json.dumps(report, indent=2))
        return 0
    _print_table(providers, kind, details)
    for note in notes:
        print(f"warning: {note}")
    return 0


def requirements(providers: Sequence[Provider]) -> str:
    """The plugin set as a requirements file for ``pip install -r``: ``plugnet==X``, then one
    ``name==version`` line per distribution that provides plugins through entry points (also
    when it failed to load or is disabled here, with a comment saying so: it is installed).
    In-process plugins and entry points without a distribution cannot be installed by name, so
    they appear as comments."""
    lines = [
        "# The plugnet plugin set of this environment, written by `plugnet plugins "
        "--requirements`;",
        "# install it elsewhere with `pip install -r FILE`.",
        f"plugnet=={__version__}",
    ]
    pinned: dict[str, str] = {}
    comments: list[str] = []
    for provider in providers:
        if provider.builtin:
            continue
        if provider.entry_point is None:
            comments.append(f"# {provider.name}: registered in-process, not a distribution")
        elif not provider.version:
            comments.append(
                f"# {provider.name}: entry point {provider.entry_point!r} has no distribution"
            )
        else:
            note = {"failed": "  # fails to load here", "disabled": "  # disabled here"}
            line = f"{provider.name}=={provider.version}{note.get(provider.status, '')}"
            pinned.setdefault(normalize(provider.name), line)  # one line per distribution
    lines += [pinned[key] for key in sorted(pinned)]
    lines += comments
    return "\n".join(lines) + "\n"


def component_facts(registry: Registry, component: Component, details: bool) -> dict[str, Any]:
    """One component as JSON-ready facts (its factory, summary and parameters with ``details``)."""
    facts: dict[str, Any] = {
        "name": component.name,
        "qualified_name": component.qualified_name,
        "aliases": list(component.aliases),
        "reachable_by_short_name": _reachable(registry, component),
    }
    if component.pair is not None:
        facts["pair"] = list(component.pair)
    if details:
        factory = component.factory
        facts["factory"] = f"{factory.__module__}:{getattr(factory, '__qualname__', factory)}"
        facts["summary"] = component.summary
        facts["parameters"] = {
            name: None if default is inspect.Parameter.empty else repr(default)
            for name, default in component.parameters().items()
        }
    return facts


def _reachable(registry: Registry, component: Component) -> bool:
    """Whether the component's short name resolves to it (not shadowed, not ambiguous)."""
    if component.pair is not None:
        return True
    try:
        return registry.lookup(component.kind, component.name) is component
    except LookupError:
        return False


def provider_facts(
    registry: Registry, provider: Provider, kind: str | None, details: bool
) -> dict[str, Any]:
    """One provider as JSON-ready facts, with its components (of ``kind`` only, when given)."""
    components: dict[str, list[dict[str, Any]]] = {}
    for component in provider.components:
        if kind is None or component.kind == kind:
            components.setdefault(component.kind, []).append(
                component_facts(registry, component, details)
            )
    facts: dict[str, Any] = {
        "name": provider.name,
        "version": provider.version,
        "entry_point": provider.entry_point,
        "builtin": provider.builtin,
        "status": provider.status,
        "error": provider.error,
        "components": components,
        "onnx_lowerings": [lowering.target for lowering in provider.lowerings],
    }
    if details:
        facts["modules"] = provider.modules
    return facts


def _print_table(providers: list[dict[str, Any]], kind: str | None, details: bool) -> None:
    rows = []
    for provider in providers:
        name = provider["name"] + (" (built-in)" if provider["builtin"] else "")
        if provider["status"] == "failed":
            summary = [f"error: {provider['error']}"]
        elif provider["status"] == "disabled":
            summary = ["disabled by PLUGNET_PLUGINS / PLUGNET_DISABLE_PLUGINS"]
        elif provider["builtin"] and kind is None and not details:
            counts = ", ".join(f"{len(v)} {k}" for k, v in provider["components"].items())
            summary = [f"{counts} (--all or --kind lists them)"]
        else:
            summary = [
                f"{k}: " + ", ".join(_label(c) for c in comps)
                for k, comps in provider["components"].items()
            ] or ["(no components" + (f" of kind {kind})" if kind else ")")]
            if provider["onnx_lowerings"] and kind is None:
                summary.append("ONNX lowerings: " + ", ".join(provider["onnx_lowerings"]))
        rows.append((name, provider["version"] or "-", provider["status"], summary))
    widths = [
        max(len(h), *(len(r[i]) for r in rows))
        for i, h in enumerate(("PROVIDER", "VERSION", "STATUS"))
    ]
    header = ("PROVIDER", "VERSION", "STATUS")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  COMPONENTS")
    indent = " " * (sum(widths) + 6)
    for name, version, status, summary in rows:
        cells = (name, version, status)
        first = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        print(f"{first}  {summary[0]}")
        for line in summary[1:]:
            print(f"{indent}{line}")
    if details:
        for provider in providers:
            for comps in provider["components"].values():
                for c in comps:
                    print(f"\n{c['qualified_name']}  ({c['factory']})")
                    if c["aliases"]:
                        print(f"  aliases: {', '.join(c['aliases'])}")
                    if c["parameters"]:
                        params = ", ".join(
                            k if v is None else f"{k}={v}" for k, v in c["parameters"].items()
                        )
                        print(f"  parameters: {params}")
                    if c["summary"]:
                        print(f"  {c['summary']}")


def _label(component: dict[str, Any]) -> str:
    name = (
        component["name"] if component["reachable_by_short_name"] else component["qualified_name"]
    )
    if component["aliases"]:
        name += f" ({', '.join(component['aliases'])})"
    return str(name)
