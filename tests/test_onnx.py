"""ONNX export: models written through per-component lowerings, checked by onnx.checker and run
by ONNX Runtime against ``predict``; lowerings registered by plugins, missing ones named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet._registry import Registry
from plugnet.errors import PluginError
from plugnet.network import Model, Sequential
from plugnet.onnx_export import MissingLoweringError
from tests.conftest import make_plugin

onnx = pytest.importorskip("onnx")  # in the test extra; the export itself needs plugnet[onnx]
ort = pytest.importorskip("onnxruntime")

TOLERANCE = {"float32": 1e-5, "float64": 1e-9}


def run(path: Path, feeds: dict[str, Any]) -> Any:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def residual(dtype: str, registry: Registry | None = None) -> Model:
    return Model(
        [
            {"type": "dense", "units": 8, "activation": "tanh", "name": "h1"},
            {"type": "dense", "units": 8, "activation": "relu", "name": "h2"},
            {"type": "add", "name": "skip", "inputs": ["h1", "h2"]},
            {"type": "dropout", "rate": 0.3},
            {"type": "reshape", "shape": [2, 4]},
            {"type": "flatten"},
            {"type": "dense", "units": 3, "activation": "softmax", "name": "out"},
        ],
        error="cross_entropy",
        dtype=dtype,
        seed=0,
        registry=registry,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_graph_exports_and_onnx_runtime_agrees_with_predict(dtype: str, tmp_path: Path) -> None:
    net = residual(dtype)
    x = np.random.default_rng(0).standard_normal((7, 4)).astype(dtype)
    net.fit(x, np.arange(7) % 3, epochs=2, batch_size=4, verbose=0)
    path = net.to_onnx(tmp_path / "residual.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    (given,) = model.graph.input
    assert given.name == "input" and model.graph.output[0].name == "output"
    dims = given.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [4]
    expected_type = onnx.TensorProto.FLOAT if dtype == "float32" else onnx.TensorProto.DOUBLE
    assert given.type.tensor_type.elem_type == expected_type
    # the batch axis is dynamic: another batch size runs too
    for batch in (x, x[:1]):
        got = run(path, {"input": batch})
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, net.predict(batch), rtol=0, atol=TOLERANCE[dtype])
    names = {tensor.name for tensor in model.graph.initializer}
    assert {"h1.w", "h1.b", "out.w"} <= names  # initializers are named after their layers


def test_several_inputs_and_a_sequential_export_alike(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    two = Model(
        [
            {"type": "dense", "units": 4, "name": "a", "inputs": ["left"]},
            {"type": "dense", "units": 4, "name": "b", "inputs": ["right"]},
            {"type": "concatenate", "name": "both", "inputs": ["a", "b"]},
            {"type": "multiply", "name": "square", "inputs": ["both", "both"]},
            {"type": "dense", "units": 2, "activation": "sigmoid"},
        ],
        inputs=["left", "right"],
        error="square",
        dtype="float64",
    )
    feeds = {"left": rng.standard_normal((3, 5)), "right": rng.standard_normal((3, 2))}
    two.build({"left": (5,), "right": (2,)})
    path = two.to_onnx(tmp_path / "two.onnx")
    np.testing.assert_allclose(run(path, feeds), two.predict(feeds), rtol=0, atol=1e-9)
    stack = Sequential([{"type": "dense", "units": 3, "activation": "softmax"}], error="square")
    stack.build((2,))
    x = rng.standard_normal((4, 2)).astype(np.float32)
    got = run(stack.to_onnx(tmp_path / "stack.onnx"), {"input": x})
    np.testing.assert_allclose(got, stack.predict(x), rtol=0, atol=1e-5)


class Cube:
    """A third party's activation, y = x³."""

    def forward(self, x: Any) -> Any:
        return x**3

    def backward(self, x: Any, y: Any, grad: Any) -> Any:
        return 3 * x**2 * grad

    def get_config(self) -> dict[str, Any]:
        return {}


