"""The training controls in a TOML config: class_weight in [training], trainable in a layer
table, and monitors that need class targets, checked up front with key paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import plugnet
from plugnet.cli import main
from plugnet.config import ConfigError, loads_config

SPIRAL = """
[data]
source = "spiral(n=60, classes=3)"
[model]
seed = 0
error = "cross_entropy"
optimizer = "adam(lr=0.02)"
layers = [
  { type = "dense", units = 8, activation = "tanh", name = "hidden"{frozen} },
  { type = "dense", units = 3, activation = "softmax" },
]
[training]
epochs = 3
verbose = 0
{training}
"""


def config(training: str = "", frozen: str = "") -> str:
    return SPIRAL.replace("{training}", training).replace("{frozen}", frozen)


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        loads_config(text)
    return caught.value


def test_class_weight_is_balanced_or_a_table_of_class_indices() -> None:
    assert loads_config(config('class_weight = "balanced"')).training.class_weight == "balanced"
    table = loads_config(config("class_weight = { 0 = 1.0, 2 = 3 }")).training.class_weight
    assert table == {0: 1.0, 2: 3.0}
    assert loads_config(config()).training.class_weight is None


@pytest.mark.parametrize(
    ("line", "key", "problem"),
    [
        ('class_weight = "even"', "training.class_weight", 'expected "balanced" or a table'),
        ("class_weight = {}", "training.class_weight", 'expected "balanced" or a table'),
        ("class_weight = { a = 1.0 }", "training.class_weight.a", "an integer >= 0"),
        ("class_weight = { -1 = 1.0 }", "training.class_weight.-1", "an integer >= 0"),
        ("class_weight = { 0 = -2.0 }", "training.class_weight.0", "a weight >= 0"),
        ("class_weight = { 0 = nan }", "training.class_weight.0", "a finite number >= 0"),
        ('class_weight = { 0 = "x" }', "training.class_weight.0", "a finite number >= 0"),
    ],
)
def test_a_bad_class_weight_is_refused_at_its_key(line: str, key: str, problem: str) -> None:
    error = error_of(config(line))
    assert error.key == key and problem in error.problem


def test_trainable_in_a_layer_table_is_a_bool_at_its_key() -> None:
    model = loads_config(config(frozen=", trainable = false")).model
    assert plugnet.Sequential(model.layers, error="cross_entropy")["hidden"].trainable is False
    error = error_of(config(frozen=', trainable = "no"'))
    assert error.key == "model.layers[0].trainable" and "true or false" in str(error)


def test_plugnet_train_uses_class_weight_and_frozen_layers(tmp_path: Path) -> None:
    path = tmp_path / "spiral.toml"
    path.write_text(config('class_weight = "balanced"', ", trainable = false"), encoding="utf-8")
    model = tmp_path / "spiral.npz"
    assert main(["train", str(path), "--out", str(model)]) == 0
    net = plugnet.load(model)
    assert net["hidden"].trainable is False
    fresh = plugnet.Sequential(loads_config(path.read_text()).model.layers, error="cross_entropy",
                               seed=0)  # fmt: skip
    fresh.build(net.input_shape)
    # The frozen layer kept its initial weights through training; the other layer did not.
    np.testing.assert_array_equal(net.params["hidden.w"], fresh.params["hidden.w"])
    assert not np.array_equal(net.params["dense_1.w"], fresh.params["dense_1.w"])


def test_an_accuracy_monitor_in_any_callback_needs_class_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sine.toml"
    path.write_text(
        """
[data]
source = "sine(n=40)"
[model]
error = "square"
metrics = ["accuracy"]
layers = [{ type = "dense", units = 1 }]
[training]
epochs = 1
verbose = 0
[[training.callbacks]]
name = "reduce_lr_on_plateau"
monitor = "accuracy"
""",
        encoding="utf-8",
    )
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "training.callbacks[0].monitor: 'accuracy' needs class targets" in err
