"""The built-in metrics equal scikit-learn's functions on the same predictions, to 1e-12 in
float64, whatever the batch size: they accumulate over the batches, never average batch scores.
Data: random outputs, imbalanced classes, a class never predicted, a class absent from targets
and predictions, one sigmoid unit (threshold 0.5), multi-output regression, sample weights."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

import plugnet
from plugnet.errors import SpecError
from plugnet.protocols import METRIC_TARGETS, Metric

Array = np.ndarray
TOLERANCE = 1e-12
BATCHES = (1, 7, None)  # None: every sample in one batch


def accumulate(
    spec: Any, y: Array, t: Array, sample_weight: Array | None = None, batch: int | None = None
) -> float:
    """The metric's result after updates of ``batch`` samples each (all at once for None)."""
    metric = plugnet.get("metric", spec)
    metric.reset()
    step = batch or len(y)
    for i in range(0, len(y), step):
        w = None if sample_weight is None else sample_weight[i : i + step]
        metric.update(y[i : i + step], t[i : i + step], w)
    value = metric.result()
    assert type(value) is float
    return value


def softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def class_data(
    rng: np.random.Generator,
    n: int,
    classes: int,
    *,
    never_predicted: int | None = None,
    absent: int | None = None,
) -> tuple[Array, Array, Array, Array]:
    """Softmax outputs y, one-hot targets t, and their labels, with imbalanced classes
    (class c drawn with probability ∝ 2^-c). ``never_predicted`` is a class no row of y picks;
    ``absent`` a class that occurs neither in t nor in the predictions."""
    p = 2.0 ** -np.arange(classes)
    if absent is not None:
        p[absent] = 0
    labels = rng.choice(classes, size=n, p=p / p.sum())
    # Outputs lean towards the true class, so the scores are neither 0 nor 1.
    z = rng.standard_normal((n, classes)) + 1.5 * np.eye(classes)[labels]
    for hidden in (never_predicted, absent):
        if hidden is not None:
            z[:, hidden] = -50.0
    y = softmax(z)
    return y, np.eye(classes)[labels], y.argmax(axis=1), labels


def sigmoid_data(rng: np.random.Generator, n: int) -> tuple[Array, Array, Array, Array]:
    """One sigmoid unit: y in (0, 1), 0/1 targets (30 % positive), and their labels."""
    labels = (rng.random(n) < 0.3).astype(int)
    y = 1.0 / (1.0 + np.exp(-(rng.standard_normal(n) + 1.2 * (2 * labels - 1))))
    y = y.reshape(-1, 1)
    return y, labels.reshape(-1, 1).astype(float), (y[:, 0] >= 0.5).astype(int), labels


def weights(rng: np.random.Generator, n: int, weighted: bool) -> Array | None:
    return rng.uniform(0.0, 3.0, size=n) if weighted else None


def close(actual: float, expected: float) -> None:
    assert math.isclose(actual, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE), (
        actual,
        expected,
        abs(actual - expected),
    )


CONFUSION = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
AVERAGES = ("macro", "micro", "weighted")


# -- classification ------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "data",
    [
        {},
        {"never_predicted": 2},
        {"absent": 4},
    ],
    ids=["imbalanced", "class-never-predicted", "class-absent"],
)
def test_multiclass_metrics_equal_sklearn(batch: int | None, weighted: bool, data: dict) -> None:
    rng = np.random.default_rng(0)
    y, t, predicted, labels = class_data(rng, 60, 5, **data)
    w = weights(rng, 60, weighted)
    close(accumulate("accuracy", y, t, w, batch), skm.accuracy_score(labels, predicted,
                                                                     sample_weight=w))  # fmt: skip
    for k in (1, 2, 4):
        expected = skm.top_k_accuracy_score(labels, y, k=k, labels=range(5), sample_weight=w)
        close(accumulate(f"top_k_accuracy(k={k})", y, t, w, batch), expected)
    for name, reference in CONFUSION.items():
        for average in AVERAGES:
            expected = reference(labels, predicted, average=average, zero_division=0,
                                 sample_weight=w)  # fmt: skip
            close(accumulate({"name": name, "average": average}, y, t, w, batch), expected)
        # The default, "auto", is macro for several output units.
        expected = reference(labels, predicted, average="macro", zero_division=0, sample_weight=w)
        close(accumulate(name, y, t, w, batch), expected)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("weighted", [False, True])
def test_one_sigmoid_unit_metrics_equal_sklearn(batch: int | None, weighted: bool) -> None:
    rng = np.random.default_rng(1)
    y, t, predicted, labels = sigmoid_data(rng, 50)
    w = weights(rng, 50, weighted)
    close(accumulate("accuracy", y, t, w, batch), skm.accuracy_score(labels, predicted,
                                                                     sample_weight=w))  # fmt: skip
    for name, reference in CONFUSION.items():
        binary = reference(labels, predicted, zero_division=0, sample_weight=w)  # sklearn: binary
        close(accumulate(name, y, t, w, batch), binary)  # auto: binary for one unit
        close(accumulate(f"{name}(average='binary')", y, t, w, batch), binary)
        for average in AVERAGES:
            expected = reference(labels, predicted, average=average, zero_division=0,
                                 sample_weight=w)  # fmt: skip
            close(accumulate({"name": name, "average": average}, y, t, w, batch), expected)


