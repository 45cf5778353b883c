"""Training configs: a TOML file that says what data, which network and how to train.

The file is read with :mod:`tomllib` and validated as a whole before any data is loaded or any
training starts. Every problem is a :class:`ConfigError` (a ``ValueError``) whose message starts
with the key path, e.g. ``model.layers[1].units: expected a positive integer, got 'ten'``.
Component names are resolved through the registry up front, so a misspelled activation is
reported with suggestions before anything runs. Nothing in a config is ever evaluated.

A config is at most :data:`MAX_CONFIG_SIZE` bytes (characters, for text), and its arrays and
inline tables nest at most :data:`MAX_CONFIG_DEPTH` deep; both are checked before the TOML is
parsed, so a hostile file costs time linear in its size.

Schema (every key except ``data.source``, ``model.error`` and ``model.layers`` is optional; the
defaults are those of the fields of :class:`DataConfig`, :class:`ModelConfig` and
:class:`TrainingConfig` and of :class:`plugnet.EarlyStopping`, listed in docs/configs.md)::

    [data]
    source = "digits"          # a data set by name (`plugnet plugins --kind dataset`; a spec
                               # such as "spiral(n=300)" or a table { name = "spiral", ... })
                               # or a path to a .npz or .csv file, relative to this config file
    validation_split = 0.0     # fraction of the training part used for validation each epoch
    random_state = 0           # seeds the set's generator and its splits
    # every other key is an argument of the set's factory, checked against its signature:
    test_size = 0.25           # fraction held out for the final test score (0 = no test part);
                               # left out, the default unless the set is too small for it
    stratify = true            # keep class proportions in the splits (class targets only)
    label_column = "label"     # .csv only: the label column (else the last column)
    # and the set's own options, e.g. n, noise (xor, spiral, sine), classes (spiral)

    [model]
    dtype = "float32"          # or "float64"
    seed = 0                   # initialization and shuffling (left out: fresh entropy)
    error = "cross_entropy"    # a spec string or a table { name = "...", ... }
    optimizer = "adam(lr=1e-3)" # or { name = "adam", lr = 1e-3 }
    layers = [                 # tables with `type` (and an optional layer `name`), or strings
      { type = "dense", units = 128, activation = "relu" },
      { type = "dense", units = 10, activation = "softmax" },
    ]
    metrics = ["accuracy", "f1(average='macro')"]  # logged by name; left out: accuracy for
                               # class targets, none for regression

    [training]
    epochs = 30
    batch_size = 32
    shuffle = true
    verbose = 1                # 0 silent, 1 a bar on a terminal (else lines), 2 lines

    [training.early_stopping]  # optional; as plugnet.EarlyStopping (the early_stopping
    monitor = "val_loss"       #   callback): a logged value (loss, each metric, lr; val_*
    patience = 5               #   needs data.validation_split > 0)
    min_delta = 0.0
    mode = "auto"
    restore_best = true

    [[training.callbacks]]     # any number; a callback by name, its arguments as keys
    name = "reduce_lr_on_plateau"
    patience = 3

    [output]                   # optional; `plugnet train --out/--plot` override these
    model = "model.npz"        # relative to this config file
    plot = "curves.png"

    [sweep]                    # optional; what `plugnet sweep` searches (docs/sweeps.md);
    trials = 20                #   `plugnet train` trains the values above and ignores it
    "model.layers[0].units" = { int = [32, 256], log = true }

Any key can be set from outside the file by its key path (:func:`override`; ``plugnet train
--set model.layers[0].units=64``), before validation, so an override is checked like the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from plugnet import datasets
from plugnet.errors import SpecError
from plugnet.specs import ArgumentCheck, AtLeast, argument_checks, preview

if TYPE_CHECKING:
    from plugnet.callbacks import Callback
    from plugnet.network import Model
    from plugnet.protocols import DataSource

#: The largest config accepted: bytes of a file, characters of a text.
MAX_CONFIG_SIZE = 256 * 1024
#: How deeply arrays and inline tables may nest (``a = [[[1]]]`` is 3 deep).
MAX_CONFIG_DEPTH = 32
SECTIONS = ("data", "model", "training", "output", "sweep")
#: The keys of ``[data]`` that are the config's own; every other key is an argument of the data
#: source (its factory's parameter), such as the options in DATA_OPTIONS.
DATA_KEYS = ("source", "validation_split", "random_state")
MODEL_KEYS = ("dtype", "seed", "error", "optimizer", "layers", "metrics")
#: What a run logs besides its metrics' scores: the loss, and the learning rate in force when
#: the optimizer reports one.
LOGGED = ("loss", "lr")


class ConfigError(ValueError):
    """A config is invalid; ``key`` is the path of the offending key (``model.layers[1].units``)
    and ``file`` the config file, when known."""

    def __init__(self, key: str, problem: str, *, file: str | os.PathLike[str] | None = None):
        self.key = key
        self.problem = problem
        self.file = None if file is None else Path(file)
        prefix = f"{self.file}: " if self.file is not None else ""
        super().__init__(f"{prefix}{key}: {problem}" if key else f"{prefix}{problem}")


# -- the validated config -------------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """The ``[data]`` table: a data set by name (``source`` its canonical name) or a data file
    (``source`` its path as written), with ``options``, the arguments given to its factory
    (``n = 300``, ``test_size = 0.2``; for a file ``label_column`` too)."""

    source: str
    validation_split: float = 0.0
    random_state: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = Path()
    #: The config file, named in the errors of :meth:`splits`.
    config_file: Path | None = None

    @property
    def is_file(self) -> bool:
        return datasets.is_file_source(self.source)

    @property
    def test_size(self) -> float:
        """The fraction held out for testing: as given, else the default (which gives way on a
        set too small for it)."""
        given = self.options.get("test_size")
        return datasets.DEFAULT_TEST_SIZE if given is None else float(given)

    @property
    def stratify(self) -> bool:
        return bool(self.options.get("stratify", self._defaults().get("stratify", True)))

    @property
    def label_column(self) -> str | None:
        return self.options.get("label_column")

    def _defaults(self) -> dict[str, Any]:
        if self.is_file:
            return _parameter_defaults(datasets.DataFile)
        from plugnet.discovery import get_registry

        return dict(get_registry().lookup("dataset", self.source).parameters())

    def data_source(self) -> DataSource:
        """The data source: the registered set with its options, or a :class:`DataFile`."""
        if self.is_file:
            path = Path(self.source)
            return datasets.DataFile(str(path if path.is_absolute() else self.base_dir / path),
                                     **self.options)  # fmt: skip
        return datasets.named_source(self.source, self.options)

    def load(self) -> datasets.Dataset:
        """The whole data set (before any split)."""
        return datasets.whole(self.data_source(), self.random_state)

    def splits(self) -> datasets.Splits:
        """Train, validation and test parts: the source's train and test parts for
        ``random_state``, then ``validation_split`` of the training part. A split that cannot
        be made is a :class:`ConfigError` naming ``data.test_size`` or
        ``data.validation_split``."""
        source = self.data_source()
        try:
            parts = source.load(self.random_state)
        except datasets.SplitError as exc:
            data = datasets.whole(source, self.random_state)
            raise self._split_error("test_size", exc, data) from None
        return self._validation(parts)

    def split(self, data: datasets.Dataset) -> datasets.Splits:
        """:meth:`splits` for ``data`` given whole (``test_size`` and ``stratify`` as this
        config gives them)."""
        try:
            parts = datasets.hold_out(
                data,
                test_size=self.options.get("test_size"),
                seed=self.random_state,
                stratify=self.stratify,
            )
        except datasets.SplitError as exc:
            raise self._split_error("test_size", exc, data) from None
        return self._validation(parts)

    def _validation(self, parts: datasets.Splits) -> datasets.Splits:
        if not self.validation_split:
            return parts
        try:
            inner = datasets.split(
                parts.train,
                test_size=self.validation_split,
                random_state=self.random_state,
                stratify=self.stratify,
            )
        except ValueError as exc:
            raise self._split_error("validation_split", exc, parts.train) from None
        return datasets.Splits(inner.train, inner.test, parts.test)

    def _split_error(self, key: str, exc: ValueError, data: datasets.Dataset) -> ConfigError:
        fixes = [f"set data.{key} = 0 to train on all {len(data)} samples"]
        if self.stratify and data.t is not None and datasets.strata(data.t) is not None:
            fixes.append("set data.stratify = false")
        if "n" in self._defaults():
            fixes.append("raise data.n")
        hint = f"{', '.join(fixes[:-1])} or {fixes[-1]}" if len(fixes) > 1 else fixes[0]
        problem = f"{exc}. {hint[0].upper()}{hint[1:]}."
        return ConfigError(f"data.{key}", problem, file=self.config_file)


@dataclass(frozen=True)
class ModelConfig:
    layers: list[Any]
    error: Any
    optimizer: Any = "adam"
    seed: int | None = None
    dtype: str = "float32"
    #: Metric specs, or None for the default (accuracy for class targets).
    metrics: list[Any] | None = None

    def build(self) -> Model:
        """A fresh, unbuilt network (the input size comes from the data on ``fit``): a graph
        :class:`~plugnet.network.Model` reading the input ``"input"`` when a layer names its
        ``inputs``, else a :class:`~plugnet.network.Sequential`."""
        from plugnet.network import Model, Sequential

        graph = any(isinstance(spec, dict) and "inputs" in spec for spec in self.layers)
        return (Model if graph else Sequential)(
            self.layers,
            error=self.error,
            optimizer=self.optimizer,
            seed=self.seed,
            dtype=self.dtype,
            metrics=self.metrics,
        )


@dataclass(frozen=True)
class TrainingConfig:
    """The ``[training]`` table; the annotations are what the config admits."""

    epochs: Annotated[int, AtLeast(1)] = 1
    batch_size: Annotated[int, AtLeast(1)] = 32
    shuffle: bool = True
    verbose: int = 1  # 0, 1 or 2 (see _VERBOSITY), an int as Sequential.fit takes it
    early_stopping: dict[str, Any] | None = None
    #: The [[training.callbacks]] tables (the key ``callbacks``): dict specs
    #: ``{"name": ..., argument: value}``.
    callback_specs: tuple[dict[str, Any], ...] = field(default=(), metadata={"key": "callbacks"})
    #: ``"balanced"`` or ``{class index: weight}`` (a TOML table ``{ 0 = 1.0, 1 = 5.0 }``), as
    #: ``Sequential.fit(class_weight=...)`` takes it.
    class_weight: dict[int, float] | str | None = None

    def callbacks(self) -> list[Callback]:
        """The callbacks to train with: early stopping when [training.early_stopping] is
        given, then each of ``callbacks``, built by the registry."""
        from plugnet.callbacks import EarlyStopping
        from plugnet.discovery import get_registry

        made: list[Callback] = []
        if self.early_stopping is not None:
            made.append(EarlyStopping(**self.early_stopping))
        registry = get_registry()
        made += [registry.resolve("callback", spec) for spec in self.callback_specs]
        return made


@dataclass(frozen=True)
class OutputConfig:
    model: Path | None = None
    plot: Path | None = None


# The keys of tables that are a dataclass's fields or a callable's parameters.
TRAINING_KEYS = tuple(f.metadata.get("key", f.name) for f in dataclasses.fields(TrainingConfig))
OUTPUT_KEYS = tuple(f.name for f in dataclasses.fields(OutputConfig))


@dataclass(frozen=True)
class SweepParameter:
    """One entry of the ``[sweep]`` table: the config key at ``path`` takes an integer or a
    float in ``[low, high]`` (``log``: sampled on a log scale; ``step``: on a grid), or one of
    ``choices``."""

    path: str
    kind: str  # "int", "float" or "choice"
    low: float = 0
    high: float = 0
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class SweepConfig:
    """The ``[sweep]`` table (docs/sweeps.md): the search space, the number of trials, the
    metric and its direction, the sampler's seed, the pruner (an Optuna pruner by name, with
    its arguments) and where the study is stored (None: a journal file beside the config)."""

    parameters: tuple[SweepParameter, ...]
    trials: int = 20
    metric: str = "val_loss"
    direction: str = "minimize"
    seed: int = 0
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "median"})
    storage: str | None = None


#: The most keys a ``[sweep]`` table searches, and the most values its choices list in all:
#: each is checked by validating the whole config with it, so these bound the time that takes.
MAX_SWEEP_PARAMETERS = 64
MAX_SWEEP_CHOICES = 256
#: The settings of the ``[sweep]`` table; its other keys are key paths to search over.
SWEEP_KEYS = ("trials", "metric", "direction", "seed", "pruner", "storage")
#: The Optuna pruners a ``[sweep]`` table may name, by the name it uses.
PRUNERS = {
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "threshold": "ThresholdPruner",
    "none": "NopPruner",
}


@dataclass(frozen=True)
class Config:
    data: DataConfig
    model: ModelConfig
    training: TrainingConfig = TrainingConfig()
    output: OutputConfig = OutputConfig()
    path: Path | None = None
    sweep: SweepConfig | None = None


# -- reading --------------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str], overrides: Sequence[tuple[str, Any]] = ()) -> Config:
    """Read and validate a TOML config; relative paths in it are taken from its directory.
    ``overrides`` are (key path, value) pairs set in the document (:func:`override`) before it
    is validated."""
    file = Path(path)
    document = load_document(file)
    try:
        for key, value in overrides:
            document = override(document, key, value)
        config = parse_config(document, base_dir=file.parent)
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.problem, file=file) from None
    data = dataclasses.replace(config.data, config_file=file)
    return dataclasses.replace(config, data=data, path=file)


def load_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A config file's TOML document, unvalidated (size, encoding and nesting checked)."""
    file = Path(path)
    if not file.is_file():
        what = "is a directory" if file.is_dir() else "no such config file"
        raise FileNotFoundError(f"{file}: {what}")
    with file.open("rb") as handle:
        raw = handle.read(MAX_CONFIG_SIZE + 1)
    try:
        if len(raw) > MAX_CONFIG_SIZE:
            raise ConfigError("", f"larger than {_SIZE_LIMIT}; a config is a short TOML file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError("", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        return _parse_toml(text)
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.problem, file=file) from None


