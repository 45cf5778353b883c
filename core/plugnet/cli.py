"""The ``plugnet`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugnet._version import __version__

if TYPE_CHECKING:
    from plugnet._registry import Component, Provider, Registry
    from plugnet.datasets import Dataset
    from plugnet.network import Sequential


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plugnet",
        description="A NumPy neural-network framework built from plugins.",
        epilog="Exit status: 0 on success; 1 when `plugnet check` finds a failing check, "
        "training diverges (the loss became NaN or infinite) or an optional dependency is "
        "missing; 2 for a bad argument, config, data or model file, an "
        "unknown component name, or a plugin that fails to load under "
        "PLUGNET_STRICT_PLUGINS=1 (one line on stderr says what); 130 when interrupted "
        "(Ctrl-C); 141 when the program reading the output stops early (e.g. `| head`).",
    )
    parser.add_argument("--version", action="version", version=f"plugnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plugins = commands.add_parser(
        "plugins",
        help="list plugin providers, their components, versions and failures",
        description="List plugin providers (distributions), their versions, status and "
        "components by kind. Failed plugins are reported, not fatal.",
    )
    from plugnet._registry import KINDS

    plugins.add_argument(
        "--kind", choices=list(KINDS), help="show only components of this kind, with their details"
    )
    plugins.add_argument("--json", action="store_true", help="print machine-readable JSON")
    plugins.add_argument(
        "--all",
        action="store_true",
        help="list every component with its factory, aliases, parameters and summary",
    )
    plugins.set_defaults(handler=_guarded("plugins", _cmd_plugins))
    _add_model_commands(commands)
    _add_kit_commands(commands)
    return parser


# 128 + the signal's number, as a shell reports a command that the signal ended.
INTERRUPTED = 130  # SIGINT
BROKEN_PIPE = 141  # SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for bad arguments; see the parser's epilog)."""
    try:
        args = build_parser().parse_args(argv)
        status: int = args.handler(args)
        sys.stdout.flush()  # so that a closed pipe shows here rather than at exit
    except KeyboardInterrupt:
        print("plugnet: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        _discard_stdout()
        return BROKEN_PIPE
    return status


def _discard_stdout() -> None:
    """Point stdout at devnull, so the flush at exit does not fail again (the idiom of Python's
    "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (replaced, or closed)
        pass


# -- plugnet plugins ----------------------------------------------------------------------------


def _component_facts(registry: Registry, component: Component, details: bool) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "name": component.name,
        "qualified_name": component.qualified_name,
        "aliases": list(component.aliases),
        "reachable_by_short_name": _reachable(registry, component),
    }
    if component.pair is not None:
        facts["pair"] = list(component.pair)
    if details:
        factory = component.factory
        facts["factory"] = f"{factory.__module__}:{getattr(factory, '__qualname__', factory)}"
        facts["summary"] = component.summary
        facts["parameters"] = {
            name: None if default is _empty() else repr(default)
            for name, default in component.parameters().items()
        }
    return facts


def _reachable(registry: Registry, component: Component) -> bool:
    """Whether the component's short name resolves to it (not shadowed, not ambiguous)."""
    if component.pair is not None:
        return True
    try:
        return registry.lookup(component.kind, component.name) is component
    except LookupError:
        return False


def _empty() -> Any:
    import inspect

    return inspect.Parameter.empty


def _provider_facts(
    registry: Registry, provider: Provider, kind: str | None, details: bool
) -> dict[str, Any]:
    components: dict[str, list[dict[str, Any]]] = {}
    for component in provider.components:
        if kind is None or component.kind == kind:
            components.setdefault(component.kind, []).append(
                _component_facts(registry, component, details)
            )
    facts: dict[str, Any] = {
        "name": provider.name,
        "version": provider.version,
        "entry_point": provider.entry_point,
        "builtin": provider.builtin,
        "status": provider.status,
        "error": provider.error,
        "components": components,
    }
    if details:
        facts["modules"] = provider.modules
    return facts


def _cmd_plugins(args: argparse.Namespace) -> int:
    import warnings

    import plugnet
    from plugnet.errors import PluginWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        registry = plugnet.registry()
        registry.load_deferred()
    for warning in caught:
        if not issubclass(warning.category, PluginWarning):
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    details = args.all or args.kind is not None
    providers = [_provider_facts(registry, p, args.kind, details) for p in registry.providers]
    notes = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    if args.json:
        report = {"plugnet_version": __version__, "providers": providers, "warnings": notes}
        print(json.dumps(report, indent=2))
        return 0
    _print_plugins_table(providers, args.kind, details)
    for note in notes:
        print(f"warning: {note}")
    return 0


def _print_plugins_table(providers: list[dict[str, Any]], kind: str | None, details: bool) -> None:
    rows = []
    for provider in providers:
        name = provider["name"] + (" (built-in)" if provider["builtin"] else "")
        if provider["status"] == "failed":
            summary = [f"error: {provider['error']}"]
        elif provider["status"] == "disabled":
            summary = ["disabled by PLUGNET_PLUGINS / PLUGNET_DISABLE_PLUGINS"]
        elif provider["builtin"] and kind is None and not details:
            counts = ", ".join(f"{len(v)} {k}" for k, v in provider["components"].items())
            summary = [f"{counts} (--all or --kind lists them)"]
        else:
            summary = [
                f"{k}: " + ", ".join(_label(c) for c in comps)
                for k, comps in provider["components"].items()
            ] or ["(no components" + (f" of kind {kind})" if kind else ")")]
        rows.append((name, provider["version"] or "-", provider["status"], summary))
    widths = [
        max(len(h), *(len(r[i]) for r in rows))
        for i, h in enumerate(("PROVIDER", "VERSION", "STATUS"))
    ]
    header = ("PROVIDER", "VERSION", "STATUS")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  COMPONENTS")
    indent = " " * (sum(widths) + 6)
    for name, version, status, summary in rows:
        cells = (name, version, status)
        first = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        print(f"{first}  {summary[0]}")
        for line in summary[1:]:
            print(f"{indent}{line}")
    if details:
        for provider in providers:
            for comps in provider["components"].values():
                for c in comps:
                    print(f"\n{c['qualified_name']}  ({c['factory']})")
                    if c["aliases"]:
                        print(f"  aliases: {', '.join(c['aliases'])}")
                    if c["parameters"]:
                        params = ", ".join(
                            k if v is None else f"{k}={v}" for k, v in c["parameters"].items()
                        )
                        print(f"  parameters: {params}")
                    if c["summary"]:
                        print(f"  {c['summary']}")


def _label(component: dict[str, Any]) -> str:
    name = (
        component["name"] if component["reachable_by_short_name"] else component["qualified_name"]
    )
    if component["aliases"]:
        name += f" ({', '.join(component['aliases'])})"
    return str(name)


# -- plugnet train / evaluate / predict ----------------------------------------------------------

DATA_HELP = (
    "a .npz file (arrays x and t, or y), a .csv file (numeric, one header row) or a built-in "
    "data set: digits, xor, spiral, sine"
)


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def _add_model_commands(commands: Any) -> None:
    train = commands.add_parser(
        "train",
        help="train a network from a TOML config",
        description="Train a network from a TOML config (see docs/configs.md): load and split "
        "the data, build the network, train, and print the final training, validation and test "
        "scores, e.g. 'test accuracy: 0.9756'. Exits with 2 on a bad config or bad data.",
    )
    train.add_argument("config", metavar="CONFIG.toml", help="the training config")
    train.add_argument("--epochs", type=_count(1), metavar="N", help="override training.epochs")
    train.add_argument("--seed", type=_count(0), metavar="S", help="override model.seed")
    train.add_argument(
        "--out", metavar="MODEL.npz", help="save the trained model here (overrides output.model)"
    )
    train.add_argument(
        "--plot",
        metavar="CURVES.png",
        help="write the learning curves here (overrides output.plot; needs plugnet[plot])",
    )
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), help="override training.verbose")
    train.set_defaults(handler=_guarded("train", _cmd_train))

    evaluate = commands.add_parser(
        "evaluate",
        help="score a saved model on data",
        description="Print the loss (and accuracy, for class targets) of a saved model on data.",
    )
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by plugnet")
    evaluate.add_argument("--data", required=True, metavar="FILE", help=DATA_HELP)
    evaluate.add_argument(
        "--label-column",
        default="label",
        metavar="NAME",
        help="the label column of a .csv file (default: 'label', else the last column)",
    )
    evaluate.add_argument("--json", action="store_true", help="print machine-readable JSON")
    evaluate.set_defaults(handler=_guarded("evaluate", _cmd_evaluate))

    predict = commands.add_parser(
        "predict",
        help="predict with a saved model",
        description="Run a saved model on the inputs of a data file or built-in set. A .csv "
        "file's label column is dropped when it has one (named by --label-column, or a last "
        "column beyond the model's inputs). The outputs go to --out (.npz with array y, or "
        ".csv) or, without --out, to standard output as CSV.",
    )
    predict.add_argument("model", metavar="MODEL", help="a model file written by plugnet")
    predict.add_argument("--data", required=True, metavar="FILE", help=DATA_HELP)
    predict.add_argument(
        "--label-column",
        default="label",
        metavar="NAME",
        help="the label column of a .csv file, dropped if present (default: 'label')",
    )
    predict.add_argument("--out", metavar="FILE", help="write the outputs to a .npz or .csv file")
    predict.set_defaults(handler=_guarded("predict", _cmd_predict))


