"""Running a training config and using a saved model: what ``plugnet train``, ``evaluate`` and
``predict`` do, as functions of plain arguments that print their report and return the exit
status (0). Bad input raises (``ValueError``, ``LookupError``, ``OSError``); the CLI turns that
into a one-line message."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plugnet.datasets import Dataset


def train(
    config_path: str | os.PathLike[str],
    *,
    epochs: int | None = None,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    verbose: int | None = None,
) -> int:
    """Train the network of a TOML config and print its scores; the keyword arguments, when
    given, override ``training.epochs``, ``model.seed``, ``output.model``, ``output.plot`` and
    ``training.verbose``."""
    from plugnet.config import load_config

    config = load_config(config_path)
    model, training = config.model, config.training
    if seed is not None:
        model = dataclasses.replace(model, seed=seed)
    if epochs is not None:
        training = dataclasses.replace(training, epochs=epochs)
    if verbose is not None:
        training = dataclasses.replace(training, verbose=verbose)
    model_file = Path(out) if out else config.output.model
    plot_file = Path(plot) if plot else config.output.plot
    if model_file is not None:
        _writable(model_file, "model")
    if plot_file is not None:
        _writable(plot_file, "learning curves")
        try:
            import matplotlib  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                'plotting learning curves needs matplotlib: pip install "plugnet[plot]"'
            ) from exc

    data = config.data.load()
    splits = config.data.split(data)
    parts = [f"{len(splits.train)} training"]
    if splits.validation is not None:
        parts.append(f"{len(splits.validation)} validation")
    if splits.test is not None:
        parts.append(f"{len(splits.test)} test")
    print(f"{_describe_data(data, len(data))}; {' / '.join(parts)}")
    monitor = (training.early_stopping or {}).get("monitor", "")
    if "accuracy" in monitor and not data.classification:
        raise ValueError(
            f"training.early_stopping.monitor: {monitor!r} needs class targets, and "
            f"{data.name} has regression targets; monitor a loss"
        )

    net = model.build()
    validation = splits.validation
    history = net.fit(
        splits.train.x,
        splits.train.t,
        epochs=training.epochs,
        batch_size=training.batch_size,
        shuffle=training.shuffle,
        validation_data=None if validation is None else (validation.x, validation.t),
        callbacks=training.callbacks(),
        verbose=training.verbose,
    )
    _print_scores("train", net.evaluate(splits.train.x, splits.train.t))
    if validation is not None:
        _print_scores("validation", net.evaluate(validation.x, validation.t))
    if splits.test is not None:
        _print_scores("test", net.evaluate(splits.test.x, splits.test.t))
    if model_file is not None:
        net.save(str(model_file))
        print(f"saved the model to {model_file}")
    if plot_file is not None:
        history.plot(plot_file)
        print(f"wrote the learning curves to {plot_file}")
    return 0


def evaluate(
    model_path: str, data_source: str, *, label_column: str = "label", as_json: bool = False
) -> int:
    """Print the loss (and accuracy, for class targets) of a saved model on a data file or
    built-in set."""
    from plugnet.datasets import load as load_data
    from plugnet.network import load

    net = load(model_path)
    data = load_data(data_source, label_column=label_column)
    scores = net.evaluate(data.x, data.t)
    if as_json:
        report = {"model": model_path, "data": data_source, "samples": len(data), **scores}
        print(json.dumps(report, indent=2))
        return 0
    print(f"samples: {len(data)}")
    for metric, value in scores.items():
        print(f"{metric}: {value:.4f}")
    return 0


def predict(
    model_path: str,
    data_source: str,
    *,
    label_column: str = "label",
    out: str | os.PathLike[str] | None = None,
) -> int:
    """Write a saved model's outputs on the inputs of a data file or built-in set to ``out``
    (.npz with array y, or .csv) or, without it, to standard output as CSV. A .csv file's last
    column is dropped when it is one beyond the model's inputs (the label, as in training)."""
    import numpy as np

    from plugnet.datasets import load as load_data
    from plugnet.network import load

    net = load(model_path)
    target = Path(out) if out else None
    if target is not None:
        if target.suffix.lower() not in (".npz", ".csv"):
            raise ValueError(f"{target}: write predictions to a .npz or .csv file")
        _writable(target, "predictions")
    data = load_data(data_source, label_column=label_column, require_targets=False)
    x = data.x
    inputs = net.input_shape
    if (
        str(data_source).lower().endswith(".csv")
        and inputs is not None
        and len(inputs) == 1
        and x.shape[1] == inputs[0] + 1
    ):
        x = x[:, :-1]  # the last column is the label, as in training
    y = net.predict(x)
    if target is not None and target.suffix.lower() == ".npz":
        np.savez(target, y=y)
    else:
        flat = y.reshape(len(y), -1)
        header = ",".join(["y"] if flat.shape[1] == 1 else [f"y_{i}" for i in range(flat.shape[1])])
        np.savetxt(
            sys.stdout if target is None else target,
            flat,
            fmt="%.8g",
            delimiter=",",
            header=header,
            comments="",
        )
    if target is not None:
        print(f"wrote {len(y)} predictions to {target}")
    return 0


def _writable(path: Path, what: str) -> None:
    if path.is_dir():
        raise ValueError(f"{path}: is a directory; give a file name for the {what}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: cannot write the {what}, no directory {path.parent}")


def _describe_data(data: Dataset, count: int) -> str:
    features = "×".join(str(d) for d in data.x.shape[1:])
    if data.classification:
        assert data.t is not None
        kind = f"{len(set(data.t.tolist()))} classes"
    else:
        kind = "regression targets" if data.t is not None else "no targets"
    return f"{data.name}: {count} samples, {features} features, {kind}"


def _print_scores(part: str, scores: dict[str, float]) -> None:
    for metric, value in scores.items():
        print(f"{part} {metric}: {value:.4f}")