def test_binary_average_on_two_softmax_units_scores_class_one() -> None:
    y, t, predicted, labels = class_data(np.random.default_rng(2), 40, 2)
    for name, reference in CONFUSION.items():
        close(accumulate(f"{name}(average='binary')", y, t, batch=7),
              reference(labels, predicted, average="binary", zero_division=0))  # fmt: skip


def test_threshold_is_one_half_inclusive_and_ties_rank_as_sklearn() -> None:
    y = np.array([[0.5], [0.49999], [0.7], [0.2]])
    t = np.array([[1.0], [0.0], [0.0], [1.0]])
    assert accumulate("accuracy", y, t) == 0.5  # 0.5 is class 1 (as plugnet always did)
    # Ties: rounding the scores to one decimal makes many; sklearn ranks the higher index first.
    rng = np.random.default_rng(3)
    y, t, _, labels = class_data(rng, 80, 6)
    y = np.round(y, 1)
    for k in (1, 2, 3):
        close(accumulate(f"top_k_accuracy(k={k})", y, t, batch=7),
              skm.top_k_accuracy_score(labels, y, k=k, labels=range(6)))  # fmt: skip


def test_zero_division_is_zero_without_warnings() -> None:
    # Class 1 is never predicted and class 2 never occurs in the targets.
    y = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    t = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0]])
    assert accumulate("precision", y, t) == pytest.approx((0.5 + 0 + 0) / 3)
    assert accumulate("recall", y, t) == pytest.approx((1 + 0 + 0) / 3)
    y1, t1 = np.array([[0.1], [0.2]]), np.array([[0.0], [0.0]])  # nothing positive at all
    assert accumulate("f1", y1, t1) == 0.0 == skm.f1_score([0, 0], [0, 0], zero_division=0)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    classes=st.integers(1, 6),
    batch=st.integers(1, 40),
    weighted=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_class_metrics_equal_sklearn_for_any_split(
    n: int, classes: int, batch: int, weighted: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    if classes == 1:
        y, t, predicted, labels = sigmoid_data(rng, n)
    else:
        y, t, predicted, labels = class_data(rng, n, classes)
    w = weights(rng, n, weighted)
    if w is not None and w.sum() == 0:
        w[0] = 1.0
    close(accumulate("accuracy", y, t, w, batch), skm.accuracy_score(labels, predicted,
                                                                     sample_weight=w))  # fmt: skip
    auto = "binary" if classes == 1 else "macro"
    for name, reference in CONFUSION.items():
        for average in (*AVERAGES, auto):
            expected = reference(labels, predicted, average=average, zero_division=0,
                                 sample_weight=w)  # fmt: skip
            close(accumulate({"name": name, "average": average}, y, t, w, batch), expected)


# -- regression ----------------------------------------------------------------------------------

REGRESSION: dict[str, Callable[..., float]] = {
    "mse": skm.mean_squared_error,
    "mae": skm.mean_absolute_error,
    "rmse": skm.root_mean_squared_error,
    "r2": skm.r2_score,
}


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("outputs", [1, 3])
def test_regression_metrics_equal_sklearn(batch: int | None, weighted: bool, outputs: int) -> None:
    rng = np.random.default_rng(4)
    t = (
        rng.standard_normal((45, outputs)) * [5.0, 0.1, 2.0][:outputs]
        + [100.0, -3.0, 0.0][:outputs]
    )
    y = t + rng.standard_normal((45, outputs)) * 0.5
    w = weights(rng, 45, weighted)
    for name, reference in REGRESSION.items():
        close(accumulate(name, y, t, w, batch), reference(t, y, sample_weight=w))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 40),
    outputs=st.integers(1, 4),
    batch=st.integers(1, 40),
    weighted=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_regression_metrics_equal_sklearn_for_any_split(
    n: int, outputs: int, batch: int, weighted: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    t = rng.standard_normal((n, outputs)) * 3.0 + 10.0
    y = t + rng.standard_normal((n, outputs))
    w = weights(rng, n, weighted)
    for name, reference in REGRESSION.items():
        close(accumulate(name, y, t, w, batch), reference(t, y, sample_weight=w))


def test_regression_outputs_of_any_shape_are_flattened_per_sample() -> None:
    rng = np.random.default_rng(5)
    t = rng.standard_normal((20, 2, 3))
    y = t + rng.standard_normal((20, 2, 3))
    for name, reference in REGRESSION.items():
        close(accumulate(name, y, t, batch=7), reference(t.reshape(20, 6), y.reshape(20, 6)))


def test_r2_edge_cases_follow_sklearn() -> None:
    t = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 4.0]])  # output 0 constant
    exact = t.copy()
    off = t + np.array([[0.5, 0.0], [0.0, 0.0], [0.0, 0.0]])
    for y in (exact, off):
        close(accumulate("r2", y, t, batch=1), skm.r2_score(t, y))
    assert math.isnan(accumulate("r2", t[:1], t[:1]))  # sklearn: NaN (and a warning) below 2


