"""What ``bpnn train`` does, step by step: clean, split, preprocess, fit, evaluate, report.

:func:`train_model` chains the steps; each step is a short function that a test (or another
command) can call on its own.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from types import SimpleNamespace

import numpy as np

import bpnn
from bpnn import nn, optim
from bpnn.callbacks import EarlyStopping, LearningRateScheduler
from bpnn.cli import report, toolkit
from bpnn.cli.errors import CLIError, DataError
from bpnn.cli.model_folder import ModelFolder, write_model_folder
from bpnn.cli.table_checks import find_leaks, row_fingerprints
from bpnn.cli.tabular import (
    TabularPreprocessor,
    find_empty_columns,
    find_id_columns,
    infer_task,
    read_csv,
    require_column,
)
from bpnn.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR
from bpnn.preprocessing import train_test_split

# Options shared by both tasks.
COMMON_DEFAULTS = SimpleNamespace(test_split=0.2, seed=0, lr_schedule="constant")

#: Without a validation split, early stopping watches the training loss and stops once it has
#: improved by less than this for ``--early-stopping`` epochs (scikit-learn's MLP ``tol``).
TRAINING_LOSS_TOL = 1e-4

#: ``--lr-schedule``'s choices.
LR_SCHEDULES = ("constant", "onecycle", "cosine")

# Per task, chosen by the sweep in benchmarks/cli_defaults.py on its "tune" tables only (the
# README reports them on the "report" tables too): see the README's "Defaults by task". Both
# train on every non-test row, as scikit-learn's MLP and Keras do by default: on tables of a few
# hundred rows a validation split of a few dozen rows chose the stopping epoch worse than no
# split at all, and cost the rows it held out. Classification stops as scikit-learn does, once
# the training loss has stopped improving (30 epochs rather than its 10: dropout makes the
# training loss noisy); regression runs its 200 epochs. Regression also initialises as
# scikit-learn's MLP does (``glorot``): PyTorch's default draws first-layer weights and biases
# from U(-1, 1) when a table has one input, and such a network extrapolated to an income eight
# standard deviations out twice as far off as scikit-learn's (engel, 2 splits of 30).
TASK_DEFAULTS = {
    "classification": SimpleNamespace(
        hidden=[100], activation="relu", dropout=0.5, init="torch", optimizer="adam", lr=3e-3,
        weight_decay=1e-3, epochs=200, batch_size=200, early_stopping=30, val_split=0.0,
        refit=False),
    "regression": SimpleNamespace(
        hidden=[100], activation="relu", dropout=0.0, init="glorot", optimizer="adam", lr=1e-3,
        weight_decay=1e-4, epochs=200, batch_size=200, early_stopping=0, val_split=0.0,
        refit=False),
}

#: The options whose default depends on the task (None on the command line until resolved).
TASK_OPTIONS = tuple(vars(TASK_DEFAULTS["classification"]))


def defaults_for(task: str) -> SimpleNamespace:
    """Every training option's default for ``task`` ("classification" or "regression")."""
    return SimpleNamespace(**vars(COMMON_DEFAULTS), **vars(TASK_DEFAULTS[task]))


def resolve_task_defaults(args, task: str) -> None:
    """Fill the options the user left unset (None) with ``task``'s defaults, in place.

    ``args.defaulted`` lists the options filled, so that later steps can tell an explicit
    value from a default.
    """
    chosen = TASK_DEFAULTS[task]
    args.defaulted = [name for name in TASK_OPTIONS if getattr(args, name, None) is None]
    for name in args.defaulted:
        setattr(args, name, getattr(chosen, name))



# ---------------------------------------------------------------------------- network
#: ``--init``'s choices: how :func:`build_network` draws the starting weights.
INITIALISERS = ("torch", "glorot")


def build_network(n_inputs: int, n_outputs: int, hidden, activation: str, dropout: float,
                  init: str = "torch"):
    """``Linear -> activation -> Dropout`` per hidden width, then a linear output layer.

    ``init="torch"`` keeps PyTorch's ``nn.Linear`` initialisation; ``"glorot"`` draws every
    weight and bias from U(-b, b), b = sqrt(6 / (fan_in + fan_out)), as scikit-learn's MLP.
    """
    layers, width = [], n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.registered_activations()[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, n_outputs))
    if init == "glorot":
        for layer in layers:
            if isinstance(layer, nn.Linear):
                nn.init.glorot_uniform_linear_(layer.weight, layer.bias)
    return nn.Sequential(*layers)


