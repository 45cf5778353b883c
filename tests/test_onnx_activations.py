"""The built-in activations' ONNX lowerings: every conformance case of every activation, in
float32 and float64, exported in a one-layer model and run by ONNX Runtime against ``predict``
on random inputs, on the declared kinks and on extreme inputs (±30, ±100, ±1e4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plugnet.discovery import get_registry
from plugnet.network import Sequential
from plugnet.protocols import conformance_of

onnx = pytest.importorskip("onnx")  # in the test extra; the export itself needs plugnet[onnx]
ort = pytest.importorskip("onnxruntime")

TOLERANCE = {"float32": 1e-5, "float64": 1e-9}
EXTREMES = (-1e4, -100.0, -30.0, -20.0, -1.0, -1e-7, 0.0, 1e-7, 1.0, 20.0, 30.0, 89.0, 100.0, 1e4)
WIDTH = 6


def _builtin_activations() -> list[Any]:
    return [c for c in get_registry().components("activation") if c.provider == "plugnet"]


def _cases() -> list[Any]:
    cases = []
    for component in _builtin_activations():
        declared = conformance_of(component.factory).cases or ({"config": {}},)
        for case in declared:
            config = dict(case.get("config", {}))
            label = component.name + "".join(f"-{k}={v}" for k, v in config.items())
            cases.append(pytest.param(component.qualified_name, config, id=label))
    return cases


def _inputs(activation: Any, dtype: str) -> np.ndarray:
    """Random rows, a row per kink (the kink itself and a hair either side), and the
    extremes, ``WIDTH`` wide."""
    rng = np.random.default_rng(0)
    rows = [rng.standard_normal((20, WIDTH)) * 3.0]
    for kink in conformance_of(activation).kinks_of(activation):
        rows.append(np.full((1, WIDTH), kink) + np.linspace(-1e-3, 1e-3, WIDTH))
        rows.append(np.full((1, WIDTH), kink))
    extremes = np.resize(np.array(EXTREMES), (2 * len(EXTREMES) // WIDTH + 1, WIDTH))
    rows += [extremes, -extremes]
    return np.concatenate(rows).astype(dtype)


def worst_difference(got: np.ndarray, expected: np.ndarray) -> float:
    """The largest |got − expected| / max(1, |expected|): absolute for values up to 1,
    relative beyond."""
    return float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected))))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "config"), _cases())
def test_onnx_runtime_agrees_with_predict(
    name: str, config: dict[str, Any], dtype: str, tmp_path: Path
) -> None:
    net = Sequential(
        [{"type": "activation", "activation": {"name": name, **config}}],
        error="mse",
        dtype=dtype,
        seed=0,
    )
    net.build((WIDTH,))
    path = net.to_onnx(tmp_path / "activation.onnx")
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 17
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _inputs(net.layers[0].activation, dtype)
    expected = net.predict(x)
    (got,) = session.run(None, {"input": x})
    assert got.dtype == np.dtype(dtype) and got.shape == expected.shape
    assert np.isfinite(expected).all()  # the forward's promise on these inputs
    assert np.isfinite(got).all(), f"ONNX Runtime gave {got[~np.isfinite(got)]} for {name}"
    assert worst_difference(got, expected) <= TOLERANCE[dtype]


def test_every_builtin_activation_has_a_lowering() -> None:
    registry = get_registry()
    missing = [c.name for c in _builtin_activations() if registry.onnx_lowering(c) is None]
    assert missing == []
    assert len(_builtin_activations()) >= 28  # the catalogue's activations, none dropped


def test_the_composed_lowerings_avoid_ops_newer_than_opset_17(tmp_path: Path) -> None:
    # Gelu (20) and Mish (18) exist in newer opsets; the lowerings compose them instead
    for spec in ("gelu", {"name": "gelu", "approximate": "tanh"}, "mish"):
        for dtype in ("float32", "float64"):
            net = Sequential([{"type": "activation", "activation": spec}], error="mse", dtype=dtype)
            net.build((3,))
            graph = onnx.load(str(net.to_onnx(tmp_path / "a.onnx"))).graph
            ops = {node.op_type for node in graph.node}
            assert not ops & {"Gelu", "Mish"}, (spec, dtype, ops)