def test_float32_inputs_are_scored_in_float64() -> None:
    rng = np.random.default_rng(6)
    y, t, predicted, labels = class_data(rng, 30, 4)
    y32, t32 = y.astype(np.float32), t.astype(np.float32)
    predicted = y32.argmax(axis=1)
    close(accumulate("f1", y32, t32, batch=7), skm.f1_score(labels, predicted, average="macro"))
    r = rng.standard_normal((30, 2)).astype(np.float32)
    close(accumulate("r2", r + 0.1, r, batch=7),
          skm.r2_score(r.astype(np.float64), (r + 0.1).astype(np.float64)))  # fmt: skip


# -- the contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", plugnet.available("metric"))
def test_each_builtin_is_a_metric_that_starts_empty_and_resets(name: str) -> None:
    metric = plugnet.get("metric", name)
    assert isinstance(metric, Metric) and metric.targets in METRIC_TARGETS
    assert math.isnan(metric.result())
    rng = np.random.default_rng(7)
    y, t, _, _ = class_data(rng, 12, 8)
    metric.update(y, t)
    first = metric.result()
    metric.update(y[:3], t[:3])
    metric.reset()
    assert math.isnan(metric.result())
    metric.update(y, t)
    assert metric.result() == first


def test_targets_say_which_metrics_need_classes() -> None:
    needs = {name: plugnet.get("metric", name).targets for name in plugnet.available("metric")}
    assert needs == {
        "accuracy": "classes",
        "top_k_accuracy": "classes",
        "precision": "classes",
        "recall": "classes",
        "f1": "classes",
        "mse": "values",
        "mae": "values",
        "rmse": "values",
        "r2": "values",
    }


def test_inputs_are_not_modified() -> None:
    y, t, _, _ = class_data(np.random.default_rng(8), 10, 3)
    w = np.ones(10)
    before = (y.copy(), t.copy(), w.copy())
    for name in plugnet.available("metric"):
        plugnet.get("metric", name if name != "top_k_accuracy" else "top_k_accuracy(k=2)").update(
            y, t, w
        )
    assert all(np.array_equal(a, b) for a, b in zip(before, (y, t, w), strict=True))


def error(spec: Any, y: Array, t: Array, *updates: tuple[Array, Array], **kwargs: Any) -> str:
    metric = plugnet.get("metric", spec)
    for yb, tb in updates:
        metric.update(yb, tb)
    with pytest.raises(ValueError) as info:
        metric.update(y, t, **kwargs)
    return str(info.value)


def test_wrong_inputs_say_what_to_give() -> None:
    y, t, _, labels = class_data(np.random.default_rng(9), 6, 3)
    assert "t has shape (6,)" in error("accuracy", y, labels.astype(float))
    assert "(N, classes)" in error("f1", y.reshape(6, 3, 1), t.reshape(6, 3, 1))
    assert "use average='macro'" in error("precision(average='binary')", y, t)
    assert "more than 5 classes" in error("top_k_accuracy", y, t)
    assert "earlier ones had 3" in error("recall", y[:, :2], t[:, :2], (y, t))
    assert "earlier ones had 3" in error("mse", y[:, :2], t[:, :2], (y, t))
    assert "earlier ones had 3" in error("r2", y[:, :2], t[:, :2], (y, t))
    assert ">= 0" in error("mae", y, t, sample_weight=-np.ones(6))
    assert "shape (6,)" in error("accuracy", y, t, sample_weight=np.ones(5))


def test_bad_configurations_are_refused_by_name() -> None:
    with pytest.raises(SpecError, match="average=None asks for a score per class"):
        plugnet.get("metric", {"name": "f1", "average": None})
    with pytest.raises(SpecError, match="average must be one of"):
        plugnet.get("metric", "recall(average='samples')")
    with pytest.raises(SpecError, match="k must be an integer >= 1"):
        plugnet.get("metric", "top_k_accuracy(k=0)")


def test_config_round_trips() -> None:
    for spec in ("accuracy", "top_k_accuracy(k=3)", "f1(average='weighted')", "r2"):
        metric = plugnet.get("metric", spec)
        rebuilt = plugnet.get("metric", {"name": spec.split("(")[0], **metric.get_config()})
        assert rebuilt == metric and rebuilt.get_config() == metric.get_config()
