"""``bpnn train``'s learner's toolkit: ``--lr auto``, ``--optimizer trainbr``, the network
summary in report.md and ``regression.png``. Each function is one short call from
:func:`bpnn.cli.commands.train_model`."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bpnn.cli.errors import CLIError

AUTO = "auto"
BAYESIAN = ("trainbr", "bayesian_regularization")


def learning_rate(text: str):
    """``--lr``'s type: a positive number, or ``auto`` (chosen by ``lr_find``)."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number or 'auto', got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"the learning rate must be positive, got {text}")
    return value


def prepare_options(args, task: str) -> None:
    """Settle the options trainbr and ``--lr auto`` need, once the task's defaults are in.

    trainbr (Bayesian regularisation) learns its own weight penalty and takes full-batch
    Levenberg-Marquardt steps on a sum of squares: the default weight decay and dropout are
    turned off (an explicit non-zero value is an error), every epoch is one iteration on all
    training rows, and the default learning rate becomes trainbr's full step (1).
    """
    bayesian = args.optimizer.lower() in BAYESIAN
    full_batch = _takes_full_batch_steps(args.optimizer)
    if args.lr == AUTO and full_batch:
        raise CLIError(f"--lr auto runs a learning-rate range test with mini-batch steps; "
                       f"optimizer {args.optimizer!r} takes full-batch steps (use adam or sgd)")
    schedule = getattr(args, "lr_schedule", "constant")
    if schedule != "constant" and full_batch:
        raise CLIError(f"--lr-schedule {schedule} moves a mini-batch optimizer's learning "
                       f"rate; optimizer {args.optimizer!r} takes full-batch steps with its "
                       "own step size (use adam or sgd, or --lr-schedule constant)")
    if not bayesian:
        return
    if args.task == "classification":  # asked for; a detected class target: check_task
        raise CLIError("--optimizer trainbr minimises a sum of squared errors: it needs a "
                       "regression target (use --task regression or another optimizer)")
    defaulted = getattr(args, "defaulted", ())
    for option, name in (("--weight-decay", "weight_decay"), ("--dropout", "dropout")):
        value = getattr(args, name)
        if name not in defaulted and value != 0:
            raise CLIError(f"--optimizer trainbr learns its own regularisation; drop {option} "
                           f"(got {value:g})")
    args.weight_decay, args.dropout = 0.0, 0.0
    if "lr" in defaulted:
        args.lr = 1.0
    args.batch_size = None  # Model.fit: one full-batch iteration per epoch


def _takes_full_batch_steps(name: str) -> bool:
    from bpnn import optim

    try:
        return bool(getattr(optim.get_optimizer_class(name), "requires_closure", False))
    except ValueError:  # an unknown name: building the optimizer names the problem
        return False


def check_task(args, classification: bool) -> None:
    """trainbr on a table whose target turned out categorical: say so before training."""
    if classification and args.optimizer.lower() in BAYESIAN:
        raise CLIError("--optimizer trainbr minimises a sum of squared errors and the target "
                       "is categorical; use adam (or --task regression for a numeric target)")


def optimizer_lr(args) -> float:
    """The learning rate to build the optimizer with (``auto``: a placeholder, replaced)."""
    return 1e-3 if args.lr == AUTO else args.lr


def choose_learning_rate(args, model, train, plot_path: str):
    """``--lr auto``: run ``lr_find`` on the training rows and set its suggestion.

    Returns the :class:`bpnn.train.LRFinderResult` (None when ``--lr`` was a number).
    """
    if args.lr != AUTO:
        return None
    batch_size = args.batch_size or 32
    try:
        found = model.lr_find(*train, batch_size=batch_size)
    except ValueError as error:
        raise CLIError(f"--lr auto: {error}") from None
    for group in model.optimizer.param_groups:
        group["lr"] = found.suggestion
    args.lr = found.suggestion
    print(f"bpnn: --lr auto: lr_find suggests {found.suggestion:.3g} (valley rule; steep "
          f"{found.suggestions['steep']:.3g}, minimum/10 {found.suggestions['minimum']:.3g})",
          file=sys.stderr, flush=True)
    found.plot(plot_path)
    return found


def network_summary(model, n_features: int) -> str:
    """The network's summary table for one row of ``n_features`` inputs, printed to stderr."""
    text = str(model.summary(input_shape=(n_features,), file=False))
    print(text, file=sys.stderr, flush=True)
    return text


def write_regression_plot(path: str, model, parts: dict, decode) -> None:
    """``regression.png``: outputs against targets per split, in the target's units."""
    from bpnn import plot

    true, predicted, splits = [], [], []
    for name, part in parts.items():
        if part is None:
            continue
        true.append(decode(part[1]).reshape(-1))
        predicted.append(decode(model.predict(part[0], batch_size=4096)).reshape(-1))
        splits += [name] * len(part[1])
    plot.regression(np.concatenate(true), np.concatenate(predicted), path,
                    splits=np.array(splits))


def add_to_report(report: str, summary: str, found, task: str) -> str:
    """report.md with the network summary, the ``--lr auto`` result and regression.png."""
    lines = ["### Network summary", "", "```", summary, "```", ""]
    if found is not None:
        lines += [f"Learning rate {found.suggestion:.3g} chosen by `lr_find` (valley rule, "
                  f"{len(found.lrs)} steps).", "", "![lr_find](lr_find.png)", ""]
    insert = "\n".join(lines) + "\n"
    marker = "## Test metrics"
    report = report.replace(marker, insert + marker, 1) if marker in report \
        else report + "\n" + insert
    files = []
    if task == "regression":
        report = report.replace("## Files", "![outputs against targets](regression.png)\n\n"
                                "## Files", 1)
        files.append("`regression.png`")
    if found is not None:
        files.append("`lr_find.png`")
    if files:
        report = report.replace("`curves.png`", ", ".join(["`curves.png`", *files]), 1)
    return report
