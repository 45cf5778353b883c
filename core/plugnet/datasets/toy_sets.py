"""The generators of plugnet's toy sets, made deterministically from ``seed``.

======== ============================================================= =================
function what                                                          options
======== ============================================================= =================
xor      the four XOR points (n=4, noise=0), or n samples around them  n, noise
spiral   K interleaved spiral arms (as in CS231n); n points per class  n, classes, noise
sine     x ~ U[−π, π] of shape (n, 1), t = sin(x) + noise (regression) n, noise
digits   scikit-learn's bundled 8×8 digits, 1797×64, x scaled to [0, 1] (none)
======== ============================================================= =================

They are registered as data sets by name by plugnet's built-in plugin
(``plugnet_builtins.datasets``), through the same ``register_datasets`` hook as a third party's;
the core lists no set by name. ``digits`` needs scikit-learn: ``pip install "plugnet[examples]"``.
Classification targets are integer labels of shape (N,); ``Sequential`` one-hot encodes them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    # Imported where a set is made: the registry build imports this module (the built-in data
    # sets' checks), and base's dataclasses would cost it a millisecond and the dataclasses import.
    from plugnet.datasets.base import Dataset

EXAMPLES_EXTRA = 'pip install "plugnet[examples]"'
#: The most samples a toy set makes: 10⁷ two-feature samples are 160 MB of float64, and a larger
#: ``n`` is a typo rather than a data set to train a NumPy network on.
MAX_SAMPLES = 10_000_000


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an integer >= ``minimum``, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_samples(name: str, count: int) -> int:
    """``count`` (the samples a set of these options makes) if it is at most MAX_SAMPLES."""
    if count > MAX_SAMPLES:
        raise ValueError(
            f"{name} makes {count} samples, more than plugnet.datasets.MAX_SAMPLES "
            f"({MAX_SAMPLES}); lower n"
        )
    return count


def check_noise(value: Any) -> float:
    """``value`` as a float if it is a finite number >= 0, else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"noise must be a number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {value!r}")
    return float(value)


def xor(n: int = 4, noise: float = 0.0, seed: int = 0) -> Dataset:
    """XOR: sample i sits at corner i % 4 of the unit square — (0,0)→0, (0,1)→1, (1,0)→1,
    (1,1)→0 — plus Gaussian noise of standard deviation ``noise``. The defaults give the four
    exact points."""
    n = check_samples(f"xor(n={n})", check_int("n", n, 1))
    noise = check_noise(noise)
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1, 0], dtype=np.int64)
    which = np.arange(n) % 4
    x = corners[which]
    if noise:
        x = x + noise * np.random.default_rng(seed).standard_normal(x.shape)
    from plugnet.datasets.base import Dataset

    return Dataset(x, labels[which], "xor")


def spiral(n: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0) -> Dataset:
    """``classes`` spiral arms of ``n`` points each, as in CS231n: for arm k, radius r runs
    0 → 1 and angle θ runs 4k → 4(k+1) plus N(0, noise²); x = (r·sin θ, r·cos θ)."""
    n = check_int("n", n, 1)
    classes = check_int("classes", classes, 2)
    check_samples(f"spiral(n={n}, classes={classes})", n * classes)
    noise = check_noise(noise)
    rng = np.random.default_rng(seed)
    x = np.zeros((n * classes, 2))
    t = np.zeros(n * classes, dtype=np.int64)
    for k in range(classes):
        rows = slice(n * k, n * (k + 1))
        radius = np.linspace(0.0, 1.0, n)
        theta = np.linspace(4.0 * k, 4.0 * (k + 1), n) + noise * rng.standard_normal(n)
        x[rows] = np.column_stack([radius * np.sin(theta), radius * np.cos(theta)])
        t[rows] = k
    from plugnet.datasets.base import Dataset

    return Dataset(x, t, "spiral")


def sine(n: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Regression: x ~ U[−π, π] of shape (n, 1), t = sin(x) + N(0, noise²), shape (n, 1)."""
    n = check_samples(f"sine(n={n})", check_int("n", n, 1))
    noise = check_noise(noise)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    t = np.sin(x) + noise * rng.standard_normal((n, 1))
    from plugnet.datasets.base import Dataset

    return Dataset(x, t, "sine")


def digits() -> Dataset:
    """scikit-learn's bundled 8×8 digits (1797 images, no download), x = pixels / 16."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(
            f"the digits data set comes with scikit-learn, which is not installed: {EXAMPLES_EXTRA}"
        ) from exc
    bunch = load_digits()
    from plugnet.datasets.base import Dataset

    return Dataset(bunch.data / 16.0, bunch.target.astype(np.int64), "digits")


def toy(name: str, *, seed: int = 0, **options: Any) -> Dataset:
    """A registered data set by name, whole (every sample, before any split), made from
    ``seed`` with its ``options``: see :func:`plugnet.datasets.sources.named_source`."""
    from plugnet.datasets.sources import named_source, whole

    return whole(named_source(name, options), seed)
