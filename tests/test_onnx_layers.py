"""ONNX lowerings of the built-in layers: every layer, on each of its conformance cases, in
float32 and float64, run by ONNX Runtime against ``predict``; batch_norm after training; every
built-in layer has a lowering; the examples' trained models export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.network import Model, Sequential
from plugnet.protocols import MergesInputs, TakesIndices, conformance_of

onnx = pytest.importorskip("onnx")  # in the test extra; the export itself needs plugnet[onnx]
ort = pytest.importorskip("onnxruntime")

TOLERANCE = {"float32": 1e-5, "float64": 1e-9}
ROOT = Path(__file__).resolve().parents[1]
BATCH = 5


def run(path: Path, feeds: dict[str, Any]) -> Any:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def builtin_layers() -> list[Any]:
    return [c for c in plugnet.registry().components("layer") if c.provider == "plugnet"]


def layer_cases() -> list[Any]:
    """Each built-in layer's conformance cases; one of its defaults on (4,) when it declares
    none, as the conformance kit does."""
    return [
        pytest.param(component.name, dict(case), id=f"{component.name}-{number}")
        for component in builtin_layers()
        for number, case in enumerate(conformance_of(component.factory).cases or ({},))
    ]


def perturb(net: Model, rng: np.random.Generator) -> None:
    """Random parameters and running statistics in place, so that zero biases, unit gammas and
    the initial statistics cannot hide a lowering that drops or misplaces them."""
    for layer in net.layers:
        for value in layer.params.values():
            value[...] = rng.standard_normal(value.shape)
        for key, value in getattr(layer, "buffers", {}).items():
            value[...] = rng.uniform(0.5, 2.0, value.shape) if "var" in key else rng.normal(0, 1)


def sample(shape: tuple[int, ...], layer: Any, rng: np.random.Generator, dtype: str) -> Any:
    if isinstance(layer, TakesIndices):
        return rng.integers(0, layer.index_count, (BATCH, *shape), dtype=np.int64)
    return rng.standard_normal((BATCH, *shape)).astype(dtype)


def exported_difference(net: Model, feeds: dict[str, Any], tmp_path: Path) -> float:
    """The largest |ORT − predict| of ``net`` on ``feeds`` (by input name) and on their first
    sample alone (the batch axis is dynamic), checking shapes and dtypes."""
    path = net.to_onnx(tmp_path / "model.onnx")
    worst = 0.0
    for batch in (feeds, {name: value[:1] for name, value in feeds.items()}):
        got = run(path, batch)
        expected = net.predict(batch if len(batch) > 1 else next(iter(batch.values())))
        assert got.shape == expected.shape and got.dtype == expected.dtype
        worst = max(worst, float(np.max(np.abs(got - expected), initial=0.0)))
    return worst


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "case"), layer_cases())
def test_each_layer_case_exports_and_onnx_runtime_agrees(
    name: str, case: dict[str, Any], dtype: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    spec = {"type": name, **case.get("config", {})}
    if "input_shapes" in case:  # a merge layer reads one model input per shape
        shapes = [tuple(s) for s in case["input_shapes"]]
        inputs = [f"in{k}" for k in range(len(shapes))]
        net: Model = Model(
            [{**spec, "inputs": inputs}], inputs=inputs, error="square", dtype=dtype, seed=0
        )
        net.build(dict(zip(inputs, shapes, strict=True)))
        assert isinstance(net.layers[0], MergesInputs)
    else:
        shapes, inputs = [tuple(case.get("input_shape", (4,)))], ["input"]
        net = Sequential([spec], error="square", dtype=dtype, seed=0)
        net.build(shapes[0])
    perturb(net, rng)
    feeds = {n: sample(s, net.layers[0], rng, dtype) for n, s in zip(inputs, shapes, strict=True)}
    assert exported_difference(net, feeds, tmp_path) <= TOLERANCE[dtype]


def test_every_builtin_layer_has_a_lowering() -> None:
    registry = plugnet.registry()
    layers = builtin_layers()
    assert len(layers) >= 20
    missing = [c.name for c in layers if registry.onnx_lowering(c) is None]
    assert missing == []


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3,), (2, 3, 3)])
def test_batch_norm_exports_its_trained_running_statistics(
    dtype: str, shape: tuple[int, ...], tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    layers: list[Any] = [{"type": "batch_norm", "momentum": 0.5, "name": "bn"}, {"type": "flatten"}]
    net = Sequential([*layers, {"type": "dense", "units": 2}], error="square", dtype=dtype, seed=0)
    x = (rng.standard_normal((32, *shape)) * 3 + 2).astype(dtype)
    net.fit(x, rng.standard_normal((32, 2)).astype(dtype), epochs=2, batch_size=8, verbose=0)
    bn = net["bn"]
    assert not np.allclose(bn.buffers["running_mean"], 0) and not np.allclose(
        bn.buffers["running_var"], 1
    )
    assert exported_difference(net, {"input": x[:7]}, tmp_path) <= TOLERANCE[dtype]


@pytest.mark.parametrize("layer", ["batch_norm", "layer_norm"])
def test_float64_normalization_agrees_where_the_variance_is_near_zero(
    layer: str, tmp_path: Path
) -> None:
    # Where σ² ≪ eps the output is most sensitive to eps: ONNX's float32 epsilon attribute
    # rounds a float64 model's eps, and the operators miss 1e-9 here (by 1.4e-5 for
    # batch_norm, 1.6e-9 for layer_norm), so float64 models get the composition.
    rng = np.random.default_rng(6)
    dtype = "float64"
    net = Sequential([{"type": layer, "eps": 1e-5}], error="square", dtype=dtype)
    net.build((3, 2, 4))
    perturb(net, rng)
    x = rng.standard_normal((BATCH, 3, 2, 4)).astype(dtype)
    if layer == "batch_norm":
        net.layers[0].buffers["running_var"][0] = 0.0
    else:
        x[:, 0] *= 1e-4  # rows of variance 1e-8
    assert exported_difference(net, {"input": x}, tmp_path) <= TOLERANCE[dtype]
    kinds = {node.op_type for node in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert "BatchNormalization" not in kinds and "LayerNormalization" not in kinds


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layer", ["simple_rnn", "gru", "lstm"])
@pytest.mark.parametrize("steps", [1, 6])
def test_recurrent_layers_agree_on_one_step_and_on_large_inputs(
    layer: str, steps: int, dtype: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    for return_sequences in (False, True):
        spec = {"type": layer, "units": 3, "return_sequences": return_sequences}
        net = Sequential([spec], error="square", dtype=dtype)
        net.build((steps, 2))
        perturb(net, rng)
        x = (30 * rng.standard_normal((BATCH, steps, 2))).astype(dtype)  # saturated gates
        assert exported_difference(net, {"input": x}, tmp_path) <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_simple_rnn_lowers_any_activation_through_its_own_lowering(
    dtype: str, tmp_path: Path
) -> None:
    net = Sequential(
        [{"type": "simple_rnn", "units": 3, "activation": "sigmoid", "return_sequences": True}],
        error="square",
        dtype=dtype,
    )
    net.build((4, 2))
    perturb(net, np.random.default_rng(4))
    x = np.random.default_rng(5).standard_normal((BATCH, 4, 2)).astype(dtype)
    assert exported_difference(net, {"input": x}, tmp_path) <= TOLERANCE[dtype]
    kinds = {node.op_type for node in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert "Sigmoid" in kinds and "Tanh" not in kinds


@pytest.mark.parametrize(
    "config",
    [
        "xor.toml",
        "digits.toml",
        "digits_cnn.toml",
        "digits_residual.toml",
        "digits_residual_cnn.toml",
    ],
)
def test_the_examples_trained_models_export(config: str, tmp_path: Path) -> None:
    from plugnet.config import load_config

    pytest.importorskip("sklearn")
    loaded = load_config(ROOT / "examples" / config)
    splits = loaded.data.splits()
    assert splits.test is not None and splits.train.t is not None
    net = loaded.model.build()
    # one epoch over the first 512 of the 1347 training images keeps the file near 30 s and
    # moves every weight and running statistic off its initial value
    train = splits.train.subset(np.arange(min(512, len(splits.train.x))))
    net.fit(train.x, train.t, epochs=1, batch_size=32, verbose=0)
    x = splits.test.x.astype(net.dtype)
    assert exported_difference(net, {"input": x}, tmp_path) <= 1e-5
