"""Data sets by name: the toy sets xor, spiral and sine, and scikit-learn's bundled sets.

Each is a :class:`~plugnet.datasets.HeldOut` source: ``data(seed)`` makes the whole set and
``load(seed)`` holds ``test_size`` of it out for testing, stratified by class when
``stratify``, with the same seed. ``test_size`` None (the default) holds out 25%, or nothing
when the set is too small for that (the four points of xor); 0 holds out nothing.

The toy sets are generated (see :mod:`plugnet.datasets.toy_sets` for the formulas); the others
are the copies that ship inside scikit-learn (no download), so they need
``pip install "plugnet[examples]"``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import numpy as np

from plugnet.datasets import (
    EXAMPLES_EXTRA,
    HeldOut,
    check_int,
    check_noise,
    check_samples,
    digits,
    sine,
    spiral,
    xor,
)
from plugnet.hookspecs import Register, hookimpl
from plugnet.protocols import Conformance

if TYPE_CHECKING:
    # Imported where a set is made, not at registration (plugnet.datasets.toy_sets says why).
    from plugnet.datasets import Dataset, Splits


class Xor(HeldOut):
    """XOR of the unit square's corners, plus noise; the defaults give the four exact points.

    Sample i sits at corner i mod 4, labelled (0,0)→0, (0,1)→1, (1,0)→1, (1,1)→0, plus
    N(0, noise²) in each coordinate.
    """

    conformance = Conformance(cases=({"config": {}}, {"config": {"n": 40, "noise": 0.1}}))

    def __init__(
        self, n: int = 4, noise: float = 0.0, test_size: float | None = None, stratify: bool = True
    ) -> None:
        self.n = check_samples(f"xor(n={n})", check_int("n", n, 1))
        self.noise = check_noise(noise)
        self.hold_out_with(test_size, stratify)

    def data(self, seed: int = 0) -> Dataset:
        return xor(self.n, self.noise, seed)


class Spiral(HeldOut):
    """K interleaved spiral arms (CS231n), n points per arm: x = (r·sin θ, r·cos θ).

    For arm k, r runs 0 → 1 and θ runs 4k → 4(k+1) plus N(0, noise²).
    """

    conformance = Conformance(cases=({"config": {"n": 20}},))

    def __init__(
        self,
        n: int = 100,
        classes: int = 3,
        noise: float = 0.2,
        test_size: float | None = None,
        stratify: bool = True,
    ) -> None:
        self.n = check_int("n", n, 1)
        self.classes = check_int("classes", classes, 2)
        check_samples(f"spiral(n={n}, classes={classes})", n * classes)
        self.noise = check_noise(noise)
        self.hold_out_with(test_size, stratify)

    def data(self, seed: int = 0) -> Dataset:
        return spiral(self.n, self.classes, self.noise, seed)


class Sine(HeldOut):
    """Regression: x ~ U[−π, π] of shape (n, 1), t = sin(x) + N(0, noise²)."""

    conformance = Conformance(cases=({"config": {"n": 40}},))

    def __init__(
        self,
        n: int = 200,
        noise: float = 0.1,
        test_size: float | None = None,
        stratify: bool = True,
    ) -> None:
        self.n = check_samples(f"sine(n={n})", check_int("n", n, 1))
        self.noise = check_noise(noise)
        self.hold_out_with(test_size, stratify)

    def data(self, seed: int = 0) -> Dataset:
        return sine(self.n, self.noise, seed)


class Digits(HeldOut):
    """scikit-learn's 8×8 handwritten digits: 1797 × 64 pixels / 16, 10 classes."""

    def __init__(self, test_size: float | None = None, stratify: bool = True) -> None:
        self.hold_out_with(test_size, stratify)

    def data(self, seed: int = 0) -> Dataset:
        return digits()


class _Bundled(HeldOut):
    """A table that ships with scikit-learn (``sklearn.datasets.load_<name>``). Its columns have
    very different scales, so ``load`` standardizes both parts with the training part's mean
    and standard deviation (the test part's statistics never reach the training data);
    ``data`` gives the values as scikit-learn has them."""

    set_name = ""

    def __init__(self, test_size: float | None = None, stratify: bool = True) -> None:
        self.hold_out_with(test_size, stratify)

    def data(self, seed: int = 0) -> Dataset:
        try:
            module = importlib.import_module("sklearn.datasets")
        except ImportError as exc:
            raise ImportError(
                f"the {self.set_name} data set comes with scikit-learn, which is not installed: "
                f"{EXAMPLES_EXTRA}"
            ) from exc
        from plugnet.datasets import Dataset

        bunch = getattr(module, f"load_{self.set_name}")()
        x = np.asarray(bunch.data, dtype=np.float64)
        return Dataset(x, np.asarray(bunch.target, dtype=np.int64), self.set_name)

    def load(self, seed: int = 0) -> Splits:
        from plugnet.datasets import Dataset, Splits

        parts = super().load(seed)
        mean = parts.train.x.mean(axis=0)
        std = parts.train.x.std(axis=0)
        std[std == 0] = 1.0  # a constant column stays constant (at 0) instead of dividing by 0

        def scaled(part: Dataset) -> Dataset:
            return Dataset((part.x - mean) / std, part.t, part.name)

        return Splits(scaled(parts.train), None, None if parts.test is None else scaled(parts.test))


class Iris(_Bundled):
    """scikit-learn's iris: 150 flowers × 4 measurements, 3 species (standardized)."""

    set_name = "iris"


class Wine(_Bundled):
    """scikit-learn's wine: 178 wines × 13 measurements, 3 cultivars (standardized)."""

    set_name = "wine"


class BreastCancer(_Bundled):
    """scikit-learn's breast cancer: 569 tumours × 30 features, 2 classes (standardized).

    The Wisconsin diagnostic set: 0 malignant, 1 benign.
    """

    set_name = "breast_cancer"


@hookimpl
def register_datasets(register: Register) -> None:
    for factory in (Xor, Spiral, Sine, Digits, Iris, Wine, BreastCancer):
        register(factory)
