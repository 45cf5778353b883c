"""Tests of the example data plugin.

The first test is plugnet's conformance suite for this distribution, through plugnet's pytest
plugin: one test per data set per check (``test_conformance[dataset:moons-disjoint]``: splits
well formed, reproducible from the seed, train and test disjoint, config round trip).
"""

from __future__ import annotations

import numpy as np
import pytest

import plugnet


@pytest.mark.plugnet_conformance("plugnet-example-data")
def test_conformance(conformance_check):
    conformance_check()


def test_moons_by_name_and_alias():
    parts = plugnet.get("dataset", "moons(n=40, noise=0.0)").load(0)
    assert (len(parts.train), len(parts.test)) == (60, 20)
    assert np.bincount(parts.test.t).tolist() == [10, 10]
    x = np.concatenate([parts.train.x, parts.test.x])
    t = np.concatenate([parts.train.t, parts.test.t])
    np.testing.assert_allclose(np.hypot(*x[t == 0].T), 1.0)  # class 0 lies on the unit circle
    assert type(plugnet.get("dataset", "two_moons")) is type(plugnet.get("dataset", "moons"))


def test_balanced_accuracy_is_the_mean_recall_of_the_classes():
    metric = plugnet.get("metric", "balanced_accuracy")
    eye = np.eye(3)
    t = eye[[0, 0, 0, 0, 1, 1, 2, 2]]
    y = eye[[0, 0, 0, 1, 1, 0, 2, 1]]  # recalls 3/4, 1/2, 1/2
    metric.update(y[:5], t[:5])
    metric.update(y[5:], t[5:])  # split over batches: the same sums
    assert metric.result() == (0.75 + 0.5 + 0.5) / 3
    metric.reset()
    metric.update(y, t, sample_weight=np.array([1, 1, 1, 3, 1, 1, 1, 1.0]))
    assert metric.result() == (3 / 6 + 0.5 + 0.5) / 3  # class 0: 3 right of weight 6
    metric.reset()
    metric.update(eye[[0, 0]], eye[[0, 0]])  # class 1 and 2 never occur: left out of the mean
    assert metric.result() == 1.0
