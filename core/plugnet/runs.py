"""Running a training config and using a saved model: what ``plugnet train``, ``evaluate`` and
``predict`` do, as functions of plain arguments that print their report and return the exit
status (0). Bad input raises (``ValueError``, ``LookupError``, ``OSError``); the CLI turns that
into a one-line message."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugnet.callbacks import Callback
    from plugnet.config import ModelConfig, TrainingConfig
    from plugnet.datasets import Dataset, Splits
    from plugnet.history import History
    from plugnet.network import Model
    from plugnet.protocols import Array


def train(
    config_path: str | os.PathLike[str],
    *,
    epochs: int | None = None,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    verbose: int | None = None,
    overrides: Sequence[tuple[str, Any]] = (),
) -> int:
    """Train the network of a TOML config and print its scores; the keyword arguments, when
    given, override ``training.epochs``, ``model.seed``, ``output.model``, ``output.plot`` and
    ``training.verbose``, and ``overrides`` (key path, value) any key before validation
    (``plugnet train --set``)."""
    from plugnet.config import load_config

    config = load_config(config_path, overrides)
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

    splits = config.data.splits()
    parts = [f"{len(splits.train)} training"]
    if splits.validation is not None:
        parts.append(f"{len(splits.validation)} validation")
    if splits.test is not None:
        parts.append(f"{len(splits.test)} test")
    print(f"{_describe_splits(splits)}; {' / '.join(parts)}")
    net, history = fit_config(model, training, splits)
    validation = splits.validation
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


def fit_config(
    model: ModelConfig,
    training: TrainingConfig,
    splits: Splits,
    *,
    callbacks: Sequence[Callback] = (),
    verbose: int | None = None,
) -> tuple[Model, History]:
    """Build the network of a config and train it on ``splits`` (validating on their validation
    part) as ``plugnet train`` does, with ``callbacks`` after the config's own; ``verbose``
    overrides ``training.verbose``."""
    monitors = [("training.early_stopping.monitor", (training.early_stopping or {}).get("monitor"))]
    monitors += [
        (f"training.callbacks[{i}].monitor", spec.get("monitor"))
        for i, spec in enumerate(training.callback_specs)
    ]
    for key, monitor in monitors:
        if isinstance(monitor, str) and "accuracy" in monitor and not splits.train.classification:
            raise ValueError(
                f"{key}: {monitor!r} needs class targets, and {splits.train.name} has "
                f"regression targets; monitor a loss"
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
        callbacks=[*training.callbacks(), *callbacks],
        verbose=training.verbose if verbose is None else verbose,
        class_weight=training.class_weight,
    )
    return net, history


def evaluate(
    model_path: str,
    data_source: str,
    *,
    label_column: str = "label",
    seed: int = 0,
    as_json: bool = False,
) -> int:
    """Print the loss (and accuracy, for class targets) of a saved model on a data file (all of
    it) or on the test split of a data set by name (made with ``seed``, as ``data.random_state``
    makes it in training), and say which samples were scored."""
    from plugnet.network import load

    net = load(model_path)
    data, part = _model_data(data_source, label_column=label_column, seed=seed)
    scores = net.evaluate(data.x, data.t)
    if as_json:
        report: dict[str, object] = {"model": model_path, "data": data_source, "split": part.split}
        if part.split != "file":  # a file is scored whole: no seed makes a difference to it
            report["seed"] = seed
        report |= {"samples": len(data), **scores}
        print(json.dumps(report, indent=2))
        return 0
    print(f"samples: {len(data)}")
    print(f"split: {part.text}")
    for metric, value in scores.items():
        print(f"{metric}: {value:.4f}")
    return 0


def predict(
    model_path: str,
    data_source: str,
    *,
    label_column: str = "label",
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
) -> int:
    """Write a saved model's outputs on the inputs of a data file or a data set by name (all
    of it, made with ``seed``) to ``out`` (.npz with array y, or .csv) or, without it, to
    standard output as CSV. For class outputs (an error function over class probabilities, or
    one sigmoid unit) the CSV's first column is the predicted ``class``. A .csv file's last
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
    data = load_data(data_source, label_column=label_column, seed=seed, require_targets=False)
    x = data.x
    inputs = net.input_shape
    if (
        str(data_source).lower().endswith(".csv")
        and isinstance(inputs, tuple)
        and len(inputs) == 1
        and x.shape[1] == inputs[0] + 1
    ):
        x = x[:, :-1]  # the last column is the label, as in training
    y = net.predict(x)
    if target is not None and target.suffix.lower() == ".npz":
        np.savez(target, y=y)
    else:
        flat = y.reshape(len(y), -1)
        header = ["y"] if flat.shape[1] == 1 else [f"y_{i}" for i in range(flat.shape[1])]
        formats = ["%.8g"] * flat.shape[1]
        classes = predicted_classes(net, y)
        if classes is not None:
            flat = np.column_stack([classes, flat])
            header, formats = ["class", *header], ["%d", *formats]
        np.savetxt(
            sys.stdout if target is None else target,
            flat,
            fmt=formats,
            delimiter=",",
            header=",".join(header),
            comments="",
        )
    if target is not None:
        print(f"wrote {len(y)} predictions to {target}")
    return 0


