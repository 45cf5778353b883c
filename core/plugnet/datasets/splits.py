"""Splitting a data set into training, validation and test parts.

:func:`train_test_split` splits like ``sklearn.model_selection.train_test_split`` (same
argument meaning and return order). When scikit-learn is installed it *is* scikit-learn's
function, so ``test_size=0.25, stratify=True, random_state=0`` gives exactly the standard split;
without scikit-learn a NumPy split with the same proportions is used (same sizes and class
balance, different sample choice). :func:`split` returns train, validation and test parts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from plugnet.datasets.base import Dataset, Splits
from plugnet.protocols import Array


def strata(t: Array) -> Array | None:
    """The class of each sample, for stratifying: integer labels, or the column of one-hot rows;
    None when ``t`` holds anything else (regression targets)."""
    if t.ndim == 1 and t.dtype.kind in "iu":
        return t
    if t.ndim == 2 and t.shape[1] > 1 and np.all((t == 0) | (t == 1)) and np.all(t.sum(1) == 1):
        return np.asarray(t.argmax(axis=1))
    return None


def _check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{name} must be a fraction strictly between 0 and 1, got {value!r}")
    return float(value)


def split_problem(n: int, test_size: float, groups: Array | None = None) -> str | None:
    """Why holding out ``test_size`` of ``n`` samples (stratified by the classes ``groups``,
    when given) is impossible, or None: as scikit-learn, each part needs a sample, and with
    strata, each class two samples and each part one sample per class."""
    n_test = math.ceil(test_size * n)
    n_train = n - n_test
    if n_train < 1 or n_test < 1:
        return f"test_size={test_size} of {n} samples leaves no training or no test samples"
    if groups is None:
        return None
    classes, counts = np.unique(groups, return_counts=True)
    if counts.min() < 2:
        return (
            f"class {classes[counts.argmin()].item()!r} has only {counts.min()} sample; "
            f"stratifying needs at least 2 per class (turn stratification off)"
        )
    if n_test < len(classes) or n_train < len(classes):
        return (
            f"test_size={test_size} of {n} samples gives {n_test} test and {n_train} training "
            f"samples, fewer than the {len(classes)} classes; stratifying needs one of each"
        )
    return None


def train_test_split(
    x: Array,
    t: Array,
    *,
    test_size: float = 0.25,
    random_state: int = 0,
    stratify: bool = True,
) -> tuple[Array, Array, Array, Array]:
    """``(x_train, x_test, t_train, t_test)``, as scikit-learn's ``train_test_split(x, t,
    test_size=..., stratify=t if stratify else None, random_state=...)``.

    It calls scikit-learn when it is installed, so the split is exactly the standard one; else a
    NumPy split with the same sizes (⌈test_size·N⌉ test samples) and class proportions.
    Stratification applies only to class targets (see :func:`strata`).
    """
    test_size = _check_fraction("test_size", test_size)
    x, t = np.asarray(x), np.asarray(t)
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but t has {t.shape[0]}; they must match")
    groups = strata(t) if stratify else None
    problem = split_problem(x.shape[0], test_size, groups)
    if problem is not None:  # said here, in our terms, rather than by scikit-learn
        raise ValueError(problem)
    try:
        from sklearn.model_selection import train_test_split as sklearn_split
    except ImportError:
        train, test = numpy_split_indices(x.shape[0], test_size, random_state, groups)
        return x[train], x[test], t[train], t[test]
    parts = sklearn_split(x, t, test_size=test_size, random_state=random_state, stratify=groups)
    return parts[0], parts[1], parts[2], parts[3]


def numpy_split_indices(
    n: int, test_size: float, random_state: int, groups: Array | None = None
) -> tuple[Array, Array]:
    """Train and test indices: ⌈test_size·n⌉ test samples drawn at random, per class in
    proportion to the class sizes when ``groups`` is given (largest remainders round)."""
    test_size = _check_fraction("test_size", test_size)
    problem = split_problem(n, test_size, groups)
    if problem is not None:
        raise ValueError(problem)
    n_test = math.ceil(test_size * n)
    rng = np.random.default_rng(random_state)
    if groups is None:
        order = rng.permutation(n)
        return np.sort(order[n_test:]), np.sort(order[:n_test])
    classes, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    exact = counts * n_test / n
    take = np.floor(exact).astype(int)
    for index in np.argsort(-(exact - take), kind="stable")[: n_test - int(take.sum())]:
        take[index] += 1
    test_parts = []
    for k in range(len(classes)):
        members = np.flatnonzero(inverse == k)
        test_parts.append(rng.permutation(members)[: take[k]])
    test = np.sort(np.concatenate(test_parts))
    train = np.setdiff1d(np.arange(n), test)
    return rng.permutation(train), rng.permutation(test)


def split(
    data: Dataset,
    *,
    test_size: float = 0.25,
    validation_split: float = 0.0,
    random_state: int = 0,
    stratify: bool = True,
) -> Splits:
    """Hold out ``test_size`` of ``data`` for testing (0: no test part), then
    ``validation_split`` of the rest for validation (0: none); both as :func:`train_test_split`."""
    if data.t is None:
        raise ValueError(f"{data.name}: has no targets to train on")
    rest, test = data, None
    if test_size:
        x_rest, x_test, t_rest, t_test = train_test_split(
            data.x, data.t, test_size=test_size, random_state=random_state, stratify=stratify
        )
        rest = Dataset(x_rest, t_rest, data.name)
        test = Dataset(x_test, t_test, data.name)
    validation = None
    if validation_split:
        assert rest.t is not None
        try:
            x_train, x_val, t_train, t_val = train_test_split(
                rest.x,
                rest.t,
                test_size=validation_split,
                random_state=random_state,
                stratify=stratify,
            )
        except ValueError as exc:
            raise ValueError(f"validation split: {exc}") from None
        rest = Dataset(x_train, t_train, data.name)
        validation = Dataset(x_val, t_val, data.name)
    return Splits(rest, validation, test)
