"""Data for the CLI and the examples, in three modules: the built-in toy sets
(:mod:`~plugnet.datasets.toy_sets`), ``.npz`` and ``.csv`` files (:mod:`~plugnet.datasets.files`)
and splits (:mod:`~plugnet.datasets.splits`); the shared types are in :mod:`~plugnet.datasets.base`.

Everything public is importable from ``plugnet.datasets`` itself; the modules say what each
source holds and how splits are made.
"""

from __future__ import annotations

from plugnet.datasets.base import Dataset, Splits
from plugnet.datasets.files import (
    FILE_SUFFIXES,
    file_exists,
    is_file_source,
    load,
    load_csv,
    load_npz,
)
from plugnet.datasets.splits import (
    numpy_split_indices,
    split,
    split_problem,
    strata,
    train_test_split,
)
from plugnet.datasets.toy_sets import (
    EXAMPLES_EXTRA,
    TOY_OPTIONS,
    TOY_SETS,
    digits,
    sine,
    spiral,
    toy,
    unknown_source_message,
    xor,
)

__all__ = [
    "EXAMPLES_EXTRA",
    "FILE_SUFFIXES",
    "TOY_OPTIONS",
    "TOY_SETS",
    "Dataset",
    "Splits",
    "digits",
    "file_exists",
    "is_file_source",
    "load",
    "load_csv",
    "load_npz",
    "numpy_split_indices",
    "sine",
    "spiral",
    "split",
    "split_problem",
    "strata",
    "toy",
    "train_test_split",
    "unknown_source_message",
    "xor",
]