def describe_network(network) -> str:
    """One line such as ``Linear(20->64) -> Tanh -> Dropout(0.2) -> Linear(64->4)``."""
    parts = []
    for layer in network:
        if isinstance(layer, nn.Linear):
            parts.append(f"Linear({layer.in_features}->{layer.out_features})")
        elif isinstance(layer, nn.Dropout):
            parts.append(f"Dropout({layer.p:g})")
        else:
            parts.append(type(layer).__name__)
    return " -> ".join(parts)


def make_optimizer(name: str, parameters, lr: float, weight_decay: float):
    """The optimizer called ``name``, or CLIError if unknown or it takes no weight decay."""
    try:
        cls = optim.get_optimizer_class(name)
    except (KeyError, ValueError) as error:
        raise CLIError(str(error).strip("'\"")) from None
    options = {"lr": lr}
    if weight_decay:
        if "weight_decay" not in cls([parameters[0]], lr=lr).defaults:
            raise CLIError(f"optimizer {name!r} takes no weight decay")
        options["weight_decay"] = weight_decay
    return optim.get(name, parameters, **options)


def schedule_callbacks(optimizer, schedule: str, epochs: int, steps_per_epoch: int) -> list:
    """The callback that moves the learning rate for ``--lr-schedule`` (none for constant).

    ``onecycle`` is fastai's ``fit_one_cycle`` (PyTorch's ``OneCycleLR`` stepped per batch):
    up from lr / 25 to the optimizer's lr over the first 30 % of the steps, then annealed by
    cosine to lr / 25 / 1e4, with Adam's beta1 (or SGD's momentum, when it has one) moved the
    other way between 0.95 and 0.85. ``cosine`` anneals from lr to 0 over ``epochs``
    (``CosineAnnealingLR``).
    """
    if schedule == "onecycle":
        peak = optimizer.param_groups[0]["lr"]
        has_momentum = "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0)
        return [LearningRateScheduler(OneCycleLR(optimizer, max_lr=peak, epochs=epochs,
                                                 steps_per_epoch=steps_per_epoch,
                                                 cycle_momentum=bool(has_momentum)),
                                      interval="batch")]
    if schedule == "cosine":
        return [LearningRateScheduler(CosineAnnealingLR(optimizer, T_max=epochs))]
    return []


