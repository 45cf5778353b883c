"""Data for the CLI and the examples: data sets by name (the registry's ``dataset`` kind, and
:class:`HeldOut`, in :mod:`~plugnet.datasets.sources`), the toy sets' generators
(:mod:`~plugnet.datasets.toy_sets`), ``.npz`` and ``.csv`` files (:mod:`~plugnet.datasets.files`)
and splits (:mod:`~plugnet.datasets.splits`); the shared types are in :mod:`~plugnet.datasets.base`.

Everything public is importable from ``plugnet.datasets`` itself; the modules say what each
source holds and how splits are made.
"""

from __future__ import annotations

from plugnet.datasets.base import Dataset, Splits
from plugnet.datasets.files import (
    FILE_SUFFIXES,
    DataFile,
    file_exists,
    is_file_source,
    load,
    load_csv,
    load_npz,
)
from plugnet.datasets.sources import (
    DEFAULT_TEST_SIZE,
    HeldOut,
    SplitError,
    check_test_size,
    hold_out,
    named_source,
    unknown_source_message,
    whole,
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
    MAX_SAMPLES,
    check_int,
    check_noise,
    check_samples,
    digits,
    sine,
    spiral,
    toy,
    xor,
)

__all__ = [
    "DEFAULT_TEST_SIZE",
    "EXAMPLES_EXTRA",
    "FILE_SUFFIXES",
    "MAX_SAMPLES",
    "DataFile",
    "Dataset",
    "HeldOut",
    "SplitError",
    "Splits",
    "check_int",
    "check_noise",
    "check_samples",
    "check_test_size",
    "digits",
    "file_exists",
    "hold_out",
    "is_file_source",
    "load",
    "load_csv",
    "load_npz",
    "named_source",
    "numpy_split_indices",
    "sine",
    "spiral",
    "split",
    "split_problem",
    "strata",
    "toy",
    "train_test_split",
    "unknown_source_message",
    "whole",
    "xor",
]
