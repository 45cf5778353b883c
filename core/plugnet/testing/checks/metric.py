"""The metric checks, on outputs and targets drawn for the metric's ``targets``: softmax rows
and one-hot targets for ``"classes"`` (one sigmoid unit and 0/1 targets for a per-sample shape
of ``(1,)``), real numbers for ``"values"``. A case's ``input_shape`` is the per-sample shape of
y and t; by default ``(10,)`` for classes and ``(3,)`` for values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from plugnet.protocols import METRIC_TARGETS, Array, Shape
from plugnet.testing.checks import expect
from plugnet.testing.checks.common import DTYPES, SEED, CheckTable, Subject, rebuild
from plugnet.testing.gradients import ConformanceError

CHECKS = CheckTable()

DEFAULT_SHAPES: dict[str, Shape] = {"classes": (10,), "values": (3,)}
SAMPLES = 40
# Sums over batches of different sizes round differently: a few ulps, far below any real mistake.
SPLIT_TOLERANCE = 1e-9


def _targets(metric: Any) -> str:
    declared = getattr(metric, "targets", None)
    if declared not in METRIC_TARGETS:
        raise ConformanceError(
            f"{type(metric).__name__}.targets is {declared!r}; declare one of "
            f"{', '.join(map(repr, METRIC_TARGETS))} (what the metric needs)"
        )
    return str(declared)


def metric_batch(
    targets: str, shape: Shape, rng: np.random.Generator, samples: int = SAMPLES
) -> tuple[Array, Array]:
    """Typical outputs y and targets t (float64) of per-sample ``shape`` for a metric."""
    if targets == "values":
        t = rng.standard_normal((samples, *shape))
        return t + 0.5 * rng.standard_normal(t.shape), t
    if shape == (1,):
        t = (rng.random((samples, 1)) < 0.4).astype(np.float64)
        y = 1.0 / (1.0 + np.exp(-(rng.standard_normal((samples, 1)) + 2.0 * t - 1.0)))
        return y, t
    if len(shape) != 1:
        raise ConformanceError(
            f"a class metric is checked on outputs of shape (N, classes), but the case gives "
            f"the per-sample shape {shape}"
        )
    classes = shape[0]
    labels = rng.integers(0, classes, size=samples)
    t = np.eye(classes)[labels]
    z = rng.standard_normal((samples, classes)) + 1.5 * t
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True), t


def _data(subject: Subject, metric: Any) -> tuple[Array, Array, Array]:
    targets = _targets(metric)
    shape = subject.case.input_shape
    shape = tuple(shape) if shape is not None else DEFAULT_SHAPES[targets]
    rng = np.random.default_rng(SEED)
    y, t = metric_batch(targets, shape, rng)
    return y, t, rng.uniform(0.0, 2.0, size=len(y))


def _score(metric: Any, batches: list[tuple[Array, Array, Array | None]], what: str) -> float:
    metric.reset()
    for y, t, w in batches:
        expect.quiet(f"update on {what}", metric.update, y, t, w)
    value = expect.quiet(f"result on {what}", metric.result)
    if type(value) is not float:  # a NumPy scalar too would print as np.float64(...) in logs
        raise ConformanceError(
            f"result() on {what} returned a {type(value).__name__}, not a Python float; return "
            f"float(...)"
        )
    return value


def _split(
    y: Array, t: Array, w: Array | None, size: int
) -> list[tuple[Array, Array, Array | None]]:
    return [
        (y[i : i + size], t[i : i + size], None if w is None else w[i : i + size])
        for i in range(0, len(y), size)
    ]


@CHECKS.check("targets")
def _declared_targets(subject: Subject) -> None:
    _targets(subject.fresh())


@CHECKS.check("finite")
def _finite(subject: Subject) -> None:
    metric = subject.fresh()
    y, t, w = _data(subject, metric)
    for weights in (None, w):
        value = _score(metric, [(y, t, weights)], "a typical batch")
        if not math.isfinite(value):
            raise ConformanceError(f"result() on a typical batch of {len(y)} is {value}")


@CHECKS.check("batch_split")
def _batch_split(subject: Subject) -> float:
    """The result over the whole set does not depend on how it is split into batches: a metric
    that averaged batch scores fails on batches of 7 (40 samples leave a short last batch)."""
    metric = subject.fresh()
    y, t, w = _data(subject, metric)
    worst = 0.0
    for weights in (None, w):
        whole = _score(metric, [(y, t, weights)], "one batch")
        for size in (1, 7):
            split = _score(metric, _split(y, t, weights, size), f"batches of {size}")
            difference = abs(split - whole)
            if not difference <= SPLIT_TOLERANCE * max(1.0, abs(whole)):
                weighted = " with sample weights" if weights is not None else ""
                raise ConformanceError(
                    f"the result over {len(y)} samples{weighted} is {whole!r} in one batch but "
                    f"{split!r} in batches of {size}; accumulate sums over the batches in "
                    f"update() and compute the score from them in result(), instead of "
                    f"averaging batch scores"
                )
            worst = max(worst, difference)
    return worst


@CHECKS.check("reset")
def _reset(subject: Subject) -> None:
    metric = subject.fresh()
    y, t, _ = _data(subject, metric)
    fresh = _score(subject.fresh(), [(y[:7], t[:7], None)], "7 samples")
    metric.update(y, t)
    metric.reset()
    if not math.isnan(empty := metric.result()):
        raise ConformanceError(
            f"result() right after reset() is {empty!r}; with no samples it must be NaN"
        )
    metric.update(y[:7], t[:7])
    if metric.result() != fresh:
        raise ConformanceError(
            f"after update, reset and update on 7 samples the result is {metric.result()!r}, "
            f"but a fresh metric gives {fresh!r}; reset() must forget every earlier update"
        )


@CHECKS.check("dtype")
def _dtype(subject: Subject) -> None:
    metric = subject.fresh()
    y, t, _ = _data(subject, metric)
    for dtype in DTYPES:
        _score(metric, [(y.astype(dtype), t.astype(dtype), None)], f"{dtype} inputs")


@CHECKS.check("mutation")
def _mutation(subject: Subject) -> None:
    metric = subject.fresh()
    y, t, w = _data(subject, metric)
    expect.untouched("update", metric.update, y=y, t=t, sample_weight=w)


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    metric = subject.fresh()
    rebuilt = rebuild(subject, metric)
    y, t, w = _data(subject, metric)
    batches = _split(y, t, w, 7)
    original = _score(metric, batches, "7-sample batches")
    again = _score(rebuilt, batches, "7-sample batches")
    if not (original == again or (math.isnan(original) and math.isnan(again))):
        raise ConformanceError(
            f"the original gives {original!r} and the rebuilt metric {again!r} on the same "
            f"batches; get_config() must hold every argument"
        )
