"""``bpnn train``, ``evaluate``, ``predict`` and ``demo``: tables in, model folders out."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
import warnings
from types import SimpleNamespace

import numpy as np

from bpnn.cli.checks import find_leaks, row_fingerprints
from bpnn.cli.errors import CLIError, DataError
from bpnn.cli.tabular import (
    TabularPreprocessor,
    find_empty_columns,
    find_id_columns,
    infer_task,
    read_csv,
    require_column,
)

MANIFEST = "bpnn-model.json"
MODEL_FILE = "model.bpnn"
PREPROCESSING_FILE = "preprocessing.json"
TRAINING_ROWS_FILE = "training_rows.npy"  # a 64-bit hash per training or validation row
FORMAT = "bpnn-cli-model"

# Options shared by both tasks.
COMMON_DEFAULTS = SimpleNamespace(test_split=0.2, seed=0)

# Per task, chosen by the sweep in benchmarks/cli_defaults.py on its "tune" tables only (the
# README reports them on the "report" tables): see the README's "Choosing the defaults".
TASK_DEFAULTS = {
    "classification": SimpleNamespace(
        hidden=[64], activation="tanh", dropout=0.2, optimizer="adam", lr=3e-3,
        weight_decay=3e-3, epochs=200, batch_size=32, early_stopping=20, val_split=0.2,
        refit=False),
    "regression": SimpleNamespace(
        hidden=[100], activation="relu", dropout=0.0, optimizer="adam", lr=1e-3,
        weight_decay=0.0, epochs=200, batch_size=64, early_stopping=20, val_split=0.1,
        refit=False),
}

#: The options whose default depends on the task (None on the command line until resolved).
TASK_OPTIONS = tuple(vars(TASK_DEFAULTS["classification"]))


def defaults_for(task: str) -> SimpleNamespace:
    """Every training option's default for ``task`` ("classification" or "regression")."""
    return SimpleNamespace(**vars(COMMON_DEFAULTS), **vars(TASK_DEFAULTS[task]))


def resolve_task_defaults(args, task: str) -> None:
    """Fill the options the user left unset (None) with ``task``'s defaults, in place."""
    chosen = TASK_DEFAULTS[task]
    for name in TASK_OPTIONS:
        if getattr(args, name, None) is None:
            setattr(args, name, getattr(chosen, name))


# ---------------------------------------------------------------------------- model folder
class _ModelFolder:
    """Build a model folder under a hidden temporary name; rename it into place at the end.

    A failed or interrupted run removes the temporary folder, so ``DIR`` is either the
    previous model or the complete new one, never half written.
    """

    def __init__(self, out: str):
        self.out = os.path.abspath(out)
        parent = os.path.dirname(self.out)
        if os.path.exists(self.out):
            if not os.path.isdir(self.out):
                raise CLIError(f"--out {out} exists and is a file, not a folder")
            if os.listdir(self.out) and not is_model_folder(self.out):
                raise CLIError(f"--out {out} exists and is not a bpnn model folder; "
                               "refusing to replace it (choose another --out)")
        if not os.path.isdir(parent):
            raise CLIError(f"cannot write --out {out}: folder {parent} does not exist")
        self.temporary = os.path.join(
            parent, f".{os.path.basename(self.out)}.tmp-{secrets.token_hex(4)}")
        try:
            os.mkdir(self.temporary)
        except OSError as error:
            raise CLIError(f"cannot write --out {out}: {error.strerror or error}") from None

    def path(self, name: str) -> str:
        return os.path.join(self.temporary, name)

    def commit(self) -> None:
        previous = None
        if os.path.exists(self.out):
            previous = f"{self.temporary}-previous"
            os.rename(self.out, previous)
        os.rename(self.temporary, self.out)
        if previous:
            shutil.rmtree(previous, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)


