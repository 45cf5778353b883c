"""Metrics by name in a network: ``Sequential(..., metrics=[...])`` logs each under its name
(``val_`` for validation data), ``evaluate`` scores the whole set by accumulation, training
accumulates over each epoch's batches, and the default stays accuracy for class targets only."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pytest
import sklearn.metrics as skm

from plugnet.configurable import Configurable
from plugnet.errors import UnknownComponentError
from plugnet.network import Sequential

Array = np.ndarray
RNG = np.random.default_rng(0)
X = RNG.standard_normal((90, 4))
LABELS = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)  # 3, imbalanced
VALUES = np.stack([X @ [1.0, -2.0, 0.5, 0.0], X[:, 3] ** 2], axis=1)


def classifier(metrics: Any = None, **kwargs: Any) -> Sequential:
    return Sequential(
        [
            {"type": "dense", "units": 8, "activation": "tanh"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
        error="cross_entropy",
        optimizer="adam(lr=0.01)",
        metrics=metrics,
        seed=0,
        dtype="float64",
        **kwargs,
    )


def regressor(metrics: Any = None) -> Sequential:
    return Sequential(
        [{"type": "dense", "units": 8, "activation": "tanh"}, {"type": "dense", "units": 2}],
        error="mean_squared",
        metrics=metrics,
        seed=0,
        dtype="float64",
    )


class SamplesSeen(Configurable):
    """Counts the samples since the last reset: shows what training feeds a metric."""

    targets: ClassVar[Literal["classes", "values"]] = "values"

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.reset()

    def reset(self) -> None:
        self._seen = 0

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        self.batches.append(len(y))
        self._seen += len(y)

    def result(self) -> float:
        return float(self._seen)


def test_evaluate_scores_each_metric_over_the_whole_set() -> None:
    net = classifier(["accuracy", "f1(average='macro')", "precision(average='weighted')"])
    net.fit(X, LABELS, epochs=5, batch_size=16, verbose=0)
    predicted = net.predict(X).argmax(axis=1)
    for batch_size in (7, 4096):
        scores = net.evaluate(X, LABELS, batch_size=batch_size)
        assert set(scores) == {"loss", "accuracy", "f1", "precision"}
        assert scores["accuracy"] == pytest.approx(skm.accuracy_score(LABELS, predicted), abs=1e-12)
        assert scores["f1"] == pytest.approx(
            skm.f1_score(LABELS, predicted, average="macro", zero_division=0), abs=1e-12
        )
        assert scores["precision"] == pytest.approx(
            skm.precision_score(LABELS, predicted, average="weighted", zero_division=0), abs=1e-12
        )


def test_training_logs_each_metric_per_epoch_and_for_validation() -> None:
    net = classifier(["f1", "top_k_accuracy(k=2)"])
    history = net.fit(X, LABELS, epochs=3, batch_size=16, validation_split=0.2, verbose=0).history
    assert set(history) == {"loss", "f1", "top_k_accuracy", "val_loss", "val_f1",
                            "val_top_k_accuracy", "lr"}  # fmt: skip
    assert all(len(values) == 3 for values in history.values())
    held_out = X[-18:], LABELS[-18:]
    assert history["val_f1"][-1] == net.evaluate(*held_out)["f1"]


def test_training_accumulates_over_each_epochs_batches() -> None:
    seen = SamplesSeen()
    net = regressor([seen])
    history = net.fit(X[:50], VALUES[:50], epochs=2, batch_size=16, verbose=0).history
    # Reset each epoch, updated with every batch: the score is the epoch's, not a batch mean.
    assert history["samples_seen"] == [50.0, 50.0]
    assert seen.batches == [16, 16, 16, 2] * 2


def test_regression_metrics_equal_sklearn_on_the_predictions() -> None:
    net = regressor(["mse", "mae", "r2"])
    net.fit(X, VALUES, epochs=3, batch_size=16, verbose=0)
    y = net.predict(X)
    scores = net.evaluate(X, VALUES, batch_size=7)
    assert scores["mse"] == pytest.approx(skm.mean_squared_error(VALUES, y), rel=1e-12)
    assert scores["mae"] == pytest.approx(skm.mean_absolute_error(VALUES, y), rel=1e-12)
    assert scores["r2"] == pytest.approx(skm.r2_score(VALUES, y), rel=1e-12)


def test_the_default_is_accuracy_for_classes_and_nothing_for_regression() -> None:
    assert set(classifier().evaluate(X, LABELS)) == {"loss", "accuracy"}
    assert set(regressor().evaluate(X, VALUES)) == {"loss"}
    assert set(classifier([]).evaluate(X, LABELS)) == {"loss"}


def test_the_accuracy_metric_gives_the_accuracy_plugnet_always_logged() -> None:
    net = classifier()
    net.fit(X, LABELS, epochs=2, batch_size=16, verbose=0)
    y = net.predict(X)
    assert net.evaluate(X, LABELS)["accuracy"] == np.count_nonzero(y.argmax(1) == LABELS) / 90


def test_a_class_metric_on_regression_targets_is_refused_before_training() -> None:
    net = regressor(["mse", "f1"])
    with pytest.raises(ValueError, match="the metric 'f1' needs class targets") as info:
        net.fit(X, VALUES, epochs=1, verbose=0)
    assert "'mse', 'mae', 'rmse' or 'r2'" in str(info.value)
    with pytest.raises(ValueError, match="the metric 'f1' needs class targets"):
        net.evaluate(X, VALUES)


@pytest.mark.parametrize(
    ("metrics", "error", "says"),
    [
        (["f1", "f1(average='micro')"], ValueError, "two metrics named 'f1'"),
        ("accuracy", ValueError, r"metrics=\['accuracy'\] for one"),
        (["acuracy"], UnknownComponentError, "accuracy"),
    ],
)
def test_bad_metrics_are_refused_when_the_network_is_made(
    metrics: Any, error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        classifier(metrics)