def lower_cube(activation: Cube, graph: Any, inputs: Any) -> str:
    square = graph.node("Mul", [inputs[0], inputs[0]], hint="square")
    return str(graph.node("Mul", [square, inputs[0]], hint="cube"))


def cube_plugin(lowering: bool) -> Any:
    hooks: dict[str, Any] = {"register_activations": lambda register: register(Cube, "cube")}
    if lowering:
        hooks["register_onnx_lowerings"] = lambda register: register(lower_cube, "cube")
    return make_plugin("cubes", **hooks)


def test_a_plugins_component_exports_through_its_plugins_lowering(
    fresh_registry: Registry, tmp_path: Path
) -> None:
    fresh_registry.add_plugin(cube_plugin(lowering=True), provider="cubes", version="2.0")
    net = Sequential(
        [{"type": "dense", "units": 3, "activation": "cube"}],
        error="square",
        dtype="float64",
        registry=fresh_registry,
    )
    net.build((2,))
    x = np.random.default_rng(2).standard_normal((4, 2))
    got = run(net.to_onnx(tmp_path / "cube.onnx"), {"input": x})
    np.testing.assert_allclose(got, net.predict(x), rtol=0, atol=1e-9)
    (record,) = [p for p in fresh_registry.providers if p.name == "cubes"]
    assert [lowering.target for lowering in record.lowerings] == ["cubes:cube"]


def test_a_component_without_a_lowering_is_named_and_nothing_is_written(
    fresh_registry: Registry, tmp_path: Path
) -> None:
    fresh_registry.add_plugin(cube_plugin(lowering=False), provider="cubes", version="2.0")
    net = Sequential(
        [{"type": "dense", "units": 3, "activation": "cube"}],
        error="square",
        registry=fresh_registry,
        layer_names=["hidden"],
    )
    net.build((2,))
    target = tmp_path / "cube.onnx"
    with pytest.raises(
        MissingLoweringError,
        match=r"a component of layer 'hidden' is activation 'cubes:cube' \(from 'cubes', "
        r"version 2.0\), which has no ONNX lowering; a plugin gives it one with the "
        r"register_onnx_lowerings hook: register\(lower, 'cubes:cube'\)",
    ):
        net.to_onnx(target)
    assert list(tmp_path.iterdir()) == []
    unbuilt = Sequential([{"type": "dense", "units": 3}], error="square")
    with pytest.raises(RuntimeError, match="not built yet"):
        unbuilt.to_onnx(target)


def unnamed(register: Any) -> None:
    register(lower_cube)


def not_a_name(register: Any) -> None:
    register(lower_cube, "Not A Name")


def not_callable(register: Any) -> None:
    register("lower", "cube")


def twice(register: Any) -> None:
    register(lower_cube, "cube")
    register(lower_cube, "cubes:cube")


def with_aliases(register: Any) -> None:
    register(lower_cube, "cube", aliases=("x",))


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        (unnamed, "must be registered with the qualified name of the component it lowers"),
        (not_a_name, "names 'Not A Name', which is not a component's name"),
        (not_callable, "is not callable"),
        (twice, "'cubes' registers two ONNX lowerings for 'cubes:cube'"),
        (with_aliases, "a lowering has no aliases"),
    ],
)
def test_a_bad_lowering_registration_fails_the_plugin(
    fresh_registry: Registry, hook: Any, message: str
) -> None:
    plugin = make_plugin("cubes", register_onnx_lowerings=hook)
    with pytest.raises(PluginError, match=message):
        fresh_registry.add_plugin(plugin, provider="cubes", strict=True)


def test_another_providers_lowering_is_used_and_two_of_them_conflict(
    fresh_registry: Registry, tmp_path: Path
) -> None:
    fresh_registry.add_plugin(cube_plugin(lowering=False), provider="cubes")
    helper = make_plugin(
        "helper", register_onnx_lowerings=lambda register: register(lower_cube, "cubes:cube")
    )
    fresh_registry.add_plugin(helper, provider="helper")
    component = fresh_registry.lookup("activation", "cube")
    lowering = fresh_registry.onnx_lowering(component)
    assert lowering is not None and lowering.provider == "helper"
    rival = make_plugin(
        "rival", register_onnx_lowerings=lambda register: register(lower_cube, "cubes:cube")
    )
    fresh_registry.add_plugin(rival, provider="rival")
    with pytest.raises(PluginError, match=r"ONNX lowerings from several providers"):
        fresh_registry.onnx_lowering(component)


