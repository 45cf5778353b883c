"""The types the data modules share: a :class:`Dataset` and the :class:`Splits` of one."""

from __future__ import annotations

from dataclasses import dataclass

from plugnet.protocols import Array


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


@dataclass
class Splits:
    """The parts of a data set: ``train``, and ``validation``/``test`` when asked for."""

    train: Dataset
    validation: Dataset | None
    test: Dataset | None