def _guarded(command: str, run: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Bad input (a bad config, data or model file, an unknown name) or a plugin that fails to
    load in strict mode ends with a one-line message on stderr and exit status 2, as argparse
    does for bad arguments; a missing optional dependency (an ImportError that says what to pip
    install) or a diverged training run with exit status 1. A closed stdout (BrokenPipeError)
    is left to :func:`main`."""
    from plugnet.errors import NonFiniteLossError, PluginError

    def handler(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except BrokenPipeError:
            raise
        except PluginError as exc:  # pluggy's validation errors span several lines
            message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            print(f"plugnet {command}: error: {message}", file=sys.stderr)
            return 2
        except (ValueError, LookupError, OSError) as exc:
            print(f"plugnet {command}: error: {exc}", file=sys.stderr)
            return 2
        except NonFiniteLossError as exc:  # the config is valid; the run diverged
            print(f"plugnet {command}: error: {exc}", file=sys.stderr)
            return 1
        except ImportError as exc:
            if "pip install" not in str(exc):
                raise  # not a missing extra: a real bug, keep the traceback
            print(f"plugnet {command}: error: {exc}", file=sys.stderr)
            return 1

    return handler


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


def _cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from plugnet.config import load_config

    config = load_config(args.config)
    model, training = config.model, config.training
    if args.seed is not None:
        model = dataclasses.replace(model, seed=args.seed)
    if args.epochs is not None:
        training = dataclasses.replace(training, epochs=args.epochs)
    if args.verbose is not None:
        training = dataclasses.replace(training, verbose=args.verbose)
    out = Path(args.out) if args.out else config.output.model
    plot = Path(args.plot) if args.plot else config.output.plot
    if out is not None:
        _writable(out, "model")
    if plot is not None:
        _writable(plot, "learning curves")
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
    if out is not None:
        net.save(str(out))
        print(f"saved the model to {out}")
    if plot is not None:
        history.plot(plot)
        print(f"wrote the learning curves to {plot}")
    return 0


def _load_model(path: str) -> Sequential:
    from plugnet.serialization import load

    return load(path)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from plugnet.datasets import load as load_data

    net = _load_model(args.model)
    data = load_data(args.data, label_column=args.label_column)
    scores = net.evaluate(data.x, data.t)
    if args.json:
        report = {"model": args.model, "data": args.data, "samples": len(data), **scores}
        print(json.dumps(report, indent=2))
        return 0
    print(f"samples: {len(data)}")
    for metric, value in scores.items():
        print(f"{metric}: {value:.4f}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from plugnet.datasets import load as load_data

    net = _load_model(args.model)
    out = Path(args.out) if args.out else None
    if out is not None:
        if out.suffix.lower() not in (".npz", ".csv"):
            raise ValueError(f"{out}: write predictions to a .npz or .csv file")
        _writable(out, "predictions")
    data = load_data(args.data, label_column=args.label_column, require_targets=False)
    x = data.x
    inputs = net.input_shape
    if (
        str(args.data).lower().endswith(".csv")
        and inputs is not None
        and len(inputs) == 1
        and x.shape[1] == inputs[0] + 1
    ):
        x = x[:, :-1]  # the last column is the label, as in training
    y = net.predict(x)
    if out is not None and out.suffix.lower() == ".npz":
        np.savez(out, y=y)
    else:
        flat = y.reshape(len(y), -1)
        header = ",".join(["y"] if flat.shape[1] == 1 else [f"y_{i}" for i in range(flat.shape[1])])
        target = sys.stdout if out is None else out
        np.savetxt(target, flat, fmt="%.8g", delimiter=",", header=header, comments="")
    if out is not None:
        print(f"wrote {len(y)} predictions to {out}")
    return 0


# -- plugnet check / new-plugin -----------------------------------------------------------------


def _add_kit_commands(commands: Any) -> None:
    from plugnet._registry import KINDS

    check = commands.add_parser(
        "check",
        help="run the conformance suite on installed components",
        description="Run the conformance suite (gradients by finite differences in float64, "
        "dtypes, no input mutation, config round trip, extreme inputs, and the optimizer and "
        "initializer checks) on installed components: all of them, or those named. Prints a "
        "table of component × check; exits with status 1 when any check fails.",
    )
    check.add_argument(
        "targets",
        nargs="*",
        metavar="NAME_OR_PROVIDER",
        help="a distribution (provider) name, which selects everything it registers, or a "
        "component name; default: every installed component",
    )
    check.add_argument("--kind", choices=list(KINDS), help="check only components of this kind")
    check.add_argument("--json", action="store_true", help="print machine-readable JSON")
    check.set_defaults(handler=_guarded("check", _cmd_check))

    new_plugin = commands.add_parser(
        "new-plugin",
        help="create a plugin package that installs and passes plugnet check as generated",
        description="Create a ready plugin package: pyproject.toml with the plugnet entry "
        "point, a module with an example activation and error function, tests that run the "
        "conformance suite through the pytest plugin, and a README with install, test and "
        "publish steps.",
    )
    new_plugin.add_argument("name", metavar="NAME", help="the distribution name, e.g. plugnet-mish")
    new_plugin.add_argument(
        "--dir", metavar="PATH", help="the directory to create (default: ./NAME); must not exist"
    )
    new_plugin.set_defaults(handler=_guarded("new-plugin", _cmd_new_plugin))


def _cmd_check(args: argparse.Namespace) -> int:
    from plugnet.testing import checks_for, select_components
    from plugnet.testing.report import run, table

    results = run(checks_for(select_components(args.targets, kind=args.kind)))
    failed = sum(not r.passed for r in results)
    if args.json:
        report = {
            "passed": len(results) - failed,
            "failed": failed,
            "results": [r.as_dict() for r in results],
        }
        print(json.dumps(report, indent=2))
    else:
        print(table(results))
    return 1 if failed else 0


def _cmd_new_plugin(args: argparse.Namespace) -> int:
    from plugnet.scaffold import create, module_name

    files = create(args.name, args.dir)
    root = files[0].parent
    print(f"created {root}/ for the distribution {args.name!r}:")
    for path in files:
        print(f"  {path.relative_to(root)}")
    print(
        f'\nnext:\n  cd {root}\n  pip install -e ".[test]"\n  pytest\n'
        f"  plugnet check {args.name}\n"
        f"then edit src/{module_name(args.name)}/__init__.py; README.md says how to publish."
    )
    return 0
