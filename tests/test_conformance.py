"""Every built-in component passes the conformance suite, through the same pytest plugin that
plugin authors use: one test per component per case per check, e.g.
``test_builtin_conforms[activation:relu-gradient]``. A new built-in is covered without anyone
listing it here."""

from __future__ import annotations

import pytest

import plugnet
from plugnet.testing import ConformanceCheck, checks_for, select_components


@pytest.mark.plugnet_conformance("plugnet")
def test_builtin_conforms(conformance_check: ConformanceCheck) -> None:
    conformance_check()


def test_every_builtin_component_is_in_the_suite() -> None:
    registry = plugnet.registry()
    kinds = (
        "activation",
        "error_function",
        "layer",
        "optimizer",
        "initializer",
        "schedule",
        "metric",
        "dataset",
        "callback",
    )
    builtins = {
        (c.kind, c.name)
        for kind in (*kinds, "fused_backward")
        for c in registry.components(kind)
        if c.builtin
    }
    items = checks_for(select_components(["plugnet"]))
    checked = {(item.kind, item.component.name) for item in items}
    assert builtins and builtins == checked


def test_every_builtin_initializer_documents_its_std() -> None:
    initializers = select_components(["plugnet"], kind="initializer")
    assert initializers
    for component in initializers:
        assert callable(getattr(component.factory, "expected_std", None)), component.name