# -- key paths: overriding a key from outside the file -----------------------------------------

_PATH_PART = re.compile(r"([A-Za-z0-9_-]+)((?:\[[0-9]{1,6}\])*)")
_INDEX = re.compile(r"\[([0-9]+)\]")
_PATH_HINT = "keys separated by dots, array entries by [index], e.g. model.layers[0].units"


def key_path(path: str) -> list[str | int]:
    """The steps of a key path as :class:`ConfigError` names keys: ``model.layers[0].units``
    is ``["model", "layers", 0, "units"]``."""
    if not isinstance(path, str) or len(path) > 200:
        raise ConfigError(_clip(str(path)), f"not a key path; write {_PATH_HINT}")
    steps: list[str | int] = []
    for part in path.split("."):
        match = _PATH_PART.fullmatch(part)
        if match is None:
            raise ConfigError(path, f"not a key path; write {_PATH_HINT}")
        steps.append(match.group(1))
        steps += [int(index) for index in _INDEX.findall(match.group(2))]
    return steps


def _path_text(steps: Sequence[str | int]) -> str:
    text = ""
    for step in steps:
        text = f"{text}[{step}]" if isinstance(step, int) else _join(text, step)
    return text


def override(document: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of a config's TOML document with the key at ``path`` (``model.optimizer``,
    ``model.layers[0].units``) set to ``value``. Tables on the way that the document lacks are
    created, so validating the result names a misspelled key with suggestions; an index past
    the end of an array, or a key inside a value that is not a table, is a :class:`ConfigError`
    naming the path."""
    import copy

    steps = key_path(path)
    result = copy.deepcopy(dict(document))
    node: Any = result
    for depth, step in enumerate(steps):
        where = _path_text(steps[:depth]) or "the config"
        last = depth == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list):
                raise ConfigError(
                    _path_text(steps[: depth + 1]),
                    f"{where} is {_describe(node)}, not an array; there is no entry [{step}]",
                )
            if step >= len(node):
                count = f"{len(node)} entries" if node else "no entries"
                raise ConfigError(
                    _path_text(steps[: depth + 1]), f"no such entry: {where} has {count}"
                )
        elif not isinstance(node, dict):
            hint = ""
            if isinstance(node, str) and "(" in node:
                hint = (
                    f"; to set its arguments one by one, write it as a table, e.g. "
                    f'{{ name = "{node.partition("(")[0].strip()}", ... }}, or set the whole '
                    f"spec string at {where}"
                )
            raise ConfigError(
                _path_text(steps[: depth + 1]),
                f"{where} is {_describe(node)}, not a table, so it has no key {step!r}{hint}",
            )
        if last:
            node[step] = value
        elif isinstance(step, str) and step not in node:
            if isinstance(steps[depth + 1], int):  # an array entry cannot be made up
                raise ConfigError(
                    _path_text(steps[: depth + 1]),
                    f"no such key in {where}, so no entry [{steps[depth + 1]}] to set."
                    f"{_suggest(step, list(node))}",
                )
            node[step] = {}
            node = node[step]
        else:
            node = node[step]
    return result


def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as ``plugnet train --set`` takes it: a key path and a TOML value
    (``model.layers[0].units=64``, ``'model.optimizer="adam(lr=1e-2)"'``)."""
    key, equals, value = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise ConfigError(
            "", f"expected KEY=VALUE, e.g. model.layers[0].units=64, got {_clip(text)!r}"
        )
    key_path(key)
    try:
        parsed = _parse_toml(f"v = {value.strip()}")
    except ConfigError as exc:
        raise ConfigError(
            key,
            f"{_clip(value.strip())!r} is not a TOML value ({exc.problem}); quote strings, "
            f"e.g. --set '{key}=\"{_clip(value.strip(), 60)}\"'",
        ) from None
    if list(parsed) != ["v"]:
        raise ConfigError(key, f"expected one TOML value, got {_clip(value.strip())!r}")
    return key, parsed["v"]


