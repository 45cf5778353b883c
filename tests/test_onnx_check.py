"""The kit's ``onnx`` check: a layer's or activation's registered lowering against its forward
through ONNX Runtime. A lowering that is off is named; a component without one is not checked;
without onnx/onnxruntime ``plugnet check`` lists the check as not run, and ``check_*`` fails."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet import discovery
from plugnet.cli import main
from plugnet.configurable import Configurable
from plugnet.testing import ConformanceError, check_activation, check_layer
from plugnet.testing.conformance import applicable, checks_for, select_components
from tests._layers import Lookup as IndexLookup
from tests._layers import ScaledSum
from tests.conftest import make_plugin

pytest.importorskip("onnx")  # in the test extra
pytest.importorskip("onnxruntime")

Array = np.ndarray
Lowering = Callable[[Any, Any, Any], str]


class Twice(Configurable):
    """y = 2x."""

    def forward(self, x: Array) -> Array:
        return 2.0 * x

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        return 2.0 * grad


def lower_twice(scale: float) -> Lowering:
    def lower(activation: Any, graph: Any, inputs: Any) -> str:
        return str(graph.node("Mul", [inputs[0], graph.constant(np.array(scale), "two")]))

    return lower


def lower_scaled_sum(swapped: bool) -> Lowering:
    def lower(layer: Any, graph: Any, inputs: Any) -> str:
        first, second = reversed(inputs) if swapped else inputs  # swapped: s ⊙ x₂ + x₁
        scaled = graph.node("Mul", [first, graph.constant(layer.params["s"], "s")])
        return str(graph.node("Add", [scaled, second]))

    return lower


class Lookup(IndexLookup):
    """The shared index layer, with one conformance case: y = W[x]."""

    conformance = plugnet.protocols.Conformance(cases=({"config": {}, "input_shape": (3,)},))


def lower_lookup(layer: Any, graph: Any, inputs: Any) -> str:
    return str(graph.node("Gather", [graph.constant(layer.params["w"], "w"), inputs[0]], axis=0))


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Register, in a fresh process-wide registry, the plugin "my-lab" with the activation
    ``twice``, the layers ``scaled_sum`` and ``lookup``, and the lowerings given."""
    fresh = discovery.build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"})
    monkeypatch.setattr(discovery, "_registry", fresh)

    def register(**lowerings: Lowering) -> None:
        def register_onnx_lowerings(register: Any) -> None:
            for name, lower in lowerings.items():
                register(lower, name)

        def register_layers(register: Any) -> None:
            register(ScaledSum, name="scaled_sum")
            register(Lookup, name="lookup")

        plugin = make_plugin(
            "lab_plugin",
            register_activations=lambda register: register(Twice, name="twice"),
            register_layers=register_layers,
            register_onnx_lowerings=register_onnx_lowerings,
        )
        plugnet.register_plugin(plugin, name="my-lab")

    return register


def check_table(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(["check", *argv])
    return status, capsys.readouterr().out


def row_of(out: str, label: str) -> list[str]:
    return next(line for line in out.splitlines() if line.startswith(label)).split()


def test_a_lowering_that_is_off_is_named_by_the_kit_and_plugnet_check(
    lab: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    lab(twice=lower_twice(2.0 * (1 + 1e-6)), scaled_sum=lower_scaled_sum(swapped=True))
    with pytest.raises(ConformanceError) as info:
        check_activation("twice")
    # 1e-6 relative passes float32's 1e-5 but not float64's 1e-9
    assert str(info.value).startswith(
        "activation twice: onnx check failed: ONNX Runtime's output of the lowering on random "
        "and ±1e4 float64 inputs differs from the forward's by 1.00e-06 (relative where |y| > 1)"
        ", more than 1e-09"
    )
    with pytest.raises(ConformanceError, match=r"layer scaled_sum: onnx check failed: .* float32"):
        check_layer("scaled_sum")
    status, out = check_table(capsys, "my-lab")
    assert status == 1
    assert row_of(out, "activation ")[-4:] == ["extremes", "onnx", "worst", "error"]
    assert row_of(out, "my-lab:twice")[1:8] == [*["ok"] * 6, "FAIL"]
    assert row_of(out, "my-lab:scaled_sum")[7] == "FAIL"
    assert row_of(out, "my-lab:lookup")[7] == "-"  # no lowering: the check does not apply
    assert "activation:twice-onnx: activation twice: onnx check failed" in out


def test_right_lowerings_pass_on_one_two_and_index_inputs(
    lab: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    lab(twice=lower_twice(2.0), scaled_sum=lower_scaled_sum(swapped=False), lookup=lower_lookup)
    check_activation("twice")
    check_layer("scaled_sum", input_shapes=[(2, 3), (2, 3)])
    check_layer("lookup")  # int64 ids in, through ONNX Gather
    status, out = check_table(capsys, "my-lab")
    assert status == 0
    for label in ("my-lab:twice", "my-lab:scaled_sum", "my-lab:lookup"):
        assert row_of(out, label)[7] == "ok"
    checks = [c for c in checks_for(select_components(["my-lab"])) if c.check == "onnx"]
    assert len(checks) == 3 and all(check() == 0.0 for check in checks)  # exact ops: no error


def test_a_component_without_a_lowering_is_not_onnx_checked(lab: Callable[..., None]) -> None:
    lab()
    twice = discovery.get_registry().lookup("activation", "twice")
    assert "onnx" not in applicable("activation", Twice, twice)
    assert "onnx" not in applicable("activation", Twice)  # unregistered: no lowering either
    check_activation("twice")
    check_activation(Twice())


def test_without_onnx_runtime_the_check_is_listed_as_not_run_or_fails_when_asked_for(
    lab: Callable[..., None], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab(twice=lower_twice(2.0))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now fails
    status, out = check_table(capsys, "my-lab")
    assert status == 0
    assert row_of(out, "my-lab:twice")[7] == "-"
    assert "not run: the onnx check of 1 component(s) (twice)" in out
    assert (
        'because onnxruntime is not installed; install it with: pip install "plugnet[onnx]"' in out
    )
    status, out = check_table(capsys, "twice", "--json")
    assert json.loads(out)["not_run"] == [
        {
            "kind": "activation",
            "component": "twice",
            "provider": "my-lab",
            "check": "onnx",
            "reason": 'onnxruntime is not installed; install it with: pip install "plugnet[onnx]"',
        }
    ]
    with pytest.raises(ConformanceError, match=r"onnx check failed: .*plugnet\[onnx\]"):
        check_activation("twice")
