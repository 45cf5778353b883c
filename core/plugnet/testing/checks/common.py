"""What every kind's checks share: the subject a check looks at, the seed and dtypes, the
protocol check and rebuilding from the config (the expectations are in
:mod:`plugnet.testing.checks.expect`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from plugnet.protocols import Shape
from plugnet.testing.gradients import ConformanceError

if TYPE_CHECKING:
    from plugnet._registry import Component

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
SEED = 0


@dataclass(frozen=True)
class Case:
    """One configuration to check: constructor arguments and, for layers, the per-sample input
    shape, or for a layer that merges several inputs (:class:`~plugnet.protocols.MergesInputs`)
    the list of their shapes, ``input_shapes``."""

    config: Mapping[str, Any] = field(default_factory=dict)
    input_shape: Shape | None = None
    input_shapes: tuple[Shape, ...] | None = None

    def label(self, name: str) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.config.items())
        return f"{name}({args})" if args else name

    def shapes_label(self) -> str | None:
        """The input shapes as ``2x3`` (one input) or ``2x3+2x5`` (several), None if unset."""
        shapes = self.input_shapes or ((self.input_shape,) if self.input_shape else ())
        return "+".join("x".join(map(str, shape)) for shape in shapes) or None


@dataclass
class Subject:
    """What a check looks at: a fresh instance of the component, and how to rebuild it."""

    kind: str
    label: str
    make: Callable[[], Any]
    case: Case
    component: Component | None = None
    pair: tuple[Any, Any] | None = None  # (activation, error function) for a fused backward

    def fresh(self) -> Any:
        return self.make()


CheckFunction = Callable[[Subject], float | None]
Check = TypeVar("Check", bound=CheckFunction)


def protocol(subject: Subject) -> None:
    from plugnet._registry import KINDS, _missing_members

    instance = subject.fresh()
    info = KINDS[subject.kind]
    missing = _missing_members(instance, info)
    if missing or not isinstance(instance, info.protocol):
        raise ConformanceError(
            f"a {type(instance).__name__} does not satisfy the {info.protocol.__name__} "
            f"protocol: it lacks {', '.join(missing) or 'get_config'}"
        )
    config = instance.get_config()  # type: ignore[attr-defined]
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ConformanceError(f"get_config() must return a dict with str keys, got {config!r}")


class CheckTable(dict[str, CheckFunction]):
    """One kind's checks by name, in the order ``plugnet check`` prints them as columns: the
    shared protocol check first, then each function registered with ``@CHECKS.check(name)``.
    Registering ``"protocol"`` again replaces the shared check in its first place."""

    def __init__(self) -> None:
        super().__init__(protocol=protocol)

    def check(self, name: str) -> Callable[[Check], Check]:
        def register(function: Check) -> Check:
            self[name] = function
            return function

        return register


def rebuild(subject: Subject, instance: Any) -> Any:
    """Rebuild ``instance`` from its config, which must be JSON-serializable: by qualified name
    when it is registered, else from its class, so that a component can be checked before its
    plugin registers it."""
    from plugnet.discovery import get_registry

    config = _json_config(instance)
    registry = get_registry()
    component = subject.component or registry.component_of(instance)
    if component is None:
        return type(instance)(**config)
    if component.pair is not None:
        return component.create(**config)
    return registry.resolve(subject.kind, {"name": component.qualified_name, **config})


def _json_config(instance: Any) -> dict[str, Any]:
    config = instance.get_config()
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConformanceError(
            f"get_config() returned {config!r}, which is not JSON-serializable ({exc}); use "
            f"numbers, strings, booleans, None, lists and dicts, and specs for nested components"
        ) from None
    return dict(config)