def test_without_onnx_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_onnx(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("No module named 'onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    net = Sequential([{"type": "dense", "units": 1}], error="square")
    net.build((1,))
    with pytest.raises(ImportError, match=r'pip install "plugnet\[onnx\]"'):
        net.to_onnx("never.onnx")
    assert not Path("never.onnx").exists()
    assert plugnet.Model is Model


EXAMPLE_SOURCE = Path(__file__).resolve().parents[1] / "examples/plugnet-example-plugin/src"


def test_the_example_plugins_activation_exports_through_its_own_lowering(
    fresh_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module as its entry point names it (tests/test_installed.py checks that the
    # installed distribution registers the lowering through that entry point).
    monkeypatch.syspath_prepend(str(EXAMPLE_SOURCE))
    import plugnet_example_plugin

    fresh_registry.add_plugin(plugnet_example_plugin, provider="plugnet-example-plugin")
    for dtype in ("float32", "float64"):
        net = Sequential(
            [{"type": "dense", "units": 4, "activation": "square_plus(b=1.0)"}],
            error="square",
            dtype=dtype,
            registry=fresh_registry,
        )
        net.build((3,))
        x = np.random.default_rng(3).standard_normal((6, 3)).astype(dtype)
        x[0] = [1e4, -1e4, 0.0]  # where the naive forms overflow or cancel
        got = run(net.to_onnx(tmp_path / f"example-{dtype}.onnx"), {"input": x})
        expected = net.predict(x)
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_plugnet_export_writes_a_saved_model_as_onnx(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from plugnet.cli import main

    net = residual("float32")
    x = np.random.default_rng(4).standard_normal((9, 4)).astype(np.float32)
    net.fit(x, np.arange(9) % 3, epochs=1, verbose=0)
    net.save(tmp_path / "model.npz")
    out = tmp_path / "model.onnx"
    assert main(["export", str(tmp_path / "model.npz"), "--onnx", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"wrote {out} (ONNX opset 17, float32): input 'input' (N, 4), output 'output' (N, 3)\n"
    )
    np.testing.assert_allclose(run(out, {"input": x}), net.predict(x), rtol=0, atol=1e-5)
    assert main(["export", str(tmp_path / "model.npz"), "--onnx", str(tmp_path / "m.txt")]) == 2
    assert "write the ONNX model to a file ending in .onnx" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.npz"), "--onnx", str(out)]) == 2
    assert "no such model file" in capsys.readouterr().err


def test_a_scalar_constant_stays_a_scalar(fresh_registry: Registry) -> None:
    from plugnet.onnx_export import OnnxGraph

    graph = OnnxGraph(fresh_registry, np.dtype(np.float32))
    graph.constant(0.5, "half")
    graph.constant([1, 2], "pair")
    half, pair = graph.initializers
    assert list(half.dims) == [] and half.data_type == onnx.TensorProto.FLOAT
    assert list(pair.dims) == [2] and pair.data_type == onnx.TensorProto.INT64


def test_an_export_is_written_as_a_model_file_is(tmp_path: Path) -> None:
    import os
    import stat

    net = Sequential([{"type": "dense", "units": 2}], error="square")
    net.build((3,))
    fresh = net.to_onnx(tmp_path / "fresh.onnx")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask  # as open() makes a file
    kept = tmp_path / "kept.onnx"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    link = tmp_path / "link.onnx"
    link.symlink_to(kept)
    assert net.to_onnx(link) == kept  # the symlink is followed, its target replaced
    assert link.is_symlink() and stat.S_IMODE(kept.stat().st_mode) == 0o640
    assert onnx.load(str(kept)).graph.output[0].name == "output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.onnx", "kept.onnx", "link.onnx"]
