"""The conformance kit on layers that take indices (TakesIndices): it feeds them integer ids,
checks only their parameters' gradients, wants None from backward, tries the first and last ids
and ids just out of range; deliberately broken index layers fail the check that concerns them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from plugnet.testing import ConformanceError, check_layer
from tests._layers import Lookup

Array = np.ndarray


def failure(layer: Any, input_shape: tuple[int, ...] = (4,)) -> str:
    with pytest.raises(ConformanceError) as info:
        check_layer(layer, input_shape=input_shape)
    return str(info.value)


def failed_checks(message: str) -> set[str]:
    return {line.split(": ")[1].removesuffix(" check failed") for line in message.splitlines()}


@pytest.mark.parametrize("shape", [(), (4,), (2, 3)])
def test_a_correct_index_layer_passes(shape: tuple[int, ...]) -> None:
    check_layer(Lookup(), input_shape=shape)
    check_layer(Lookup(count=1), input_shape=shape)  # one id: every position repeats it


class OneIdPerSample(Lookup):
    def build(self, input_shape: tuple[int, ...], *, rng: Any, dtype: Any) -> tuple[int, ...]:
        if input_shape != ():
            raise ValueError(f"one id per sample, got {input_shape}")
        return super().build(input_shape, rng=rng, dtype=dtype)


def test_a_per_sample_shape_of_no_axes_is_kept_not_replaced_by_the_default() -> None:
    check_layer(OneIdPerSample(), input_shape=())


class OverwritesRepeats(Lookup):
    def backward(self, grad: Array) -> Any:
        self.grads["w"].fill(0)
        self.grads["w"][self.x.reshape(-1)] = grad.reshape(-1, 2)  # the last write wins
        return None


def test_a_gradient_that_ignores_repeated_ids_is_caught() -> None:
    message = failure(OverwritesRepeats())
    assert failed_checks(message) == {"gradient"}
    assert "gradient of 'w' (training=True)" in message


class ReturnsInputGrad(Lookup):
    def backward(self, grad: Array) -> Any:
        super().backward(grad)
        return np.zeros(self.x.shape)


def test_a_backward_that_returns_an_array_is_caught() -> None:
    message = failure(ReturnsInputGrad())
    assert failed_checks(message) == {"gradient", "dtype"}
    assert (
        "gradient check failed: the layer takes indices (takes_indices = True), which have no "
        "gradient, but its backward returned ndarray; fill grads and return None"
    ) in message


class WrapsNegativeIds(Lookup):
    def forward(self, x: Array, *, training: bool = False) -> Array:
        self.x = x
        return self.params["w"][x]  # -1 reads the last row, count raises IndexError


class TakesTooLargeIds(Lookup):
    def forward(self, x: Array, *, training: bool = False) -> Array:
        if x.min() < 0:
            raise ValueError("negative id")
        self.x = np.minimum(x, self.count - 1)  # a too large id reads the last row
        return self.params["w"][self.x]


@pytest.mark.parametrize(
    ("layer", "bad"), [(WrapsNegativeIds(), -1), (TakesTooLargeIds(), 5)], ids=["-1", "count"]
)
def test_ids_out_of_range_must_be_refused(layer: Lookup, bad: int) -> None:
    message = failure(layer)
    assert failed_checks(message) == {"extremes"}
    assert f"forward took the id {bad}, outside 0..4 (index_count = 5), without raising" in message


class RefusesTheLastId(Lookup):
    def forward(self, x: Array, *, training: bool = False) -> Array:
        if x.max() >= self.count - 1:
            raise ValueError("off by one")
        return super().forward(x, training=training)


def test_the_first_and_last_ids_must_work() -> None:
    message = failure(RefusesTheLastId(), input_shape=(6,))
    assert "extremes check failed: it raised ValueError: off by one" in message


class SortsIdsInPlace(Lookup):
    def forward(self, x: Array, *, training: bool = False) -> Array:
        x.sort(axis=-1)
        return super().forward(x, training=training)


def test_ids_changed_in_place_are_caught() -> None:
    message = failure(SortsIdsInPlace(), input_shape=(6,))
    assert "mutation check failed: forward's input x was modified in place" in message


class Float64Table(Lookup):
    def forward(self, x: Array, *, training: bool = False) -> Array:
        return super().forward(x, training=training).astype(np.float64)


def test_the_output_keeps_the_built_dtype_not_the_ids() -> None:
    message = failure(Float64Table())
    assert failed_checks(message) == {"dtype"}
    assert "forward output (training=True" in message and "has dtype float64" in message
