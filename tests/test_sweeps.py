"""Key-path overrides (`plugnet train --set`, config.override), the [sweep] table's validation,
TOML written back, and sweeps on Optuna: in memory, on a journal file (resumed, shared by
worker processes), pruned, and as Ray tasks on a local Ray."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plugnet
from plugnet.cli import main
from plugnet.config import (
    ConfigError,
    format_toml,
    load_config,
    override,
    parse_config,
    parse_override,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

TINY = """
[data]
source = "spiral"
n = 30
classes = 3
noise = 0.1
test_size = 0.25
validation_split = 0.2
random_state = 0

[model]
seed = 0
error = "cross_entropy"
optimizer = "adam(lr=0.02)"
layers = [
  { type = "dense", units = 16, activation = "relu" },
  { type = "dense", units = 3, activation = "softmax" },
]

[training]
epochs = 3
batch_size = 16
verbose = 0
"""

SWEEP = """
[sweep]
trials = 3
seed = 0
"model.layers[0].units" = { int = [4, 32], log = true }
"model.optimizer" = { choice = ["adam(lr=0.02)", "sgd(lr=0.1)"] }
"""


def document(extra: str = SWEEP) -> dict[str, Any]:
    return tomllib.loads(TINY + extra)


@pytest.fixture
def swept(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY + SWEEP, encoding="utf-8")
    return path


# -- override and plugnet train --set -------------------------------------------------------------


def test_override_sets_a_key_by_its_path_on_a_copy() -> None:
    original = document("")
    changed = override(original, "model.layers[0].units", 64)
    changed = override(changed, "training.early_stopping.patience", 2)  # tables are made
    assert changed["model"]["layers"][0]["units"] == 64
    assert original["model"]["layers"][0]["units"] == 16
    config = parse_config(changed)
    assert config.model.layers[0]["units"] == 64
    assert config.training.early_stopping is not None
    assert config.training.early_stopping["patience"] == 2


@pytest.mark.parametrize(
    ("path", "value", "key", "words"),
    [
        ("model.layers[5].units", 3, "model.layers[5]", "model.layers has 2 entries"),
        ("model.optimizer.lr", 0.1, "model.optimizer.lr", "write it as a table"),
        ("model.layerz[0].units", 3, "model.layerz", "Did you mean 'layers'?"),
        ("training.epoch", 3, "training.epoch", "Did you mean 'epochs'?"),
        ("model.layers[0].unit", 3, "model.layers[0].unit", "Did you mean 'units'?"),
        ("model.layers[0].units", 0, "model.layers[0].units", "expected a positive integer"),
        ("model..units", 1, "model..units", "not a key path"),
    ],
)
def test_a_bad_path_or_value_is_an_error_at_its_key(
    path: str, value: Any, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(override(document(""), path, value))
    assert caught.value.key == key
    assert words in caught.value.problem


def test_parse_override_reads_a_toml_value() -> None:
    assert parse_override("model.layers[0].units=64") == ("model.layers[0].units", 64)
    assert parse_override('model.optimizer="adam(lr=1e-2)"') == (
        "model.optimizer",
        "adam(lr=1e-2)",
    )
    assert parse_override("model.metrics=['accuracy']") == ("model.metrics", ["accuracy"])
    with pytest.raises(ConfigError, match=r"""quote strings, e.g. --set 'model.optimizer="sgd"'"""):
        parse_override("model.optimizer=sgd")
    with pytest.raises(ConfigError, match="expected one TOML value"):
        parse_override("training.epochs=1\nverbose = 2")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("training.epochs")


def test_train_set_overrides_keys_validated_like_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY, encoding="utf-8")
    model = tmp_path / "model.npz"
    argv = ["train", str(config), "--out", str(model), "--set", "model.layers[0].units=5"]
    assert main([*argv, "--set", 'model.optimizer="sgd(lr=0.1)"']) == 0
    net = plugnet.load(str(model))
    assert net.layers[0].units == 5
    assert type(net.optimizer).__name__.lower() == "sgd"
    capsys.readouterr()
    assert main(["train", str(config), "--set", "model.layers[0].units=0"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"plugnet train: error: {config}: model.layers[0].units: expected a positive integer, got 0"
    )
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(config), "--set", "model.optimizer=sgd"])
    assert exit_.value.code == 2
    assert "argument --set: model.optimizer: 'sgd' is not a TOML value" in capsys.readouterr().err


# -- the [sweep] table ----------------------------------------------------------------------------


def test_the_sweep_table_is_read_with_defaults() -> None:
    config = parse_config(document())
    assert config.sweep is not None
    units, optimizer = config.sweep.parameters
    assert (units.kind, units.low, units.high, units.log) == ("int", 4, 32, True)
    assert optimizer.choices == ("adam(lr=0.02)", "sgd(lr=0.1)")
    assert (config.sweep.metric, config.sweep.direction) == ("val_loss", "minimize")
    scored = parse_config(document(SWEEP + 'metric = "val_accuracy"\n'))
    assert scored.sweep is not None
    assert scored.sweep.direction == "maximize"
    # plugnet train trains the values the file gives, whatever the sweep searches.
    assert config.model.layers[0]["units"] == 16


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ('"model.layers[0].units" = { int = [0, 32] }', 'sweep."model.layers[0].units"',
         "0 is not a valid value here: model.layers[0].units: expected a positive integer"),
        ('"model.layers[0].units" = { int = [32, 4] }', 'sweep."model.layers[0].units".int',
         "expected low < high"),
        ('"model.layers[0].units" = { int = [4, 32.5] }', 'sweep."model.layers[0].units".int[1]',
         "expected an integer"),
        ('"model.layerz[0].units" = { int = [4, 32] }', 'sweep."model.layerz[0].units"',
         "Did you mean 'layers'?"),
        ('"model.optimizer" = { choice = ["adam", "sgdd"] }', 'sweep."model.optimizer"',
         "'sgdd' is not a valid value here: model.optimizer: unknown optimizer 'sgdd'"),
        ('"model.optimizer" = { choice = ["adam", "adam"] }', 'sweep."model.optimizer".choice[1]',
         "given twice"),
        ('"training.epochs" = { float = [1e-3, 1.0], log = true, step = 0.1 }',
         'sweep."training.epochs".step', "give log or step, not both"),
        ('"training.epochs" = { int = [1, 10], step = 4 }', 'sweep."training.epochs".step',
         "not a multiple of step"),
        ('"training.epochs" = { float = [-1.0, 1.0], log = true }', 'sweep."training.epochs".float',
         "a log scale needs low > 0"),
        ('"training.epochs" = { int = [1, 3], choice = [1] }', 'sweep."training.epochs"',
         "gives int and choice"),
        ('"training.epochs" = { int = [1, 3], lg = true }', 'sweep."training.epochs".lg',
         "Did you mean 'log'?"),
        ("trialz = 3", "sweep.trialz", "Did you mean 'trials'?"),
        ('metric = "val_acc"', "sweep.metric", "expected one of 'loss'"),
        ('direction = "down"', "sweep.direction", "expected one of 'minimize', 'maximize'"),
        ('pruner = "medain"', "sweep.pruner", "Did you mean 'median'?"),
        ("trials = 0", "sweep.trials", "expected a positive integer"),
    ],
)  # fmt: skip
def test_bad_sweep_entries_are_refused_up_front(entry: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document(f'[sweep]\n"training.batch_size" = {{ int = [4, 16] }}\n{entry}\n'))
    assert caught.value.key == key
    assert words in caught.value.problem


def test_the_sweep_table_is_bounded_before_its_entries_are_validated() -> None:
    from plugnet.config import MAX_SWEEP_CHOICES, MAX_SWEEP_PARAMETERS

    many = {f"training.key{i}": {"int": [1, 2]} for i in range(MAX_SWEEP_PARAMETERS + 1)}
    with pytest.raises(ConfigError, match=f"searches {MAX_SWEEP_PARAMETERS + 1} keys, more than"):
        parse_config({**document(""), "sweep": {"trials": 2, **many}})
    choices = ", ".join(str(i) for i in range(1, MAX_SWEEP_CHOICES + 2))
    entry = f'[sweep]\n"training.epochs" = {{ choice = [{choices}] }}\n'
    with pytest.raises(ConfigError, match=r'sweep."training.epochs".choice: the choices of \[sw'):
        parse_config(document(entry))


def test_the_default_metric_needs_validation_data(tmp_path: Path) -> None:
    text = (TINY + SWEEP).replace("validation_split = 0.2", "validation_split = 0.0")
    path = tmp_path / "novalidation.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sweep.metric: the default 'val_loss' needs valid"):
        load_config(path)
    with pytest.raises(ConfigError, match="'val_accuracy' needs validation data"):
        parse_config(tomllib.loads(text + 'metric = "val_accuracy"\n'))
    assert parse_config(tomllib.loads(text + 'metric = "loss"\n')).sweep is not None


# -- writing TOML ---------------------------------------------------------------------------------

_keys = st.text(min_size=1, max_size=8)
_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_keys, st.dictionaries(_keys, _values, max_size=4), max_size=3))
def test_format_toml_reads_back_equal(document: dict[str, Any]) -> None:
    assert tomllib.loads(format_toml(document, header="a\nheader")) == document


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_format_toml_round_trips_the_examples(example: Path) -> None:
    document = tomllib.loads(example.read_text(encoding="utf-8"))
    assert tomllib.loads(format_toml(document)) == document


# -- sweeps on Optuna -----------------------------------------------------------------------------


def test_sweep_from_python_returns_the_best_config_and_its_score() -> None:
    result = plugnet.sweep(document(), trials=3)
    assert result.metric == "val_loss"
    assert set(result.params) == {"model.layers[0].units", "model.optimizer"}
    assert 4 <= result.params["model.layers[0].units"] <= 32
    assert "sweep" not in result.document
    layer = result.document["model"]["layers"][0]
    assert layer["units"] == result.params["model.layers[0].units"]
    assert result.config.model.optimizer == result.params["model.optimizer"]
    assert result.config.sweep is None
    assert result.score > 0
    assert result.storage is None  # a document's study is in memory


def test_cli_sweep_prints_the_trials_writes_the_best_config_and_plots_and_resumes(
    swept: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import optuna

    assert main(["sweep", str(swept)]) == 0
    out = capsys.readouterr().out
    table = out[out.index("trial  state") :].splitlines()
    assert table[0].split() == ["trial", "state", "val_loss", "model.layers[0].units",
                                "model.optimizer"]  # fmt: skip
    assert [row.split()[0].rstrip("*") for row in table[1:4]] == ["0", "1", "2"]
    assert sum(row.split()[0].endswith("*") for row in table[1:4]) == 1
    best = swept.parent / "tiny.best.toml"
    for name in ("tiny.history.png", "tiny.importances.png"):
        assert (swept.parent / name).read_bytes().startswith(PNG_SIGNATURE)
    written = tomllib.loads(best.read_text(encoding="utf-8"))
    assert "sweep" not in written
    assert main(["train", str(best)]) == 0  # as is
    # Run again with a larger total: the study resumes from the journal beside the config.
    journal = swept.parent / "tiny.optuna.journal"
    assert journal.is_file()
    assert main(["sweep", str(swept), "--trials", "4"]) == 0
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert "trial 3 " in capsys.readouterr().out


def test_worker_processes_share_the_trials(tmp_path: Path, swept: Path) -> None:
    import optuna

    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    result = plugnet.sweep(swept, trials=4, workers=2, storage=storage)
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert {t.state for t in study.trials} <= {
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
    }
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2  # two processes ran them
    assert result.trial in {t.number for t in study.trials}


def test_the_pruner_stops_trials_after_an_epoch() -> None:
    # A threshold no loss is under: every trial is pruned at its first report.
    text = SWEEP + 'pruner = { name = "threshold", upper = 0.0 }\n'
    with pytest.raises(ValueError, match=r"no trial completed \(0 complete, 2 pruned, 0 fail\)"):
        plugnet.sweep(document(text), trials=2)


def test_pruner_arguments_are_checked_before_any_trial() -> None:
    text = SWEEP + 'pruner = { name = "median", n_warmup_step = 1 }\n'
    with pytest.raises(ConfigError, match=r"sweep.pruner: 'median' \(optuna.pruners.MedianPr"):
        plugnet.sweep(document(text))


def test_a_stored_study_with_the_other_direction_is_refused(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.journal")
    plugnet.sweep(document(), trials=1, storage=storage)
    flipped = document(SWEEP + 'direction = "maximize"\n')
    with pytest.raises(ValueError, match="was made to minimize its metric"):
        plugnet.sweep(flipped, trials=2, storage=storage)


@pytest.mark.parametrize(
    ("module", "argv", "extra"),
    [("optuna", [], "plugnet[sweep]"), ("ray", ["--backend", "ray"], "plugnet[ray]")],
)
def test_without_the_extra_the_command_says_what_to_install(
    swept: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: str,
    argv: list[str],
    extra: str,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails, as when not installed
    assert main(["sweep", str(swept), *argv]) == 1
    assert f'pip install "{extra}"' in capsys.readouterr().err


# -- Ray ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def local_ray() -> Any:
    """A local Ray limited to this machine's cores, started once; its workers import plugnet
    from where these tests do."""
    import ray

    import plugnet_builtins

    paths = [
        str(Path(plugnet.__file__).parents[1]),
        str(Path(plugnet_builtins.__file__).parents[1]),
    ]
    ray.init(
        num_cpus=min(2, os.cpu_count() or 1),
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}},
    )
    yield ray
    ray.shutdown()


def test_a_sweep_runs_as_ray_tasks_on_a_local_ray(
    local_ray: Any, swept: Path, tmp_path: Path
) -> None:
    import optuna

    journal = tmp_path / "ray.journal"
    result = plugnet.sweep(swept, trials=2, backend="ray", storage=journal, out=tmp_path)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert sorted(t.number for t in study.trials) == [0, 1]
    assert result.files[0] == tmp_path / "tiny.best.toml"
    assert local_ray.is_initialized()  # a Ray the sweep did not start is left running


def test_sweep_refuses_a_config_without_a_sweep_table_and_a_stray_address(
    tmp_path: Path, swept: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text(TINY, encoding="utf-8")
    assert main(["sweep", str(plain)]) == 2
    assert f"plugnet sweep: error: {plain}: sweep: missing; a sweep needs a [sweep] table" in (
        capsys.readouterr().err
    )
    assert main(["sweep", str(swept), "--address", "auto"]) == 2
    assert "--address: a Ray cluster's address; give it with --backend ray" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "tiny.optuna.journal").exists()  # refused before any study
