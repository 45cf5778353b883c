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
