"""A network's configuration as plain data, its components rebuilt from it, and the check
that a state's arrays fit a network.

:meth:`Sequential.get_config <plugnet.network.Sequential.get_config>` records every component
as ``{kind, name, provider, version, config}``; :meth:`Sequential.from_config
<plugnet.network.Sequential.from_config>` rebuilds them here through a registry, naming the
provider to install or the version that changed when one cannot be rebuilt.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from plugnet._registry import BUILTIN_PROVIDER, KINDS, Registry
from plugnet._version import __version__
from plugnet.errors import MissingProviderError, UnknownComponentError
from plugnet.specs import preview

# The keys of a network's config; from_config refuses any other.
CONFIG_KEYS = frozenset(
    (
        "inputs",
        "dtype",
        "seed",
        "input_shape",
        "layer_names",
        "layers",
        "error_function",
        "optimizer",
        "metrics",
        "providers",
    )
)
REQUIRED_KEYS = ("layers", "error_function", "optimizer")

# What a component's factory or build raises when a config is not one it accepts.
REFUSALS = (ValueError, TypeError, LookupError, ArithmeticError, RecursionError, MemoryError)


def clip(exc: BaseException, limit: int = 400) -> str:
    """Another exception's message on one line, cut to ``limit`` characters: it may quote a
    whole (hostile) config."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def component_record(kind: str, instance: Any, registry: Registry) -> dict[str, Any]:
    """``{kind, name, provider, version, config}`` for a registered component instance."""
    component = registry.component_of(instance)
    if component is None:
        raise ValueError(
            f"the {kind.replace('_', ' ')} {instance!r} is not a registered "
            f"component; register its plugin (plugnet.register_plugin) so it can be rebuilt"
        )
    return {
        "kind": kind,
        "name": component.qualified_name,
        "provider": component.provider,
        "version": component.version,
        "config": instance.get_config(),
    }


def qualified_names(value: Any) -> Iterator[str]:
    """Every ``provider:name`` that a nested config mentions as a component spec."""
    if isinstance(value, Mapping):
        name = value.get("name")
        if isinstance(name, str) and ":" in name:
            yield name
        for item in value.values():
            yield from qualified_names(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from qualified_names(item)


def provider_versions(records: list[dict[str, Any]], registry: Registry) -> dict[str, str]:
    """The version of every provider the records name, from the components' own records.

    The registry's provider list is never consulted: building it loads every third-party plugin,
    and a broken, unrelated plugin must not stop a save. A nested spec's provider that no
    top-level component shares is looked up by its qualified name; such a provider is a third
    party whose component was already resolved, so the plugins are loaded by then anyway.
    """
    versions = {record["provider"]: record["version"] for record in records}
    for qualified in qualified_names([record["config"] for record in records]):
        provider = qualified.split(":", 1)[0]
        if provider in versions:
            continue
        versions[provider] = ""
        for kind in KINDS:
            try:
                versions[provider] = registry.lookup(kind, qualified).version
                break
            except (LookupError, ValueError):
                continue
    return versions


def check_record(where: str, kind: str, record: Any) -> None:
    """Refuse a component record that from_config cannot read."""
    if not (
        isinstance(record, Mapping)
        and record.get("kind", kind) == kind
        and isinstance(record.get("name"), str)
        and isinstance(record.get("config", {}), Mapping)
    ):
        raise ValueError(
            f"{where} is not a {kind.replace('_', ' ')} record "
            f"{{kind, name, provider, version, config}}: {preview(record)}"
        )


def check_config(config: Any) -> None:
    """Refuse a config whose structure from_config cannot read, naming the key."""
    if not isinstance(config, Mapping):
        raise ValueError(f"a network config must be a dict, got {preview(config)}")
    unknown = sorted(str(k) for k in config if k not in CONFIG_KEYS)
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if unknown or missing:
        raise ValueError(
            f"the network config has unknown keys {unknown} and lacks {missing}; "
            f"its keys are {sorted(CONFIG_KEYS)}, of which {list(REQUIRED_KEYS)} are required"
        )
    layers = config["layers"]
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"config['layers'] must be a non-empty list, got {preview(layers)}")
    graph = "inputs" in config
    if graph and not _names(config["inputs"]):
        raise ValueError(
            f"config['inputs'] must be a non-empty list of the model's input names, got "
            f"{preview(config['inputs'])}"
        )
    for index, record in enumerate(layers):
        check_record(f"config['layers'][{index}]", "layer", record)
        if not isinstance(record.get("trainable", True), bool):
            raise ValueError(
                f"config['layers'][{index}]['trainable'] must be true or false (false freezes "
                f"the layer), got {preview(record['trainable'])}"
            )
        if "inputs" in record and not (graph and _names(record["inputs"])):
            raise ValueError(
                f"config['layers'][{index}]['inputs'] must be a non-empty list of names, in a "
                f"config that lists the model's 'inputs' (a graph's); got "
                f"{preview(record['inputs'])}"
            )
    for kind in ("error_function", "optimizer"):
        check_record(f"config[{kind!r}]", kind, config[kind])
    metrics = config.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, list):
            raise ValueError(
                f"config['metrics'] must be null or a list of metric records, got "
                f"{preview(metrics)}"
            )
        for index, record in enumerate(metrics):
            check_record(f"config['metrics'][{index}]", "metric", record)
    names = config.get("layer_names")
    if names is not None and (not isinstance(names, list) or len(names) != len(layers)):
        raise ValueError(
            f"config['layer_names'] must be a list of one name per layer ({len(layers)}), "
            f"got {preview(names)}"
        )
    shape = config.get("input_shape")
    shapes = (
        list(shape.values())
        if isinstance(shape, Mapping) and graph
        else [shape]
        if shape is not None
        else []
    )
    if not all(_shape(s) for s in shapes):
        raise ValueError(
            f"config['input_shape'] must be None or a list of positive integers ([] for integer "
            f"indices; a dict of them by input name for a graph's several inputs), got "
            f"{preview(shape)}"
        )
    providers = config.get("providers", {})
    if not isinstance(providers, Mapping):
        raise ValueError(f"config['providers'] must be a dict, got {preview(providers)}")


