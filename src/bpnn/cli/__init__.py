"""The ``bpnn`` command line: train, evaluate and predict on CSV files, explain backpropagation.

``main(argv)`` returns the exit code, so tests (and notebooks) can run a command in-process:

>>> from bpnn.cli import main
>>> main(["explain", "--format", "json"])  # doctest: +SKIP
0

Problems with the user's input raise :class:`CLIError`; ``main`` turns it into one line on
stderr and exit code 2 (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings

import bpnn
from bpnn.cli import commands, explain, info
from bpnn.cli.distributed import run_command
from bpnn.cli.errors import CLIError
from bpnn.cli.signals import quiet_broken_pipe, terminate_cleanly
from bpnn.cli.toolkit import learning_rate
from bpnn.train.nonfinite import TrainingDivergedError

__all__ = ["CLIError", "build_parser", "main"]

DESCRIPTION = """\
Backpropagation neural networks on CSV files.

  bpnn demo                          train on the bundled phone-price data and print the report
  bpnn train DATA.csv --target COL   train, evaluate on a held-out split, save a model folder
  bpnn evaluate DIR DATA.csv         metrics of a saved model on labelled data
  bpnn predict DIR DATA.csv          predictions with the original label names
  bpnn export DIR OUT.onnx           the model as an ONNX file (--with-preprocessing: raw columns)
  bpnn explain                       one backpropagation step, number by number
  bpnn info                          version, backend, BLAS, data sets
  bpnn playground                    watch backpropagation learn, in the browser
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text}")
    return value


