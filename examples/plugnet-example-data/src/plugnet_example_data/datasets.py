"""The example data set: two interleaving half circles, generated from the seed (no files, no
download).

It subclasses :class:`plugnet.datasets.HeldOut`, which does the rest of the
:class:`~plugnet.protocols.DataSource` protocol: ``load(seed)`` makes the whole set with
``data(seed)`` and holds ``test_size`` of it out for testing, stratified by class, with the same
seed; ``get_config`` returns the ``__init__`` arguments.
"""

from __future__ import annotations

import numpy as np

from plugnet.datasets import Dataset, HeldOut, check_int, check_noise, check_samples


class Moons(HeldOut):
    """Two interleaving half circles, n points each, plus Gaussian noise (2 classes).

    Class 0 is (cos θ, sin θ) and class 1 is (1 − cos θ, 0.5 − sin θ), θ evenly spaced in
    [0, π], each coordinate plus N(0, noise²) — as ``sklearn.datasets.make_moons``.
    """

    def __init__(
        self,
        n: int = 100,
        noise: float = 0.1,
        test_size: float | None = None,
        stratify: bool = True,
    ) -> None:
        self.n = check_int("n", n, 1)
        check_samples(f"moons(n={n})", 2 * self.n)  # at most plugnet.datasets.MAX_SAMPLES
        self.noise = check_noise(noise)
        self.hold_out_with(test_size, stratify)

    def data(self, seed: int = 0) -> Dataset:
        theta = np.linspace(0.0, np.pi, self.n)
        outer = np.column_stack([np.cos(theta), np.sin(theta)])
        inner = np.column_stack([1.0 - np.cos(theta), 0.5 - np.sin(theta)])
        x = np.concatenate([outer, inner])
        x = x + self.noise * np.random.default_rng(seed).standard_normal(x.shape)
        t = np.repeat(np.array([0, 1], dtype=np.int64), self.n)
        return Dataset(x, t, "moons")