def _names(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(n, str) and n for n in value)


def _shape(value: Any) -> bool:
    """A per-sample shape: a list of positive ints (a layer that takes indices may read ())."""
    return isinstance(value, (list, tuple)) and all(type(d) is int and d > 0 for d in value)


def version_changes(record: Mapping[str, Any], providers: Any, registry: Registry) -> str:
    """`` (P: version A when saved, B installed)`` for each provider that ``record`` names, its
    own and those of nested specs, whose installed version differs from the file's; or ``""``."""
    name = record["name"]
    own = record.get("provider") or (name.split(":", 1)[0] if ":" in name else "")
    nested = [q.split(":", 1)[0] for q in qualified_names(record.get("config", {}))]
    involved = [p for p in dict.fromkeys([own, *nested]) if p]
    installed = {BUILTIN_PROVIDER: __version__}
    if any(p != BUILTIN_PROVIDER for p in involved):  # third parties are loaded by now
        installed |= {p.name: p.version for p in registry.providers if p.status == "loaded"}
    changes = []
    for provider in involved:
        saved = providers.get(provider) or (record.get("version") if provider == own else "")
        now = installed.get(provider, "")
        if saved and now and saved != now:
            changes.append(f"{provider}: version {saved} when saved, {now} installed")
    return f" ({'; '.join(changes)})" if changes else ""


def build_component(
    kind: str, record: Mapping[str, Any], providers: Mapping[str, str], registry: Registry
) -> Any:
    """The component ``record`` describes. Raises MissingProviderError (naming the
    distribution to install) or ValueError (naming the component and any version change)."""
    name, config = record["name"], record.get("config", {})
    label = kind.replace("_", " ")
    try:
        return registry.lookup(kind, name).create(registry, **config)
    except UnknownComponentError as exc:
        provider = exc.name.split(":", 1)[0] if ":" in exc.name else None
        installed = {p.name for p in registry.providers if p.status == "loaded"}
        if provider is not None and provider not in installed:
            version = providers.get(provider) or record.get("version")
            saved = f" (version {version} when saved)" if version else ""
            raise MissingProviderError(
                f"the model uses {exc.kind.replace('_', ' ')} {exc.name!r} from the "
                f"distribution {provider!r}{saved}, which is not installed. Install it with: "
                f"pip install {provider}"
            ) from exc
        # A provider whose version changed since the save is the likeliest cause, so it is named.
        raise ValueError(
            f"the {label} {name!r} cannot be rebuilt: {clip(exc)}"
            f"{version_changes(record, providers, registry)}"
        ) from None
    except REFUSALS as exc:
        raise ValueError(
            f"the {label} {name!r} refuses its saved config {preview(config)}: {clip(exc)}"
            f"{version_changes(record, providers, registry)}"
        ) from None


def components_from(
    config: Any, registry: Registry
) -> tuple[list[Any], Any, Any, list[Any] | None]:
    """The layers, error function, optimizer and metrics (None: the default ones) a network
    config describes, rebuilt; raises what :func:`check_config` and :func:`build_component`
    raise."""
    check_config(config)
    providers = config.get("providers", {})
    layers = [build_component("layer", r, providers, registry) for r in config["layers"]]
    error = build_component("error_function", config["error_function"], providers, registry)
    optimizer = build_component("optimizer", config["optimizer"], providers, registry)
    records = config.get("metrics")
    metrics = (
        None
        if records is None
        else [build_component("metric", r, providers, registry) for r in records]
    )
    return layers, error, optimizer, metrics


def misfit(arrays: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray]) -> str | None:
    """What keeps ``arrays`` (optimizer state aside) from replacing a network's ``expected``
    parameters and buffers: a key missing or extra, a shape or a dtype; None if they fit."""
    model_keys = {k for k in arrays if not k.startswith("optimizer/")}
    if model_keys != set(expected):
        return (
            f"the saved arrays {sorted(model_keys)} do not fit the network, which has "
            f"{sorted(expected)}"
        )
    for key in sorted(expected):
        if arrays[key].shape != expected[key].shape or arrays[key].dtype != expected[key].dtype:
            return (
                f"array {key!r} has shape {arrays[key].shape} ({arrays[key].dtype}) but the "
                f"network needs {expected[key].shape} ({expected[key].dtype})"
            )
    return None
