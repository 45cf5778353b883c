"""The protocols every plugin component satisfies.

Arrays are :class:`numpy.ndarray`. Shapes given to ``Layer.build`` are per sample, without the
batch axis. Every component also has ``get_config() -> dict`` with JSON-safe hyperparameters, so
that ``factory(**get_config())`` rebuilds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
Shape = tuple[int, ...]


@runtime_checkable
class Activation(Protocol):
    """A stateless elementwise or per-row function y = f(x)."""

    def forward(self, x: Array) -> Array:
        """Return y = f(x), with x's shape and dtype."""
        ...

    def backward(self, x: Array, y: Array, grad: Array) -> Array:
        """Return dE/dx given ``grad`` = dE/dy: a vector-Jacobian product."""
        ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class ErrorFunction(Protocol):
    """A loss E(y, t): the mean over the batch of each sample's error."""

    def forward(self, y: Array, t: Array) -> float:
        """Return E, the mean over the batch (axis 0)."""
        ...

    def backward(self, y: Array, t: Array) -> Array:
        """Return dE/dy, which includes the 1/N of the batch mean."""
        ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class FusedBackward(Protocol):
    """dE/da for an output activation y = f(a) followed by an error E(y, t), in one step."""

    def backward(self, y: Array, t: Array) -> Array:
        """Return dE/da, where a is the pre-activation and y = f(a)."""
        ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class Layer(Protocol):
    """A layer with parameters. It keeps what backward needs from the last forward.

    ``params`` and ``grads`` are dicts with the same keys. ``backward`` writes each gradient
    into ``grads`` under its parameter's key.
    """

    params: dict[str, Array]
    grads: dict[str, Array]

    def build(self, input_shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]) -> Shape:
        """Create parameters for per-sample ``input_shape``; return the per-sample output shape."""
        ...

    def forward(self, x: Array, *, training: bool) -> Array: ...

    def backward(self, grad: Array) -> Array:
        """Given dE/dy, fill ``grads`` and return dE/dx."""
        ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class Optimizer(Protocol):
    """Updates parameters in place, keeping state per parameter name and its own step count."""

    def update(self, params: Mapping[str, Array], grads: Mapping[str, Array]) -> None: ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class Initializer(Protocol):
    """Draws an initial parameter array from the given Generator."""

    def __call__(
        self, shape: Shape, *, rng: np.random.Generator, dtype: np.dtype[Any]
    ) -> Array: ...

    def get_config(self) -> dict[str, Any]: ...


@runtime_checkable
class Schedule(Protocol):
    """A learning-rate schedule: the learning rate for each optimizer step, from the base rate.

    Steps are optimizer updates (not epochs), numbered from 1: ``schedule(1, base_lr)`` is the
    rate of the first update.
    """

    def __call__(self, step: int, base_lr: float) -> float:
        """Return the learning rate for the 1-based optimizer step ``step``."""
        ...

    def get_config(self) -> dict[str, Any]: ...
