"""``bpnn train``, ``evaluate``, ``predict`` and ``demo``: tables in, model folders out."""

from __future__ import annotations

import os
import sys
import time
import warnings
from types import SimpleNamespace

import numpy as np

from bpnn.cli.checks import check_model_fits_preprocessing
from bpnn.cli.errors import CLIError, DataError
from bpnn.cli.jsonfiles import dumps, read_json, write_json
from bpnn.cli.tabular import (
    TabularPreprocessor,
    find_empty_columns,
    find_id_columns,
    infer_task,
    read_csv,
    require_column,
)
from bpnn.io import AtomicFolder, atomic_write

MANIFEST = "bpnn-model.json"
MODEL_FILE = "model.bpnn"
PREPROCESSING_FILE = "preprocessing.json"
FORMAT = "bpnn-cli-model"

# Chosen on the phone-price table (2,000 rows, nearly linearly separable; a converged linear
# model reaches about 0.97): one tanh layer of 64 with dropout and weight decay, stopped early on
# the validation loss with the best weights restored, gives 0.9575-0.97 test accuracy over seeds
# 0-4, where a wider ReLU 64-32 stack without weight decay overfits to 0.91-0.94.
DEFAULTS = SimpleNamespace(
    hidden=[64], activation="tanh", dropout=0.2, optimizer="adam", lr=3e-3,
    weight_decay=3e-3, epochs=200, batch_size=32, val_split=0.2, test_split=0.2,
    early_stopping=20, seed=0,
)


# ---------------------------------------------------------------------------- model folder
class _ModelFolder:
    """Build a model folder under a hidden temporary name; rename it into place at the end.

    The work is :class:`bpnn.io.AtomicFolder`'s: ``DIR`` is either the previous model or the
    complete new one, concurrent runs commit in turn, and what a killed run left is cleaned
    by the next one.
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
        try:
            self._folder = AtomicFolder(self.out)
        except OSError as error:
            raise CLIError(f"cannot write --out {out}: {error.strerror or error}") from None
        self.temporary = self._folder.temporary

    def path(self, name: str) -> str:
        return self._folder.file(name)

    def commit(self) -> None:
        self._folder.commit()

    def discard(self) -> None:
        self._folder.discard()


def is_model_folder(path: str) -> bool:
    """Whether ``path`` holds a folder written by ``bpnn train``."""
    try:
        return read_json(os.path.join(path, MANIFEST)).get("format") == FORMAT
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
    manifest = read_json(os.path.join(path, MANIFEST))
    try:
        model = bpnn.load(os.path.join(path, MODEL_FILE))
        preprocessor = TabularPreprocessor.load(os.path.join(path, PREPROCESSING_FILE))
        if isinstance(model, bpnn.Model):
            check_model_fits_preprocessing(model, preprocessor)
    except FileNotFoundError as error:
        raise CLIError(f"model folder {path} is incomplete: {os.path.basename(error.filename)} "
                       "is missing") from None
    except (bpnn.SerializationError, ValueError, KeyError, TypeError, OSError) as error:
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
def _split(labels, n: int, test_split: float, val_split: float, stratify: bool, seed: int):
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
    if args.test_split + args.val_split * (1 - args.test_split) >= 0.95:
        raise CLIError("--test-split and --val-split leave less than 5% of the rows for "
                       "training")
    if args.lr <= 0:
        raise CLIError(f"--lr must be positive, got {args.lr:g}")
    if args.weight_decay < 0:
        raise CLIError(f"--weight-decay must be non-negative, got {args.weight_decay:g}")


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
        ids = find_id_columns(frame, exclude=(args.target,))
        if ids:
            warnings.warn(f"dropping column(s) {', '.join(map(repr, ids))}: a different value in "
                          "every row (an identifier, not a feature)", stacklevel=2)
        classification = task == "classification"
        labels = frame[args.target].astype(str).to_numpy()
        if classification:
            counts = frame[args.target].astype(str).value_counts()
            if (counts < 2).any() and (args.test_split or args.val_split):
                rare = ", ".join(repr(c) for c in counts[counts < 2].index[:5])
                warnings.warn(f"class(es) {rare} have a single row; they cannot appear in every "
                              "split", stacklevel=2)
        train_rows, val_rows, test_rows = _split(labels, len(frame), args.test_split,
                                                 args.val_split, classification, args.seed)

        bpnn.manual_seed(args.seed)
        preprocessor = TabularPreprocessor(args.target, task, drop=ids).fit(
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
            "notes": [f"dropped identifier column {name!r}" for name in ids]
            + preprocessor.notes_,
            "architecture": describe_network(network),
            "parameters": network.count_parameters(),
            "loss": type(loss_fn).__name__,
            "optimizer": f"{args.optimizer} (lr {args.lr:g}, weight decay "
                         f"{args.weight_decay:g}), batch size {args.batch_size}",
            "epochs": args.epochs, "epochs_run": len(history["loss"]),
            "stopping": (f"early stopping, patience {args.early_stopping}, best epoch "
                         f"{best_epoch} restored" if best_epoch else "no early stopping")
            + (", stopped early" if stopped else ""),
            "train_seconds": seconds, "evaluated_on": evaluated_on, "metrics": results,
            "next_step": next_step or f"Predict with `bpnn predict {folder_name} DATA.csv "
                                      "-o predictions.csv`.",
        }

        bpnn.save(model, folder.path(MODEL_FILE))
        preprocessor.save(folder.path(PREPROCESSING_FILE))
        training = {key: value for key, value in vars(args).items()
                    if key not in ("handler", "debug")}
        write_json(folder.path(MANIFEST),
                   {"format": FORMAT, "version": 1, "bpnn_version": bpnn.__version__,
                    "task": task, "target": args.target, "data": facts["data"],
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "training": training})
        write_json(folder.path("metrics.json"),
                   {"task": task, "evaluated_on": evaluated_on, "test": results,
                    "best_epoch": best_epoch, "epochs_run": len(history["loss"]),
                    "train_seconds": round(seconds, 3), "split": facts["split"]})
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
    x = preprocessor.transform(frame, data)
    y = preprocessor.encode_target(frame[preprocessor.target], data)
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
        print(dumps(results))
    else:
        for line in report.summary_lines(results, results["task"]):
            print(line)
    return 0


def predict_frame(model_dir: str, data: str, proba: bool = False):
    """Predictions for every row of ``data`` as a DataFrame (original label names)."""
    import pandas

    model, preprocessor, _ = load_model_folder(model_dir)
    frame = read_csv(data)
    x = preprocessor.transform(frame, data)
    scores = _predict(model, x, data)
    columns = {name: frame[name].to_numpy() for name in preprocessor.drop if name in frame}
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
        columns[preprocessor.target] = preprocessor.decode_target(scores)
    return pandas.DataFrame(columns)


def predict(args) -> int:
    """Entry point of ``bpnn predict``."""
    predictions = predict_frame(args.model, args.data, args.proba)
    if args.output == "-":
        predictions.to_csv(sys.stdout, index=False)
        return 0
    target_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(target_dir):
        raise CLIError(f"cannot write {args.output}: folder {target_dir} does not exist")
    try:
        atomic_write(args.output, predictions.to_csv(index=False).encode("utf-8"))
    except OSError as error:
        raise CLIError(f"cannot write {args.output}: {error.strerror or error}") from None
    print(f"wrote {len(predictions)} predictions to {args.output}", file=sys.stderr)
    return 0
