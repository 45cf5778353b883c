"""The data set checks: splits well formed, reproducible from the seed, train and test disjoint,
and the config round trip."""

from __future__ import annotations

from typing import Any

import numpy as np

from plugnet.protocols import Array, WholeData
from plugnet.testing.checks.common import SEED, CheckTable, Subject, rebuild
from plugnet.testing.gradients import ConformanceError

CHECKS = CheckTable()


def _parts(splits: Any) -> list[tuple[str, Any]]:
    """The named parts of a ``Splits`` (the test part when there is one)."""
    from plugnet.datasets import Dataset, Splits

    if not isinstance(splits, Splits):
        raise ConformanceError(
            f"load({SEED}) returned {type(splits).__name__}; a data source returns "
            f"plugnet.datasets.Splits(train, None, test)"
        )
    if splits.validation is not None:
        raise ConformanceError(
            "load() returned a validation part; a source gives train and test only (plugnet "
            "train takes validation data out of train)"
        )
    parts = [("train", splits.train)] + ([("test", splits.test)] if splits.test is not None else [])
    for name, part in parts:
        if not isinstance(part, Dataset):
            raise ConformanceError(f"the {name} part is a {type(part).__name__}, not a Dataset")
    return parts


def _arrays(splits: Any) -> list[tuple[str, Array | None]]:
    return [
        (f"{name}.{field}", getattr(part, field))
        for name, part in _parts(splits)
        for field in ("x", "t")
    ]


def _same(label: str, a: Any, b: Any) -> None:
    first, second = _arrays(a), _arrays(b)
    if [n for n, _ in first] != [n for n, _ in second]:
        raise ConformanceError(f"{label}: the parts differ ({len(first)} against {len(second)})")
    for (name, x), (_, y) in zip(first, second, strict=True):
        if (x is None) != (y is None) or (
            x is not None and y is not None and (x.dtype != y.dtype or not np.array_equal(x, y))
        ):
            raise ConformanceError(f"{label}: {name} differs")


@CHECKS.check("splits")
def _splits(subject: Subject) -> None:
    """Each part: x of shape (N, features...) and numeric, finite; t (N, ...) numeric or None;
    the parts agree on per-sample shapes and dtypes; train has samples."""
    parts = _parts(subject.fresh().load(SEED))
    for name, part in parts:
        x, t = part.x, part.t
        if not isinstance(x, np.ndarray) or x.ndim < 2 or x.dtype.kind not in "fiu":
            shown = getattr(x, "shape", type(x).__name__)
            raise ConformanceError(
                f"{name}.x must be a numeric array (N, features...), got {shown}"
            )
        if t is not None and (
            not isinstance(t, np.ndarray) or t.ndim < 1 or t.dtype.kind not in "fiu"
        ):
            raise ConformanceError(f"{name}.t must be a numeric array (N, ...) or None")
        if t is not None and t.shape[0] != x.shape[0]:
            raise ConformanceError(f"{name}: x has {x.shape[0]} samples but t has {t.shape[0]}")
        for field, array in (("x", x), ("t", t)):
            if array is not None and array.dtype.kind == "f" and not np.isfinite(array).all():
                raise ConformanceError(f"{name}.{field} holds NaN or infinite values")
    if len(parts[0][1]) == 0:
        raise ConformanceError("the train part has no samples")
    (_, train), *rest = parts
    for name, part in rest:
        if part.x.shape[1:] != train.x.shape[1:] or part.x.dtype != train.x.dtype:
            raise ConformanceError(
                f"{name}.x is {part.x.dtype}{part.x.shape[1:]} per sample but train.x is "
                f"{train.x.dtype}{train.x.shape[1:]}"
            )
        if (part.t is None) != (train.t is None) or (
            part.t is not None
            and train.t is not None
            and (part.t.shape[1:] != train.t.shape[1:] or part.t.dtype != train.t.dtype)
        ):
            raise ConformanceError(f"{name}.t and train.t differ in shape or dtype per sample")


@CHECKS.check("reproducible")
def _reproducible(subject: Subject) -> None:
    """The same seed gives the same arrays, from one instance and from another."""
    source = subject.fresh()
    first = source.load(SEED)
    _same(f"load({SEED}) twice", first, source.load(SEED))
    _same(f"load({SEED}) of two instances", first, subject.fresh().load(SEED))


def _rows(*parts: Any) -> list[bytes]:
    """Each sample (its x and t) as bytes, to compare samples across parts."""
    rows: list[bytes] = []
    for part in parts:
        flat = part.x.reshape(len(part), -1).astype(np.float64)
        if part.t is not None:
            flat = np.hstack([flat, part.t.reshape(len(part), -1).astype(np.float64)])
        rows += [row.tobytes() for row in flat]
    return rows


@CHECKS.check("disjoint")
def _disjoint(subject: Subject) -> None:
    """No sample is in both train and test, beyond the repeated samples the set itself has;
    with ``data(seed)`` (:class:`~plugnet.protocols.WholeData`) the parts also add up to it."""
    source = subject.fresh()
    splits = source.load(SEED)
    _parts(splits)
    if splits.test is None:
        return
    train, test = splits.train, splits.test
    repeats = 0
    if isinstance(source, WholeData):
        whole = source.data(SEED)
        if len(train) + len(test) != len(whole):
            raise ConformanceError(
                f"train ({len(train)}) and test ({len(test)}) do not add up to the "
                f"{len(whole)} samples of data({SEED})"
            )
        rows = _rows(whole)
        repeats = len(rows) - len(set(rows))
    in_train = set(_rows(train))
    shared = sum(row in in_train for row in _rows(test))
    if shared > repeats:
        raise ConformanceError(
            f"{shared} test samples are also training samples (the set repeats {repeats}); a "
            f"test score on them would not be a test score"
        )


@CHECKS.check("config")
def _config(subject: Subject) -> None:
    source = subject.fresh()
    _same("the rebuilt source's load()", source.load(SEED), rebuild(subject, source).load(SEED))