def export(model_path: str, onnx_path: str | os.PathLike[str], *, opset: int = 17) -> int:
    """Write a saved model as an ONNX model at ``onnx_path`` (see :meth:`Model.to_onnx
    <plugnet.network.Model.to_onnx>`) and say what was written."""
    from plugnet.network import load

    target = Path(onnx_path)
    if target.suffix.lower() != ".onnx":
        raise ValueError(f"{target}: write the ONNX model to a file ending in .onnx")
    _writable(target, "ONNX model")
    net = load(model_path)
    net.to_onnx(target, opset=opset)
    assert net.input_shapes is not None  # a loaded model is built
    given = ", ".join(
        f"{name!r} (N, {', '.join(map(str, shape))})"
        for name, shape in zip(net.input_names, net.input_shapes, strict=True)
    )
    output = ", ".join(map(str, net.output_shape))
    print(
        f"wrote {target} (ONNX opset {opset}, {net.dtype.name}): input {given}, "
        f"output 'output' (N, {output})"
    )
    return 0


def predicted_classes(net: Model, y: Array) -> Array | None:
    """The class each row of ``y`` picks, when the model's outputs are classes: the argmax for
    an error function over class (log-)probabilities with several outputs, ``y ≥ 0.5`` for a
    binary one with one output (the rules accuracy uses); None otherwise (regression)."""
    import numpy as np

    from plugnet.domains import domain_of

    domain = domain_of(net.error)
    if y.ndim == 2 and y.shape[1] > 1 and domain in ("probabilities", "log_probabilities"):
        return np.asarray(y.argmax(axis=1))
    if y.shape[1:] == (1,) and domain == "binary":
        return (y[:, 0] >= 0.5).astype(np.int64)
    return None


@dataclasses.dataclass(frozen=True)
class _Part:
    split: str  # "test", "all" (a set without a test part) or "file"
    text: str


def _model_data(source: str, *, label_column: str, seed: int) -> tuple[Dataset, _Part]:
    """The samples to score or predict on: a data file whole; for a data set by name its test
    split for ``seed`` (never its training data), or all of it when it has no test part."""
    from plugnet import datasets

    if datasets.is_file_source(source) or datasets.file_exists(Path(source)):
        data = datasets.load(source, label_column=label_column)
        return data, _Part("file", f"all of {source}")
    parts = datasets.named_source(source).load(seed)
    if parts.test is None:
        return parts.train, _Part(
            "all", f"all {len(parts.train)} samples ({parts.train.name} has no test part)"
        )
    total = len(parts.train) + len(parts.test)
    text = f"test ({parts.test.name}, seed {seed}: {len(parts.test)} of {total} samples)"
    return parts.test, _Part("test", text)


def _writable(path: Path, what: str) -> None:
    if path.is_dir():
        raise ValueError(f"{path}: is a directory; give a file name for the {what}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: cannot write the {what}, no directory {path.parent}")


def _describe_splits(splits: Splits) -> str:
    """``digits: 1797 samples, 64 features, 10 classes``, over every part."""
    import numpy as np

    parts = [p for p in (splits.train, splits.validation, splits.test) if p is not None]
    data = splits.train
    count = sum(len(p) for p in parts)
    features = "×".join(str(d) for d in data.x.shape[1:])
    if data.classification:
        labels = np.concatenate([p.t for p in parts if p.t is not None])
        kind = f"{len(np.unique(labels))} classes"
    else:
        kind = "regression targets" if data.t is not None else "no targets"
    return f"{data.name}: {count} samples, {features} features, {kind}"


def _print_scores(part: str, scores: dict[str, float]) -> None:
    for metric, value in scores.items():
        print(f"{part} {metric}: {value:.4f}")
