"""flatten and reshape: shapes, C order, gradients and errors."""

from __future__ import annotations

import numpy as np
import pytest

import plugnet
from plugnet.testing.gradients import check_layer_gradients
from plugnet_builtins.reshaping import Flatten, Reshape

F64 = np.dtype(np.float64)


def test_flatten_is_c_order_and_backward_restores_the_shape() -> None:
    layer = plugnet.layer("flatten")
    assert layer.build((2, 3, 4), rng=np.random.default_rng(0), dtype=F64) == (24,)
    x = np.arange(48.0).reshape(2, 2, 3, 4)
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, np.arange(48.0).reshape(2, 24))
    assert layer.backward(y).shape == x.shape


def test_reshape_with_and_without_minus_one() -> None:
    layer = plugnet.layer({"type": "reshape", "shape": [1, 8, 8]})
    assert layer.build((64,), rng=np.random.default_rng(0), dtype=F64) == (1, 8, 8)
    x = np.arange(128.0).reshape(2, 64)
    y = layer.forward(x, training=False)
    np.testing.assert_array_equal(y[1, 0, 2], np.arange(80.0, 88.0))
    np.testing.assert_array_equal(layer.backward(y), x)
    rest = Reshape([-1, 4])
    assert rest.build((2, 3, 2), rng=np.random.default_rng(0), dtype=F64) == (3, 4)
    assert rest.get_config() == {"shape": [-1, 4]}
    assert Reshape((1, 8, 8)) == Reshape([1, 8, 8])


@pytest.mark.parametrize("cls", [Flatten, Reshape])
def test_gradients(cls: type) -> None:
    for case in cls.conformance.cases:  # type: ignore[attr-defined]
        layer = cls(**case["config"])
        layer.build(case["input_shape"], rng=np.random.default_rng(0), dtype=F64)
        x = np.random.default_rng(1).standard_normal((3, *case["input_shape"]))
        check_layer_gradients(layer, x, training=True)


def test_reshape_errors() -> None:
    with pytest.raises(ValueError, match="must hold exactly 64 elements"):
        Reshape([1, 8, 9]).build((64,), rng=np.random.default_rng(0), dtype=F64)
    with pytest.raises(ValueError, match="must hold exactly 10 elements"):
        Reshape([-1, 3]).build((10,), rng=np.random.default_rng(0), dtype=F64)
    for bad in ([], [0, 4], [-1, -1], "8x8", [2.5], [True, 2]):
        with pytest.raises(ValueError, match="reshape shape must be"):
            Reshape(bad)  # type: ignore[arg-type]
