"""Data sets by name: the ``dataset`` kind, its built-ins, configs that name them, the test split
that ``plugnet evaluate`` scores, the class that ``plugnet predict`` prints, and the kit's
checks."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet import datasets, discovery
from plugnet._registry import KINDS, Registry
from plugnet.cli import main
from plugnet.config import ConfigError, loads_config
from plugnet.configurable import Configurable
from plugnet.datasets import Dataset, HeldOut, Splits
from plugnet.protocols import DataSource, WholeData
from plugnet.testing import ConformanceError, check_dataset
from tests.conftest import make_plugin

MODEL = """
[model]
seed = 0
error = "cross_entropy"
optimizer = "adam(lr=0.02)"
layers = [{ type = "dense", units = 16, activation = "relu" },
          { type = "dense", units = 3, activation = "softmax" }]
[training]
epochs = 5
batch_size = 16
verbose = 0
"""
BUILTINS = ["breast_cancer", "digits", "iris", "sine", "spiral", "wine", "xor"]


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        loads_config(text)
    return caught.value


# -- the kind ------------------------------------------------------------------------------------


def test_dataset_is_a_kind_registered_through_its_hook() -> None:
    assert KINDS["dataset"].hook == "register_datasets"
    assert KINDS["dataset"].protocol is DataSource
    components = plugnet.registry().components("dataset")
    assert sorted(c.name for c in components if c.builtin) == BUILTINS
    assert {c.provider for c in components if c.builtin} == {"plugnet"}
    source = plugnet.get("dataset", "spiral(n=30, classes=4)")
    assert isinstance(source, DataSource) and isinstance(source, WholeData)
    assert plugnet.registry().spec_of(source) == {
        "name": "plugnet:spiral", "n": 30, "classes": 4, "noise": 0.2, "test_size": None,
        "stratify": True,
    }  # fmt: skip


def test_a_toy_set_is_generated_then_split_from_the_seed() -> None:
    source = plugnet.get("dataset", "spiral(n=40)")
    parts = source.load(3)
    assert (len(parts.train), len(parts.test)) == (90, 30) and parts.validation is None
    assert np.bincount(parts.test.t).tolist() == [10, 10, 10]  # stratified
    again = source.load(3)
    np.testing.assert_array_equal(parts.test.x, again.test.x)
    whole = datasets.spiral(n=40, seed=3)
    rows = {row.tobytes() for row in whole.x}
    assert all(row.tobytes() in rows for row in np.concatenate([parts.train.x, parts.test.x]))
    assert not np.array_equal(source.load(4).test.x, parts.test.x)


def test_test_size_left_out_gives_way_and_given_never_does() -> None:
    four = plugnet.get("dataset", "xor").load(0)
    assert four.test is None and len(four.train) == 4
    with pytest.raises(datasets.SplitError, match="fewer than the 2 classes"):
        plugnet.get("dataset", "xor(test_size=0.25)").load(0)
    none = plugnet.get("dataset", "spiral(n=10, test_size=0)").load(0)
    assert none.test is None and len(none.train) == 30
    with pytest.raises(plugnet.SpecError, match=r"test_size must be a fraction in \[0, 1\)"):
        plugnet.get("dataset", "sine(test_size=1.5)")


@pytest.mark.parametrize(
    "spec", ["xor(n=10000001)", "spiral(n=5000000, classes=3)", f"sine(n={10**30})"]
)
def test_a_toy_set_makes_at_most_max_samples(spec: str) -> None:
    with pytest.raises(plugnet.SpecError, match=r"more than plugnet\.datasets\.MAX_SAMPLES"):
        plugnet.get("dataset", spec)
    assert plugnet.get("dataset", "spiral(n=5000000, classes=2)").n == 5_000_000  # 10⁷ is fine
    error = config_error('[data]\nsource = "spiral"\nn = 4000000\n' + MODEL)
    assert error.key == "data.source"
    assert "spiral(n=4000000, classes=3) makes 12000000 samples" in str(error)


@pytest.mark.parametrize(
    ("name", "samples", "features", "classes"),
    [("digits", 1797, 64, 10), ("iris", 150, 4, 3), ("wine", 178, 13, 3),
     ("breast_cancer", 569, 30, 2)],
)  # fmt: skip
def test_the_sklearn_sets_split_stratified_as_sklearn_does(
    name: str, samples: int, features: int, classes: int
) -> None:
    from sklearn import datasets as sk
    from sklearn.model_selection import train_test_split

    parts = plugnet.get("dataset", name).load(0)
    assert parts.test is not None
    assert len(parts.train) + len(parts.test) == samples
    assert parts.train.x.shape[1:] == (features,) and len(np.unique(parts.train.t)) == classes
    bunch = getattr(sk, f"load_{name}")()
    _, _, t_train, t_test = train_test_split(
        bunch.data, bunch.target, test_size=0.25, stratify=bunch.target, random_state=0
    )
    np.testing.assert_array_equal(parts.test.t, t_test)
    np.testing.assert_array_equal(parts.train.t, t_train)
    if name != "digits":  # the tables are standardized with the training part's statistics
        np.testing.assert_allclose(parts.train.x.mean(axis=0), 0.0, atol=1e-12)
        assert not np.allclose(parts.test.x.mean(axis=0), 0.0, atol=1e-12)


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
def test_sklearn_sets_without_sklearn_name_the_extra(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    source = plugnet.get("dataset", name)  # building needs nothing; loading does
    with pytest.raises(
        ImportError, match=rf"the {name} data set .*pip install \"plugnet\[examples\]\""
    ):
        source.load(0)


def test_whole_concatenates_a_source_without_whole_data() -> None:
    class Fixed(Configurable):
        def load(self, seed: int = 0) -> Splits:
            train = Dataset(np.zeros((3, 2)), np.zeros(3, dtype=np.int64), "fixed")
            return Splits(
                train, None, Dataset(np.ones((2, 2)), np.ones(2, dtype=np.int64), "fixed")
            )

    data = datasets.whole(Fixed())
    assert data.x.shape == (5, 2) and data.t is not None and data.t.tolist() == [0, 0, 0, 1, 1]


# -- configs --------------------------------------------------------------------------------------


def test_a_spec_string_a_table_and_keys_name_the_same_set() -> None:
    forms = [
        '[data]\nsource = "spiral(n=20, classes=3)"\n',
        '[data]\nsource = { name = "spiral", n = 20, classes = 3 }\n',
        '[data]\nsource = "Spiral"\nn = 20\nclasses = 3\n',
    ]
    configs = [loads_config(text + MODEL).data for text in forms]
    assert {(c.source, tuple(sorted(c.options.items()))) for c in configs} == {
        ("spiral", (("classes", 3), ("n", 20)))
    }
    parts = [c.splits() for c in configs]
    for other in parts[1:]:
        np.testing.assert_array_equal(other.train.x, parts[0].train.x)


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        ('source = "spiral(n=0)"', "data.source (argument 'n')", "expected a positive integer"),
        ("source = { name = 'spiral', n = 'ten' }", "data.source.n", "expected a positive"),
        ('source = "spiral(n=20)"\nn = 30', "data.n", "given twice"),
        ('source = "sine"\nnoize = 0.1', "data.noize",
         "unknown key. Did you mean 'noise'? Keys of [data]: source, validation_split, "
         "random_state, and the arguments of the sine data set: n, noise, test_size, stratify"),
        ('source = "digits"\nn = 3', "data.n",
         "does not apply to the digits data set (it takes test_size, stratify)"),
        ('source = "spiral(n=3"', "data.source", "cannot parse spec"),
        ("source = { n = 3 }", "data.source.name", "missing; give a data set (breast_cancer,"),
        ('source = "spiral"\nclasses = 1', "data.classes", "expected an integer >= 2, got 1"),
        ('source = "spiral"\nstratify = "yes"', "data.stratify", "expected true or false"),
    ],
)  # fmt: skip
def test_data_errors_name_the_key(data: str, key: str, message: str) -> None:
    error = config_error(f"[data]\n{data}\n{MODEL}")
    assert error.key == key and message in str(error)


class Gaussian(HeldOut):
    """Two Gaussian blobs at ±offset."""

    def __init__(
        self, n: int = 20, offset: float = 1.0, test_size: float | None = None,
        stratify: bool = True,
    ) -> None:  # fmt: skip
        if offset <= 0:
            raise ValueError(f"offset must be > 0, got {offset!r}")
        self.n, self.offset = n, offset
        self.hold_out_with(test_size, stratify)

    def data(self, seed: int = 0) -> Dataset:
        rng = np.random.default_rng(seed)
        t = np.arange(2 * self.n) % 2
        x = rng.standard_normal((2 * self.n, 2)) + np.where(t[:, None] == 1, 1, -1) * self.offset
        return Dataset(x, t.astype(np.int64), "gaussian")


@pytest.fixture
def with_gaussian(fresh_registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Registry:
    def register_datasets(register: Any) -> None:
        register(Gaussian)

    fresh_registry.add_plugin(
        make_plugin("blobs", register_datasets=register_datasets), provider="blobs", version="1.0"
    )
    monkeypatch.setattr(discovery, "_registry", fresh_registry)
    return fresh_registry


def test_a_third_party_set_is_named_and_checked_from_its_signature(with_gaussian: Any) -> None:
    config = loads_config('[data]\nsource = "gaussian(n=30)"\noffset = 2.5\n' + MODEL).data
    parts = config.splits()
    assert parts.test is not None and (len(parts.train), len(parts.test)) == (45, 15)
    assert config_error('[data]\nsource = "gaussian"\noffset = "far"\n' + MODEL).key == (
        "data.offset"
    )
    assert "expected a number" in str(
        config_error('[data]\nsource = "gaussian"\noffset = "far"\n' + MODEL)
    )
    refused = config_error('[data]\nsource = "gaussian"\noffset = -1.0\n' + MODEL)
    assert refused.key == "data.source" and "offset must be > 0, got -1.0" in str(refused)
    assert loads_config('[data]\nsource = "blobs:gaussian"\n' + MODEL).data.source == (
        "blobs:gaussian"
    )
    check_dataset("gaussian")  # the kit passes a well-made source


def test_a_config_naming_a_builtin_set_loads_no_plugin(
    fresh_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []
    fresh_registry.defer(lambda registry: loaded.append("plugins"))
    monkeypatch.setattr(discovery, "_registry", fresh_registry)
    config = loads_config('[data]\nsource = "spiral"\nn = 20\n' + MODEL)
    assert len(config.data.splits().train) == 45 and loaded == []
    config_error('[data]\nsource = "spirl"\n' + MODEL)  # listing the sets loads them
    assert loaded == ["plugins"]


def test_unknown_names_list_the_registered_sets(with_gaussian: Any) -> None:
    error = config_error('[data]\nsource = "gausian"\n' + MODEL)
    assert error.key == "data.source"
    assert "Did you mean 'gaussian'?" in str(error) and "gaussian, iris, sine" in str(error)


def test_a_split_that_cannot_be_made_names_data_test_size() -> None:
    config = loads_config('[data]\nsource = "xor(test_size=0.25)"\n' + MODEL).data
    with pytest.raises(ConfigError) as caught:
        config.splits()  # building the source is fine; its split cannot be made
    assert caught.value.key == "data.test_size" and "fewer than the 2 classes" in str(caught.value)
    assert "raise data.n" in str(caught.value)  # xor takes n


# -- evaluate and predict -------------------------------------------------------------------------

TRAIN = '[data]\nsource = "spiral(n=30, noise=0.1)"\nrandom_state = 2\n' + MODEL


def score(out: str, line: str) -> float:
    match = re.search(rf"^{line}: ([0-9.]+)$", out, re.MULTILINE)
    assert match is not None, f"no '{line}:' line in:\n{out}"
    return float(match[1])


@pytest.fixture
def spiral_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    config = tmp_path / "spiral.toml"
    config.write_text(TRAIN, encoding="utf-8")
    model = tmp_path / "spiral.npz"
    assert main(["train", str(config), "--out", str(model)]) == 0
    return model, capsys.readouterr().out


def test_evaluate_scores_the_test_split_that_training_held_out(
    spiral_model: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    model, trained = spiral_model
    spec = "spiral(n=30, noise=0.1)"
    assert main(["evaluate", str(model), "--data", spec, "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("samples: 23\nsplit: test (spiral, seed 2: 23 of 90 samples)\n")
    assert score(out, "accuracy") == score(trained, "test accuracy")
    assert score(out, "loss") == score(trained, "test loss")
    assert main(["evaluate", str(model), "--data", spec, "--json"]) == 0  # seed 0: another split
    report = json.loads(capsys.readouterr().out)
    assert (report["split"], report["seed"], report["samples"]) == ("test", 0, 23)


def test_evaluate_on_a_set_without_a_test_part_says_so(
    spiral_model: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "xor.toml"
    config.write_text('[data]\nsource = "xor"\n' + MODEL.replace("units = 3", "units = 2"), "utf-8")
    model = tmp_path / "xor.npz"
    assert main(["train", str(config), "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), "--data", "xor"]) == 0
    assert "samples: 4\nsplit: all 4 samples (xor has no test part)\n" in capsys.readouterr().out


def test_predict_prints_the_class_only_for_class_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = plugnet.Sequential(
        ["dense(units=1, activation='sigmoid')"], error="binary_cross_entropy", seed=0
    )
    binary.fit(datasets.xor().x, datasets.xor().t.reshape(-1, 1), epochs=1, verbose=0)
    binary.save(str(tmp_path / "binary.npz"))
    assert main(["predict", str(tmp_path / "binary.npz"), "--data", "xor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = np.loadtxt(lines[1:], delimiter=",", ndmin=2)
    assert lines[0] == "class,y" and np.array_equal(table[:, 0], table[:, 1] >= 0.5)

    regression = plugnet.Sequential(["dense(units=1)"], error="square", seed=0)
    regression.fit(datasets.sine(n=8).x, datasets.sine(n=8).t, epochs=1, verbose=0)
    regression.save(str(tmp_path / "sine.npz"))
    assert main(["predict", str(tmp_path / "sine.npz"), "--data", "sine(n=8)"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "y" and len(lines) == 9  # the whole set, no class column


# -- the kit --------------------------------------------------------------------------------------


class Leaky(Gaussian):
    """Puts its first test sample into train too."""

    def load(self, seed: int = 0) -> Splits:
        parts = super().load(seed)
        assert parts.test is not None
        train = Dataset(
            np.concatenate([parts.train.x, parts.test.x[:1]]),
            None if parts.train.t is None else np.concatenate([parts.train.t, parts.test.t[:1]]),
            "leaky",
        )
        return Splits(train, None, parts.test)


class Unseeded(Gaussian):
    """Ignores the seed it is given."""

    def data(self, seed: int = 0) -> Dataset:
        return super().data(int(np.random.default_rng().integers(1 << 30)))


class Ragged(Gaussian):
    """Its test inputs have a feature fewer than its training inputs."""

    def load(self, seed: int = 0) -> Splits:
        parts = super().load(seed)
        assert parts.test is not None
        return Splits(parts.train, None, Dataset(parts.test.x[:, :1], parts.test.t, "ragged"))


@pytest.mark.parametrize(
    ("source", "check"),
    [(Leaky(), "disjoint"), (Unseeded(), "reproducible"), (Ragged(), "splits")],
)
def test_the_kit_catches_a_bad_source(source: Any, check: str) -> None:
    with pytest.raises(ConformanceError, match=rf"{check} check failed"):
        check_dataset(source)
