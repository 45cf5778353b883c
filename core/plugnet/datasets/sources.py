"""Data sets by name: the registry's ``dataset`` kind (protocol
:class:`~plugnet.protocols.DataSource`), and :class:`HeldOut`, the base of every source that
makes one whole set and holds a test part out of it.

Which sets exist is the registry's business: plugnet's own (xor, spiral, sine and
scikit-learn's bundled sets) are registered by its built-in plugin through
``register_datasets``, exactly as a third party registers one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from plugnet.configurable import Configurable

if TYPE_CHECKING:
    from plugnet._registry import Registry
    from plugnet.datasets.base import Dataset, Splits
    from plugnet.protocols import DataSource

#: The fraction held out for testing when a set's ``test_size`` is left at None.
DEFAULT_TEST_SIZE = 0.25


class SplitError(ValueError):
    """The test part that ``test_size`` asks for cannot be made from the set (too few samples,
    or of a class); the message says why. ``plugnet train`` reports it at ``data.test_size``."""


def check_test_size(value: Any) -> float | None:
    """``value`` if it is None (the default) or a fraction in [0, 1) (0: no test part)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"test_size must be a fraction in [0, 1) or None, got {value!r}")
    if not (math.isfinite(value) and 0 <= value < 1):
        raise ValueError(f"test_size must be a fraction in [0, 1), got {value!r}")
    return float(value)


def hold_out(data: Dataset, *, test_size: float | None, seed: int, stratify: bool) -> Splits:
    """``test_size`` of ``data`` held out for testing (see :func:`plugnet.datasets.split`),
    seeded by ``seed``. None holds out :data:`DEFAULT_TEST_SIZE`, or nothing when the set is too
    small for that (the four points of xor); a ``test_size`` given is never changed: a part that
    cannot be made is a :class:`SplitError`."""
    from plugnet.datasets.splits import split, split_problem, strata  # on first use: start-up

    if data.t is None:
        raise ValueError(f"{data.name}: has no targets to train on")
    if test_size is None:
        groups = strata(data.t) if stratify else None
        fits = split_problem(len(data), DEFAULT_TEST_SIZE, groups) is None
        test_size = DEFAULT_TEST_SIZE if fits else 0.0
    try:
        return split(data, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise SplitError(str(exc)) from None


class HeldOut(Configurable):
    """A :class:`~plugnet.protocols.DataSource` (and :class:`~plugnet.protocols.WholeData`)
    that makes one whole set from the seed, :meth:`data`, and holds ``test_size`` of it out as
    the test part (:func:`hold_out`, stratified by class when ``stratify``), with the same seed.

    A subclass takes ``test_size: float | None = None`` and ``stratify: bool = True`` among its
    ``__init__`` arguments, passes them to :meth:`hold_out_with`, and defines :meth:`data`.
    """

    test_size: float | None
    stratify: bool

    def hold_out_with(self, test_size: float | None, stratify: bool) -> None:
        """Check and keep the split arguments."""
        self.test_size = check_test_size(test_size)
        if not isinstance(stratify, bool):
            raise ValueError(f"stratify must be true or false, got {stratify!r}")
        self.stratify = stratify

    def data(self, seed: int = 0) -> Dataset:
        """Every sample of the set, made from ``seed``."""
        raise NotImplementedError(f"{type(self).__name__} does not define data(seed)")

    def load(self, seed: int = 0) -> Splits:
        return hold_out(self.data(seed), test_size=self.test_size, seed=seed,
                        stratify=self.stratify)  # fmt: skip


def unknown_source_message(name: str, names: Sequence[str]) -> str:
    """Why ``name`` is no data source: neither a registered data set (``names``) nor a
    ``.npz``/``.csv`` file; it suggests the closest name and lists them all."""
    # A name far longer than any set's is no misspelling (and would cost difflib time).
    import difflib  # only for this message

    close = difflib.get_close_matches(name.strip().lower(), names, n=1) if len(name) < 80 else []
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = repr(name) if len(name) < 200 else f"{name[:160]!r}... ({len(name)} characters)"
    return (
        f"unknown data source {shown}: it is not a registered data set and not a .npz or .csv "
        f"file.{hint} Data sets: {', '.join(names)}."
    )


def named_source(
    spec: str, options: Mapping[str, Any] | None = None, *, registry: Registry | None = None
) -> DataSource:
    """The registered data set that ``spec`` names (``"spiral"``, ``"spiral(n=300)"``,
    ``"provider:name"``), built with the spec's arguments and ``options``.

    An unknown name is a ``LookupError`` that suggests the closest set and lists them all; an
    argument the set does not take, or a bad value, a ``ValueError`` that says which.
    """
    from plugnet.discovery import get_registry
    from plugnet.errors import SpecError
    from plugnet.specs import parse_string

    registry = registry or get_registry()
    try:
        parsed = parse_string(spec)
        component = registry.lookup("dataset", parsed.display)
    except (LookupError, SpecError) as exc:
        if isinstance(exc, SpecError) and "(" in spec:
            raise  # a spec with arguments that does not parse: say where
        raise LookupError(unknown_source_message(spec, registry.available("dataset"))) from None
    arguments = {**parsed.kwargs, **(options or {})}
    takes = list(component.parameters())
    unknown = sorted(set(arguments) - set(takes))
    if unknown:
        accepted = ", ".join(takes) or "no options"
        raise ValueError(
            f"the {component.name} data set does not take {', '.join(unknown)}; it takes {accepted}"
        )
    source: DataSource = registry.resolve("dataset", {"name": component.qualified_name,
                                                      **arguments})  # fmt: skip
    return source


def whole(source: DataSource, seed: int = 0) -> Dataset:
    """Every sample of ``source``: its :class:`~plugnet.protocols.WholeData` ``data(seed)``, or
    else its train and test parts one after the other."""
    from plugnet.protocols import WholeData

    if isinstance(source, WholeData) and callable(source.data):  # isinstance checks presence
        return source.data(seed)
    parts = source.load(seed)
    if parts.test is None:
        return parts.train
    import numpy as np

    from plugnet.datasets.base import Dataset  # where it is used: see toy_sets

    train, test = parts.train, parts.test
    t = None if train.t is None or test.t is None else np.concatenate([train.t, test.t])
    return Dataset(np.concatenate([train.x, test.x]), t, train.name)
