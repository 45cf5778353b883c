"""plugnet.config: the TOML training config, validated up front with key paths."""

from __future__ import annotations

import dataclasses
import inspect
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest

from plugnet import discovery
from plugnet._registry import Registry
from plugnet.callbacks import EarlyStopping
from plugnet.config import ConfigError, TrainingConfig, load_config, loads_config
from plugnet.protocols import Activation
from plugnet.specs import AtLeast
from tests.conftest import make_plugin

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

MINIMAL = """
[data]
source = "xor"
[model]
error = "cross_entropy"
layers = [
  { type = "dense", units = 4, activation = "relu" },
  { type = "dense", units = 2, activation = "softmax" },
]
"""


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        loads_config(text)
    return caught.value


def test_minimal_config_and_defaults() -> None:
    config = loads_config(MINIMAL)
    assert config.data.source == "xor" and config.data.test_size == 0.25
    assert config.data.stratify and config.data.random_state == 0
    assert config.model.optimizer == "adam" and config.model.dtype == "float32"
    assert config.model.seed is None
    assert (config.training.epochs, config.training.batch_size) == (1, 32)
    assert config.training.early_stopping is None and config.training.callbacks() == []
    assert config.output.model is None and config.output.plot is None


@pytest.mark.parametrize("name", ["digits.toml", "xor.toml"])
def test_example_configs_are_valid(name: str) -> None:
    config = load_config(EXAMPLES / name)
    assert config.path == EXAMPLES / name
    assert config.training.epochs >= 1


