"""``bpnn train``, ``evaluate``, ``predict`` and ``demo``: tables in, model folders out."""

from __future__ import annotations

import os
import sys
import tempfile
import warnings

import numpy as np

from bpnn.cli import report
from bpnn.cli.errors import CLIError
from bpnn.cli.info import bundled_csv
from bpnn.cli.jsonfiles import dumps
from bpnn.cli.model_folder import load_model_folder, training_rows
from bpnn.cli.pipeline import (
    COMMON_DEFAULTS,
    INITIALISERS,
    LR_SCHEDULES,
    TASK_DEFAULTS,
    defaults_for,
    resolve_task_defaults,
    split_rows,
    train_model,
)
from bpnn.cli.table_checks import row_fingerprints
from bpnn.cli.tabular import read_csv, require_column
from bpnn.functional.activation import softmax_array
from bpnn.io import atomic_write

__all__ = ["COMMON_DEFAULTS", "INITIALISERS", "LR_SCHEDULES", "TASK_DEFAULTS", "defaults_for",
           "resolve_task_defaults", "split_rows", "demo", "evaluate", "evaluate_model",
           "predict", "predict_frame", "train", "train_model"]


def _default_out(data: str) -> str:
    stem = os.path.splitext(os.path.basename(data))[0] or "data"
    return f"{stem}_model"


def _print_summary(facts: dict) -> None:
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
    trained = training_rows(model_dir)
    if trained is None:  # a folder written before bpnn kept the fingerprints
        return []
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
    results = evaluate_model(args.model, args.data)
    if args.json:
        print(dumps(results))
    else:
        for line in report.summary_lines(results, results["task"]):
            print(line)
    return 0


def predict_frame(model_dir: str, data: str, proba: bool = False):
    """Predictions for every row of ``data`` as a DataFrame (original label names)."""
    import pandas  # the optional [cli] extra; read_csv has already said if it is missing

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
            probabilities = softmax_array(scores, axis=1)
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
    if args.output != "-":  # refuse an unwritable output before any work
        target_dir = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(target_dir):
            raise CLIError(f"cannot write {args.output}: folder {target_dir} does not exist")
    predictions = predict_frame(args.model, args.data, args.proba)
    if args.output == "-":
        predictions.to_csv(sys.stdout, index=False)
        return 0
    try:
        atomic_write(args.output, predictions.to_csv(index=False).encode("utf-8"))
    except OSError as error:
        raise CLIError(f"cannot write {args.output}: {error.strerror or error}") from None
    print(f"wrote {len(predictions)} predictions to {args.output}", file=sys.stderr)
    return 0
