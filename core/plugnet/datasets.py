"""Data for the CLI and the examples: ``.npz`` and ``.csv`` files, built-in toy sets, splits.

Sources
-------
- ``.npz``: arrays ``x`` (inputs) and ``t`` (targets; ``y`` is accepted as its name too), read with
  ``allow_pickle=False``.
- ``.csv``: numbers only, one header row. The label column is the one named ``label_column``
  (default ``"label"``), or the last column when no column has that name. Labels that are all
  whole numbers become integer class labels; otherwise they are float regression targets.
- Built-in sets, generated deterministically from ``seed``:

  ======== ============================================================= =================
  name     what                                                          options
  ======== ============================================================= =================
  xor      the four XOR points (n=4, noise=0), or n samples around them  n, noise
  spiral   K interleaved spiral arms (as in CS231n); n points per class  n, classes, noise
  sine     x ~ U[−π, π] of shape (n, 1), t = sin(x) + noise (regression) n, noise
  digits   scikit-learn's bundled 8×8 digits, 1797×64, x scaled to [0, 1] (none)
  ======== ============================================================= =================

  ``digits`` needs scikit-learn: ``pip install "plugnet[examples]"``.

Classification targets are integer labels of shape (N,); ``Sequential`` one-hot encodes them.

Splits
------
:func:`train_test_split` splits like ``sklearn.model_selection.train_test_split`` (same
argument meaning and return order). When scikit-learn is installed it *is* scikit-learn's
function, so ``test_size=0.25, stratify=True, random_state=0`` gives exactly the standard split;
without scikit-learn a NumPy split with the same proportions is used (same sizes and class
balance, different sample choice). :func:`split` returns train, validation and test parts.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from plugnet.protocols import Array

TOY_SETS = ("digits", "sine", "spiral", "xor")
FILE_SUFFIXES = (".npz", ".csv")
#: Which options each built-in set takes (besides ``seed``).
TOY_OPTIONS: dict[str, tuple[str, ...]] = {
    "xor": ("n", "noise"),
    "spiral": ("n", "classes", "noise"),
    "sine": ("n", "noise"),
    "digits": (),
}
EXAMPLES_EXTRA = 'pip install "plugnet[examples]"'


@dataclass
class Dataset:
    """Inputs ``x`` (N, features...), targets ``t`` (None when the source has none) and a name."""

    x: Array
    t: Array | None
    name: str

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def classification(self) -> bool:
        """Whether ``t`` holds integer class labels of shape (N,)."""
        return self.t is not None and self.t.ndim == 1 and self.t.dtype.kind in "iu"

    def subset(self, index: Array) -> Dataset:
        return Dataset(self.x[index], None if self.t is None else self.t[index], self.name)


# -- built-in toy sets ----------------------------------------------------------------------------


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_noise(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"noise must be a number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {value!r}")
    return float(value)


def xor(n: int = 4, noise: float = 0.0, seed: int = 0) -> Dataset:
    """XOR: sample i sits at corner i % 4 of the unit square — (0,0)→0, (0,1)→1, (1,0)→1,
    (1,1)→0 — plus Gaussian noise of standard deviation ``noise``. The defaults give the four
    exact points."""
    n = _check_int("n", n, 1)
    noise = _check_noise(noise)
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = np.array([0, 1, 1, 0], dtype=np.int64)
    which = np.arange(n) % 4
    x = corners[which]
    if noise:
        x = x + noise * np.random.default_rng(seed).standard_normal(x.shape)
    return Dataset(x, labels[which], "xor")


def spiral(n: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0) -> Dataset:
    """``classes`` spiral arms of ``n`` points each, as in CS231n: for arm k, radius r runs
    0 → 1 and angle θ runs 4k → 4(k+1) plus N(0, noise²); x = (r·sin θ, r·cos θ)."""
    n = _check_int("n", n, 1)
    classes = _check_int("classes", classes, 2)
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    x = np.zeros((n * classes, 2))
    t = np.zeros(n * classes, dtype=np.int64)
    for k in range(classes):
        rows = slice(n * k, n * (k + 1))
        radius = np.linspace(0.0, 1.0, n)
        theta = np.linspace(4.0 * k, 4.0 * (k + 1), n) + noise * rng.standard_normal(n)
        x[rows] = np.column_stack([radius * np.sin(theta), radius * np.cos(theta)])
        t[rows] = k
    return Dataset(x, t, "spiral")


def sine(n: int = 200, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Regression: x ~ U[−π, π] of shape (n, 1), t = sin(x) + N(0, noise²), shape (n, 1)."""
    n = _check_int("n", n, 1)
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    t = np.sin(x) + noise * rng.standard_normal((n, 1))
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
    return Dataset(bunch.data / 16.0, bunch.target.astype(np.int64), "digits")


def toy(name: str, *, seed: int = 0, **options: Any) -> Dataset:
    """A built-in set by name, with its options (see the module docstring)."""
    key = name.strip().lower()
    if key not in TOY_SETS:
        raise LookupError(_unknown_source(name))
    unknown = sorted(set(options) - set(TOY_OPTIONS[key]))
    if unknown:
        takes = ", ".join(TOY_OPTIONS[key]) or "no options"
        raise ValueError(f"the {key} data set does not take {', '.join(unknown)}; it takes {takes}")
    if key == "digits":
        return digits()
    generators: dict[str, Callable[..., Dataset]] = {"xor": xor, "spiral": spiral, "sine": sine}
    return generators[key](seed=seed, **options)


def _unknown_source(name: str) -> str:
    # A name far longer than any set's is no misspelling (and would cost difflib time).
    close = difflib.get_close_matches(name.strip().lower(), TOY_SETS, n=1) if len(name) < 80 else []
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = repr(name) if len(name) < 200 else f"{name[:160]!r}... ({len(name)} characters)"
    return (
        f"unknown data source {shown}: it is not a built-in data set and not a .npz or .csv "
        f"file.{hint} Built-in sets: {', '.join(TOY_SETS)}."
    )