def is_model_folder(path: str) -> bool:
    """Whether ``path`` holds a folder written by ``bpnn train``."""
    try:
        with open(os.path.join(path, MANIFEST), encoding="utf-8") as handle:
            return json.load(handle).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def load_model_folder(path: str):
    """Read ``(model, preprocessor, manifest)`` from a model folder, or raise CLIError."""
    import bpnn

    if not os.path.isdir(path):
        raise CLIError(f"model folder not found: {path}" if not os.path.exists(path)
                       else f"{path} is a file, expected a model folder written by bpnn train")
    if not is_model_folder(path):
        raise CLIError(f"{path} is not a bpnn model folder (no valid {MANIFEST}; "
                       "create one with bpnn train)")
    with open(os.path.join(path, MANIFEST), encoding="utf-8") as handle:
        manifest = json.load(handle)
    try:
        model = bpnn.load(os.path.join(path, MODEL_FILE))
        preprocessor = TabularPreprocessor.load(os.path.join(path, PREPROCESSING_FILE))
    except FileNotFoundError as error:
        raise CLIError(f"model folder {path} is incomplete: {os.path.basename(error.filename)} "
                       "is missing") from None
    except (bpnn.SerializationError, ValueError, KeyError) as error:
        raise CLIError(f"model folder {path} is damaged: {error}") from None
    if not isinstance(model, bpnn.Model):
        raise CLIError(f"model folder {path} is damaged: {MODEL_FILE} holds a "
                       f"{type(model).__name__}, not a bpnn.Model")
    return model, preprocessor, manifest


