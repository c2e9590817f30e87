"""``bpnn train``, ``evaluate``, ``predict`` and ``demo``: tables in, model folders out."""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

from bpnn.cli import report
from bpnn.cli.errors import CLIError
from bpnn.cli.info import bundled_csv
from bpnn.cli.jsonfiles import dumps
from bpnn.cli.model_folder import load_model_folder
from bpnn.cli.pipeline import DEFAULTS, train_model
from bpnn.cli.tabular import read_csv, require_column
from bpnn.functional.activation import softmax_array
from bpnn.io import atomic_write

__all__ = ["DEFAULTS", "demo", "evaluate", "evaluate_model", "predict", "predict_frame",
           "train", "train_model"]


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
    x = preprocessor.transform(frame, data)
    scores = _predict(model, x, data)
    columns = {name: frame[name].to_numpy() for name in preprocessor.drop if name in frame}
    if preprocessor.task == "classification":
        columns[preprocessor.target] = preprocessor.decode_target(scores.argmax(axis=1))
        if proba:
            probabilities = softmax_array(scores, axis=1)
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
