"""A mixin for components whose hyperparameters are their ``__init__`` arguments."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any


class Configurable:
    """``get_config()``, ``repr``, Jupyter's ``_repr_html_`` and ``==`` from the ``__init__``
    arguments.

    Follow one rule: store each ``__init__`` argument as an attribute of the same name. Then
    ``type(c)(**c.get_config())`` rebuilds ``c``. (A plain class costs nothing at import, unlike
    a dataclass, which matters when a plugin registers dozens of components.)

    The repr shows the arguments that differ from their defaults, a component argument as the
    spec that names it: ``Dense(units=64, activation='relu')``. A component that picks an
    argument's value itself when it is not given (a layer's initializer, after its activation)
    lists that argument's name in ``chosen_by_default`` to leave it out of the repr too.
    """

    def get_config(self) -> dict[str, Any]:
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in readable_arguments(self).items())
        return f"{type(self).__name__}({args})"

    def _repr_html_(self) -> str:
        """The repr, and for a built layer a table of its parameters' shapes."""
        from html import escape  # here: html.entities costs ms at start-up

        text = f"<code>{escape(repr(self))}</code>"
        params = getattr(self, "params", None)
        if not isinstance(params, Mapping) or not params:
            return text
        rows = "".join(
            f"<tr><td>{escape(str(name))}</td><td>{escape(str(tuple(getattr(p, 'shape', ()))))}"
            f"</td><td>{int(getattr(p, 'size', 0)):,}</td></tr>"
            for name, p in params.items()
        )
        return (
            f"{text}<table><thead><tr><th>parameter</th><th>shape</th><th>size</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Configurable)
        return self.get_config() == other.get_config()

    def __hash__(self) -> int:
        # From the config, not the repr: the repr leaves defaults out, and equal configs must hash
        # equal whatever the repr shows.
        return hash((type(self), repr(self.get_config())))


def readable_arguments(component: Any) -> dict[str, Any]:
    """``component.get_config()`` without the arguments at their defaults (or in its
    ``chosen_by_default``), a component record
    (``{"name": "plugnet:he", "distribution": "normal"}``) as the spec string that builds it
    (``"he"``; the provider ``plugnet:`` left out, as built-in names need no qualifier)."""
    parameters = inspect.signature(type(component).__init__).parameters.values()
    defaults = {p.name: p.default for p in parameters}
    chosen = getattr(component, "chosen_by_default", ())
    readable = {}
    for key, value in component.get_config().items():
        if key in chosen:
            continue
        shown = _spec_text(value, getattr(component, key, None))
        if not _equal(shown, defaults.get(key, inspect.Parameter.empty)):
            readable[key] = shown
    return readable


def _spec_text(value: Any, instance: Any) -> Any:
    """A component record as its spec string, its arguments at their defaults left out; any
    other value as it is."""
    if not (isinstance(value, Mapping) and isinstance(value.get("name"), str)):
        return value
    name = value["name"].removeprefix("plugnet:")
    args = {k: v for k, v in value.items() if k != "name"}
    # The instance's own class knows its defaults, when the record describes that instance.
    if isinstance(instance, Configurable) and instance.get_config() == args:
        args = readable_arguments(instance)
    if not args:
        return name
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


def _equal(value: Any, default: Any) -> bool:
    if default is inspect.Parameter.empty:
        return False
    try:
        return type(value) is type(default) and bool(value == default)
    except (TypeError, ValueError):  # e.g. an array, whose == is elementwise
        return False
