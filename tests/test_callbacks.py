"""Callbacks as a plugin kind: by name in fit and in configs, the built-ins' behaviour, and the
conformance checks of the kind."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet import protocols
from plugnet.config import ConfigError, loads_config
from plugnet.network import Sequential, load
from plugnet.testing import ConformanceError, check_callback
from plugnet_builtins.callbacks import (
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoard,
    TerminateOnNaN,
    maximizes,
)

X = np.random.default_rng(0).standard_normal((64, 4))
T = (X[:, 0] > 0).astype(int)


def net(optimizer: str = "adam(lr=0.01)", **kwargs: Any) -> Sequential:
    return Sequential(
        [
            {"type": "dense", "units": 8, "activation": "relu"},
            {"type": "dense", "units": 2, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer=optimizer,
        seed=0,
        **kwargs,
    )


class Feed(plugnet.Callback):
    """Puts a chosen value under ``key`` into each epoch's logs, for the callbacks after it
    (a test's way to script a monitored value)."""

    def __init__(self, key: str, values: list[float]) -> None:
        self.key, self.values = key, values

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        logs[self.key] = self.values[epoch]


# -- the kind -------------------------------------------------------------------------------------


def test_the_builtins_are_registered_callbacks() -> None:
    assert plugnet.available("callback") == [
        "csv_logger", "early_stopping", "model_checkpoint", "reduce_lr_on_plateau",
        "tensorboard", "terminate_on_nan",
    ]  # fmt: skip
    stopper = plugnet.get("callback", "early_stopping(patience=2, monitor='loss')")
    assert isinstance(stopper, plugnet.EarlyStopping) and stopper.patience == 2
    assert plugnet.EarlyStopping is EarlyStopping and plugnet.CSVLogger is CSVLogger
    assert isinstance(plugnet.Callback(), protocols.Callback)


def test_fit_takes_callbacks_by_name_and_as_instances(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    stopper = EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = net().fit(
        X, T, epochs=5, verbose=0,
        callbacks=[f"csv_logger(path={str(log)!r})", {"name": "terminate_on_nan"}, stopper],
    )  # fmt: skip
    assert history.epoch == [0, 1] and stopper.stopped_epoch == 1
    assert len(list(csv.DictReader(log.open()))) == 2


def test_a_duck_typed_callback_needs_the_whole_protocol() -> None:
    class Duck:
        def on_train_begin(self, logs: dict[str, Any]) -> None: ...
        def on_epoch_begin(self, epoch: int) -> None: ...
        def on_batch_end(self, batch: int, logs: dict[str, float]) -> None: ...
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...
        def on_train_end(self, logs: dict[str, Any]) -> None: ...

    with pytest.raises(ValueError, match=r"holds a Duck, which is not a callback \(it lacks get_"):
        net().fit(X, T, epochs=1, verbose=0, callbacks=[Duck()])  # type: ignore[list-item]

    class Whole(Duck):
        def get_config(self) -> dict[str, Any]:
            return {}

    net().fit(X, T, epochs=1, verbose=0, callbacks=[Whole()])


def test_on_train_begin_hears_fit_s_verbosity() -> None:
    heard: list[dict[str, Any]] = []

    class Listen(plugnet.Callback):
        def on_train_begin(self, logs: dict[str, Any]) -> None:
            heard.append(dict(logs))

    net().fit(X, T, epochs=1, batch_size=16, verbose=0, callbacks=[Listen()])
    assert heard == [{"epochs": 1, "samples": 64, "batches": 4, "verbose": 0}]


# -- mode "auto" ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("monitor", "maximize"),
    [
        ("loss", False), ("val_loss", False), ("mse", False), ("val_rmse", False),
        ("mae", False), ("lr", False), ("huber_loss", False),
        ("accuracy", True), ("val_accuracy", True), ("top_k_accuracy", True), ("acc", True),
        ("balanced_accuracy", True), ("f1", True), ("precision", True), ("recall", True),
        ("val_r2", True),
    ],
)  # fmt: skip
def test_auto_mode_reads_the_direction_from_the_name(monitor: str, maximize: bool) -> None:
    assert maximizes(monitor, "auto", "early_stopping") is maximize
    assert maximizes(monitor, "max" if not maximize else "min", "x") is not maximize


def test_auto_mode_refuses_a_name_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="cannot tell whether 'kappa' should rise or fall"):
        EarlyStopping(monitor="kappa")
    assert EarlyStopping(monitor="kappa", mode="max")._maximize


