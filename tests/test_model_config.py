"""The model owns its configuration and state: Sequential.get_config/from_config and
get_state/set_state, without a file."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet._registry import Registry
from plugnet.configurable import Configurable
from plugnet.network import Sequential
from tests.conftest import make_plugin

X = np.random.default_rng(0).standard_normal((40, 5))
T = np.random.default_rng(1).integers(0, 3, 40)
LAYERS = [
    {"type": "dense", "units": 8, "activation": "relu", "name": "hidden"},
    {"type": "batch_norm"},
    {"type": "dropout", "rate": 0.2},
    {"type": "dense", "units": 3, "activation": "softmax"},
]


def trained(registry: Registry | None = None, optimizer: str = "adam") -> Sequential:
    net = Sequential(LAYERS, error="cross_entropy", optimizer=optimizer, seed=7, registry=registry)
    net.fit(X, T, epochs=2, batch_size=8, verbose=0)
    return net


def test_get_config_is_plain_json_data_with_every_component_record() -> None:
    config = trained().get_config()
    assert json.loads(json.dumps(config)) == config
    assert set(config) == {
        "dtype", "seed", "input_shape", "layer_names", "layers", "error_function", "optimizer",
        "metrics", "providers",
    }  # fmt: skip
    assert config["metrics"] is None  # the default metrics, chosen from the targets
    assert config["input_shape"] == [5] and config["seed"] == 7
    assert config["layer_names"] == ["hidden", "batch_norm_1", "dropout_1", "dense_1"]
    assert config["optimizer"]["name"] == "plugnet:adam"
    assert config["optimizer"]["kind"] == "optimizer"
    assert config["layers"][0]["config"]["units"] == 8
    assert config["providers"] == {"plugnet": plugnet.__version__}


def test_from_config_rebuilds_a_built_network_with_the_same_config() -> None:
    net = trained()
    config = net.get_config()
    copy = Sequential.from_config(config)
    assert copy.built and copy.layer_names == net.layer_names
    assert copy.get_config() == config
    copy.set_state(net.get_state())
    np.testing.assert_array_equal(copy.predict(X), net.predict(X))


def test_from_config_of_an_unbuilt_network_stays_unbuilt_and_predicts_alike() -> None:
    net = Sequential(LAYERS, error="cross_entropy", seed=11)
    config = net.get_config()
    assert config["input_shape"] is None
    copy = Sequential.from_config(config)
    assert not copy.built and copy.get_config() == config
    # The same seed draws the same initial weights on the first predict.
    np.testing.assert_array_equal(copy.predict(X), net.predict(X))


def test_from_config_goes_through_a_private_registry(fresh_registry: Registry) -> None:
    class Cube(Configurable):
        def forward(self, x: np.ndarray) -> np.ndarray:
            return x**3

        def backward(self, x: np.ndarray, y: np.ndarray, grad: np.ndarray) -> np.ndarray:
            return 3 * x**2 * grad

    def register_activations(register: Callable[..., None]) -> None:
        register(Cube, name="cube")

    fresh_registry.add_plugin(
        make_plugin("cubes", register_activations=register_activations),
        provider="cubes",
        version="1.4.2",
        strict=True,
    )
    net = Sequential(
        [{"type": "dense", "units": 3, "activation": "cube"}],
        error="square",
        seed=1,
        registry=fresh_registry,
    )
    net.fit(X, np.eye(3)[T], epochs=1, verbose=0)
    config = net.get_config()
    assert config["providers"] == {"plugnet": plugnet.__version__, "cubes": "1.4.2"}
    copy = Sequential.from_config(config, registry=fresh_registry)
    assert copy.registry is fresh_registry and copy.get_config() == config
    copy.set_state(net.get_state())
    np.testing.assert_array_equal(copy.predict(X), net.predict(X))


def test_get_state_and_set_state_round_trip_optimizer_buffers_and_rng() -> None:
    net = trained()
    state = net.get_state()
    assert any(k.startswith("buffers/batch_norm_1.") for k in state["arrays"])
    assert "optimizer/iterations" in state["arrays"]
    copy = Sequential.from_config(net.get_config())
    copy.set_state(state)
    for key, value in net.get_state()["arrays"].items():
        np.testing.assert_array_equal(copy.get_state()["arrays"][key], value)
    assert copy.rng.bit_generator.state == net.rng.bit_generator.state
    assert copy.rng.random() == net.rng.random()  # the next draw matches
    # Optimizer state came along: one more identical step keeps them identical.
    copy.fit(X, T, epochs=1, batch_size=8, shuffle=False, verbose=0)
    net.fit(X, T, epochs=1, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_array_equal(copy.predict(X), net.predict(X))


def test_get_state_copies_unless_asked_for_read_only_views() -> None:
    net = trained()
    snapshot = net.get_state()
    views = net.get_state(copy=False)["arrays"]
    before = snapshot["arrays"]["params/hidden.w"].copy()
    with pytest.raises(ValueError, match="read-only"):
        views["params/hidden.w"][...] = 0
    net.fit(X, T, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(snapshot["arrays"]["params/hidden.w"], before)
    np.testing.assert_array_equal(views["params/hidden.w"], net.params["hidden.w"])
    net.set_state(snapshot)  # back to the snapshot, including the Generator
    np.testing.assert_array_equal(net.params["hidden.w"], before)
    assert net.rng.bit_generator.state == snapshot["rng"]


def refused(net: Sequential, change: Callable[[dict[str, Any]], None], match: str) -> None:
    """set_state refuses the changed state with ``match`` and leaves the network as it was."""
    state = net.get_state()
    arrays_before = net.get_state()["arrays"]
    change(state["arrays"])
    state["arrays"]["params/dense_1.b"] = np.full_like(state["arrays"]["params/dense_1.b"], 9)
    with pytest.raises(ValueError, match=match):
        net.set_state(state)
    for key, value in net.get_state()["arrays"].items():
        np.testing.assert_array_equal(value, arrays_before[key])


def test_set_state_refuses_a_missing_key_naming_it() -> None:
    refused(trained(), lambda a: a.pop("params/hidden.w"), r"do not fit.*'params/hidden\.w'")


def test_set_state_refuses_a_wrong_shape_naming_the_key() -> None:
    def change(arrays: dict[str, Any]) -> None:
        arrays["params/hidden.w"] = np.zeros((5, 9), dtype=np.float32)

    refused(trained(), change, r"array 'params/hidden\.w' has shape \(5, 9\)")


def test_set_state_refuses_a_wrong_dtype_naming_the_key() -> None:
    def change(arrays: dict[str, Any]) -> None:
        arrays["params/hidden.w"] = arrays["params/hidden.w"].astype(np.float64)

    refused(trained(), change, r"array 'params/hidden\.w' .*\(float64\).*\(float32\)")


def test_set_state_refuses_bad_optimizer_state_and_a_bad_rng() -> None:
    net = trained()

    def no_iterations(arrays: dict[str, Any]) -> None:
        del arrays["optimizer/iterations"]

    refused(net, no_iterations, "optimizer state is invalid.*iterations")
    state = net.get_state()
    with pytest.raises(ValueError, match="random state is invalid"):
        net.set_state({**state, "rng": {"bit_generator": "PCG64"}})
    with pytest.raises(ValueError, match="'arrays' and optionally 'rng'"):
        net.set_state({"weights": state["arrays"]})


def test_from_config_refuses_an_unknown_layer_by_name() -> None:
    config = trained().get_config()
    config["layers"][1]["name"] = "plugnet:no_such_layer"
    with pytest.raises(ValueError, match=r"layer 'plugnet:no_such_layer' cannot be rebuilt"):
        Sequential.from_config(config)


def test_from_config_names_the_distribution_of_a_missing_provider() -> None:
    config = trained().get_config()
    config["layers"][0]["config"]["activation"] = {"name": "plugnet-mish:mish"}
    config["providers"]["plugnet-mish"] = "0.2.0"
    with pytest.raises(plugnet.MissingProviderError, match="pip install plugnet-mish") as info:
        Sequential.from_config(config)
    assert "version 0.2.0 when saved" in str(info.value)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: c["layers"][0]["config"].update(units=-3), r"'plugnet:dense' refuses .*units"),
        (lambda c: c.update(layers=[]), r"config\['layers'\] must be a non-empty list"),
        (lambda c: c.update(layer="x"), r"unknown keys \['layer'\]"),
        (lambda c: c.pop("optimizer"), r"lacks \['optimizer'\]"),
        (lambda c: c["layers"].__setitem__(2, "dropout"), r"config\['layers'\]\[2\] is not a"),
        (lambda c: c.update(input_shape=[0]), r"config\['input_shape'\] must be None or"),
        (lambda c: c.update(layer_names=["a"]), r"config\['layer_names'\] must be a list"),
        (lambda c: c.update(layer_names=["a", "a", "b", "c"]), "two layers are named 'a'"),
        (lambda c: c.update(dtype="int8"), "dtype must be 'float32' or 'float64'"),
    ],
)
def test_from_config_refuses_a_bad_config_clearly(
    change: Callable[[dict[str, Any]], None], match: str
) -> None:
    config = trained().get_config()
    change(config)
    with pytest.raises(ValueError, match=match):
        Sequential.from_config(config)


def test_layer_names_name_the_layers_at_construction() -> None:
    net = Sequential(
        [{"type": "dense", "units": 4}, "flatten"], error="square", layer_names=["a", "b"]
    )
    assert net.layer_names == ["a", "b"] and net["b"] is net.layers[1]
    with pytest.raises(ValueError, match="named 'x' in its spec but 'a' in layer_names"):
        Sequential([{"type": "dense", "units": 4, "name": "x"}], error="square", layer_names=["a"])
    with pytest.raises(ValueError, match=r"one name per layer \(1\)"):
        Sequential(["flatten"], error="square", layer_names=["a", "b"])


def test_metrics_are_part_of_the_config_and_survive_a_save(tmp_path: Any) -> None:
    net = Sequential(
        LAYERS,
        error="cross_entropy",
        metrics=["accuracy", "f1(average='weighted')"],
        seed=7,
    )
    net.fit(X, T, epochs=1, batch_size=8, verbose=0)
    config = net.get_config()
    assert [m["name"] for m in config["metrics"]] == ["plugnet:accuracy", "plugnet:f1"]
    assert config["metrics"][1]["config"]["average"] == "weighted"
    again = Sequential.from_config(config)
    assert list(again.metrics or {}) == ["accuracy", "f1"]
    assert again.get_config() == config
    net.save(tmp_path / "m.npz")
    loaded = plugnet.load(tmp_path / "m.npz")
    assert loaded.evaluate(X, T) == net.evaluate(X, T)
    assert set(loaded.evaluate(X, T)) == {"loss", "accuracy", "f1"}


def test_a_config_with_a_malformed_metric_record_is_refused() -> None:
    config = trained().get_config()
    with pytest.raises(ValueError, match=r"config\['metrics'\]\[0\] is not a metric record"):
        Sequential.from_config({**config, "metrics": [{"name": 3}]})
    with pytest.raises(ValueError, match=r"config\['metrics'\] must be null or a list"):
        Sequential.from_config({**config, "metrics": "accuracy"})
