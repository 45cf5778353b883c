"""The initializer checks. ``std`` runs only for an initializer that declares
``expected_std(shape)``, its documented standard deviation, checked on large samples."""

from __future__ import annotations

import numpy as np

from plugnet.protocols import Shape
from plugnet.testing.checks import expect
from plugnet.testing.checks.common import DTYPES, SEED, CheckTable, Subject, rebuild
from plugnet.testing.gradients import ConformanceError

INIT_SHAPES: tuple[Shape, ...] = ((3, 4), (4, 3), (2, 3, 3, 3))
STD_SAMPLES: tuple[Shape, ...] = ((256, 512), (64, 32, 3, 3))
STD_TOLERANCE = 0.05

CHECKS = CheckTable()


@CHECKS.check("shape")
def _shape(subject: Subject) -> None:
    init = subject.fresh()
    for dtype in DTYPES:
        for shape in INIT_SHAPES:
            w = init(shape, rng=np.random.default_rng(SEED), dtype=dtype)
            expect.array(w, shape=shape, dtype=dtype, what=f"the array drawn for {shape}")
            expect.finite(w, f"the array drawn for {shape}")


@CHECKS.check("reproducible")
def _reproducible(subject: Subject) -> None:
    init = subject.fresh()
    for shape in INIT_SHAPES:
        np.random.seed(1)  # noqa: NPY002 - a component that uses the global state must fail
        first = init(shape, rng=np.random.default_rng(7), dtype=np.float64)
        np.random.seed(2)  # noqa: NPY002
        second = init(shape, rng=np.random.default_rng(7), dtype=np.float64)
        expect.identical(first, second, f"two draws for {shape} from Generators with the same seed")


@CHECKS.check("std")
def _std(subject: Subject) -> float:
    init = subject.fresh()
    worst = 0.0
    for shape in STD_SAMPLES:
        expected = float(init.expected_std(shape))
        sample = init(shape, rng=np.random.default_rng(SEED), dtype=np.float64)
        actual = float(np.std(sample))
        error = abs(actual - expected)
        worst = max(worst, error)
        if error > STD_TOLERANCE * expected + 1e-12:
            raise ConformanceError(
                f"the sample std for {shape} is {actual:.6g}, but expected_std({shape}) says "
                f"{expected:.6g} (absolute error {error:.3g}, relative "
                f"{error / max(expected, 1e-300):.3g}; tolerance {STD_TOLERANCE:.0%})"
            )
    return worst


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    init = subject.fresh()
    rebuilt = rebuild(subject, init)
    for shape in INIT_SHAPES:
        expect.identical(
            init(shape, rng=np.random.default_rng(SEED), dtype=np.float64),
            rebuilt(shape, rng=np.random.default_rng(SEED), dtype=np.float64),
            f"draws for {shape} from the original and the rebuilt initializer",
        )