# -- files ----------------------------------------------------------------------------------------


def is_file_source(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` names a data file (by its suffix) rather than a built-in set."""
    return Path(source).suffix.lower() in FILE_SUFFIXES


def load_npz(path: str | os.PathLike[str], *, require_targets: bool = True) -> Dataset:
    """Arrays ``x`` and ``t`` (or ``y``) from an ``.npz`` file; nothing is unpickled."""
    file = _existing(path)
    try:
        archive = np.load(file, allow_pickle=False)
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"{file}: not a readable .npz file ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{file}: holds a single array, not an .npz archive of x and t")
    with archive:
        names = list(archive.files)
        if "x" not in names or (require_targets and "t" not in names and "y" not in names):
            has = ", ".join(names) if names else "no arrays"
            raise ValueError(f"{file}: has arrays {has}; expected x and t (or y)")
        target_name = "t" if "t" in names else "y" if "y" in names else None
        try:
            x = archive["x"]
            t = archive[target_name] if target_name else None
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{file}: cannot read its arrays ({exc})") from None
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if t is not None and (t.ndim == 0 or t.shape[0] != x.shape[0]):
        raise ValueError(
            f"{file}: x has {x.shape[0]} samples but {target_name} has shape {t.shape}; "
            f"the first axes must match"
        )
    return Dataset(x, t, file.name)


def load_csv(
    path: str | os.PathLike[str],
    *,
    label_column: str | None = "label",
    require_targets: bool = True,
) -> Dataset:
    """A numeric CSV with a header row. The label column is ``label_column`` or, when no column
    has that name, the last column. With ``require_targets=False`` (prediction) a file without a
    column of that name is all inputs."""
    file = _existing(path)
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            rows = list(reader)
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit() characters
            raise ValueError(
                f"{file}: line {reader.line_num}: not a readable CSV file ({exc})"
            ) from None
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start} of a block); "
                f"a data file must be a numeric CSV"
            ) from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if not rows:
        raise ValueError(f"{file}: the file is empty; expected a header row and numeric rows")
    header = [cell.strip() for cell in rows[0]]
    if len(rows) < 2:
        raise ValueError(f"{file}: has a header row but no data rows")
    values = _numbers(file, header, rows[1:])
    if not np.isfinite(values).all():
        row_index, column = (int(i) for i in np.argwhere(~np.isfinite(values))[0])
        raise ValueError(
            f"{file}: row {row_index + 2}, column {header[column]!r} is NaN or infinite"
        )
    if label_column is not None and label_column in header:
        label = header.index(label_column)
    elif require_targets:
        if len(header) < 2:
            raise ValueError(f"{file}: needs at least one input column and a label column")
        label = len(header) - 1
    else:
        return Dataset(values, None, file.name)
    x = np.delete(values, label, axis=1)
    if x.shape[1] == 0:
        raise ValueError(f"{file}: has only the label column {header[label]!r}; no inputs")
    labels = values[:, label]
    t: Array = labels.astype(np.int64) if np.all(labels == np.round(labels)) else labels
    return Dataset(x, t, file.name)


def _numbers(file: Path, header: list[str], rows: list[list[str]]) -> Array:
    """The cells as floats: NumPy converts them all at once; only when that fails are they
    read one by one, to say which row and column is wrong (row numbers count the header)."""
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{file}: row {number} has {len(row)} cells but the header has {len(header)}"
            )
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    except ValueError:
        pass
    for number, row in enumerate(rows, start=2):
        for column, cell in enumerate(row):
            try:
                float(cell)
            except ValueError:
                raise ValueError(
                    f"{file}: row {number}, column {header[column]!r}: {cell.strip()!r} is not "
                    f"a number (the CSV must be numeric apart from its header row)"
                ) from None
    return np.array([[float(cell) for cell in row] for row in rows], dtype=np.float64)


def file_exists(path: Path) -> bool:
    """``path.is_file()``, except that a path the file system refuses (a name too long) is no
    file rather than an OSError."""
    try:
        return path.is_file()
    except OSError:
        return False


def _existing(path: str | os.PathLike[str]) -> Path:
    file = Path(path)
    if not file_exists(file):
        what = "is a directory, not a data file" if file.is_dir() else "no such data file"
        raise FileNotFoundError(f"{file}: {what}")
    return file


def load(
    source: str | os.PathLike[str],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    label_column: str | None = "label",
    seed: int = 0,
    require_targets: bool = True,
    **options: Any,
) -> Dataset:
    """A data set from a built-in name or a ``.npz``/``.csv`` path (relative paths are taken
    from ``base_dir`` when given). ``options`` (n, noise, classes) go to a built-in set."""
    text = os.fspath(source)
    if not is_file_source(text):
        if file_exists(Path(text)):
            raise ValueError(
                f"{text}: unsupported data file type {Path(text).suffix or '(no suffix)'!r}; "
                f"use {' or '.join(FILE_SUFFIXES)}"
            )
        return toy(text, seed=seed, **options)
    if options:
        raise ValueError(
            f"{', '.join(sorted(options))} only apply to the built-in data sets, not to a file"
        )
    path = Path(text)
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    if path.suffix.lower() == ".npz":
        return load_npz(path, require_targets=require_targets)
    return load_csv(path, label_column=label_column, require_targets=require_targets)


# -- splits ---------------------------------------------------------------------------------------


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


@dataclass
class Splits:
    """The parts of a data set: ``train``, and ``validation``/``test`` when asked for."""

    train: Dataset
    validation: Dataset | None
    test: Dataset | None


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
