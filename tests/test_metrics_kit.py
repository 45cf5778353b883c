"""The conformance kit's metric checks catch real mistakes: each deliberately broken metric
fails the check that concerns it, with a message that says what to do; a correct metric that no
plugin registers passes, and so do the built-ins through the plugin's suite."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pytest

from plugnet.catalogue import render
from plugnet.cli import main
from plugnet.configurable import Configurable
from plugnet.discovery import build_registry
from plugnet.testing import ConformanceError, check_metric

Array = np.ndarray


class MeanError(Configurable):
    """A correct metric: the mean of |y − t| over every element seen."""

    targets: ClassVar[Literal["classes", "values"]] = "values"

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self.reset()

    def reset(self) -> None:
        self._sum, self._count = 0.0, 0.0

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        w = np.ones(len(y)) if sample_weight is None else sample_weight
        self._sum += float(w @ np.abs(y - t).reshape(len(y), -1).mean(axis=1)) * self.scale
        self._count += float(w.sum())

    def result(self) -> float:
        return self._sum / self._count if self._count else float("nan")


class BatchMean(MeanError):
    """Averages the batch scores: wrong whenever the batches differ in size."""

    def reset(self) -> None:
        self._scores: list[float] = []

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        self._scores.append(float(np.abs(y - t).mean()) * self.scale)

    def result(self) -> float:
        return float(np.mean(self._scores)) if self._scores else float("nan")


class NoReset(MeanError):
    def reset(self) -> None:
        if not hasattr(self, "_sum"):
            super().reset()


class NumpyResult(MeanError):
    def result(self) -> float:
        return np.float64(super().result())  # type: ignore[return-value]


class Mutates(MeanError):
    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        super().update(y, t, sample_weight)
        y -= t


class ForgetsScale(MeanError):
    def get_config(self) -> dict[str, Any]:
        return {}


class UndeclaredTargets(MeanError):
    targets = "labels"  # type: ignore[assignment]


class ClassMetric(MeanError):
    """A class metric: the share of rows whose argmax matches."""

    targets: ClassVar[Literal["classes", "values"]] = "classes"

    def update(self, y: Array, t: Array, sample_weight: Array | None = None) -> None:
        w = np.ones(len(y)) if sample_weight is None else sample_weight
        self._sum += float(w @ (y.argmax(axis=1) == t.argmax(axis=1)))
        self._count += float(w.sum())


def failed_checks(metric: Any) -> dict[str, str]:
    with pytest.raises(ConformanceError) as info:
        check_metric(metric)
    failures = {}
    for line in str(info.value).splitlines():
        head, _, detail = line.partition(" check failed: ")
        failures[head.rsplit(": ", 1)[1]] = detail
    return failures


def test_a_correct_unregistered_metric_passes() -> None:
    check_metric(MeanError(scale=2.0))
    check_metric(ClassMetric())
    check_metric(ClassMetric(), output_shape=(1,))


def test_averaging_batch_scores_fails_batch_split() -> None:
    failures = failed_checks(BatchMean())
    assert set(failures) == {"batch_split"}
    assert "in batches of 7" in failures["batch_split"]
    assert "accumulate sums over the batches" in failures["batch_split"]


@pytest.mark.parametrize(
    ("metric", "check", "says"),
    [
        (NoReset(), "reset", "right after reset() is"),
        (NumpyResult(), "finite", "not a Python float"),
        (Mutates(), "mutation", "update's input y was modified in place"),
        (ForgetsScale(scale=3.0), "config", "get_config() must hold every argument"),
        (UndeclaredTargets(), "targets", "declare one of 'classes', 'values'"),
    ],
)
def test_each_mistake_fails_its_check(metric: Any, check: str, says: str) -> None:
    failures = failed_checks(metric)
    assert check in failures, failures
    assert says in failures[check]


def test_a_class_metric_on_a_shape_it_cannot_take_says_so() -> None:
    with pytest.raises(ConformanceError, match=r"shape \(N, classes\)"):
        check_metric(ClassMetric(), output_shape=(2, 3))


def test_builtins_by_spec_pass() -> None:
    check_metric("f1(average='binary')", output_shape=(1,))
    check_metric("top_k_accuracy(k=3)")
    check_metric({"name": "r2"}, output_shape=(2, 2))


def test_the_cli_and_the_catalogue_list_and_check_the_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plugins", "--kind", "metric"]) == 0
    listed = capsys.readouterr().out
    assert "metric: accuracy (acc), top_k_accuracy, precision, recall, f1 (f1_score)" in listed
    assert main(["check", "--kind", "metric", "r2", "f1"]) == 0
    checked = capsys.readouterr().out
    assert (
        checked.startswith("metric ")
        and "batch_split" in checked
        and "f1(average='micro')" in checked
    )
    catalogue = render(build_registry({"PLUGNET_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    assert "## Metrics" in catalogue and "| `top_k_accuracy` |" in catalogue
