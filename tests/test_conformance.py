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


def test_every_builtin_with_an_onnx_lowering_is_onnx_checked() -> None:
    # onnx and onnxruntime are in the test extra; without them the check would not run
    registry = plugnet.registry()
    components = select_components(["plugnet"])
    lowered = {c.name for c in components if registry.onnx_lowering(c) is not None}
    items = checks_for(components)
    assert {"dense", "relu", "gelu", "softplus"} <= lowered
    assert {item.component.name for item in items if item.check == "onnx"} == lowered