def loads_config(text: str, *, base_dir: str | os.PathLike[str] = ".") -> Config:
    """Validate a config given as TOML text."""
    if len(text) > MAX_CONFIG_SIZE:
        raise ConfigError("", f"larger than {_SIZE_LIMIT}; a config is a short TOML text")
    return parse_config(_parse_toml(text), base_dir=base_dir)


_SIZE_LIMIT = f"{MAX_CONFIG_SIZE // 1024} KiB (plugnet.config.MAX_CONFIG_SIZE)"
# Strings (multi-line first) and comments, which may hold brackets that do not nest; and the
# brackets of arrays, inline tables and table headers. Every alternative is linear, and written
# as "unrolled loops" (a character class repeated between escapes), which the re module matches
# without keeping a backtracking entry per character.
_TOML_TOKEN = re.compile(
    r"""
    (?P<skip>\"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"
      | '''[^']*(?:'(?!'')[^']*)*'''
      | "[^"\\\n]*(?:\\.[^"\\\n]*)*"
      | '[^'\n]*'
      | \#[^\n]*)
  | (?P<open>[\[{])
  | (?P<close>[\]}])
    """,
    re.VERBOSE | re.DOTALL,
)


def _parse_toml(text: str) -> dict[str, Any]:
    _check_depth(text)
    try:
        return tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer too long to convert
        raise ConfigError("", f"not valid TOML: {exc}") from None
    except RecursionError:  # nesting that _check_depth missed (it can misread invalid TOML)
        raise ConfigError("", _TOO_DEEP) from None


def _check_depth(text: str) -> None:
    """Refuse arrays and inline tables nested deeper than MAX_CONFIG_DEPTH before tomllib, which
    recurses once per level, sees them; the error names the line and its key."""
    depth = outer = 0
    for match in _TOML_TOKEN.finditer(text):
        if match.lastgroup == "open":
            if depth == 0:
                outer = match.start()
            depth += 1
            if depth > MAX_CONFIG_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                raise ConfigError(_key_at(text, outer), f"line {line}: {_TOO_DEEP}")
        elif match.lastgroup == "close":
            depth = max(depth - 1, 0)


