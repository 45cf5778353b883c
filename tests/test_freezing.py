"""Freezing layers: ``"trainable": False`` in a spec or ``layer.trainable = False`` keeps a
layer's parameters fixed and out of the optimizer, dE/dx still flows through it, and the flag is
counted by summary and saved with the model."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.network import set_trainable
from plugnet.protocols import Array

LAYERS: list[dict[str, Any]] = [
    {"type": "dense", "units": 6, "activation": "relu"},
    {"type": "dense", "units": 5, "activation": "relu"},
    {"type": "dense", "units": 3, "activation": "softmax"},
]


def network(*frozen: int, optimizer: str = "adam(lr=0.01)") -> plugnet.Sequential:
    layers = [
        {**spec, "trainable": False} if i in frozen else spec for i, spec in enumerate(LAYERS)
    ]
    return plugnet.Sequential(layers, error="cross_entropy", optimizer=optimizer, seed=0)


def data() -> tuple[Array, Array]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 4)).astype(np.float32), rng.integers(0, 3, 40)


def snapshot(net: plugnet.Sequential) -> dict[str, Array]:
    return {name: value.copy() for name, value in net.params.items()}


def optimizer_state_names(net: plugnet.Sequential) -> set[str]:
    keys = net.get_state()["arrays"]
    return {k.split("/")[-1] for k in keys if k.startswith("optimizer/") and k.count("/") == 2}


@pytest.mark.parametrize("frozen", [0, 1, 2])
def test_frozen_parameters_do_not_change_and_hold_no_optimizer_state(frozen: int) -> None:
    x, labels = data()
    net = network(frozen)
    net.build((4,))
    before = snapshot(net)
    net.fit(x, labels, epochs=3, batch_size=8, verbose=0)
    name = f"dense_{frozen + 1}"
    for key, value in net.params.items():
        if key.startswith(f"{name}."):
            np.testing.assert_array_equal(value, before[key])  # bit-identical
        else:
            assert not np.array_equal(value, before[key]), key  # the others trained
    assert optimizer_state_names(net) == {k for k in net.params if not k.startswith(f"{name}.")}


def test_the_gradient_flows_through_a_frozen_layer() -> None:
    """Freezing the middle layer must not stop the first one training: after one full-batch
    SGD step, every gradient was computed before any parameter moved, so the first and last
    layers took exactly the step they take in the unfrozen network."""
    x, labels = data()
    frozen, free = network(1, optimizer="sgd(lr=0.1)"), network(optimizer="sgd(lr=0.1)")
    frozen.fit(x, labels, batch_size=40, shuffle=False, verbose=0)
    free.fit(x, labels, batch_size=40, shuffle=False, verbose=0)
    for key in ("dense_1.w", "dense_1.b", "dense_3.w", "dense_3.b"):
        np.testing.assert_array_equal(frozen.params[key], free.params[key])
    assert not np.array_equal(frozen.params["dense_2.w"], free.params["dense_2.w"])


def test_freezing_and_unfreezing_by_attribute_between_fits() -> None:
    x, labels = data()
    net = network()
    net.fit(x, labels, epochs=1, verbose=0)
    layer = net["dense_1"]
    assert not hasattr(layer, "trainable")  # the built-in layers do not define it
    layer.trainable = False  # type: ignore[attr-defined]
    before = snapshot(net)
    net.fit(x, labels, epochs=2, verbose=0)
    np.testing.assert_array_equal(net.params["dense_1.w"], before["dense_1.w"])
    assert not np.array_equal(net.params["dense_2.w"], before["dense_2.w"])
    layer.trainable = True  # type: ignore[attr-defined]
    net.fit(x, labels, epochs=1, verbose=0)
    assert not np.array_equal(net.params["dense_1.w"], before["dense_1.w"])  # training resumed


def test_a_callback_may_freeze_a_layer_mid_epoch() -> None:
    x, labels = data()
    net = network()
    snapshots: list[Array] = []

    class FreezeAfterTwo(plugnet.Callback):
        def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
            snapshots.append(net.params["dense_3.w"].copy())
            if batch == 1:
                net["dense_3"].trainable = False  # type: ignore[attr-defined]

    net.fit(x, labels, batch_size=8, verbose=0, callbacks=[FreezeAfterTwo()])
    assert not np.array_equal(snapshots[0], snapshots[1])
    for later in snapshots[2:]:
        np.testing.assert_array_equal(later, snapshots[1])


def test_an_all_frozen_network_fits_without_changing() -> None:
    x, labels = data()
    net = network(0, 1, 2)
    net.build((4,))
    before = snapshot(net)
    history = net.fit(x, labels, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for key, value in net.params.items():
        np.testing.assert_array_equal(value, before[key])
    assert optimizer_state_names(net) == set()


def test_summary_counts_trainable_and_frozen_parameters() -> None:
    net = network(0)
    net.build((4,))
    text = net.summary(print_fn=None)
    # dense_1: 4·6 + 6 = 30 frozen; dense_2: 6·5 + 5 = 35; dense_3: 5·3 + 3 = 18.
    assert "total parameters: 83" in text
    assert "trainable parameters: 53" in text and "non-trainable parameters: 30" in text
    assert "30 (frozen)" in text
    net["dense_1"].trainable = True  # type: ignore[attr-defined]
    assert "non-trainable parameters: 0" in net.summary(print_fn=None)


def test_the_flag_is_saved_with_the_model(tmp_path: Path) -> None:
    x, labels = data()
    net = network(1)
    net.fit(x, labels, verbose=0)
    config = net.get_config()
    assert [record.get("trainable", True) for record in config["layers"]] == [True, False, True]
    assert "trainable" not in config["layers"][0]  # unfrozen records are as they were
    rebuilt = plugnet.Sequential.from_config(config)
    assert getattr(rebuilt["dense_2"], "trainable", True) is False

    path = tmp_path / "frozen.npz"
    net.save(path)
    loaded = plugnet.load(path)
    assert loaded["dense_2"].trainable is False  # type: ignore[attr-defined]
    assert not hasattr(loaded["dense_1"], "trainable")
    before = snapshot(loaded)
    loaded.fit(x, labels, verbose=0)
    np.testing.assert_array_equal(loaded.params["dense_2.w"], before["dense_2.w"])
    assert not np.array_equal(loaded.params["dense_1.w"], before["dense_1.w"])


def test_a_model_file_without_the_flag_loads_as_trainable(tmp_path: Path) -> None:
    """Files written before freezing existed have no "trainable" in their records."""
    x, labels = data()
    net = network()
    net.fit(x, labels, verbose=0)
    path = tmp_path / "plain.npz"
    net.save(path)
    with zipfile.ZipFile(path) as archive:
        raw = np.lib.format.read_array(archive.open("__config__.npy"))
    assert '"trainable"' not in raw.tobytes().decode()
    loaded = plugnet.load(path)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert all(getattr(layer, "trainable", True) for layer in loaded)


@pytest.mark.parametrize("value", ["no", 0, None])
def test_a_trainable_that_is_not_a_bool_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match=rf"layer 'dense_1' has 'trainable': {value!r}; .* true"):
        plugnet.Sequential([{"type": "dense", "units": 2, "trainable": value}], error="mse", seed=0)
    config = network().get_config()
    config["layers"][0]["trainable"] = value
    with pytest.raises(ValueError, match=r"config\['layers'\]\[0\]\['trainable'\] must be true"):
        plugnet.Sequential.from_config(config)


def test_a_trainable_attribute_that_is_not_a_bool_is_refused_at_the_next_step() -> None:
    x, labels = data()
    net = network()
    net.fit(x, labels, verbose=0)
    net["dense_2"].trainable = "no"  # type: ignore[attr-defined]
    before = snapshot(net)
    with pytest.raises(ValueError, match=r"layer 'dense_2' has trainable='no'; set it to True"):
        net.fit(x, labels, verbose=0)
    for key, value in net.params.items():
        np.testing.assert_array_equal(value, before[key])


class Slotted:
    """A layer whose class does not allow new attributes."""

    __slots__ = ("grads", "params")

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def build(self, input_shape: Any, *, rng: Any, dtype: Any) -> Any:
        return input_shape

    def forward(self, x: Array, *, training: bool) -> Array:
        return x

    def backward(self, grad: Array) -> Array:
        return grad

    def get_config(self) -> dict[str, Any]:
        return {}


def test_a_layer_that_cannot_take_the_attribute_cannot_be_frozen() -> None:
    with pytest.raises(ValueError, match=r"layer 'slotted_1' \(Slotted\) does not allow setting"):
        set_trainable(Slotted(), "slotted_1", False)  # type: ignore[arg-type]