# ---------------------------------------------------------------------------- network
def build_network(n_inputs: int, n_outputs: int, hidden, activation: str, dropout: float):
    """``Linear -> activation -> Dropout`` per hidden width, then a linear output layer."""
    from bpnn import nn

    activations = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
                   "leaky_relu": nn.LeakyReLU}
    layers, width = [], n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), activations[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def describe_network(network) -> str:
    from bpnn import nn

    parts = []
    for layer in network:
        if isinstance(layer, nn.Linear):
            parts.append(f"Linear({layer.in_features}->{layer.out_features})")
        elif isinstance(layer, nn.Dropout):
            parts.append(f"Dropout({layer.p:g})")
        else:
            parts.append(type(layer).__name__)
    return " -> ".join(parts)


def _make_optimizer(name: str, parameters, lr: float, weight_decay: float):
    from bpnn import optim

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


def fit_model(model, train, validation, *, epochs: int, batch_size: int, patience: int,
              verbose: bool) -> tuple:
    """``Model.fit`` with early stopping on the validation loss (best weights restored).

    Returns ``(history dict, best epoch (1-based) or None, stopped early)``.
    """
    from bpnn.callbacks import EarlyStopping

    callbacks = []
    if patience and validation is not None:
        callbacks.append(EarlyStopping("val_loss", patience=patience,
                                       restore_best_weights=True))
    history = model.fit(*train, batch_size=batch_size, epochs=epochs,
                        validation_data=validation, callbacks=callbacks,
                        verbose="auto" if verbose else 0)
    logs = {key: values for key, values in history.history.items() if key != "lr"}
    if not callbacks:
        return logs, None, False
    stop = callbacks[0]
    return logs, stop.best_epoch + 1, stop.stopped_epoch > 0


# ---------------------------------------------------------------------------- train
def split_rows(labels, n: int, test_split: float, val_split: float, stratify: bool, seed: int):
    """Row indices for train, validation and test (stratified by class when asked)."""
    from bpnn.preprocessing import train_test_split

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


def _check_options(args) -> None:
    """Refuse option values that cannot work; options still unset (None) are skipped."""
    val_split = args.val_split
    if val_split is not None and args.test_split + val_split * (1 - args.test_split) >= 0.95:
        raise CLIError("--test-split and --val-split leave less than 5% of the rows for "
                       "training")
    if args.lr is not None and args.lr <= 0:
        raise CLIError(f"--lr must be positive, got {args.lr:g}")
    if args.weight_decay is not None and args.weight_decay < 0:
        raise CLIError(f"--weight-decay must be non-negative, got {args.weight_decay:g}")


def _column_list(text) -> list:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _named_columns(frame, args, data: str) -> tuple:
    """The ``--drop`` and ``--id`` columns, checked against the table and the target."""
    dropped = _column_list(getattr(args, "drop", None))
    ids = _column_list(getattr(args, "id", None))
    for option, names in (("--drop", dropped), ("--id", ids)):
        for name in names:
            require_column(frame, name, data)
            if name == args.target:
                raise CLIError(f"{option} {name!r} is the target; it cannot be left out")
    both = sorted(set(dropped) & set(ids))
    if both:
        raise CLIError(f"column(s) {', '.join(map(repr, both))} given to both --drop and --id")
    return dropped, ids


def _warn_about_leaks(training, args, task: str, features: list) -> None:
    """Name features that alone predict the target (an error with --strict)."""
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


def train_model(args, data: str, out: str, data_name: str | None = None,
                next_step: str | None = None) -> dict:
    """Everything ``bpnn train`` does; returns the facts the report shows."""
    import bpnn
    from bpnn import nn
    from bpnn.cli import report

    _check_options(args)
    folder_name = out
    folder = _ModelFolder(out)  # refuse an unwritable --out before any work
    try:
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
                          f"{args.target!r} is missing", stacklevel=2)
            frame = frame[~missing_target].reset_index(drop=True)
        task, task_reason = infer_task(frame[args.target], args.task, args.target)
        resolve_task_defaults(args, task)
        _check_options(args)
        dropped, chosen_ids = _named_columns(frame, args, data)
        found_ids = [name for name in find_id_columns(frame, exclude=(args.target,))
                     if name not in dropped and name not in chosen_ids]
        if found_ids:
            warnings.warn(f"column(s) {', '.join(map(repr, found_ids))} hold a different value in "
                          "every row: taken as identifiers, kept out of the features and written "
                          "into predictions (leave them out with --drop)", stacklevel=2)
        ids = chosen_ids + found_ids
        classification = task == "classification"
        labels = frame[args.target].astype(str).to_numpy()
        if classification:
            counts = frame[args.target].astype(str).value_counts()
            if (counts < 2).any() and (args.test_split or args.val_split):
                rare = ", ".join(repr(c) for c in counts[counts < 2].index[:5])
                warnings.warn(f"class(es) {rare} have a single row; they cannot appear in every "
                              "split", stacklevel=2)
        train_rows, val_rows, test_rows = split_rows(labels, len(frame), args.test_split,
                                                 args.val_split, classification, args.seed)
        features = [name for name in frame.columns
                    if name != args.target and name not in dropped and name not in ids]
        _warn_about_leaks(frame.iloc[train_rows], args, task, features)

        bpnn.manual_seed(args.seed)
        preprocessor = TabularPreprocessor(args.target, task, drop=dropped, ids=ids).fit(
            frame.iloc[train_rows], all_labels=frame[args.target])
        for note in preprocessor.notes_:
            print(f"bpnn: note: {note}", file=sys.stderr)

        def part(rows):
            if len(rows) == 0:
                return None
            subset = frame.iloc[rows]
            return (preprocessor.transform(subset, data),
                    preprocessor.encode_target(subset[args.target], data))

        train, validation, test = part(train_rows), part(val_rows), part(test_rows)
        n_out = len(preprocessor.classes_) if classification else 1
        network = build_network(preprocessor.n_features, n_out, args.hidden, args.activation,
                                args.dropout)
        loss_fn = nn.CrossEntropyLoss() if classification else nn.MSELoss()
        optimizer = _make_optimizer(args.optimizer, list(network.parameters()), args.lr,
                                    args.weight_decay)
        metric = "accuracy" if classification else "r2"
        model = bpnn.Model(network, loss_fn, optimizer, metrics=[metric])
        print(f"bpnn: {task} of {args.target!r} ({task_reason}); {len(train_rows)} train, "
              f"{len(val_rows)} validation, {len(test_rows)} test rows; "
              f"{preprocessor.n_features} inputs; {describe_network(network)}",
              file=sys.stderr, flush=True)
        started = time.perf_counter()
        history, best_epoch, stopped = fit_model(
            model, train, validation, epochs=args.epochs, batch_size=args.batch_size,
            patience=args.early_stopping, verbose=not args.quiet)
        refitted = bool(args.refit and best_epoch and validation is not None)
        if refitted:  # the validation rows have chosen the epochs; now they train too
            bpnn.manual_seed(args.seed)
            network = build_network(preprocessor.n_features, n_out, args.hidden,
                                    args.activation, args.dropout)
            optimizer = _make_optimizer(args.optimizer, list(network.parameters()), args.lr,
                                        args.weight_decay)
            model = bpnn.Model(network, loss_fn, optimizer, metrics=[metric])
            model.fit(np.concatenate([train[0], validation[0]]),
                      np.concatenate([train[1], validation[1]]), batch_size=args.batch_size,
                      epochs=best_epoch, verbose=0)
        seconds = time.perf_counter() - started

        evaluated_on, target_part = "test split", test
        if test is None:
            evaluated_on, target_part = ("validation split", validation) if validation \
                else ("training rows", train)
        scores = model.predict(target_part[0], batch_size=4096)
        if classification:
            results = report.classification_metrics(target_part[1], scores,
                                                    preprocessor.classes_)
        else:
            results = report.regression_metrics(preprocessor.decode_target(target_part[1]),
                                                preprocessor.decode_target(scores))
        n_numeric = sum(c["kind"] == "numeric" for c in preprocessor.columns_)
        facts = {
            "data": os.path.abspath(data), "data_name": data_name or os.path.basename(data),
            "rows": len(frame), "columns": frame.shape[1], "target": args.target,
            "task": task, "task_reason": task_reason, "seed": args.seed,
            "split": {"train": len(train_rows), "validation": len(val_rows),
                      "test": len(test_rows)},
            "numeric": n_numeric, "categorical": len(preprocessor.columns_) - n_numeric,
            "n_features": preprocessor.n_features,
            "notes": [f"identifier column {name!r} kept out of the features" for name in ids]
            + [f"column {name!r} left out (--drop)" for name in dropped]
            + preprocessor.notes_,
            "architecture": describe_network(network),
            "parameters": network.count_parameters(),
            "loss": type(loss_fn).__name__,
            "optimizer": f"{args.optimizer} (lr {args.lr:g}, weight decay "
                         f"{args.weight_decay:g}), batch size {args.batch_size}",
            "epochs": args.epochs, "epochs_run": len(history["loss"]),
            "stopping": (f"early stopping, patience {args.early_stopping}, best epoch "
                         f"{best_epoch} restored" if best_epoch else "no early stopping")
            + (", stopped early" if stopped else "")
            + (f"; then retrained on the training and validation rows for {best_epoch} epochs"
               if refitted else ""),
            "train_seconds": seconds, "evaluated_on": evaluated_on, "metrics": results,
            "next_step": next_step or f"Predict with `bpnn predict {folder_name} DATA.csv "
                                      "-o predictions.csv`.",
        }

        bpnn.save(model, folder.path(MODEL_FILE))
        preprocessor.save(folder.path(PREPROCESSING_FILE))
        fitted_rows = np.sort(np.concatenate([train_rows, val_rows]))
        np.save(folder.path(TRAINING_ROWS_FILE), np.unique(row_fingerprints(
            frame.iloc[fitted_rows], preprocessor.input_columns + [args.target])),
            allow_pickle=False)
        training = {key: value for key, value in vars(args).items()
                    if key not in ("handler", "debug")}
        with open(folder.path(MANIFEST), "w", encoding="utf-8") as handle:
            json.dump({"format": FORMAT, "version": 1, "bpnn_version": bpnn.__version__,
                       "task": task, "target": args.target, "data": facts["data"],
                       "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "training": training}, handle, indent=2)
        with open(folder.path("metrics.json"), "w", encoding="utf-8") as handle:
            json.dump({"task": task, "evaluated_on": evaluated_on, "test": results,
                       "best_epoch": best_epoch, "epochs_run": len(history["loss"]),
                       "train_seconds": round(seconds, 3), "split": facts["split"]},
                      handle, indent=2)
        report.write_history(folder.path("history.csv"), history)
        report.plot_curves(folder.path("curves.png"), history, metric, best_epoch)
        if classification:
            report.plot_confusion(folder.path("confusion.png"), results["confusion"],
                                  preprocessor.classes_)
        facts["report"] = report.markdown_report(facts)
        with open(folder.path("report.md"), "w", encoding="utf-8") as handle:
            handle.write(facts["report"])
        folder.commit()
    except BaseException:
        folder.discard()
        raise
    facts["out"] = folder.out
    return facts


def _default_out(data: str) -> str:
    stem = os.path.splitext(os.path.basename(data))[0] or "data"
    return f"{stem}_model"


def _print_summary(facts: dict) -> None:
    from bpnn.cli import report

    print()
    print(f"{facts['target']}: {facts['task']}, {facts['evaluated_on']} "
          f"({facts['epochs_run']} epochs, {facts['train_seconds']:.1f} s)")
    for line in report.summary_lines(facts["metrics"], facts["task"]):
        print(line)
    print(f"model folder: {facts['out']}")


def train(args) -> int:
    """Entry point of ``bpnn train``."""
    facts = train_model(args, args.data, args.out or _default_out(args.data))
    _print_summary(facts)
    return 0


def demo(args) -> int:
    """Entry point of ``bpnn demo``: train on the bundled phone-price data, print the report."""
    import tempfile

    from bpnn.cli.info import bundled_csv

    args.target = "price_range"
    data = bundled_csv("phone_price")
    with tempfile.TemporaryDirectory(prefix="bpnn-demo-") as scratch:
        out = args.out or os.path.join(scratch, "phone_price_model")
        next_step = None if args.out else (
            "This demo's model folder was temporary: keep one with `bpnn demo --out DIR`, or "
            "train on your own table with `bpnn train DATA.csv --target COLUMN`.")
        facts = train_model(args, data, out, data_name="phone_price.csv (bundled)",
                            next_step=next_step)
        print()
        print(facts["report"], end="")
        if args.out:
            print(f"model folder: {facts['out']}")
    return 0


# ---------------------------------------------------------------------------- evaluate, predict
def _predict(model, x, data: str):
    try:
        return model.predict(x, batch_size=4096)
    except ValueError as error:  # e.g. a network that does not take this many features
        raise CLIError(f"the model cannot take {data}: {error}") from None


def _print_notes(notes) -> None:
    for note in notes:
        print(f"bpnn: note: {note}", file=sys.stderr)


def _training_overlap(model_dir: str, preprocessor, frame, data: str) -> list:
    """A note when rows of ``frame`` were used to train (or validate) the model."""
    path = os.path.join(model_dir, TRAINING_ROWS_FILE)
    if not os.path.exists(path):  # a folder written before bpnn kept the fingerprints
        return []
    try:
        trained = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CLIError(f"model folder {model_dir} is damaged: {TRAINING_ROWS_FILE}: "
                       f"{error}") from None
    if trained.dtype != np.uint64 or trained.ndim != 1:
        raise CLIError(f"model folder {model_dir} is damaged: {TRAINING_ROWS_FILE} does not "
                       "hold row fingerprints")
    rows = row_fingerprints(frame, preprocessor.input_columns + [preprocessor.target])
    seen = int(np.isin(rows, trained).sum())
    if not seen:
        return []
    return [f"{seen} of {len(frame)} rows of {data} were used to train or validate this model; "
            "scores on them are optimistic (evaluate on held-out rows for an honest estimate)"]


def evaluate_model(model_dir: str, data: str) -> dict:
    """Metrics of a saved model on a labelled CSV file.

    Returns
    -------
    dict
        Classification: ``accuracy``, ``macro_f1``, ``confusion``, ``per_class``; regression:
        ``rmse``, ``mae``, ``r2``; both with ``n`` and ``task``.
    """
    from bpnn.cli import report

    model, preprocessor, _ = load_model_folder(model_dir)
    frame = read_csv(data)
    require_column(frame, preprocessor.target, data)
    notes = []
    x = preprocessor.transform(frame, data, notes=notes)
    y = preprocessor.encode_target(frame[preprocessor.target], data)
    _print_notes(notes + _training_overlap(model_dir, preprocessor, frame, data))
    scores = _predict(model, x, data)
    if preprocessor.task == "classification":
        results = report.classification_metrics(y, scores, preprocessor.classes_)
    else:
        results = report.regression_metrics(preprocessor.decode_target(y),
                                            preprocessor.decode_target(scores))
    return {"task": preprocessor.task, **results}


def evaluate(args) -> int:
    """Entry point of ``bpnn evaluate``."""
    from bpnn.cli import report

    results = evaluate_model(args.model, args.data)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for line in report.summary_lines(results, results["task"]):
            print(line)
    return 0


def predict_frame(model_dir: str, data: str, proba: bool = False):
    """Predictions for every row of ``data`` as a DataFrame (original label names)."""
    import pandas

    model, preprocessor, _ = load_model_folder(model_dir)
    frame = read_csv(data)
    notes = []
    x = preprocessor.transform(frame, data, notes=notes)
    _print_notes(notes)
    scores = _predict(model, x, data)
    absent = [name for name in preprocessor.ids if name not in frame]
    if absent:
        warnings.warn(f"{data} lacks the identifier column(s) {', '.join(map(repr, absent))}; "
                      "predictions follow the row order", stacklevel=2)
    columns = {name: frame[name].to_numpy() for name in preprocessor.ids if name in frame}
    if preprocessor.task == "classification":
        columns[preprocessor.target] = preprocessor.decode_target(scores.argmax(axis=1))
        if proba:
            shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
            probabilities = shifted / shifted.sum(axis=1, keepdims=True)
            for i, name in enumerate(preprocessor.classes_):
                columns[f"proba_{name}"] = np.round(probabilities[:, i], 6)
    else:
        if proba:
            raise CLIError("--proba needs a classification model; this one predicts numbers")
        # The network computes in float32: more than 7 significant digits would be noise.
        values = preprocessor.decode_target(scores)
        columns[preprocessor.target] = np.array([float(f"{v:.7g}") for v in values])
    return pandas.DataFrame(columns)


def predict(args) -> int:
    """Entry point of ``bpnn predict``."""
    if args.output != "-":
        target_dir = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(target_dir):
            raise CLIError(f"cannot write {args.output}: folder {target_dir} does not exist")
    predictions = predict_frame(args.model, args.data, args.proba)
    if args.output == "-":
        predictions.to_csv(sys.stdout, index=False)
        return 0
    temporary = os.path.join(target_dir, f".{os.path.basename(args.output)}.tmp-"
                                         f"{secrets.token_hex(4)}")
    try:
        predictions.to_csv(temporary, index=False)
        os.replace(temporary, args.output)
    except OSError as error:
        raise CLIError(f"cannot write {args.output}: {error.strerror or error}") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    print(f"wrote {len(predictions)} predictions to {args.output}", file=sys.stderr)
    return 0
