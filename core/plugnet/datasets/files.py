"""Data files, :class:`DataFile` (a file as a data source), and :func:`load`, which reads a file
or makes a data set by name.

- ``.npz``: arrays ``x`` (inputs) and ``t`` (targets; ``y`` is accepted as its name too), read with
  ``allow_pickle=False``.
- ``.csv``: numbers only, one header row. The label column is the one named ``label_column``
  (default ``"label"``), or the last column when no column has that name. Labels that are all
  whole numbers become integer class labels; otherwise they are float regression targets.
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from plugnet.datasets.base import Dataset
from plugnet.datasets.sources import HeldOut
from plugnet.datasets.toy_sets import toy
from plugnet.protocols import Array

FILE_SUFFIXES = (".npz", ".csv")


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


class DataFile(HeldOut):
    """A ``.npz`` or ``.csv`` file as a :class:`~plugnet.protocols.DataSource`: the file is the
    whole set, and ``test_size`` of it (None: 0.25, or nothing when it is too small for that)
    is held out for testing, stratified by class when ``stratify``, seeded by ``load``'s seed.
    ``label_column`` applies to a ``.csv`` file (see :func:`load_csv`).

    A path is not a registered name: ``plugnet train`` builds one for a ``source`` that ends in
    ``.npz`` or ``.csv``, so ``source = "data/train.csv"`` stays a path.
    """

    def __init__(
        self,
        path: str,
        label_column: str | None = "label",
        test_size: float | None = None,
        stratify: bool = True,
    ) -> None:
        if not is_file_source(path):
            raise ValueError(
                f"{path}: unsupported data file type {Path(path).suffix or '(no suffix)'!r}; "
                f"use {' or '.join(FILE_SUFFIXES)}"
            )
        self.path = os.fspath(path)
        self.label_column = label_column
        self.hold_out_with(test_size, stratify)

    def data(self, seed: int = 0) -> Dataset:
        """The file's samples (``seed`` makes no difference to them)."""
        if Path(self.path).suffix.lower() == ".npz":
            return load_npz(self.path)
        return load_csv(self.path, label_column=self.label_column)


def load(
    source: str | os.PathLike[str],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    label_column: str | None = "label",
    seed: int = 0,
    require_targets: bool = True,
    **options: Any,
) -> Dataset:
    """A whole data set from a registered name (:func:`~plugnet.datasets.toy`, made from
    ``seed``) or a ``.npz``/``.csv`` path (relative paths are taken from ``base_dir`` when
    given). ``options`` (n, noise, classes, ...) go to a set by name."""
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
            f"{', '.join(sorted(options))} only apply to data sets by name, not to a file"
        )
    path = Path(text)
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    if path.suffix.lower() == ".npz":
        return load_npz(path, require_targets=require_targets)
    return load_csv(path, label_column=label_column, require_targets=require_targets)