def fit_model(model, train, validation, *, epochs: int, batch_size: int, patience: int,
              verbose: bool, schedule: str = "constant") -> tuple:
    """``Model.fit`` with early stopping when ``patience`` is non-zero.

    With a validation split, training stops after ``patience`` epochs without a better
    validation loss and the best weights are restored. Without one, it stops as
    scikit-learn's MLP does (``tol``, ``n_iter_no_change``): after ``patience`` epochs in
    which the training loss improved by less than :data:`TRAINING_LOSS_TOL`, keeping the
    last weights.

    Returns ``(history dict, best epoch (1-based) or None, stopped early)``.
    """
    steps = -(-len(train[0]) // batch_size) if batch_size else 1
    callbacks = schedule_callbacks(model.optimizer, schedule, epochs, steps)
    stop = None
    if patience:
        stop = (EarlyStopping("val_loss", patience=patience, restore_best_weights=True)
                if validation is not None else
                EarlyStopping("loss", min_delta=TRAINING_LOSS_TOL, patience=patience))
        callbacks.append(stop)
    history = model.fit(*train, batch_size=batch_size, epochs=epochs,
                        validation_data=validation, callbacks=callbacks,
                        verbose="auto" if verbose else 0)
    logs = {key: values for key, values in history.history.items() if key != "lr"}
    if stop is None:
        return logs, None, False
    best = stop.best_epoch + 1 if validation is not None else None
    return logs, best, stop.stopped_epoch > 0


# ---------------------------------------------------------------------------- steps
def check_options(args) -> None:
    """Refuse split fractions and hyper-parameters that cannot work; unset (None) are skipped.

    Called before any reading with the user's options, and again once the task's defaults
    are filled in.
    """
    val_split = args.val_split
    if val_split is not None and args.test_split + val_split * (1 - args.test_split) >= 0.95:
        raise CLIError("--test-split and --val-split leave less than 5% of the rows for "
                       "training")
    if args.lr not in (None, toolkit.AUTO) and args.lr <= 0:
        raise CLIError(f"--lr must be positive, got {args.lr:g}")
    if args.weight_decay is not None and args.weight_decay < 0:
        raise CLIError(f"--weight-decay must be non-negative, got {args.weight_decay:g}")


def read_training_table(args, data: str):
    """Read ``data``, drop rows without a target; return ``(frame, task, reason)``."""
    frame = read_csv(data)
    require_column(frame, args.target, data)
    empty = [name for name in find_empty_columns(frame) if name != args.target]
    if empty:
        raise DataError(f"column(s) {', '.join(map(repr, empty))} in {data} have no values at "
                        "all; remove them or fill them in")
    missing_target = frame[args.target].isna()
    if missing_target.all():
        raise DataError(f"the target {args.target!r} in {data} has no values")
    if missing_target.any():
        warnings.warn(f"dropping {int(missing_target.sum())} row(s) whose target "
                      f"{args.target!r} is missing", stacklevel=3)
        frame = frame[~missing_target].reset_index(drop=True)
    task, task_reason = infer_task(frame[args.target], args.task, args.target)
    return frame, task, task_reason


def _column_list(text) -> list:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def choose_columns(args, frame, data: str) -> tuple:
    """``(dropped, identifiers)``: ``--drop``, ``--id`` and columns unique in every row."""
    dropped = _column_list(getattr(args, "drop", None))
    chosen_ids = _column_list(getattr(args, "id", None))
    for option, names in (("--drop", dropped), ("--id", chosen_ids)):
        for name in names:
            require_column(frame, name, data)
            if name == args.target:
                raise CLIError(f"{option} {name!r} is the target; it cannot be left out")
    both = sorted(set(dropped) & set(chosen_ids))
    if both:
        raise CLIError(f"column(s) {', '.join(map(repr, both))} given to both --drop and --id")
    found = [name for name in find_id_columns(frame, exclude=(args.target,))
             if name not in dropped and name not in chosen_ids]
    if found:
        warnings.warn(f"column(s) {', '.join(map(repr, found))} hold a different value in "
                      "every row: taken as identifiers, kept out of the features and written "
                      "into predictions (leave them out with --drop)", stacklevel=3)
    return dropped, chosen_ids + found


def warn_about_leaks(training, args, task: str, features: list) -> None:
    """Name features that alone predict the target (an error with ``--strict``)."""
    suspects = find_leaks(training, args.target, task, features)
    if not suspects:
        return
    listed = ", ".join(f"{name!r} ({how})" for name, how in suspects)
    message = (f"column(s) {listed} alone predict the target {args.target!r} on the training "
               "rows: probably a leak (a restatement of the target, or computed from it); "
               f"leave them out with --drop {','.join(name for name, _ in suspects)}")
    if getattr(args, "strict", False):
        raise DataError(message + " (--strict makes this an error)")
    warnings.warn(message, stacklevel=3)


def split_rows(labels, n: int, test_split: float, val_split: float, stratify: bool, seed: int):
    """Row indices for train, validation and test (stratified by class when asked)."""
    rng = np.random.default_rng(seed)
    rest, test = np.arange(n), np.zeros(0, dtype=np.int64)
    try:
        if test_split > 0:
            rest, test = train_test_split(rest, test_size=test_split, random_state=rng,
                                          stratify=labels if stratify else None)
        train, validation = rest, np.zeros(0, dtype=np.int64)
        if val_split > 0:
            train, validation = train_test_split(
                rest, test_size=val_split, random_state=rng,
                stratify=labels[rest] if stratify else None)
    except ValueError as error:
        raise DataError(f"cannot split {n} rows into train/validation/test: {error}") from None
    return np.sort(train), np.sort(validation), np.sort(test)


def split_table(args, frame, classification: bool):
    """``(train, validation, test)`` row indices, warning about single-row classes."""
    labels = frame[args.target].astype(str).to_numpy()
    if classification:
        counts = frame[args.target].astype(str).value_counts()
        if (counts < 2).any() and (args.test_split or args.val_split):
            rare = ", ".join(repr(c) for c in counts[counts < 2].index[:5])
            warnings.warn(f"class(es) {rare} have a single row; they cannot appear in every "
                          "split", stacklevel=3)
    return split_rows(labels, len(frame), args.test_split, args.val_split, classification,
                      args.seed)


def held_out_metrics(model, preprocessor, parts: dict, classification: bool):
    """Metrics on the test split (else validation, else training rows): ``(where, results)``."""
    evaluated_on = next(name for name in ("test split", "validation split", "training rows")
                        if parts[name] is not None)
    x, y = parts[evaluated_on]
    scores = model.predict(x, batch_size=4096)
    if classification:
        return evaluated_on, report.classification_metrics(y, scores, preprocessor.classes_)
    return evaluated_on, report.regression_metrics(preprocessor.decode_target(y),
                                                   preprocessor.decode_target(scores))


def describe_stopping(args, run) -> str:
    """How training ended, in words, for the report."""
    if run.best_epoch:
        text = (f"early stopping on the validation loss, patience {args.early_stopping}, best "
                f"epoch {run.best_epoch} restored")
    elif args.early_stopping:
        text = (f"stops once the training loss improves by less than {TRAINING_LOSS_TOL:g} "
                f"for {args.early_stopping} epochs")
    else:
        text = "no early stopping"
    return text + (", stopped early" if run.stopped else "")


def describe_run(args, data: str, data_name, next_step: str, frame, rows, run) -> dict:
    """The facts the report and the manifest show about a finished training run."""
    preprocessor, network = run.preprocessor, run.model.network
    n_numeric = sum(c["kind"] == "numeric" for c in preprocessor.columns_)
    return {
        "data": os.path.abspath(data), "data_name": data_name or os.path.basename(data),
        "rows": len(frame), "columns": frame.shape[1], "target": args.target,
        "task": run.task, "task_reason": run.task_reason, "seed": args.seed,
        "split": {"train": len(rows[0]), "validation": len(rows[1]), "test": len(rows[2])},
        "numeric": n_numeric, "categorical": len(preprocessor.columns_) - n_numeric,
        "n_features": preprocessor.n_features,
        "notes": [f"identifier column {name!r} kept out of the features" for name in run.ids]
        + [f"column {name!r} left out (--drop)" for name in run.dropped]
        + preprocessor.notes_,
        "architecture": describe_network(network) + f", {args.init} initialisation",
        "parameters": network.count_parameters(),
        "loss": type(run.model.loss).__name__,
        "optimizer": f"{args.optimizer} (lr {args.lr:g}"
                     + ("" if args.lr_schedule == "constant" else
                        f", {args.lr_schedule} schedule")
                     + f", weight decay {args.weight_decay:g}), "
                     + (f"batch size {args.batch_size}" if args.batch_size
                        else "full batch (all training rows per step)"),
        "epochs": args.epochs, "epochs_run": len(run.history["loss"]),
        "stopping": describe_stopping(args, run)
        + (f"; then retrained on the training and validation rows for {run.best_epoch} epochs"
           if run.refitted else ""),
        "train_seconds": run.seconds, "evaluated_on": run.evaluated_on, "metrics": run.results,
        "next_step": next_step,
    }


def refit(args, run, parts):
    """A fresh network trained on the training and validation rows for the best epoch count."""
    bpnn.manual_seed(args.seed)
    network = build_network(run.preprocessor.n_features, run.model.network[-1].out_features,
                            args.hidden, args.activation, args.dropout, args.init)
    optimizer = make_optimizer(args.optimizer, list(network.parameters()),
                               toolkit.optimizer_lr(args), args.weight_decay)
    model = bpnn.Model(network, run.model.loss, optimizer, metrics=[run.metric])
    (x_train, y_train), (x_val, y_val) = parts["training rows"], parts["validation split"]
    fit_model(model, (np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])),
              None, epochs=run.best_epoch, batch_size=args.batch_size, patience=0,
              verbose=False, schedule=args.lr_schedule)
    return model