def _key_at(text: str, position: int) -> str:
    """The key path of the value that starts at ``position``: its table and key, for messages."""
    line_start = text.rfind("\n", 0, position) + 1
    key = text[line_start:position].partition("=")[0].strip()
    headers = _TABLE_HEADER.findall(text, 0, line_start)
    table = headers[-1].strip() if headers else ""
    return _clip(".".join(part for part in (table, key) if part))


_TABLE_HEADER = re.compile(r"^[ \t]*\[\[?([^\[\]\n]*)\]", re.MULTILINE)
_TOO_DEEP = (
    f"arrays and inline tables nest more than {MAX_CONFIG_DEPTH} deep "
    f"(plugnet.config.MAX_CONFIG_DEPTH)"
)


def _clip(text: str, limit: int = 200) -> str:
    """``text``, cut short for a message when it is longer than ``limit``."""
    return text if len(text) <= limit else f"{text[: limit - 40]}... ({len(text)} characters)"


def parse_config(document: Mapping[str, Any], *, base_dir: str | os.PathLike[str] = ".") -> Config:
    """Validate a config given as a mapping (as :func:`tomllib.load` returns)."""
    base = Path(base_dir)
    root = _Table(document, "", SECTIONS, what="a config (its tables)")
    data = _parse_data(root.table("data", required=True), base)
    model = _parse_model(root.table("model", required=True))
    training = _parse_training(root.table("training"), data, model)
    output = _parse_output(root.table("output"), base)
    sweep = None
    if root.has("sweep"):
        others = {key: value for key, value in document.items() if key != "sweep"}
        sweep = _parse_sweep(document["sweep"], others, base, data, model)
    return Config(data=data, model=model, training=training, output=output, sweep=sweep)


# -- checks ---------------------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if isinstance(value, (str, bool, int, float)):
        return preview(value)
    if isinstance(value, list):
        return f"an array of {len(value)}" if value else "an empty array"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


