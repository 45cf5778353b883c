"""Tests of the example plugin.

The first test is the whole plugnet conformance suite, through plugnet's pytest plugin: one test
per component per check, e.g. ``test_conformance[activation:square_plus-gradient]`` (gradients
against finite differences in float64, dtypes kept, inputs not modified, config round trip, no
overflow or warnings on ±1e4 inputs). The others check values against closed forms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import plugnet


@pytest.mark.plugnet_conformance("plugnet-example-plugin")
def test_conformance(conformance_check):
    conformance_check()


def squareplus(x: float, b: float) -> float:
    return (x + math.sqrt(x * x + b)) / 2


@pytest.mark.parametrize("b", [4.0, 1.0])
def test_square_plus_values(b):
    x = np.array([[-3.0, 0.0, 2.0, -50.0]])
    act = plugnet.activation(f"plugnet-example-plugin:square_plus(b={b})")
    expected = [[squareplus(v, b) for v in x[0]]]
    np.testing.assert_allclose(act.forward(x), expected, rtol=1e-12)


def test_log_cosh_value():
    y = np.array([[0.5, -1.0], [2.0, 0.0]])
    t = np.zeros_like(y)
    expected = sum(math.log(math.cosh(v)) for v in y.ravel()) / 2
    assert plugnet.error_function("log_cosh").forward(y, t) == pytest.approx(expected, rel=1e-12)


def test_aliases_reach_the_same_components():
    assert type(plugnet.activation("sqplus")) is type(plugnet.activation("square_plus"))
    assert type(plugnet.error_function("logcosh_loss")) is type(plugnet.error_function("log_cosh"))
