"""Data for the CLI and the examples: data sets by name (the registry's ``dataset`` kind, and
:class:`HeldOut`, in :mod:`~plugnet.datasets.sources`), the toy sets' generators
(:mod:`~plugnet.datasets.toy_sets`), ``.npz`` and ``.csv`` files (:mod:`~plugnet.datasets.files`)
and splits (:mod:`~plugnet.datasets.splits`); the shared types are in :mod:`~plugnet.datasets.base`.

Everything public is importable from ``plugnet.datasets`` itself; the modules say what each
source holds and how splits are made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each name is imported from its module on first use, so that registering the built-in data sets
# (which need only HeldOut and the toy sets) does not import the file readers (csv, zipfile).
_LAZY = {
    "Dataset": "plugnet.datasets.base",
    "Splits": "plugnet.datasets.base",
    "FILE_SUFFIXES": "plugnet.datasets.files",
    "DataFile": "plugnet.datasets.files",
    "file_exists": "plugnet.datasets.files",
    "is_file_source": "plugnet.datasets.files",
    "load": "plugnet.datasets.files",
    "load_csv": "plugnet.datasets.files",
    "load_npz": "plugnet.datasets.files",
    "DEFAULT_TEST_SIZE": "plugnet.datasets.sources",
    "HeldOut": "plugnet.datasets.sources",
    "SplitError": "plugnet.datasets.sources",
    "check_test_size": "plugnet.datasets.sources",
    "hold_out": "plugnet.datasets.sources",
    "named_source": "plugnet.datasets.sources",
    "unknown_source_message": "plugnet.datasets.sources",
    "whole": "plugnet.datasets.sources",
    "numpy_split_indices": "plugnet.datasets.splits",
    "split": "plugnet.datasets.splits",
    "split_problem": "plugnet.datasets.splits",
    "strata": "plugnet.datasets.splits",
    "train_test_split": "plugnet.datasets.splits",
    "EXAMPLES_EXTRA": "plugnet.datasets.toy_sets",
    "MAX_SAMPLES": "plugnet.datasets.toy_sets",
    "check_int": "plugnet.datasets.toy_sets",
    "check_noise": "plugnet.datasets.toy_sets",
    "check_samples": "plugnet.datasets.toy_sets",
    "digits": "plugnet.datasets.toy_sets",
    "sine": "plugnet.datasets.toy_sets",
    "spiral": "plugnet.datasets.toy_sets",
    "toy": "plugnet.datasets.toy_sets",
    "xor": "plugnet.datasets.toy_sets",
}


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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'plugnet.datasets' has no attribute {name!r}")