def train_model(args, data: str, out: str, data_name: str | None = None,
                next_step: str | None = None) -> dict:
    """Everything ``bpnn train`` does; returns the facts the report shows."""
    check_options(args)
    folder = ModelFolder(out)  # refuse an unwritable --out before any work
    try:
        frame, task, task_reason = read_training_table(args, data)
        classification = task == "classification"
        resolve_task_defaults(args, task)
        toolkit.prepare_options(args, task)
        toolkit.check_task(args, classification)
        check_options(args)
        dropped, ids = choose_columns(args, frame, data)
        rows = split_table(args, frame, classification)
        features = [name for name in frame.columns
                    if name != args.target and name not in dropped and name not in ids]
        warn_about_leaks(frame.iloc[rows[0]], args, task, features)

        bpnn.manual_seed(args.seed)
        preprocessor = TabularPreprocessor(args.target, task, drop=dropped, ids=ids).fit(
            frame.iloc[rows[0]], all_labels=frame[args.target])
        for note in preprocessor.notes_:
            print(f"bpnn: note: {note}", file=sys.stderr)

        def part(indices):
            if len(indices) == 0:
                return None
            subset = frame.iloc[indices]
            return (preprocessor.transform(subset, data),
                    preprocessor.encode_target(subset[args.target], data))

        parts = dict(zip(("training rows", "validation split", "test split"), map(part, rows),
                         strict=True))
        run = SimpleNamespace(preprocessor=preprocessor, classification=classification,
                              metric="accuracy" if classification else "r2", task=task,
                              task_reason=task_reason, ids=ids, dropped=dropped)
        network = build_network(preprocessor.n_features,
                                len(preprocessor.classes_) if classification else 1,
                                args.hidden, args.activation, args.dropout, args.init)
        loss_fn = nn.CrossEntropyLoss() if classification else nn.MSELoss()
        optimizer = make_optimizer(args.optimizer, list(network.parameters()),
                                   toolkit.optimizer_lr(args), args.weight_decay)
        run.model = bpnn.Model(network, loss_fn, optimizer, metrics=[run.metric])
        print(f"bpnn: {task} of {args.target!r} ({task_reason}); {len(rows[0])} train, "
              f"{len(rows[1])} validation, {len(rows[2])} test rows; "
              f"{preprocessor.n_features} inputs; {describe_network(network)}",
              file=sys.stderr, flush=True)
        run.parts = parts
        run.summary = toolkit.network_summary(run.model, preprocessor.n_features)
        run.found = toolkit.choose_learning_rate(args, run.model, parts["training rows"],
                                                 folder.path("lr_find.png"))
        started = time.perf_counter()
        run.history, run.best_epoch, run.stopped = fit_model(
            run.model, parts["training rows"], parts["validation split"], epochs=args.epochs,
            batch_size=args.batch_size, patience=args.early_stopping, verbose=not args.quiet,
            schedule=args.lr_schedule)
        run.refitted = bool(args.refit and run.best_epoch
                            and parts["validation split"] is not None)
        if run.refitted:  # the validation rows have chosen the epochs; now they train too
            run.model = refit(args, run, parts)
        run.seconds = time.perf_counter() - started
        fitted = np.sort(np.concatenate(rows[:2]))
        run.training_rows = np.unique(row_fingerprints(
            frame.iloc[fitted], preprocessor.input_columns + [args.target]))
        run.evaluated_on, run.results = held_out_metrics(run.model, preprocessor, parts,
                                                         classification)
        facts = describe_run(args, data, data_name, next_step or f"Predict with `bpnn predict "
                             f"{out} DATA.csv -o predictions.csv`.", frame, rows, run)
        write_model_folder(folder, args, run, facts)
        folder.commit()
    except BaseException:
        folder.discard()
        raise
    facts["out"] = folder.out
    return facts
