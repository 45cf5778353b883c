"""Saving and loading models: one ``.npz`` of arrays plus a JSON config, never pickle.

The config records every component by qualified name and ``get_config()``, with the provider's
distribution and version; loading rebuilds them through the registry. Every array's shape, dtype
and SHA-256 are recorded too, so a truncated, corrupt or edited file is refused as a whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from plugnet._version import __version__
from plugnet.errors import MissingProviderError, UnknownComponentError
from plugnet.network import Sequential, as_dtype
from plugnet.protocols import Array

FORMAT = "plugnet.model"
FORMAT_VERSION = 1
CONFIG_KEY = "__config__"


def _digest(array: Array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _record(kind: str, instance: Any) -> dict[str, Any]:
    import plugnet

    registry = plugnet.registry()
    component = registry.component_of(instance)
    if component is None:
        raise ValueError(
            f"cannot save: the {kind.replace('_', ' ')} {instance!r} is not a registered "
            f"component; register its plugin (plugnet.register_plugin) so it can be rebuilt"
        )
    return {
        "kind": kind,
        "name": component.qualified_name,
        "provider": component.provider,
        "version": component.version,
        "config": instance.get_config(),
    }


def _qualified_names(value: Any) -> Iterator[str]:
    """Every ``provider:name`` that a nested config mentions as a component spec."""
    if isinstance(value, Mapping):
        name = value.get("name")
        if isinstance(name, str) and ":" in name:
            yield name
        for item in value.values():
            yield from _qualified_names(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _qualified_names(item)


def collect_arrays(net: Sequential) -> dict[str, Array]:
    """The arrays a model file holds: parameters, layer buffers and optimizer state."""
    arrays = {f"params/{name}": value for name, value in net.params.items()}
    for layer_name, layer in zip(net.layer_names, net.layers, strict=True):
        for key, value in getattr(layer, "buffers", {}).items():
            arrays[f"buffers/{layer_name}.{key}"] = value
    get_state = getattr(net.optimizer, "get_state", None)
    if callable(get_state):
        arrays.update({f"optimizer/{k}": np.asarray(v) for k, v in get_state().items()})
    return arrays


def model_config(net: Sequential, arrays: Mapping[str, Array]) -> dict[str, Any]:
    import plugnet

    records = [_record("layer", layer) for layer in net.layers]
    error, optimizer = _record("error_function", net.error), _record("optimizer", net.optimizer)
    versions = {p.name: p.version for p in plugnet.registry().providers}
    providers = {}
    for qualified in _qualified_names([*records, error, optimizer]):
        provider = qualified.split(":", 1)[0]
        providers[provider] = versions.get(provider, "")
    assert net.input_shape is not None
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "plugnet_version": __version__,
        "dtype": net.dtype.name,
        "seed": net.seed,
        "input_shape": list(net.input_shape),
        "layer_names": list(net.layer_names),
        "layers": records,
        "error_function": error,
        "optimizer": optimizer,
        "providers": providers,
        "rng_state": net.rng.bit_generator.state,
        "arrays": {
            key: {"shape": list(value.shape), "dtype": value.dtype.str, "sha256": _digest(value)}
            for key, value in arrays.items()
        },
    }


def save(net: Sequential, path: str | os.PathLike[str]) -> None:
    """Write ``net`` to ``path`` atomically: a temporary file beside it, then a rename."""
    if not net.built:
        raise ValueError("cannot save a network that is not built yet; fit or build it first")
    target = Path(path)
    arrays = collect_arrays(net)
    config = json.dumps(model_config(net, arrays), sort_keys=True).encode("utf-8")
    payload: dict[str, Any] = {**arrays, CONFIG_KEY: np.frombuffer(config, dtype=np.uint8)}
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, **payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; save like open() would
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _ModelFileError(ValueError):
    pass


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Array]]:
    def fail(problem: str) -> _ModelFileError:
        return _ModelFileError(f"{path}: {problem}")

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    with path.open("rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise fail("not a plugnet model file (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if CONFIG_KEY not in archive.files:
                raise fail("not a plugnet model file (it has no config)")
            raw = archive[CONFIG_KEY]
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise fail("the config entry is not JSON bytes; the file is damaged or forged")
            try:
                config = json.loads(raw.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise fail(f"the config is not valid JSON ({exc})") from None
            if not isinstance(config, dict) or config.get("format") != FORMAT:
                raise fail("not a plugnet model file (wrong format marker)")
            if config.get("format_version") != FORMAT_VERSION:
                raise fail(
                    f"model format version {config.get('format_version')!r} is not supported "
                    f"by plugnet {__version__} (it reads version {FORMAT_VERSION})"
                )
            expected = config.get("arrays")
            if not isinstance(expected, dict):
                raise fail("the config has no array table")
            present = set(archive.files) - {CONFIG_KEY}
            if present != set(expected):
                extra, missing = sorted(present - set(expected)), sorted(set(expected) - present)
                raise fail(f"the arrays do not match the config (extra {extra}, missing {missing})")
            arrays = {key: archive[key] for key in sorted(present)}
    except _ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise fail(f"cannot read the file, it is truncated or corrupt ({exc})") from None
    except ValueError as exc:  # e.g. object arrays, refused because pickle is off
        raise fail(f"the file holds data plugnet will not load ({exc})") from None
    for key, array in arrays.items():
        meta = expected[key]
        if not isinstance(meta, dict):
            raise fail(f"array {key!r} has no shape/dtype/checksum record")
        if list(array.shape) != meta.get("shape") or array.dtype.str != meta.get("dtype"):
            raise fail(
                f"array {key!r} has shape {array.shape} and dtype {array.dtype}, but the config "
                f"records {meta.get('shape')} and {meta.get('dtype')}; the file was altered"
            )
        if _digest(array) != meta.get("sha256"):
            raise fail(f"array {key!r} does not match its checksum; the file was altered")
    return config, arrays


def _build_component(path: Path, record: Any, providers: Mapping[str, str]) -> Any:
    import plugnet

    if not isinstance(record, dict) or not isinstance(record.get("name"), str):
        raise ValueError(f"{path}: a component record is malformed: {record!r}")
    config = record.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the config of {record['name']!r} is not a mapping")
    registry = plugnet.registry()
    try:
        component = registry.lookup(record["kind"], record["name"])
        return component.create(**config)
    except UnknownComponentError as exc:
        provider = exc.name.split(":", 1)[0] if ":" in exc.name else None
        installed = {p.name for p in registry.providers if p.status == "loaded"}
        if provider is not None and provider not in installed:
            version = providers.get(provider) or record.get("version")
            saved = f" (version {version} when saved)" if version else ""
            raise MissingProviderError(
                f"{path}: the model uses {exc.kind.replace('_', ' ')} {exc.name!r} from the "
                f"distribution {provider!r}{saved}, which is not installed. Install it with: "
                f"pip install {provider}"
            ) from exc
        raise


def load(path: str | os.PathLike[str]) -> Sequential:
    """Rebuild a model written by :meth:`Sequential.save`; nothing in the file is executed."""
    source = Path(path)
    config, arrays = _read(source)
    try:
        providers = config.get("providers", {})
        layers = [_build_component(source, r, providers) for r in config["layers"]]
        net = Sequential(
            layers,
            error=_build_component(source, config["error_function"], providers),
            optimizer=_build_component(source, config["optimizer"], providers),
            seed=config["seed"],
            dtype=as_dtype(config["dtype"]),
        )
        names = config["layer_names"]
        if not (isinstance(names, list) and len(names) == len(layers) == len(set(names))):
            raise ValueError("layer names are missing or repeated")
        net.layer_names = [str(n) for n in names]
        net.build(tuple(config["input_shape"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"{source}: the model config is incomplete or malformed ({exc!r})"
        ) from None
    _restore(source, net, arrays)
    try:
        net.rng.bit_generator.state = config["rng_state"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{source}: the saved random state is invalid ({exc})") from None
    return net


def _restore(path: Path, net: Sequential, arrays: Mapping[str, Array]) -> None:
    expected = collect_arrays(net)
    optimizer_keys = {k for k in arrays if k.startswith("optimizer/")}
    model_keys = set(arrays) - optimizer_keys
    wanted = {k for k in expected if not k.startswith("optimizer/")}
    if model_keys != wanted:
        raise ValueError(
            f"{path}: the saved arrays {sorted(model_keys)} do not fit the network, which has "
            f"{sorted(wanted)}"
        )
    for key in sorted(wanted):
        if arrays[key].shape != expected[key].shape or arrays[key].dtype != expected[key].dtype:
            raise ValueError(
                f"{path}: array {key!r} has shape {arrays[key].shape} ({arrays[key].dtype}) but "
                f"the network needs {expected[key].shape} ({expected[key].dtype})"
            )
    set_state = getattr(net.optimizer, "set_state", None)
    if optimizer_keys:
        if not callable(set_state):
            raise ValueError(f"{path}: the file holds optimizer state the optimizer cannot take")
        set_state({k.removeprefix("optimizer/"): arrays[k] for k in optimizer_keys})
    for key in wanted:
        expected[key][...] = arrays[key]