def test_digits_example_is_the_documented_setup() -> None:
    config = load_config(EXAMPLES / "digits.toml")
    assert config.data.source == "digits"
    assert (config.data.test_size, config.data.random_state, config.data.stratify) == (
        0.25,
        0,
        True,
    )
    assert config.model.layers == [
        {"type": "dense", "units": 128, "activation": "relu"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ]
    assert config.model.error == "cross_entropy" and config.model.optimizer == "adam(lr=1e-3)"
    assert (config.training.epochs, config.training.batch_size) == (30, 32)


def test_model_builds_from_the_config() -> None:
    text = MINIMAL.replace('error = "cross_entropy"', 'error = "cross_entropy"\nseed = 7')
    net = loads_config(text).model.build()
    assert net.seed == 7 and len(net) == 2 and net.layer_names == ["dense_1", "dense_2"]


def test_wrong_layer_units_has_the_key_path() -> None:
    text = MINIMAL.replace("units = 2,", 'units = "ten",')
    assert str(error_of(text)) == "model.layers[1].units: expected a positive integer, got 'ten'"


def test_pair_arguments_are_left_to_the_layer() -> None:
    conv = """
[data]
source = "xor"
[model]
error = "square"
layers = [
  { type = "reshape", shape = [1, 2, 1] },
  { type = "conv2d", filters = 2, kernel_size = [2, 1], stride = [2, 1] },
  { type = "flatten" },
  { type = "dense", units = 2 },
]
"""
    net = loads_config(conv).model.build()
    assert net.predict(np.zeros((3, 2))).shape == (3, 2)
    message = str(error_of(conv.replace("stride = [2, 1]", "stride = [2, 0]")))
    assert message.startswith("model.layers[1]: ") and "stride" in message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # unknown keys, with suggestions
        (("[data]", "[data]\nsorce = 1"), r"data\.sorce: unknown key\. Did you mean 'source'\?"),
        (("[model]", "[modle]\n[model]"), r"modle: unknown key\. Did you mean 'model'\?"),
        (
            ("units = 4,", "unit = 4,"),
            r"model\.layers\[0\]\.unit: unknown parameter of layer 'dense'\. "
            r"Did you mean 'units'\? It takes: units, activation",
        ),
        # wrong types
        (('source = "xor"', "source = 3"), r"data\.source: expected a non-empty string, got 3"),
        (("[data]", '[data]\ntest_size = "a"'), r"data\.test_size: expected a fraction"),
        (
            ("[data]", "[data]\ntest_size = 1.0"),
            r"data\.test_size: expected a fraction in \[0, 1\)",
        ),
        (("[data]", "[data]\nstratify = 1"), r"data\.stratify: expected true or false, got 1"),
        (("[data]", "[data]\nrandom_state = -1"), r"data\.random_state: expected an integer >= 0"),
        (("[model]", "[model]\nseed = 1.5"), r"model\.seed: expected an integer >= 0, got 1\.5"),
        (("[model]", '[model]\ndtype = "float16"'), r"model\.dtype: expected one of 'float32'"),
        (('{ type = "dense", units = 4', "{ units = 4"), r"model\.layers\[0\]\.type: missing"),
        (("[model]", "[model]\nlayers2 = []"), r"model\.layers2: unknown key"),
        (
            ("units = 4,", 'units = 4, use_bias = "yes",'),
            r"model\.layers\[0\]\.use_bias: expected true or false, got 'yes'",
        ),
        # unknown components, resolved through the registry
        (
            ('error = "cross_entropy"', 'error = "cross_entropie"'),
            r"model\.error: unknown error function 'cross_entropie'\. Did you mean "
            r"'cross_entropy'",
        ),
        (
            ('activation = "relu"', 'activation = "rleu"'),
            r"model\.layers\[0\]\.activation: unknown activation 'rleu'\. Did you mean 'relu'",
        ),
        (('type = "dense", units = 4', 'type = "dens", units = 4'), r"\[0\]\.type: unknown layer"),
        (("[model]", '[model]\noptimizer = "adamm"'), r"model\.optimizer: unknown optimizer"),
        (
            ("[model]", '[model]\noptimizer = { name = "adam", lr = "fast" }'),
            r"model\.optimizer\.lr: expected a number, got 'fast'",
        ),
        (
            ("[model]", '[model]\noptimizer = "adam(lr=-1)"'),
            r"model\.optimizer: cannot build optimizer 'plugnet:adam'.*lr must be",
        ),
        (
            ("[model]", '[model]\noptimizer = "adam(lr=1e-3"'),
            r"model\.optimizer: cannot parse spec",
        ),
        # data source and options
        (('source = "xor"', 'source = "xr"'), r"data\.source: unknown data source 'xr'.*'xor'"),
        (('source = "xor"', 'source = "missing.csv"'), r"data\.source: no such data file"),
        (("[data]", "[data]\nclasses = 3"), r"data\.classes: does not apply to the xor data set"),
        (("[data]", '[data]\nlabel_column = "y"'), r"data\.label_column: applies only to a \.csv"),
        (("[data]", "[data]\nn = 0"), r"data\.n: expected a positive integer, got 0"),
        # training
        (("[data]", "[training]\nepochs = 0\n[data]"), r"training\.epochs: expected a positive"),
        (("[data]", "[training]\nverbose = 3\n[data]"), r"training\.verbose: expected one of 0"),
        (
            ("[data]", '[training.early_stopping]\nmonitor = "val_loss"\n[data]'),
            r"training\.early_stopping\.monitor: 'val_loss' needs validation data",
        ),
        (
            ("[data]", "[training.early_stopping]\npatince = 2\n[data]"),
            r"training\.early_stopping\.patince: unknown key\. Did you mean 'patience'\?",
        ),
        (("[data]", "[output]\nmodel = 3\n[data]"), r"output\.model: expected a non-empty string"),
    ],
)
def test_errors_name_the_key(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in MINIMAL
    with pytest.raises(ConfigError, match=message):
        loads_config(MINIMAL.replace(old, new, 1))


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ("3", "model.layers: expected a non-empty array of layers, got 3"),
        ("[]", "model.layers: expected a non-empty array of layers, got an empty array"),
        ("[3]", "model.layers[0]: expected a layer table or spec string, got 3"),
        ('["dense(units=0)"]', "model.layers[0] (argument 'units'): expected a positive integer"),
    ],
)
def test_bad_layer_lists(layers: str, message: str) -> None:
    head = MINIMAL[: MINIMAL.index("layers = [")]
    assert message in str(error_of(f"{head}layers = {layers}\n"))


def test_missing_sections_and_keys() -> None:
    assert str(error_of('[model]\nerror = "square"\nlayers = ["dense(units=1)"]')).startswith(
        "data: missing"
    )
    assert "model.error: missing" in str(error_of(MINIMAL.replace('error = "cross_entropy"', "")))
    assert "data.source: missing" in str(error_of(MINIMAL.replace('source = "xor"', "")))


def test_spec_strings_are_parsed_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    spec = f"adam(lr=__import__('pathlib').Path({str(marker)!r}).touch())"
    error = error_of(MINIMAL.replace("[model]", f'[model]\noptimizer = "{spec}"'))
    assert error.key == "model.optimizer" and "not a literal" in str(error)
    assert not marker.exists()