def _hidden_sizes(text: str) -> list:
    if text.strip() in ("", "0", "none"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths like 64,32, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return sizes


def _by_task(name: str, show=str) -> str:
    """The help text's "(default: ...)" for an option whose default depends on the task."""
    from bpnn.cli.pipeline import TASK_DEFAULTS

    classification = show(getattr(TASK_DEFAULTS["classification"], name))
    regression = show(getattr(TASK_DEFAULTS["regression"], name))
    if classification == regression:
        return f"(default: {classification})"
    return f"(default: {classification} for classification, {regression} for regression)"


def add_training_options(parser: argparse.ArgumentParser, defaults) -> None:
    """The model and optimisation options shared by ``train`` and ``demo``.

    Options whose default depends on the task default to None here and are filled in by
    :func:`bpnn.cli.commands.resolve_task_defaults` once the task is known.
    """
    widths = ",".join
    group = parser.add_argument_group("model and training")
    group.add_argument("--task", choices=("auto", "classification", "regression"),
                       default="auto", help="what to predict (default: auto, from the target)")
    group.add_argument("--hidden", type=_hidden_sizes, default=None,
                       help="hidden layer widths, comma separated "
                            + _by_task("hidden", lambda v: widths(map(str, v)) or "none"))
    group.add_argument("--activation", default=None,
                       choices=sorted(bpnn.nn.registered_activations()),
                       help="hidden activation " + _by_task("activation"))
    group.add_argument("--dropout", type=_fraction, default=None,
                       help="dropout after each hidden layer " + _by_task("dropout"))
    group.add_argument("--init", default=None, choices=commands.INITIALISERS,
                       help="starting weights: torch (PyTorch's nn.Linear default) or glorot "
                            "(weights and biases uniform in +-sqrt(6/(fan_in+fan_out)), as "
                            "scikit-learn's MLP) " + _by_task("init"))
    group.add_argument("--optimizer", default=None,
                       help="optimizer name " + _by_task("optimizer"))
    group.add_argument("--lr", type=learning_rate, default=None,
                       help="learning rate, or 'auto' to pick it with lr_find "
                            + _by_task("lr", "{:g}".format))
    group.add_argument("--lr-schedule", choices=commands.LR_SCHEDULES,
                       default=defaults.lr_schedule,
                       help="how the learning rate moves: constant; onecycle (up to --lr over "
                            "the first 30%% of the steps, then annealed, as fastai's "
                            "fit_one_cycle: the way to use --lr auto); cosine (annealed from "
                            f"--lr to 0) (default: {defaults.lr_schedule})")
    group.add_argument("--weight-decay", type=float, default=None,
                       help="L2 weight decay " + _by_task("weight_decay", "{:g}".format))
    group.add_argument("--epochs", type=_positive_int, default=None,
                       help="maximum epochs " + _by_task("epochs"))
    group.add_argument("--batch-size", type=_positive_int, default=None,
                       help="mini-batch size " + _by_task("batch_size"))
    group.add_argument("--val-split", type=_fraction, default=None,
                       help="fraction of the non-test rows used for validation "
                            + _by_task("val_split"))
    group.add_argument("--test-split", type=_fraction, default=defaults.test_split,
                       help=f"fraction of rows held out for the test (default: "
                            f"{defaults.test_split})")
    group.add_argument("--early-stopping", type=_non_negative_int, default=None,
                       help="stop after this many epochs without a better validation loss and "
                            "restore the best weights; with no validation split, after this "
                            "many epochs in which the training loss improved by less than "
                            "1e-4 (scikit-learn's rule); 0 = off "
                            + _by_task("early_stopping"))
    group.add_argument("--refit", action=argparse.BooleanOptionalAction, default=None,
                       help="after early stopping, retrain on the training and validation rows "
                            "together for the best number of epochs " + _by_task("refit"))
    group.add_argument("--seed", type=_non_negative_int, default=defaults.seed,
                       help=f"random seed for splits, initialisation and shuffling (default: "
                            f"{defaults.seed})")
    group.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def build_parser() -> argparse.ArgumentParser:
    """The ``bpnn`` argument parser with its subcommands."""
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback on errors")
    parser = argparse.ArgumentParser(
        prog="bpnn", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter,
        allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"bpnn {bpnn.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Abbreviated options are off: "--drop" must not silently mean "--dropout".
    sub.add_parser = functools.partial(sub.add_parser, allow_abbrev=False)

    train = sub.add_parser("train", parents=[debug], help="train a network on a CSV file",
                           description="Train on DATA.csv, evaluate on a held-out test split "
                                       "and write a model folder.")
    train.add_argument("data", metavar="DATA.csv")
    train.add_argument("--target", required=True, metavar="COLUMN", help="column to predict")
    train.add_argument("--out", metavar="DIR", help="model folder to create; an earlier bpnn "
                       "model folder there is replaced, any other folder is left alone "
                       "(default: <DATA>_model in the current directory)")
    train.add_argument("--drop", metavar="COL[,COL...]",
                       help="columns to leave out of the features")
    train.add_argument("--id", metavar="COL[,COL...]",
                       help="identifier columns: not features, but written into predictions "
                            "so that rows can be joined back (columns with a different value "
                            "in every row are taken as identifiers by themselves)")
    train.add_argument("--strict", action="store_true",
                       help="refuse to train when a column alone predicts the target (a leak) "
                            "instead of warning")
    add_training_options(train, commands.COMMON_DEFAULTS)
    train.set_defaults(handler=commands.train)

    evaluate = sub.add_parser("evaluate", parents=[debug], help="metrics of a saved model",
                              description="Print (and return) a saved model's metrics on "
                                          "labelled data.")
    evaluate.add_argument("model", metavar="DIR")
    evaluate.add_argument("data", metavar="DATA.csv")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate.set_defaults(handler=commands.evaluate)

    predict = sub.add_parser("predict", parents=[debug], help="predict with a saved model",
                             description="Write predictions with the original label names "
                                         "(a target column, if present, is ignored).")
    predict.add_argument("model", metavar="DIR")
    predict.add_argument("data", metavar="DATA.csv")
    predict.add_argument("-o", "--output", metavar="FILE", default="predictions.csv",
                         help="CSV to write, '-' for stdout (default: predictions.csv)")
    predict.add_argument("--proba", action="store_true",
                         help="add one probability column per class (classification)")
    predict.set_defaults(handler=commands.predict)

    from bpnn.cli import export

    export.add_parser(sub, [debug])

    explain = sub.add_parser("explain", parents=[debug],
                             help="one backpropagation step, number by number",
                             description="Trace one forward pass, backward pass and SGD step "
                                         "of a small network with bpnn's engine (default: the "
                                         "classic 2-2-2 example).")
    explain.add_argument("--network", metavar="FILE.json",
                         help="network description (input, target, layers with weights and "
                              "bias, activation, learning_rate)")
    explain.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    explain.set_defaults(handler=_explain)

    demo = sub.add_parser("demo", parents=[debug],
                          help="train on the bundled phone-price data and print the report",
                          description="The main job with no arguments: train on the bundled "
                                      "phone-price data (Kaggle 'Mobile Price Classification') "
                                      "and print the report.")
    demo.add_argument("--out", metavar="DIR",
                      help="keep the model folder here (default: a temporary folder)")
    add_training_options(demo, commands.COMMON_DEFAULTS)
    demo.set_defaults(handler=commands.demo)

    info = sub.add_parser("info", parents=[debug], help="version, backend, BLAS, data sets")
    info.set_defaults(handler=_info)

    from bpnn.cli import playground

    playground.add_parser(sub, [debug])
    return parser


def _explain(args) -> int:
    return explain.run(args)


def _info(args) -> int:
    return info.run(args)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # Library warnings become one "bpnn: warning:" line each, not a source-location dump.
    print(f"bpnn: warning: {message}", file=sys.stderr if file is None else file)


def main(argv=None) -> int:
    """Run the ``bpnn`` command line and return its exit code.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        0 on success, 2 on bad input or a damaged model folder (one line on stderr), 1 on an
        unexpected error, 130 when interrupted, 143 on SIGTERM (temporaries removed), 141
        when the output pipe closed (quietly, as Unix tools do).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage and the problem already
        return int(exit_.code or 0)
    if args.command is None:  # plain `bpnn`: show what it can do
        parser.print_help()
        return 0
    debug = getattr(args, "debug", False)
    try:
        with terminate_cleanly(), warnings.catch_warnings():  # restores the caller's settings
            warnings.simplefilter("always", UserWarning)
            warnings.showwarning = _show_warning
            return int(run_command(args.handler, args) or 0)  # mpirun-aware
    except (CLIError, TrainingDivergedError) as error:
        if debug:
            raise
        print(f"bpnn: error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 2)
    except BrokenPipeError:
        return quiet_broken_pipe()
    except KeyboardInterrupt:
        if debug:
            raise
        print("bpnn: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - a bug should still not dump a traceback
        if debug:
            raise
        print(f"bpnn: internal error: {type(error).__name__}: {error} "
              "(run again with --debug for the traceback)", file=sys.stderr)
        return 1
