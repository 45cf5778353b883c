"""The ``plugnet`` command line: the argparse parser, and handlers that unpack the arguments and
call the function that does the work where its subject lives (:mod:`plugnet.plugins_report`,
:mod:`plugnet.runs`, :mod:`plugnet.testing.report`, :mod:`plugnet.scaffold`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from plugnet._version import __version__


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
    plugins.add_argument(
        "--all",
        action="store_true",
        help="list every component with its factory, aliases, parameters and summary",
    )
    output = plugins.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print machine-readable JSON")
    output.add_argument(
        "--requirements",
        action="store_true",
        help="print plugnet and the installed plugin distributions, pinned (name==version), as a "
        "requirements file for pip install -r",
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


# -- the parsers of plugnet train / evaluate / predict ------------------------------------------

DATA_HELP = (
    "a .npz file (arrays x and t, or y), a .csv file (numeric, one header row) or a data set by "
    "name, e.g. digits or 'spiral(n=50)' (`plugnet plugins --kind dataset` lists them)"
)
SEED_HELP = (
    "the seed that makes a data set by name and its split, as data.random_state does in "
    "training (default: 0)"
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


def _override(text: str) -> tuple[str, Any]:
    from plugnet.config import parse_override

    try:
        return parse_override(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=_override,
        metavar="KEY=VALUE",
        help="set the config key at a key path to a TOML value before the config is validated, "
        "e.g. --set model.layers[0].units=64 --set 'model.optimizer=\"adam(lr=1e-2)\"' "
        "(repeatable)",
    )
    train.set_defaults(handler=_guarded("train", _cmd_train))

    sweep = commands.add_parser(
        "sweep",
        help="search a config's hyperparameters with Optuna (the [sweep] table)",
        description="Run the [sweep] table of a training config as an Optuna study (see "
        'docs/sweeps.md; needs the sweep extra: pip install "plugnet[sweep]"). Each trial '
        "sets the sampled values at their key paths, trains as plugnet train does and reports "
        "the metric every epoch, so the pruner stops poor trials early. The study is stored "
        "beside the config (NAME.optuna.journal) unless --storage says where: a sweep that is "
        "run again resumes it, and several processes or machines on the same storage share its "
        "trials. Prints a table of the trials; writes the best config (NAME.best.toml, which "
        "plugnet train takes as is) and the plots NAME.history.png and NAME.importances.png "
        "beside the config or in --out.",
    )
    sweep.add_argument("config", metavar="CONFIG.toml", help="a training config with [sweep]")
    sweep.add_argument(
        "--trials", type=_count(1), metavar="N", help="the study's total (overrides sweep.trials)"
    )
    sweep.add_argument(
        "--workers",
        type=_count(1),
        metavar="N",
        help="processes that share the trials (with --backend ray: at most N trials at once; "
        "default: 1, or as many as the Ray cluster has CPUs)",
    )
    sweep.add_argument(
        "--storage",
        metavar="URL",
        help="the study's storage: a database URL such as sqlite:///sweep.db, or a journal "
        "file's path (overrides sweep.storage; default: NAME.optuna.journal beside the config)",
    )
    sweep.add_argument(
        "--backend",
        choices=("optuna", "ray"),
        default="optuna",
        help="run the trials in this machine's processes (optuna, the default) or as Ray tasks "
        "(ray; needs plugnet[ray])",
    )
    sweep.add_argument(
        "--address",
        metavar="ADDR",
        help="the Ray cluster to run on, e.g. ray://head:10001 or auto (default: a local Ray "
        "started for the sweep with this machine's cores)",
    )
    sweep.add_argument(
        "--out",
        metavar="DIR",
        help="write the best config and the plots here (default: beside the config)",
    )
    sweep.set_defaults(handler=_guarded("sweep", _cmd_sweep))

    evaluate = commands.add_parser(
        "evaluate",
        help="score a saved model on data",
        description="Print the loss (and accuracy, for class targets) of a saved model on data: "
        "all of a data file, or the test split of a data set by name (never its training "
        "part). The output says which samples were scored.",
    )
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by plugnet")
    evaluate.add_argument(
        "--data", required=True, metavar="FILE", help=f"{DATA_HELP}; a set's test split is scored"
    )
    evaluate.add_argument(
        "--label-column",
        default="label",
        metavar="NAME",
        help="the label column of a .csv file (default: 'label', else the last column)",
    )
    evaluate.add_argument("--seed", type=_count(0), default=0, metavar="S", help=SEED_HELP)
    evaluate.add_argument("--json", action="store_true", help="print machine-readable JSON")
    evaluate.set_defaults(handler=_guarded("evaluate", _cmd_evaluate))

    predict = commands.add_parser(
        "predict",
        help="predict with a saved model",
        description="Run a saved model on the inputs of a data file or a data set by name (all "
        "of it). A .csv file's label column is dropped when it has one (named by "
        "--label-column, or a last column beyond the model's inputs). The outputs go to --out "
        "(.npz with array y, or .csv) or, without --out, to standard output as CSV; for class "
        "outputs the CSV's first column is the predicted class.",
    )
    predict.add_argument("model", metavar="MODEL", help="a model file written by plugnet")
    predict.add_argument("--data", required=True, metavar="FILE", help=DATA_HELP)
    predict.add_argument(
        "--label-column",
        default="label",
        metavar="NAME",
        help="the label column of a .csv file, dropped if present (default: 'label')",
    )
    predict.add_argument("--seed", type=_count(0), default=0, metavar="S", help=SEED_HELP)
    predict.add_argument("--out", metavar="FILE", help="write the outputs to a .npz or .csv file")
    predict.set_defaults(handler=_guarded("predict", _cmd_predict))

    export = commands.add_parser(
        "export",
        help="write a saved model as an ONNX model",
        description="Write a saved model as an ONNX model (needs the onnx extra: pip install "
        '"plugnet[onnx]"), each layer and activation through its registered lowering; onnx\'s '
        "checker validates it before it is written. The input is named as the model's (input), "
        "the output 'output'; the batch axis is dynamic. A component that no installed plugin "
        "lowers is an error naming it, and nothing is written.",
    )
    export.add_argument("model", metavar="MODEL", help="a model file written by plugnet")
    export.add_argument("--onnx", required=True, metavar="OUT", help="the .onnx file to write")
    export.add_argument(
        "--opset",
        type=_count(17),
        default=17,
        metavar="N",
        help="the ONNX operator set to target, 17 or later (default: 17)",
    )
    export.set_defaults(handler=_guarded("export", _cmd_export))


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


# -- the parsers of plugnet check / new-plugin -------------------------------------------------


def _add_kit_commands(commands: Any) -> None:
    from plugnet._registry import KINDS

    check = commands.add_parser(
        "check",
        help="run the conformance suite on installed components",
        description="Run the conformance suite (gradients by finite differences in float64, "
        "dtypes, no input mutation, config round trip, extreme inputs, ONNX lowerings against "
        "ONNX Runtime, and the optimizer and initializer checks) on installed components: all "
        "of them, or those named. Prints a table of component × check; exits with status 1 "
        "when any check fails.",
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


# -- handlers: unpack the arguments and call the function that lives with the subject --------


def _cmd_plugins(args: argparse.Namespace) -> int:
    from plugnet.plugins_report import print_plugins

    if args.requirements and (args.kind or args.all):
        raise ValueError("--requirements lists distributions, not components; drop --kind/--all")
    return print_plugins(
        args.kind, show_all=args.all, as_json=args.json, as_requirements=args.requirements
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from plugnet.runs import train

    return train(
        args.config,
        epochs=args.epochs,
        seed=args.seed,
        out=args.out,
        plot=args.plot,
        verbose=args.verbose,
        overrides=args.overrides,
    )


def _cmd_sweep(args: argparse.Namespace) -> int:
    from plugnet.sweeps import run

    if args.address is not None and args.backend != "ray":
        raise ValueError("--address: a Ray cluster's address; give it with --backend ray")
    return run(
        args.config,
        trials=args.trials,
        storage=args.storage,
        workers=args.workers,
        backend=args.backend,
        address=args.address,
        out=args.out,
    )


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from plugnet.runs import evaluate

    return evaluate(
        args.model, args.data, label_column=args.label_column, seed=args.seed, as_json=args.json
    )


def _cmd_predict(args: argparse.Namespace) -> int:
    from plugnet.runs import predict

    return predict(
        args.model, args.data, label_column=args.label_column, seed=args.seed, out=args.out
    )


def _cmd_export(args: argparse.Namespace) -> int:
    from plugnet.runs import export

    return export(args.model, args.onnx, opset=args.opset)


def _cmd_check(args: argparse.Namespace) -> int:
    from plugnet.testing.report import check

    return check(args.targets, kind=args.kind, as_json=args.json)


def _cmd_new_plugin(args: argparse.Namespace) -> int:
    from plugnet.scaffold import new_plugin

    return new_plugin(args.name, args.dir)