def test_string_layers_and_named_layers() -> None:
    text = MINIMAL.replace(
        '{ type = "dense", units = 4, activation = "relu" }',
        '"dense(units=4, activation=\'relu\')", { type = "activation", activation = "relu", '
        'name = "act" }',
    )
    config = loads_config(text)
    assert config.model.build().layer_names == ["dense_1", "act", "dense_2"]
    duplicate = text.replace(
        '{ type = "dense", units = 2', '{ type = "dense", name = "act", units = 2'
    )
    assert "model.layers[2].name: two layers are named 'act'" in str(error_of(duplicate))


def test_invalid_toml(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("[data\nsource = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(file)


def test_file_errors_name_the_file_and_paths_are_relative_to_it(tmp_path: Path) -> None:
    sub = tmp_path / "configs"
    sub.mkdir()
    np.savez(sub / "train.npz", x=np.zeros((8, 2)), t=np.arange(8) % 2)
    text = MINIMAL.replace('source = "xor"', 'source = "train.npz"') + (
        '[output]\nmodel = "out/model.npz"\nplot = "/abs/curves.png"\n'
    )
    (sub / "run.toml").write_text(text, encoding="utf-8")
    config = load_config(sub / "run.toml")
    assert config.data.load().x.shape == (8, 2)
    assert config.output.model == sub / "out" / "model.npz"
    assert config.output.plot == Path("/abs/curves.png")
    (sub / "bad.toml").write_text(MINIMAL.replace("units = 2,", "units = -2,"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(sub / "bad.toml")
    assert str(caught.value).startswith(f"{sub / 'bad.toml'}: model.layers[1].units:")
    assert caught.value.key == "model.layers[1].units"
    with pytest.raises(FileNotFoundError, match="no such config file"):
        load_config(sub / "none.toml")


def test_early_stopping_and_toy_options() -> None:
    text = MINIMAL.replace("[data]", "[data]\nvalidation_split = 0.2\nn = 40\nnoise = 0.05")
    text += "[training]\nepochs = 3\n[training.early_stopping]\npatience = 2\n"
    config = loads_config(text)
    assert config.data.options == {"n": 40, "noise": 0.05}
    assert config.training.early_stopping == {
        "monitor": "val_loss",
        "patience": 2,
        "min_delta": 0.0,
        "mode": "auto",
        "restore_best": True,
    }
    (callback,) = config.training.callbacks()
    assert callback.monitor == "val_loss" and callback.patience == 2


# -- argument checks come from the components' signatures -----------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # a float annotation: a number that is not finite, or a value that is no number
        (
            ("[model]", '[model]\noptimizer = { name = "adam", lr = nan }'),
            "model.optimizer.lr: expected a finite number, got nan",
        ),
        (
            (
                '{ type = "dense", units = 2, activation = "softmax" }',
                '{ type = "dropout", rate = "x" }',
            ),
            "model.layers[1].rate: expected a number, got 'x'",
        ),
        # nested specs are checked at their own key
        (
            ("[model]", '[model]\noptimizer = { name = "sgd", schedule = "cosin" }'),
            "model.optimizer.schedule: unknown schedule 'cosin'. Did you mean 'cosine'?",
        ),
        (
            (
                "[model]",
                '[model]\noptimizer = { name = "sgd", schedule = { name = "step", bogus = 1 } }',
            ),
            "model.optimizer.schedule.bogus: unknown parameter of schedule 'step'.",
        ),
        (
            ('activation = "relu"', "activation = 3"),
            "model.layers[0].activation: expected an activation name (a string) or a table, got 3",
        ),
    ],
)
def test_arguments_are_checked_against_the_annotations(
    change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in MINIMAL
    assert str(error_of(MINIMAL.replace(old, new, 1))).startswith(message)


class Gated:
    """A layer whose ``gate`` takes an activation spec, known by its protocol annotation only."""

    def __init__(self, units: int, gate: Activation | str = "sigmoid") -> None:
        self.units, self.gate = units, gate

    def build(self, input_shape: Any, *, rng: Any, dtype: Any) -> Any:
        return (self.units,)

    def forward(self, x: Any, *, training: bool = False) -> Any:
        return x

    def backward(self, grad: Any) -> Any:
        return grad

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "gate": self.gate}


def test_a_protocol_annotation_marks_a_nested_spec(
    fresh_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def register_layers(register: Any) -> None:
        register(Gated, "gated")

    fresh_registry.add_plugin(
        make_plugin("gated", register_layers=register_layers), provider="gated", version="1.0"
    )
    monkeypatch.setattr(discovery, "_registry", fresh_registry)
    text = MINIMAL.replace(
        'type = "dense", units = 4, activation = "relu"', 'type = "gated", units = 4, gate = "rleu"'
    )
    assert str(error_of(text)).startswith(
        "model.layers[0].gate: unknown activation 'rleu'. Did you mean 'relu'"
    )


def test_defaults_are_stated_once_and_the_docs_agree() -> None:
    """A key left out takes its dataclass field's (or EarlyStopping's) default, and the tables
    of docs/configs.md show the same value."""
    config = loads_config(MINIMAL)
    sections = {"data": config.data, "model": config.model, "training": config.training}
    for field in dataclasses.fields(TrainingConfig):
        assert getattr(config.training, field.name) == field.default
    page = (Path(__file__).resolve().parent.parent / "docs" / "configs.md").read_text("utf-8")
    compared = []
    for section, table in re.findall(r"^## `\[(\w+)\]`.*?\n\n((?:\|.*\n)+)", page, re.MULTILINE):
        for key, default in re.findall(
            r"^\| `(\w+)` \| [^|]* \| `([^`]*)` \|", table, re.MULTILINE
        ):
            value = getattr(sections[section], key, None) if section in sections else None
            if value is not None and key not in config.data.options:
                assert tomllib.loads(f"v = {default}")["v"] == value, f"{section}.{key}"
                compared.append(f"{section}.{key}")
    assert {"data.test_size", "model.optimizer", "training.epochs", "training.batch_size"} <= set(
        compared
    )
    early = loads_config(MINIMAL + "[training.early_stopping]\nmonitor = 'loss'\n")
    defaults = inspect.signature(EarlyStopping).parameters
    assert early.training.early_stopping == {
        name: "loss" if name == "monitor" else p.default for name, p in defaults.items()
    }


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[training]\nbatch_size = 0", "training.batch_size: expected a positive integer, got 0"),
        ("[training]\nshuffle = 1", "training.shuffle: expected true or false, got 1"),
        ("[training.early_stopping]\npatience = -1", "patience: expected an integer >= 0, got -1"),
        (
            "[training.early_stopping]\npatience = 1.5",
            "patience: expected an integer >= 0, got 1.5",
        ),
        ("[training.early_stopping]\nmin_delta = -1", "min_delta: expected a finite number >= 0"),
        ("[training.early_stopping]\nmin_delta = nan", "min_delta: expected a finite number >= 0"),
        ("[training.early_stopping]\nmin_delta = 'x'", "min_delta: expected a number, got 'x'"),
        (
            "[training.early_stopping]\nmode = 'up'",
            "training.early_stopping.mode: expected one of 'auto', 'min', 'max', got 'up'",
        ),
        ("[training.early_stopping]\nrestore_best = 1", "restore_best: expected true or false"),
        (
            "[training.early_stopping]\nmonitor = 'acc'",
            "training.early_stopping.monitor: expected one of 'loss', 'accuracy', 'val_loss'",
        ),
    ],
)
def test_training_checks_come_from_the_annotations(table: str, message: str) -> None:
    """[training] and [training.early_stopping] are checked by TrainingConfig's and
    EarlyStopping's annotations, each message at its key."""
    text = MINIMAL.replace("[data]", "[data]\nvalidation_split = 0.25") + table + "\n"
    assert message in str(error_of(text))


class _Warmed(EarlyStopping):
    """EarlyStopping with one more parameter, for the test below."""

    def __init__(self, monitor: str = "val_loss", warmup: Annotated[int, AtLeast(1)] = 2) -> None:
        super().__init__(monitor=monitor)
        self.warmup = warmup


def test_early_stopping_keys_are_its_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table's keys, their defaults and what they admit are EarlyStopping's: a parameter
    added there is a key here, with the check its annotation gives."""
    monkeypatch.setattr("plugnet.callbacks.EarlyStopping", _Warmed)
    text = MINIMAL + "[training.early_stopping]\nmonitor = 'loss'\nwarmup = 0\n"
    assert "early_stopping.warmup: expected a positive integer, got 0" in str(error_of(text))
    early = loads_config(text.replace("warmup = 0", "warmup = 3")).training.early_stopping
    assert early == {"monitor": "loss", "warmup": 3}
    assert "Keys of [training.early_stopping]: monitor, warmup" in str(
        error_of(text.replace("warmup = 0", "patience = 1"))
    )