# -- early_stopping -------------------------------------------------------------------------------


def test_early_stopping_says_when_it_stops_and_what_it_restores(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scores = [3.0, 1.0, 2.0, 2.5, 2.6, 2.7]
    stopper = EarlyStopping(monitor="score", patience=2, mode="min")
    net().fit(X, T, epochs=6, verbose=2, callbacks=[Feed("score", scores), stopper])
    out = capsys.readouterr().out
    assert "early_stopping: score has not improved for 2 epochs; stopping after epoch 4" in out
    assert "early_stopping: restored the parameters of epoch 2 (score 1.0000)" in out
    assert out.index("epoch 4/6") < out.index("stopping after epoch 4")
    net().fit(X, T, epochs=6, verbose=0, callbacks=[Feed("score", scores), stopper])
    assert capsys.readouterr().out == ""


# -- model_checkpoint -----------------------------------------------------------------------------


def test_model_checkpoint_fills_the_template_and_saves_every_epoch(tmp_path: Path) -> None:
    template = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.3f}.npz")
    checkpoint = ModelCheckpoint(template)
    model = net()
    history = model.fit(X, T, epochs=3, validation_split=0.25, verbose=0, callbacks=[checkpoint])
    expected = [
        str(tmp_path / f"ckpt-{e + 1:02d}-{loss:.3f}.npz")
        for e, loss in enumerate(history.history["val_loss"])
    ]
    assert checkpoint.saved == expected and all(Path(p).is_file() for p in expected)
    last = load(expected[-1])
    for name, value in model.params.items():
        np.testing.assert_array_equal(last.params[name], value)


