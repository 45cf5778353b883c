"""Hyperparameter sweeps: the ``[sweep]`` table of a training config run as an Optuna study, in
this process, in several processes on the same storage, or as Ray tasks on a cluster
(docs/sweeps.md). What ``plugnet sweep`` does, and :func:`plugnet.sweep`.

Each trial sets the sampled values at their key paths (:func:`plugnet.config.override`),
validates the config, and trains it as ``plugnet train`` does (:func:`plugnet.runs.fit_config`,
quietly), reporting the metric to the trial after every epoch so that the pruner can stop it.
Optuna, Ray and matplotlib are imported only here, and only when a sweep runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugnet.callbacks import Callback
from plugnet.config import (
    PRUNERS,
    Config,
    ConfigError,
    SweepConfig,
    SweepParameter,
    format_toml,
    load_document,
    override,
    parse_config,
)

if TYPE_CHECKING:
    import optuna

    from plugnet.datasets import Splits

OPTUNA_MISSING = 'sweeps need Optuna: pip install "plugnet[sweep]"'
RAY_MISSING = 'the ray backend needs Ray: pip install "plugnet[ray]"'
BACKENDS = ("optuna", "ray")


@dataclass(frozen=True)
class SweepResult:
    """What a sweep found: the best trial's config as a TOML document (the original with the
    best values set and ``[sweep]`` removed; :attr:`config` validates it), its score and values,
    and the files written."""

    document: dict[str, Any]
    score: float
    params: dict[str, Any]
    trial: int
    metric: str
    study_name: str
    storage: str | None
    base_dir: Path
    files: tuple[Path, ...] = ()

    @property
    def config(self) -> Config:
        return parse_config(self.document, base_dir=self.base_dir)


@dataclass(frozen=True)
class _Job:
    """What a worker needs to run trials: plain data, so that it can be sent to another process
    or to a Ray task (it opens the study itself)."""

    document: dict[str, Any]  # without [sweep]
    base_dir: str
    sweep: SweepConfig
    study_name: str
    storage: str | None  # a database URL, a journal file's path, or None: in memory
    start: int  # trials finished when the sweep started: varies each run's sampler seed
    quiet: bool


def sweep(
    config: str | os.PathLike[str] | Mapping[str, Any],
    *,
    trials: int | None = None,
    storage: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    backend: str = "optuna",
    address: str | None = None,
    out: str | os.PathLike[str] | None = None,
    study_name: str | None = None,
    quiet: bool = True,
) -> SweepResult:
    """Run the ``[sweep]`` of a config (a file, or a TOML document as a mapping) as an Optuna
    study and return the best config and its score.

    ``trials`` overrides ``sweep.trials`` (the study's total: a study resumed from its storage
    runs the rest). ``storage`` overrides ``sweep.storage``: a database URL
    (``sqlite:///sweep.db``) or a journal file's path; by default a config file's study is the
    journal file ``NAME.optuna.journal`` beside it, and a mapping's is in memory. ``workers``
    processes share the trials (backend ``"optuna"``), or at most that many Ray tasks run at
    once (``"ray"``, on the cluster at ``address`` or a local Ray started for the sweep, as many
    at once as it has CPUs by default). With ``out`` (a directory) the best config
    (``NAME.best.toml``) and the plots (``NAME.history.png``, ``NAME.importances.png``) are
    written there. The study is named ``study_name``, by default the config file's name.
    ``quiet=False`` prints a line as each trial finishes."""
    optuna = _optuna()
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers: expected an integer >= 1, got {workers!r}")
    if trials is not None and (isinstance(trials, bool) or trials < 1):
        raise ValueError(f"trials: expected an integer >= 1, got {trials!r}")
    file: Path | None = None
    if isinstance(config, Mapping):
        document, base = dict(config), Path.cwd()
    else:
        file = Path(config)
        document, base = load_document(file), file.parent
    try:
        parsed = parse_config(document, base_dir=base)
        if parsed.sweep is None:
            raise ConfigError(
                "sweep",
                "missing; a sweep needs a [sweep] table naming the keys to search, e.g. "
                '"model.layers[0].units" = { int = [32, 256] } (see docs/sweeps.md)',
            )
        settings = parsed.sweep
        _make_pruner(optuna, settings.pruner)
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.problem, file=file) from None
    if trials is not None:
        settings = dataclasses.replace(settings, trials=trials)
    name = study_name or (file.stem if file is not None else "plugnet-sweep")
    where = _storage_spec(storage, settings.storage, file, base, name)
    if where is None and (backend == "ray" or (workers or 1) > 1):
        raise ValueError(
            "storage: several processes share a study through its storage; give a journal "
            "file's path or a database URL (storage=...)"
        )
    base_document = {key: value for key, value in document.items() if key != "sweep"}
    study = _open_study(optuna, where, name, settings, seed=0, memory=None)
    finished = _finished(optuna, study)
    # The directory as an absolute path: a worker (a Ray task) may run elsewhere.
    job = _Job(base_document, str(base.resolve()), settings, name, where, len(finished), quiet)
    remaining = max(settings.trials - len(finished), 0)
    if remaining and backend == "ray":
        _run_on_ray(job, remaining, address, workers)
    elif remaining and (workers or 1) > 1:
        _run_in_processes(job, remaining, workers or 1)
    elif remaining:
        _work(job, worker=0, n_trials=remaining, memory=study)
    study = _open_study(optuna, where, name, settings, seed=0, memory=study)
    return _result(optuna, study, job, file, out)


def run(
    config_path: str | os.PathLike[str],
    *,
    trials: int | None = None,
    storage: str | None = None,
    workers: int | None = None,
    backend: str = "optuna",
    address: str | None = None,
    out: str | os.PathLike[str] | None = None,
) -> int:
    """``plugnet sweep``: run the sweep, print the table of trials, and write the best config
    and the plots beside the config (or in ``out``); returns the exit status (0)."""
    config = Path(config_path)
    target = Path(out) if out is not None else config.parent
    if not target.is_dir():
        raise FileNotFoundError(f"{target}: no such directory for the sweep's results")
    if storage is not None and "://" not in storage:
        storage = str(Path(storage).resolve())  # as given on the command line: from here
    result = sweep(
        config,
        trials=trials,
        storage=storage,
        workers=workers,
        backend=backend,
        address=address,
        out=target,
        quiet=False,
    )
    optuna = _optuna()
    study = _open_study(optuna, result.storage, result.study_name, None, seed=0, memory=None)
    print(trials_table(study, result.metric))
    print(f"best: trial {result.trial}, {result.metric} {result.score:.4g}")
    for path in result.files:
        print(f"wrote {path}")
    return 0


# -- a worker: trials on a study -----------------------------------------------------------------


class _Report(Callback):
    """Reports the metric to the trial after each epoch, and stops training when the pruner
    says so (the trial then ends as pruned)."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial, self.metric = trial, metric
        self.last: float | None = None
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.metric not in logs:
            raise ValueError(
                f"sweep.metric: {self.metric!r} is not logged by this trial; it logs "
                f"{', '.join(logs)}"
            )
        self.last = float(logs[self.metric])
        self.trial.report(self.last, epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            self.network.stop_training = True


def _objective(job: _Job, trial: optuna.Trial, data: dict[str, Splits]) -> float:
    import socket

    import optuna

    from plugnet.errors import NonFiniteLossError
    from plugnet.runs import fit_config

    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # who ran it
    document = job.document
    for parameter in job.sweep.parameters:
        document = override(document, parameter.path, _suggest(trial, parameter))
    try:
        config = parse_config(document, base_dir=job.base_dir)
        # Trials that sample no [data] key share the splits (the same for the same table).
        key = json.dumps(document.get("data"), sort_keys=True, default=str)
        if key not in data:
            data[key] = config.data.splits()
        report = _Report(trial, job.sweep.metric)
        fit_config(config.model, config.training, data[key], callbacks=[report], verbose=0)
    except (ConfigError, NonFiniteLossError) as exc:
        trial.set_user_attr("error", str(exc))  # the trial fails; the sweep goes on
        raise
    if report.pruned_at is not None:
        raise optuna.TrialPruned(f"pruned after epoch {report.pruned_at + 1}")
    assert report.last is not None  # training ran at least one epoch
    return report.last


def _suggest(trial: optuna.Trial, parameter: SweepParameter) -> Any:
    if parameter.kind == "choice":
        return trial.suggest_categorical(parameter.path, list(parameter.choices))
    if parameter.kind == "int":
        step = 1 if parameter.step is None else int(parameter.step)
        return trial.suggest_int(
            parameter.path, int(parameter.low), int(parameter.high), step=step, log=parameter.log
        )
    return trial.suggest_float(
        parameter.path, parameter.low, parameter.high, step=parameter.step, log=parameter.log
    )


def _work(job: _Job, *, worker: int, n_trials: int, memory: Any = None) -> None:
    """Run up to ``n_trials`` trials of the study (fewer when the study reaches its total
    first, counting every process's trials)."""
    import numpy as np

    from plugnet.errors import NonFiniteLossError

    optuna = _optuna()

    # A seed of its own for each process and each resumption, so that workers (and a resumed
    # sweep) do not sample the points that another already tried.
    seed = int(np.random.SeedSequence([job.sweep.seed, job.start, worker]).generate_state(1)[0])
    study = _open_study(optuna, job.storage, job.study_name, job.sweep, seed=seed, memory=memory)
    data: dict[str, Splits] = {}
    states = _FINISHED_STATES(optuna)
    callbacks: list[Any] = [optuna.study.MaxTrialsCallback(job.sweep.trials, states=states)]
    if not job.quiet:
        callbacks.append(lambda study, trial: _print_trial(trial, job.sweep.metric))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(
            lambda trial: _objective(job, trial, data),
            n_trials=n_trials,
            catch=(ConfigError, NonFiniteLossError),
            callbacks=callbacks,
        )


def _work_in_process(job: _Job, worker: int, n_trials: int) -> None:
    _work(job, worker=worker, n_trials=n_trials)


def _run_in_processes(job: _Job, remaining: int, workers: int) -> None:
    """``workers`` processes on the same storage, sharing out the remaining trials."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    shares = [remaining // workers + (k < remaining % workers) for k in range(workers)]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(_work_in_process, job, k, share) for k, share in enumerate(shares) if share
        ]
        for future in futures:
            future.result()  # a worker's error ends the sweep with it


def _ray_trial(job: _Job, index: int) -> None:
    """One trial, as a Ray task: it opens the study's storage itself."""
    _work(job, worker=index, n_trials=1)


def _run_on_ray(job: _Job, remaining: int, address: str | None, workers: int | None) -> None:
    """The remaining trials as Ray tasks (one CPU each) on the cluster at ``address``, or on a
    local Ray started for the sweep with this machine's cores; at most ``workers`` at once."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(RAY_MISSING) from exc
    started = not ray.is_initialized()
    if started:
        if address is not None:
            ray.init(address=address, log_to_driver=not job.quiet)
        else:
            ray.init(
                num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=not job.quiet
            )
    try:
        task = ray.remote(num_cpus=1)(_ray_trial)
        limit = workers or remaining
        pending: list[Any] = []
        for index in range(remaining):
            if len(pending) >= limit:
                done, pending = ray.wait(pending, num_returns=1)
                ray.get(done)
            pending.append(task.remote(job, index))
        ray.get(pending)
    finally:
        if started:
            ray.shutdown()


# -- the study ------------------------------------------------------------------------------------


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise ImportError(OPTUNA_MISSING) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep prints its own lines
    return optuna


def _FINISHED_STATES(optuna: Any) -> tuple[Any, ...]:
    state = optuna.trial.TrialState
    return (state.COMPLETE, state.PRUNED, state.FAIL)


def _finished(optuna: Any, study: Any) -> list[Any]:
    return study.get_trials(deepcopy=False, states=_FINISHED_STATES(optuna))


def _storage_spec(
    given: str | os.PathLike[str] | None,
    configured: str | None,
    file: Path | None,
    base: Path,
    name: str,
) -> str | None:
    """Where the study lives: a database URL as given, or a journal file's absolute path
    (``storage`` as given, ``sweep.storage`` from the config's directory, or beside the config
    file by default); None (in memory) for a config given as a mapping without one."""
    if given is not None:
        text = os.fspath(given)
        return text if "://" in text else str(Path(text).resolve())
    if configured is not None:
        if "://" in configured:
            return configured
        path = Path(configured).expanduser()
        return str((path if path.is_absolute() else base / path).resolve())
    if file is None:
        return None
    return str((file.parent / f"{name}.optuna.journal").resolve())


def _open_study(
    optuna: Any,
    where: str | None,
    name: str,
    settings: SweepConfig | None,
    *,
    seed: int,
    memory: Any,
) -> Any:
    """The study, created when the storage lacks it; ``memory``, a study in memory, is reused
    (None storage). Without ``settings``, the study as stored."""
    if where is None and memory is not None:
        if settings is not None and seed:  # a worker: its own sampler on the same study
            memory.sampler = optuna.samplers.TPESampler(seed=seed)
        return memory
    if where is None:
        storage: Any = None
    elif "://" in where:
        storage = where
    else:
        journal = optuna.storages.journal
        storage = optuna.storages.JournalStorage(journal.JournalFileBackend(where))
    if settings is None:
        return optuna.load_study(study_name=name, storage=storage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=_make_pruner(optuna, settings.pruner),
            direction=settings.direction,
            load_if_exists=True,
        )
    stored = study.direction.name.lower()
    if stored != settings.direction:
        raise ValueError(
            f"storage: the study {name!r} in {where} was made to {stored} its metric and "
            f"sweep.direction is {settings.direction!r}; give another storage (or remove "
            f"{where}) to start a new study"
        )
    return study


def _make_pruner(optuna: Any, spec: Mapping[str, Any]) -> Any:
    """The Optuna pruner that ``sweep.pruner`` names, its arguments checked by constructing it."""
    arguments = {key: value for key, value in spec.items() if key != "name"}
    factory = getattr(optuna.pruners, PRUNERS[spec["name"]])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return factory(**arguments)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            "sweep.pruner", f"{spec['name']!r} (optuna.pruners.{factory.__name__}): {exc}"
        ) from None


# -- results --------------------------------------------------------------------------------------


def _print_trial(trial: Any, metric: str) -> None:
    state = trial.state.name.lower()
    value = "" if trial.value is None else f" {metric} {trial.value:.4g}"
    values = ", ".join(f"{key}={_shown(value)}" for key, value in trial.params.items())
    print(f"trial {trial.number} {state}{value}: {values}", flush=True)


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trials_table(study: Any, metric: str) -> str:
    """The study's trials as a text table: number, state, the metric (a pruned trial's last
    report) and the sampled values; the best trial marked with ``*``, failures' reasons
    below."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda trial: trial.number)
    names: list[str] = []
    for trial in trials:
        names += [name for name in trial.params if name not in names]
    try:
        best = study.best_trial.number
    except ValueError:  # no trial completed
        best = None
    rows = [["trial", "state", metric, *names]]
    for trial in trials:
        value = trial.value
        if value is None and trial.intermediate_values:
            value = trial.intermediate_values[max(trial.intermediate_values)]
        mark = "*" if trial.number == best else " "
        rows.append(
            [
                f"{trial.number}{mark}",
                trial.state.name.lower(),
                "" if value is None else f"{value:.4g}",
                *[_shown(trial.params[name]) if name in trial.params else "" for name in names],
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in rows]  # fmt: skip
    lines += [
        f"trial {trial.number} failed: {trial.user_attrs['error']}"
        for trial in trials
        if "error" in trial.user_attrs
    ]
    return "\n".join(lines)


def _result(optuna: Any, study: Any, job: _Job, file: Path | None, out: Any) -> SweepResult:
    try:
        best = study.best_trial
    except ValueError:
        counts = ", ".join(
            f"{sum(t.state == state for t in study.trials)} {state.name.lower()}"
            for state in _FINISHED_STATES(optuna)
        )
        raise ValueError(
            f"sweep: no trial completed ({counts}); see the trials' errors, or loosen the "
            f"pruner (sweep.pruner)"
        ) from None
    document = job.document
    for parameter in job.sweep.parameters:
        if parameter.path in best.params:
            document = override(document, parameter.path, best.params[parameter.path])
    files: list[Path] = []
    if out is not None:
        target = Path(out)
        name = job.study_name
        best_file = target / f"{name}.best.toml"
        source = "" if file is None else f" from {file.name}"
        header = (
            f"The best config of the sweep {name!r}{source}: trial {best.number}, "
            f"{job.sweep.metric} {best.value:.6g}.\n"
            f"Train it with: plugnet train {best_file.name}"
        )
        best_file.write_text(
            format_toml(_relocated(document, Path(job.base_dir), target), header=header),
            encoding="utf-8",
        )
        files += [best_file, *_plots(optuna, study, target, name)]
    return SweepResult(
        document=document,
        score=float(best.value),
        params=dict(best.params),
        trial=best.number,
        metric=job.sweep.metric,
        study_name=job.study_name,
        storage=job.storage,
        base_dir=Path(job.base_dir),
        files=tuple(files),
    )


def _relocated(document: dict[str, Any], base: Path, target: Path) -> dict[str, Any]:
    """``document`` with its relative file paths (a data file, the outputs) made absolute, when
    it is written elsewhere than its config's directory."""
    from plugnet.datasets import is_file_source

    if base.resolve() == target.resolve():
        return document
    keys = [("output", "model"), ("output", "plot")]
    source = document.get("data", {}).get("source")
    if isinstance(source, str) and is_file_source(source):
        keys.append(("data", "source"))
    for table, key in keys:
        value = document.get(table, {}).get(key)
        if isinstance(value, str) and not Path(value).expanduser().is_absolute():
            document = override(document, f"{table}.{key}", str((base / value).resolve()))
    return document


def _plots(optuna: Any, study: Any, target: Path, name: str) -> list[Path]:
    """The optimization history and (with two completed trials or more) the parameter
    importances, as PNG files."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError('the sweep plots need matplotlib: pip install "plugnet[sweep]"') from exc
    from optuna.visualization import matplotlib as plots

    written = []
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    charts: list[tuple[str, Callable[[Any], Any]]] = [("history", plots.plot_optimization_history)]
    if len(completed) >= 2:
        charts.append(("importances", plots.plot_param_importances))
    for suffix, chart in charts:
        path = target / f"{name}.{suffix}.png"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            axes = chart(study)
        figure = axes.figure
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    if len(completed) < 2:
        print("(no importances plot: it needs two completed trials)", file=sys.stderr)
    return written