def _suggest(key: str, known: Sequence[str]) -> str:
    if len(key) > 80:  # no known key is this long, and difflib's time grows with it
        return ""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class _Table:
    """A TOML table under validation: refuses unknown keys (with a suggestion), types the rest."""

    _MISSING = object()

    def __init__(self, data: Any, path: str, known: Sequence[str], *, what: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(path, f"expected a table, got {_describe(data)}")
        self.data, self.path = data, path
        for key in data:
            if key not in known:
                raise ConfigError(
                    _join(path, _clip(key)),
                    f"unknown key.{_suggest(key, known)} Keys of {what}: {', '.join(known)}",
                )

    def key(self, key: str) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.data

    def get(
        self, key: str, check: Callable[[str, Any], Any], default: Any = _MISSING, *, hint: str = ""
    ) -> Any:
        if key not in self.data:
            if default is _Table._MISSING:
                raise ConfigError(self.key(key), f"missing{'; ' + hint if hint else ''}")
            return default
        return check(self.key(key), self.data[key])

    def table(self, key: str, *, required: bool = False) -> _Table | None:
        if key not in self.data:
            if required:
                raise ConfigError(key, f"missing; the config needs a [{self.key(key)}] table")
            return None
        known = {
            # Any key: those that are not the config's own are the source's arguments, which
            # _parse_data checks against its factory's signature.
            "data": tuple(self.data[key]) if isinstance(self.data[key], Mapping) else (),
            "model": MODEL_KEYS,
            "training": TRAINING_KEYS,
            "output": OUTPUT_KEYS,
            "early_stopping": tuple(_early_stopping_parameters()),
        }[key]
        return _Table(self.data[key], self.key(key), known, what=f"[{self.key(key)}]")


def _int(minimum: int, what: str) -> Callable[[str, Any], int]:
    def check(path: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(path, f"expected {what}, got {_describe(value)}")
        return value

    return check


def _number(path: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(path, f"expected {what}, got {_describe(value)}")
    return float(value)


def _fraction(path: str, value: Any) -> float:
    number = _number(path, value, "a fraction in [0, 1)")
    if not 0.0 <= number < 1.0:
        raise ConfigError(path, f"expected a fraction in [0, 1), got {_describe(value)}")
    return number


def _non_negative(path: str, value: Any) -> float:
    number = _number(path, value, "a number >= 0")
    if number < 0:
        raise ConfigError(path, f"expected a number >= 0, got {_describe(value)}")
    return number


def _bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, f"expected true or false, got {_describe(value)}")
    return value


def _string(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"expected a non-empty string, got {_describe(value)}")
    return value


def _choice(choices: Sequence[Any]) -> Callable[[str, Any], Any]:
    def check(path: str, value: Any) -> Any:
        if not any(type(value) is type(c) and value == c for c in choices):
            shown = ", ".join(repr(c) for c in choices)
            raise ConfigError(path, f"expected one of {shown}, got {_describe(value)}")
        return value

    return check


_positive_int = _int(1, "a positive integer")
_VERBOSITY = _choice([0, 1, 2])  # what plugnet.progress.progress_callbacks takes
_seed = _int(0, "an integer >= 0")


def _parameter_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """The keyword parameters of ``factory`` that have defaults, with them."""
    return {
        p.name: p.default
        for p in inspect.signature(factory).parameters.values()
        if p.default is not p.empty
    }


def _given(table: _Table, checks: Mapping[str, Callable[[str, Any], Any]]) -> dict[str, Any]:
    """The keys of ``checks`` that ``table`` gives, checked. Keys left out are left out here
    too, so they take the defaults of the dataclass or function they are passed to: each
    default is stated once, there."""
    return {key: table.get(key, check) for key, check in checks.items() if table.has(key)}


def _annotated(check: ArgumentCheck) -> Callable[[str, Any], Any]:
    """A key's check from what an annotation admits (:func:`plugnet.specs.argument_checks`)."""

    def run(path: str, value: Any) -> Any:
        if not check.accepts(value):
            raise ConfigError(path, f"expected {_expected(check, value)}, got {_describe(value)}")
        return value

    return run


def _annotated_checks(factory: Callable[..., Any], keys: Sequence[str]) -> dict[str, Any]:
    """The checks of ``keys`` that ``factory``'s annotations give."""
    checks = argument_checks(factory)
    return {key: _annotated(checks[key]) for key in keys if key in checks}


def _early_stopping_parameters() -> Mapping[str, inspect.Parameter]:
    """EarlyStopping's parameters: the keys of [training.early_stopping]."""
    from plugnet.callbacks import EarlyStopping

    return inspect.signature(EarlyStopping).parameters


# -- sections -------------------------------------------------------------------------------------


#: Arguments a data source may take whose meaning the config knows, so that it checks them
#: (with messages in its own words) wherever a source's factory has a parameter of that name.
DATA_OPTIONS: dict[str, Callable[[str, Any], Any]] = {
    "n": _positive_int,
    "noise": _non_negative,
    "classes": _int(2, "an integer >= 2"),
    "test_size": _fraction,
    "stratify": _bool,
    "label_column": _string,
}


def _parse_data(table: _Table | None, base: Path) -> DataConfig:
    """``source`` names a registered data set (``"spiral"``, ``"spiral(n=300)"`` or a table
    ``{ name = "spiral", n = 300 }``) or a ``.npz``/``.csv`` path; the other keys, besides
    DATA_KEYS, are the source's arguments, checked against its factory's signature."""
    assert table is not None
    from plugnet.discovery import get_registry

    registry = get_registry()
    source_key = table.key("source")
    hint = ""
    if not table.has("source") or isinstance(table.data["source"], Mapping):
        # Listing the sets loads every plugin; a config that names a built-in set needs none.
        names = ", ".join(registry.available("dataset"))
        hint = f"give a data set ({names}) or a path to a .npz or .csv file"
    raw = table.get("source", lambda path, value: value, hint=hint)
    arguments: dict[str, tuple[str, Any]] = {}  # argument -> (key path, value)
    if isinstance(raw, Mapping):
        if "name" not in raw:
            raise ConfigError(_join(source_key, "name"), f"missing; {hint}")
        name = _string(_join(source_key, "name"), raw["name"]).strip()
        for key, value in raw.items():
            if key != "name":
                arguments[key] = (_join(source_key, key), value)
    else:
        name = _string(source_key, raw).strip()
    is_file = datasets.is_file_source(name) and not isinstance(raw, Mapping)
    if is_file:
        file = Path(name) if Path(name).is_absolute() else base / name
        if not datasets.file_exists(file):
            raise ConfigError(source_key, f"no such data file: {_clip(str(file))}")
        parameters = _parameter_defaults(datasets.DataFile)
        component = None
        where = "a data file"
    else:
        component, name = _data_set(registry, name, source_key, base, arguments)
        parameters = component.parameters()
        where = f"the {component.name} data set"
    for key in table.data:
        if key in DATA_KEYS:
            continue
        if key in arguments:
            raise ConfigError(
                table.key(_clip(key)), f"given twice: here and in {arguments[key][0]}"
            )
        arguments[key] = (table.key(_clip(key)), table.data[key])
    options: dict[str, Any] = {}
    for key, (path, value) in arguments.items():
        if key == "label_column" and (
            not name.lower().endswith(".csv") if is_file else key not in parameters
        ):
            raise ConfigError(path, "applies only to a .csv data source")
        if key not in parameters:  # a file's path is its source, not a parameter given here
            takes = list(parameters)
            accepted = ", ".join(takes) or "no options"
            if key in DATA_OPTIONS:  # an option of other sets
                raise ConfigError(path, f"does not apply to {where} (it takes {accepted})")
            raise ConfigError(
                path,
                f"unknown key.{_suggest(key, [*DATA_KEYS, *takes])} Keys of [data]: "
                f"{', '.join(DATA_KEYS)}, and the arguments of {where}: {accepted}",
            )
        if key in DATA_OPTIONS:
            options[key] = DATA_OPTIONS[key](path, value)
            continue
        check = argument_checks(component.factory).get(key) if component is not None else None
        if check is not None and not check.accepts(value):
            raise ConfigError(path, f"expected {_expected(check, value)}, got {_describe(value)}")
        options[key] = value
    given = _given(table, {"validation_split": _fraction, "random_state": _seed})
    config = DataConfig(source=name, options=options, base_dir=base, **given)
    try:
        config.data_source()  # the factory's own checks (ranges, combinations), before any data
    except (LookupError, ValueError, TypeError) as exc:
        raise ConfigError(source_key, str(exc)) from None
    return config


def _data_set(
    registry: Any, spec: str, path: str, base: Path, arguments: dict[str, tuple[str, Any]]
) -> tuple[Any, str]:
    """The registered data set that ``spec`` names, and the name to keep; the spec's own
    arguments go into ``arguments``."""
    from plugnet.specs import parse_string

    try:
        parsed = parse_string(spec)
        component = registry.lookup("dataset", parsed.display)
    except (LookupError, SpecError) as exc:
        if isinstance(exc, SpecError) and "(" in spec:
            raise ConfigError(path, str(exc)) from None
        if datasets.file_exists(base / spec):
            raise ConfigError(
                path,
                f"unsupported data file type {Path(spec).suffix or '(no suffix)'!r}; "
                "use .npz or .csv",
            ) from None
        message = datasets.unknown_source_message(spec, registry.available("dataset"))
        raise ConfigError(path, message) from None
    for key, value in parsed.kwargs.items():
        arguments[key] = (f"{path} (argument {key!r})", value)
    name = component.name if parsed.provider is None else f"{parsed.provider}:{component.name}"
    return component, name


def _parse_model(table: _Table | None) -> ModelConfig:
    assert table is not None
    from plugnet.network import DTYPES

    given = _given(table, {"dtype": _choice(list(DTYPES)), "seed": _seed})
    error = table.get(
        "error", _component_check("error_function"), hint='e.g. error = "cross_entropy"'
    )
    given |= _given(table, {"optimizer": _component_check("optimizer")})
    layers = table.get(
        "layers",
        _layers,
        hint='e.g. layers = [{ type = "dense", units = 10, activation = "softmax" }]',
    )
    given |= _given(table, {"metrics": _metrics})
    return ModelConfig(layers=layers, error=error, **given)


def _metrics(path: str, value: Any) -> list[Any]:
    """An array of metric specs, each checked like any component, with distinct names (each
    logs its score under its name)."""
    if not isinstance(value, list):
        raise ConfigError(
            path, f'expected an array of metrics, e.g. ["accuracy", "f1"], got {_describe(value)}'
        )
    names: dict[str, int] = {}
    for index, spec in enumerate(value):
        where = f"{path}[{index}]"
        _component_check("metric")(where, spec)
        name = _metric_name(spec)
        if name == "loss":
            raise ConfigError(where, "a metric named 'loss' would clash with the loss in the logs")
        if name in names:
            raise ConfigError(
                where,
                f"the metric {name!r} is given twice (also at {path}[{names[name]}]); each logs "
                f"its score under its name, so give it once",
            )
        names[name] = index
    return [dict(spec) if isinstance(spec, Mapping) else spec for spec in value]


def _metric_name(spec: Any) -> str:
    """The name a metric's score is logged under, as ``Sequential`` names it: its canonical
    name (the spec was checked, so it resolves)."""
    from plugnet.discovery import get_registry

    registry = get_registry()
    component = registry.component_of(registry.resolve("metric", spec))
    assert component is not None  # resolved by name
    return component.name


def _logged(model: ModelConfig, data: DataConfig) -> list[str]:
    """What a run of this config logs, so what a callback can monitor: the loss, each metric
    (accuracy by default), their ``val_`` values with validation data, and lr."""
    metrics = ["accuracy"] if model.metrics is None else [_metric_name(m) for m in model.metrics]
    logged = ["loss", *metrics]
    if data.validation_split:
        logged += [f"val_{name}" for name in logged]
    return [*logged, *[name for name in LOGGED if name not in logged]]


def _monitor_check(logged: list[str]) -> Callable[[str, Any], Any]:
    def check(path: str, value: Any) -> Any:
        _string(path, value)
        if value not in logged:
            if value.startswith("val_") and value.removeprefix("val_") in logged:
                raise ConfigError(
                    path,
                    f"{value!r} needs validation data: set data.validation_split > 0, or "
                    f"monitor {value.removeprefix('val_')!r}",
                )
            shown = ", ".join(repr(name) for name in logged)
            raise ConfigError(
                path, f"expected one of {shown} (what this run logs), got {_describe(value)}"
            )
        return value

    return check


def _layers(path: str, value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ConfigError(path, f"expected a non-empty array of layers, got {_describe(value)}")
    layers: list[Any] = []
    names: set[str] = set()
    for index, spec in enumerate(value):
        where = f"{path}[{index}]"
        if isinstance(spec, Mapping):
            if "type" not in spec:
                raise ConfigError(
                    _join(where, "type"), 'missing; say which layer, e.g. type = "dense"'
                )
            if "name" in spec:
                name = _string(_join(where, "name"), spec["name"])
                if name in names:
                    raise ConfigError(
                        _join(where, "name"), f"two layers are named {name!r}; names must be unique"
                    )
                names.add(name)
            if "trainable" in spec:
                _bool(_join(where, "trainable"), spec["trainable"])
            if "inputs" in spec:
                _input_names(_join(where, "inputs"), spec["inputs"])
            # "name", "inputs" and "trainable" belong to the network, not to the layer's factory.
            own = ("name", "inputs", "trainable")
            component = {k: v for k, v in spec.items() if k not in own}
            _check_component("layer", component, where, name_key="type")
            layers.append(dict(spec))
        elif isinstance(spec, str):
            _check_component("layer", spec, where, name_key="type")
            layers.append(spec)
        else:
            raise ConfigError(
                where, f"expected a layer table or spec string, got {_describe(spec)}"
            )
    return layers


def _input_names(path: str, value: Any) -> list[str]:
    """A layer's ``inputs``: the names of the values it reads (``"input"``, the data, or other
    layers' names)."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(name, str) and name for name in value)
    ):
        raise ConfigError(
            path,
            f'expected a non-empty array of names of layers (or "input", the data), got '
            f"{_describe(value)}",
        )
    return value


def _component_check(kind: str) -> Callable[[str, Any], Any]:
    def check(path: str, value: Any) -> Any:
        if isinstance(value, Mapping):
            _check_component(kind, value, path, name_key="name" if "name" in value else "type")
            return dict(value)
        _check_component(kind, value, path, name_key="name")
        return value

    return check


def _check_component(kind: str, spec: Any, path: str, *, name_key: str) -> None:
    """Resolve ``spec`` through the registry, reporting each problem at its key path."""
    from plugnet.discovery import get_registry
    from plugnet.specs import parse_string

    label = kind.replace("_", " ")
    if isinstance(spec, str):
        try:
            parsed = parse_string(spec)
        except SpecError as exc:
            raise ConfigError(path, str(exc)) from None
        name, arguments = parsed.display, parsed.kwargs
        name_path = path

        def argument_path(key: str) -> str:
            return f"{path} (argument {key!r})"

    elif isinstance(spec, Mapping):
        if "name" in spec and "type" in spec and kind != "layer":
            raise ConfigError(path, "has both 'name' and 'type'; give one of them")
        name_path = _join(path, name_key)
        if name_key not in spec:
            raise ConfigError(name_path, f"missing; say which {label}")
        name = _string(name_path, spec[name_key])
        arguments = {k: v for k, v in spec.items() if k != name_key}

        def argument_path(key: str) -> str:
            return _join(path, key)

    else:
        article = "an" if label[0] in "aeiou" else "a"
        raise ConfigError(
            path, f"expected {article} {label} name (a string) or a table, got {_describe(spec)}"
        )
    registry = get_registry()
    try:
        component = registry.lookup(kind, name)
    except (LookupError, SpecError) as exc:
        raise ConfigError(name_path, str(exc)) from None
    _check_arguments(kind, component, arguments, argument_path)
    try:
        registry.resolve(kind, spec)
    except (LookupError, ValueError, TypeError) as exc:
        raise ConfigError(path, str(exc)) from None


def _check_arguments(
    kind: str, component: Any, arguments: Mapping[str, Any], argument_path: Callable[[str], str]
) -> None:
    """Check each argument against the factory's signature: unknown names, what the annotations
    admit (:func:`plugnet.specs.argument_checks`), and arguments that are component specs
    themselves (an activation, an initializer, a schedule), each at its own key path."""
    parameters = component.parameters()
    try:
        signature = inspect.signature(component.factory)
        open_ended = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    except (TypeError, ValueError):
        open_ended = True
    checks = argument_checks(component.factory)
    nested = component.nested
    label = f"{kind.replace('_', ' ')} {component.name!r}"
    for key, value in arguments.items():
        where = argument_path(key)
        if key not in parameters:
            if open_ended:
                continue
            takes = ", ".join(parameters) or "no parameters"
            raise ConfigError(
                where,
                f"unknown parameter of {label}.{_suggest(key, list(parameters))} It takes: {takes}",
            )
        if key in nested:
            if value is None and parameters[key] is None:
                continue  # None is the factory's own default (e.g. an initializer chosen for it)
            _component_check(nested[key])(where, value)
        elif key in _COUNTS:
            _positive_int(where, value)
        elif key in checks and not checks[key].accepts(value):
            raise ConfigError(
                where, f"expected {_expected(checks[key], value)}, got {_describe(value)}"
            )


#: What an ``int`` annotation cannot say: these arguments are counts, at least 1. Checked here so
#: that the message names the key rather than coming from the layer's constructor.
_COUNTS = ("units",)
_TOML_WORDS = re.compile(r"\b(True|False)\b")


def _expected(check: ArgumentCheck, value: Any) -> str:
    """What the annotation admits, as a config says it (``true or false``). For a number that is
    not one (``'fast'``), "a number" rather than the annotation's "a finite number"."""
    expected = check.expected
    if check.explain is not None and (lacks := check.explain(value)).startswith("a "):
        expected = lacks
    return _TOML_WORDS.sub(lambda match: match.group().lower(), expected)


def _parse_training(table: _Table | None, data: DataConfig, model: ModelConfig) -> TrainingConfig:
    if table is None:
        return TrainingConfig()
    from plugnet.callbacks import EarlyStopping

    monitor_check = _monitor_check(_logged(model, data))

    early = table.table("early_stopping")
    early_stopping: dict[str, Any] | None = None
    if early is not None:
        # Every key, those left out at EarlyStopping's defaults, so the config shows them all.
        early_stopping = {
            p.name: p.default
            for p in _early_stopping_parameters().values()
            if p.default is not p.empty
        }
        early_stopping |= _given(early, {"monitor": monitor_check})
        if "monitor" in early_stopping:  # the default too
            monitor_check(early.key("monitor"), early_stopping["monitor"])
        others = [key for key in _early_stopping_parameters() if key != "monitor"]
        early_stopping |= _given(early, _annotated_checks(EarlyStopping, others))
        try:
            EarlyStopping(**early_stopping)  # its own checks, e.g. a mode it cannot infer
        except ValueError as exc:
            raise ConfigError(early.key("mode"), str(exc)) from None
    own_checks = {"verbose": _VERBOSITY, "class_weight": _class_weight}
    keys = [k for k in TRAINING_KEYS if k not in ("early_stopping", "callbacks", *own_checks)]
    given = _given(table, _annotated_checks(TrainingConfig, keys))
    given |= _given(table, own_checks)
    specs = table.get("callbacks", lambda path, value: _callbacks(path, value, monitor_check), ())
    return TrainingConfig(early_stopping=early_stopping, callback_specs=specs, **given)


def _class_weight(path: str, value: Any) -> dict[int, float] | str:
    """``"balanced"``, or a table of class index (a key of digits) -> weight (a number >= 0)."""
    if value == "balanced":
        return "balanced"
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            path,
            f'expected "balanced" or a table of class index = weight such as '
            f"{{ 0 = 1.0, 1 = 5.0 }}, got {_describe(value)}",
        )
    weights: dict[int, float] = {}
    for key, weight in value.items():
        where = _join(path, str(key))
        if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 9):
            raise ConfigError(where, "a class index must be an integer >= 0, such as 0 or 3")
        number = _number(where, weight, "a weight: a finite number >= 0")
        if number < 0:
            raise ConfigError(where, f"expected a weight >= 0, got {_describe(weight)}")
        weights[int(key)] = number
    return weights


def _callbacks(
    path: str, value: Any, monitor_check: Callable[[str, Any], Any]
) -> tuple[dict[str, Any], ...]:
    """The ``[[training.callbacks]]`` tables: ``name`` and the callback's arguments, each
    checked against its factory's signature at its key; a ``monitor`` (given or the default)
    must be a value the run logs."""
    from plugnet.discovery import get_registry

    if not isinstance(value, list):
        raise ConfigError(
            path,
            f'expected an array of tables ([[training.callbacks]] with name = "..."), got '
            f"{_describe(value)}",
        )
    specs = []
    for index, entry in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(
                where,
                f'expected a table with name = "..." and the callback\'s arguments, got '
                f"{_describe(entry)}",
            )
        if "name" not in entry:
            raise ConfigError(_join(where, "name"), 'missing; say which, e.g. "csv_logger"')
        name = _string(_join(where, "name"), entry["name"])
        try:
            component = get_registry().lookup("callback", name)
        except (LookupError, SpecError) as exc:
            raise ConfigError(_join(where, "name"), str(exc)) from None
        default = component.parameters().get("monitor", inspect.Parameter.empty)
        monitor = entry.get("monitor", default)
        if isinstance(monitor, str):  # a value of another type is the signature check's
            monitor_check(_join(where, "monitor"), monitor)
        _check_component("callback", entry, where, name_key="name")
        specs.append(dict(entry))
    return tuple(specs)


def _parse_output(table: _Table | None, base: Path) -> OutputConfig:
    if table is None:
        return OutputConfig()

    def path(key: str) -> Path | None:
        value = table.get(key, _string, None)
        if value is None:
            return None
        try:
            given = Path(value).expanduser()
        except RuntimeError as exc:  # "~user" for no such user, or no home directory
            raise ConfigError(
                table.key(key), f"cannot expand '~' in {_clip(value)!r}: {exc}"
            ) from None
        return given if given.is_absolute() else base / given

    return OutputConfig(model=path("model"), plot=path("plot"))


# -- the [sweep] table ----------------------------------------------------------------------------


def _parse_sweep(
    value: Any, document: Mapping[str, Any], base: Path, data: DataConfig, model: ModelConfig
) -> SweepConfig:
    """The ``[sweep]`` table: its settings (SWEEP_KEYS) and, under every other key, a key path
    with its search range. Each range is checked by validating the config with each end (each
    choice) set at its path, so a value the config would refuse is refused here, up front."""
    if not isinstance(value, Mapping):
        raise ConfigError("sweep", f"expected a table, got {_describe(value)}")
    settings = {key: item for key, item in value.items() if key in SWEEP_KEYS}
    if len(value) - len(settings) > MAX_SWEEP_PARAMETERS:
        raise ConfigError(
            "sweep",
            f"searches {len(value) - len(settings)} keys, more than {MAX_SWEEP_PARAMETERS} "
            f"(plugnet.config.MAX_SWEEP_PARAMETERS); search fewer keys at a time",
        )
    parameters: list[SweepParameter] = []
    seen: dict[str, str] = {}
    choices = 0
    for key, spec in value.items():
        if key in SWEEP_KEYS:
            continue
        where = f'sweep."{_clip(key)}"'
        if "." not in key:
            raise ConfigError(
                _join("sweep", _clip(key)),
                f"unknown key.{_suggest(key, SWEEP_KEYS)} Keys of [sweep]: "
                f"{', '.join(SWEEP_KEYS)}, and quoted key paths to search over, such as "
                f'"model.layers[0].units" = {{ int = [32, 256] }}',
            )
        try:
            canonical = _path_text(key_path(key))
        except ConfigError as exc:
            raise ConfigError(where, exc.problem) from None
        if canonical.split(".")[0] == "sweep":
            raise ConfigError(where, "a sweep searches the training config, not [sweep] itself")
        if canonical in seen:
            raise ConfigError(where, f"the same key as sweep.{seen[canonical]!r}")
        seen[canonical] = key
        parameter = _sweep_parameter(where, canonical, spec)
        choices += len(parameter.choices)
        if choices > MAX_SWEEP_CHOICES:
            raise ConfigError(
                _join(where, "choice"),
                f"the choices of [sweep] list more than {MAX_SWEEP_CHOICES} values in all "
                f"(plugnet.config.MAX_SWEEP_CHOICES); give ranges ({{ int = [low, high] }}) "
                f"instead",
            )
        ends = parameter.choices or (parameter.low, parameter.high)
        for end in ends:
            try:
                parse_config(override(document, canonical, end), base_dir=base)
            except ConfigError as exc:
                raise ConfigError(
                    where, f"{preview(end)} is not a valid value here: {exc}"
                ) from None
        parameters.append(parameter)
    if not parameters:
        raise ConfigError(
            "sweep",
            'names no key to search over; add one, e.g. "model.layers[0].units" = '
            "{ int = [32, 256] }",
        )
    table = _Table(settings, "sweep", SWEEP_KEYS, what="[sweep]")
    given = _given(table, {"trials": _positive_int, "seed": _seed, "storage": _string})
    metric = table.get("metric", _string, "val_loss")
    logged = _logged(model, data)
    if metric not in logged:
        if not table.has("metric") and not data.validation_split:
            raise ConfigError(
                "sweep.metric",
                "the default 'val_loss' needs validation data: set data.validation_split > 0, "
                'or name a metric the run logs, e.g. metric = "loss"',
            )
        _monitor_check(logged)("sweep.metric", metric)
    if table.has("direction"):
        direction = table.get("direction", _choice(["minimize", "maximize"]))
    else:
        from plugnet_builtins.callbacks import maximizes

        try:
            direction = "maximize" if maximizes(metric, "auto", "sweep") else "minimize"
        except ValueError:
            raise ConfigError(
                "sweep.direction",
                f"missing; plugnet cannot tell whether {metric!r} should rise or fall: give "
                f'direction = "maximize" (a score) or "minimize" (an error)',
            ) from None
    pruner = table.get("pruner", _pruner, {"name": "median"})
    return SweepConfig(
        parameters=tuple(parameters),
        metric=metric,
        direction=direction,
        pruner=pruner,
        **given,
    )


def _sweep_parameter(where: str, path: str, spec: Any) -> SweepParameter:
    """``{ int = [low, high] }``, ``{ float = [low, high] }`` (each with optional ``log`` and
    ``step``) or ``{ choice = [a, b, ...] }``."""
    kinds = ("int", "float", "choice")
    example = "{ int = [32, 256] }, { float = [1e-4, 1e-1], log = true } or { choice = [...] }"
    if not isinstance(spec, Mapping):
        raise ConfigError(where, f"expected a range such as {example}, got {_describe(spec)}")
    given = [kind for kind in kinds if kind in spec]
    if len(given) != 1:
        problem = "gives " + " and ".join(given) if given else "gives no range"
        raise ConfigError(where, f"{problem}; give one of int, float or choice, e.g. {example}")
    kind = given[0]
    known = ("choice",) if kind == "choice" else (kind, "log", "step")
    _Table(spec, where, known, what=f"a {kind} range")
    if kind == "choice":
        choices = spec["choice"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(
                _join(where, "choice"), f"expected a non-empty array, got {_describe(choices)}"
            )
        for index, choice in enumerate(choices):
            if isinstance(choice, (list, Mapping)):
                raise ConfigError(
                    f"{where}.choice[{index}]",
                    "a choice is a string, number or boolean (Optuna records each one); to "
                    "choose between tables, sweep their keys one by one",
                )
            if any(type(c) is type(choice) and c == choice for c in choices[:index]):
                raise ConfigError(f"{where}.choice[{index}]", f"{preview(choice)} is given twice")
        return SweepParameter(path, "choice", choices=tuple(choices))
    bounds = spec[kind]
    number = _int(-(2**63), "an integer") if kind == "int" else None
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise ConfigError(
            _join(where, kind), f"expected [low, high], e.g. [32, 256], got {_describe(bounds)}"
        )
    ends = []
    for index, end in enumerate(bounds):
        at = f"{where}.{kind}[{index}]"
        ends.append(number(at, end) if number else _number(at, end, "a finite number"))
    low, high = ends
    if not low < high:
        raise ConfigError(_join(where, kind), f"expected low < high, got [{low}, {high}]")
    log = _bool(_join(where, "log"), spec["log"]) if "log" in spec else False
    if log and low <= 0:
        raise ConfigError(_join(where, kind), f"a log scale needs low > 0, got {low}")
    step: float | None = None
    if "step" in spec:
        at = _join(where, "step")
        if log:
            raise ConfigError(at, "a log scale has no step; give log or step, not both")
        step = (
            _positive_int(at, spec["step"])
            if kind == "int"
            else _number(at, spec["step"], "a number > 0")
        )
        if step <= 0:
            raise ConfigError(at, f"expected a number > 0, got {preview(spec['step'])}")
        count = (high - low) / step
        if not math.isclose(count, round(count), abs_tol=1e-9):
            raise ConfigError(at, f"high - low ({high - low}) is not a multiple of step ({step})")
    return SweepParameter(path, kind, low=low, high=high, log=log, step=step)


def _pruner(path: str, value: Any) -> dict[str, Any]:
    """An Optuna pruner by name (:data:`PRUNERS`): ``"median"``, ``"none"``, a spec string
    ``"median(n_warmup_steps=2)"`` or a table ``{ name = "hyperband", max_resource = 30 }``.
    Its arguments are checked against the pruner when the sweep starts."""
    from plugnet.specs import parse_string

    if isinstance(value, str):
        try:
            parsed = parse_string(value)
        except SpecError as exc:
            raise ConfigError(path, str(exc)) from None
        name, arguments = parsed.display, dict(parsed.kwargs)
        name_path = path
    elif isinstance(value, Mapping):
        name_path = _join(path, "name")
        if "name" not in value:
            raise ConfigError(name_path, f"missing; say which pruner: {', '.join(PRUNERS)}")
        name = _string(name_path, value["name"])
        arguments = {k: v for k, v in value.items() if k != "name"}
    else:
        raise ConfigError(
            path, f'expected a pruner name such as "median", or a table, got {_describe(value)}'
        )
    if name not in PRUNERS:
        raise ConfigError(
            name_path,
            f"unknown pruner {_clip(name)!r}.{_suggest(name, list(PRUNERS))} Pruners: "
            f"{', '.join(PRUNERS)}",
        )
    return {"name": name, **arguments}


# -- writing a config -----------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_toml(document: Mapping[str, Any], *, header: str = "") -> str:
    """A config's TOML document as TOML text that :mod:`tomllib` reads back equal: each top-level
    table as a ``[table]``, every value in it inline (arrays, inline tables). ``header`` becomes
    comment lines at the top. Values are what TOML has: strings, booleans, integers, floats,
    arrays and tables (dates too, as Python writes them)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    scalars = {k: v for k, v in document.items() if not isinstance(v, Mapping)}
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, table in document.items():
        if isinstance(table, Mapping):
            lines += ["", f"[{_toml_key(key)}]"]
            lines += [_toml_entry(k, v) for k, v in table.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_entry(key: str, value: Any) -> str:
    """``key = value``; an array of tables (``layers``) one table a line."""
    if isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
        items = "".join(f"  {_toml_value(item)},\n" for item in value)
        return f"{_toml_key(key)} = [\n{items}]"
    return f"{_toml_key(key)} = {_toml_value(value)}"


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    # JSON's escapes (\" \\ \n \t \uXXXX ...) are all TOML basic-string escapes; TOML also
    # refuses DEL unescaped, which JSON leaves as it is.
    import json

    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return f"[{', '.join(_toml_value(item) for item in value)}]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return f"{{ {items} }}" if items else "{}"
    import datetime

    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a TOML value")