def test_model_checkpoint_save_best_only_keeps_the_improving_epochs(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(
        str(tmp_path / "best-{epoch}.npz"), monitor="score", save_best_only=True, mode="min"
    )
    snapshots: list[dict[str, np.ndarray]] = []

    class Snapshot(plugnet.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            snapshots.append({k: v.copy() for k, v in self.network.params.items()})

    scores = [3.0, 1.0, 2.0, 0.5, 0.7]
    net().fit(X, T, epochs=5, verbose=0, callbacks=[Feed("score", scores), Snapshot(), checkpoint])
    assert checkpoint.saved == [str(tmp_path / f"best-{e}.npz") for e in (1, 2, 4)]
    best = load(checkpoint.saved[-1])
    for name, value in snapshots[3].items():
        np.testing.assert_array_equal(best.params[name], value)


def test_model_checkpoint_names_what_its_template_lacks(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(str(tmp_path / "c-{val_loss}.npz"))
    with pytest.raises(ValueError, match=r"names val_loss, which this run does not log; it logs"):
        net().fit(X, T, epochs=1, verbose=0, callbacks=[checkpoint])
    for bad in ("c-{epoch.real}.npz", "c-{0}.npz", "c-{epoch!r}.npz"):
        with pytest.raises(ValueError, match="name a logged value"):
            ModelCheckpoint(bad)
    with pytest.raises(ValueError, match="is not a valid template"):
        ModelCheckpoint("c-{epoch")


# -- reduce_lr_on_plateau -------------------------------------------------------------------------


def test_reduce_lr_on_plateau_follows_keras_s_rule() -> None:
    """patience 2, factor 0.5, cooldown 1, min_lr 0.02 from lr 0.1: worked by hand from Keras's
    ReduceLROnPlateau.on_epoch_end (keras/src/callbacks/reduce_lr_on_plateau.py)."""
    scores = [1.0] * 6 + [0.5] * 5
    rates: list[float] = []

    class Rate(plugnet.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            rates.append(self.network.optimizer.lr)  # type: ignore[attr-defined]

    reduce = ReduceLROnPlateau(
        monitor="score", mode="min", factor=0.5, patience=2, cooldown=1, min_lr=0.02, min_delta=0.0
    )
    model = net("sgd(lr=0.1)")
    model.fit(X, T, epochs=11, verbose=0, callbacks=[Feed("score", scores), reduce, Rate()])
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.02,
                                   0.02, 0.02])  # fmt: skip


def test_reduce_lr_on_plateau_needs_an_optimizer_with_a_learning_rate() -> None:
    class Fixed:
        def update(self, params: Any, grads: Any) -> None:
            for name, grad in grads.items():
                params[name] -= 0.01 * grad

        def get_config(self) -> dict[str, Any]:
            return {}

    with pytest.raises(TypeError, match="this Fixed has none"):
        net(Fixed()).fit(X, T, epochs=1, verbose=0, callbacks=["reduce_lr_on_plateau"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\)"):
        ReduceLROnPlateau(factor=1.0)


# -- csv_logger, terminate_on_nan, tensorboard ----------------------------------------------------


def test_csv_logger_writes_every_logged_value(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    model = net(metrics=["accuracy", "f1"])
    history = model.fit(
        X, T, epochs=2, validation_split=0.25, verbose=0, callbacks=[CSVLogger(str(path))]
    )
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == [
        "epoch",
        "loss",
        "accuracy",
        "f1",
        "val_loss",
        "val_accuracy",
        "val_f1",
        "lr",
    ]
    assert float(rows[1]["lr"]) == pytest.approx(history.history["lr"][1], rel=1e-12)
    assert float(rows[1]["val_f1"]) == pytest.approx(history.history["val_f1"][1], rel=1e-12)


def _diverging() -> tuple[Sequential, np.ndarray, np.ndarray, plugnet.Callback]:
    x = np.linspace(-3, 3, 200).reshape(-1, 1)

    class Explode(plugnet.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            if epoch == 2:
                self.network.optimizer.lr = 1e8  # type: ignore[attr-defined]

    model = Sequential(
        [{"type": "dense", "units": 16, "activation": "tanh"}, {"type": "dense", "units": 1}],
        error="square", optimizer="sgd(lr=0.01)", seed=0,
    )  # fmt: skip
    return model, x, np.sin(x), Explode()


def test_terminate_on_nan_ends_training_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    model, x, t, explode = _diverging()
    terminate = TerminateOnNaN()
    history = model.fit(x, t, epochs=20, verbose=2, callbacks=[explode, terminate])
    assert history.epoch == [0, 1, 2] and terminate.stopped_at is not None
    assert terminate.stopped_at[0] == 3
    assert "terminate_on_nan: the loss became" in capsys.readouterr().out
    # With early stopping restoring the best epoch, the network is usable afterwards.
    model, x, t, explode = _diverging()
    stopper = EarlyStopping(monitor="loss", patience=100)
    model.fit(x, t, epochs=20, verbose=0, callbacks=[explode, TerminateOnNaN(), stopper])
    assert stopper.best_epoch == 2
    assert all(np.isfinite(v).all() for v in model.params.values())


def test_tensorboard_writes_the_logged_values_as_scalars(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    history = net().fit(
        X, T, epochs=3, validation_split=0.25, verbose=0,
        callbacks=[TensorBoard(log_dir=str(tmp_path))],
    )  # fmt: skip
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    for key, values in history.history.items():
        scalars = events.Scalars(key)
        assert [s.step for s in scalars] == [1, 2, 3]
        assert [s.value for s in scalars] == pytest.approx(values, rel=1e-6)  # float32 in file


def test_tensorboard_without_tensorboardx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r'pip install "plugnet\[tensorboard\]"'):
        plugnet.get("callback", "tensorboard")


# -- conformance ----------------------------------------------------------------------------------


def test_the_conformance_checks_catch_a_callback_that_changes_its_logs() -> None:
    class Meddler(plugnet.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            logs["loss"] = 0.0

    with pytest.raises(ConformanceError, match=r"logs check failed: on_epoch_end\(0\) changed"):
        check_callback(Meddler())
    check_callback(EarlyStopping(monitor="val_loss"))


def test_the_conformance_checks_catch_state_kept_across_fits() -> None:
    class Once(plugnet.Callback):
        def __init__(self) -> None:
            self.file_open = False

        def on_train_begin(self, logs: dict[str, Any]) -> None:
            if self.file_open:
                raise RuntimeError("already trained once")
            self.file_open = True

        def get_config(self) -> dict[str, Any]:
            return {}

    with pytest.raises(ConformanceError, match="refit check failed: it raised RuntimeError"):
        check_callback(Once())


# -- configs --------------------------------------------------------------------------------------

CONFIG = """
[data]
source = "xor"
validation_split = 0.25
[model]
error = "cross_entropy"
layers = [{ type = "dense", units = 2, activation = "softmax" }]
"""


def test_config_callbacks_are_built_by_name_after_early_stopping() -> None:
    text = (
        CONFIG
        + """metrics = ["accuracy", { name = "f1", average = "macro" }]
[training.early_stopping]
monitor = "val_f1"
[[training.callbacks]]
name = "reduce_lr_on_plateau"
monitor = "val_accuracy"
patience = 3
[[training.callbacks]]
name = "csv_logger"
path = "log.csv"
"""
    )
    config = loads_config(text)
    assert config.model.metrics == ["accuracy", {"name": "f1", "average": "macro"}]
    assert list(config.model.build().metrics or {}) == ["accuracy", "f1"]
    made = config.training.callbacks()
    assert [type(c) for c in made] == [EarlyStopping, ReduceLROnPlateau, CSVLogger]
    assert made[0].monitor == "val_f1" and made[1].patience == 3 and made[2].path == "log.csv"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("name = 'early_stopping'\npatience = -1",
         "training.callbacks[0].patience: expected an integer >= 0, got -1"),
        ("name = 'early_stopping'\nmonitor = 'val_f1'",
         "training.callbacks[0].monitor: expected one of 'loss', 'accuracy', 'val_loss', "
         "'val_accuracy', 'lr' (what this run logs), got 'val_f1'"),
        ("name = 'early_stoping'", "training.callbacks[0].name: unknown callback 'early_stoping'"),
        ("name = 'csv_logger'\npath = 'x.csv'\nsep = ';'",
         "training.callbacks[0].sep: unknown parameter of callback 'csv_logger'"),
        ("patience = 3", "training.callbacks[0].name: missing"),
        ("name = 'model_checkpoint'\npath = 'c-{epoch.real}.npz'",
         "training.callbacks[0]: cannot build callback 'plugnet:model_checkpoint'"),
    ],
)  # fmt: skip
def test_config_callback_errors_name_their_key(table: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads_config(CONFIG + "[[training.callbacks]]\n" + table + "\n")
    assert message in str(caught.value)


def test_a_val_monitor_needs_validation_data_in_a_config() -> None:
    text = CONFIG.replace("validation_split = 0.25\n", "") + "[[training.callbacks]]\n"
    with pytest.raises(ConfigError, match=r"callbacks\[0\].monitor: 'val_loss' needs validation"):
        loads_config(text + "name = 'early_stopping'\n")
    assert loads_config(text + "name = 'early_stopping'\nmonitor = 'lr'\n")


def test_config_metrics_are_checked_like_components() -> None:
    with pytest.raises(ConfigError, match=r"model.metrics\[1\]: the metric 'f1' is given twice"):
        loads_config(CONFIG + "metrics = ['f1', 'f1_score']\n")
    with pytest.raises(ConfigError, match=r"model.metrics\[0\]: unknown metric 'acuracy'"):
        loads_config(CONFIG + "metrics = ['acuracy']\n")


def test_plugnet_train_runs_the_config_s_callbacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from plugnet.runs import train

    config = tmp_path / "spiral.toml"
    config.write_text(
        """
[data]
source = "spiral(n=40)"
validation_split = 0.25
[model]
seed = 0
error = "cross_entropy"
optimizer = "adam(lr=0.02)"
metrics = ["accuracy", "f1"]
layers = [{ type = "dense", units = 3, activation = "softmax" }]
[training]
epochs = 3
verbose = 0
[[training.callbacks]]
name = "csv_logger"
path = "log.csv"
[[training.callbacks]]
name = "model_checkpoint"
path = "ckpt-{epoch}.npz"
""",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # callback paths are relative to the working directory
    assert train(config) == 0
    assert "train f1: " in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert len(rows) == 3 and "val_f1" in rows[0]
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.npz")) == [
        "ckpt-1.npz", "ckpt-2.npz", "ckpt-3.npz",
    ]  # fmt: skip


def test_the_logged_lr_follows_reduce_lr_on_plateau() -> None:
    class Flat(plugnet.Callback):
        """A monitored value that never improves after the first epoch."""

        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            logs["score"] = 1.0

    model = net(optimizer="sgd(lr=0.1)")
    plateau = "reduce_lr_on_plateau(monitor='score', mode='min', factor=0.5, patience=1)"
    history = model.fit(X, T, epochs=5, verbose=0, callbacks=[Flat(), plateau])
    # Epoch 1 sets the best; epochs 2, 3, ... each see no improvement, and patience 1 halves the
    # rate after each of them, so the rate in force (logged as lr) halves from epoch 3 on.
    assert history.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.0125])
    assert model.optimizer.lr == pytest.approx(0.00625)
