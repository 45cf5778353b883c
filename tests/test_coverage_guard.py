"""No built-in escapes its tests: each kind's test list must name exactly the registered built-ins.

Activations, error functions and fused pairs are parametrized over the registry directly; the
optimizer, initializer and schedule tests keep hand-written formulas per name, so these guards
fail when a built-in is added without one.
"""

from __future__ import annotations

import pytest

from plugnet.discovery import build_registry
from tests import test_initializers, test_optimizers, test_schedules

REGISTRY = build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})


@pytest.mark.parametrize(
    ("kind", "covered"),
    [
        ("optimizer", set(test_optimizers.REFERENCES)),
        ("initializer", set(test_initializers.NAMES)),
        ("schedule", set(test_schedules.NAMES)),
    ],
)
def test_every_builtin_has_its_formula_test(kind: str, covered: set[str]) -> None:
    builtins = {c.name for c in REGISTRY.components(kind)}
    assert builtins == covered, (
        f"{kind}s without a formula test: {sorted(builtins - covered)}; "
        f"tested but not registered: {sorted(covered - builtins)}"
    )
