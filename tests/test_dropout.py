"""dropout: the statistics of the mask, per-sample masks, the network's Generator, and
training=False as the identity."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import plugnet
from plugnet.testing.gradients import check_layer_gradients
from plugnet_builtins.regularization import Dropout


def built(rate: float, shape: tuple[int, ...], seed: int = 0) -> Dropout:
    layer = Dropout(rate)
    layer.build(shape, rng=np.random.default_rng(seed), dtype=np.dtype(np.float32))
    return layer


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5, 0.8])
def test_keep_fraction_and_expected_value_over_a_million_elements(rate: float) -> None:
    layer = built(rate, (1000,))
    x = np.ones((1000, 1000), dtype=np.float32)
    y = layer.forward(x, training=True)
    kept = np.count_nonzero(y) / y.size
    assert abs(kept - (1 - rate)) < 0.01 * (1 - rate)  # within 1% of 1 - rate
    assert set(np.unique(y)) <= {0.0, np.float32(1 / (1 - rate))}
    assert abs(float(y.mean(dtype=np.float64)) - 1.0) < 0.01  # E[y] = x
    assert y.dtype == np.float32


def test_every_sample_gets_its_own_mask_and_backward_uses_it() -> None:
    layer = built(0.5, (64,))
    x = np.ones((8, 64), dtype=np.float32)
    y = layer.forward(x, training=True)
    masks = {tuple(row != 0) for row in y}
    assert len(masks) == 8
    g = np.arange(8 * 64, dtype=np.float32).reshape(8, 64)
    np.testing.assert_array_equal(layer.backward(g), g * y)  # y = mask / (1 - rate) here


def test_identity_when_not_training_and_for_rate_zero() -> None:
    layer = built(0.5, (3, 4, 4))
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)
    state = layer.rng.bit_generator.state
    assert layer.forward(x, training=False) is x
    assert layer.rng.bit_generator.state == state  # no draw
    g = np.ones_like(x)
    assert layer.backward(g) is g
    zero = built(0.0, (4,))
    x2 = np.ones((2, 4), dtype=np.float32)
    assert zero.forward(x2, training=True) is x2


def test_masks_come_from_the_network_generator() -> None:
    def run(seed: int) -> np.ndarray:
        net = plugnet.Sequential(
            [{"type": "dropout", "rate": 0.5}], error="square", optimizer="sgd", seed=seed
        )
        net.build((100,))
        return net.forward(np.ones((4, 100), dtype=np.float32), training=True)

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


@pytest.mark.parametrize("case", Dropout.conformance.cases, ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_gradients(case: dict[str, Any], training: bool) -> None:
    layer = Dropout(**case["config"])
    rng = np.random.default_rng(0)
    layer.build(case["input_shape"], rng=rng, dtype=np.dtype(np.float64))
    state = rng.bit_generator.state
    forward = layer.forward

    def same_mask(x: np.ndarray, *, training: bool) -> np.ndarray:
        rng.bit_generator.state = state  # the same mask every call, as the conformance kit does
        return forward(x, training=training)

    layer.forward = same_mask  # type: ignore[method-assign]
    x = np.random.default_rng(1).standard_normal((3, *case["input_shape"]))
    check_layer_gradients(layer, x, training=training)


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, "0.5", True, float("nan")])
def test_bad_rates(rate: object) -> None:
    with pytest.raises(ValueError, match="dropout rate"):
        Dropout(rate)  # type: ignore[arg-type]
