"""The model folder ``bpnn train`` writes: the model, its preprocessing, a manifest, a report.

The folder is built under a hidden temporary name and renamed into place at the end, so
``DIR`` is either the previous model or the complete new one, never half written.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time

import bpnn
from bpnn.cli import report, toolkit
from bpnn.cli.errors import CLIError
from bpnn.cli.tabular import TabularPreprocessor

MANIFEST = "bpnn-model.json"
MODEL_FILE = "model.bpnn"
PREPROCESSING_FILE = "preprocessing.json"
FORMAT = "bpnn-cli-model"


class ModelFolder:
    """Build a model folder under a hidden temporary name; rename it into place at the end.

    A failed or interrupted run removes the temporary folder, so ``DIR`` is either the
    previous model or the complete new one, never half written.

    Parameters
    ----------
    out : str
        The folder to write; refused (``CLIError``) if it is a file, a folder that is not a
        model folder, or in a parent folder that does not exist.
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
        """Where file ``name`` goes inside the (temporary) folder."""
        return os.path.join(self.temporary, name)

    def commit(self) -> None:
        """Rename the finished temporary folder over ``out``."""
        previous = None
        if os.path.exists(self.out):
            previous = f"{self.temporary}-previous"
            os.rename(self.out, previous)
        os.rename(self.temporary, self.out)
        if previous:
            shutil.rmtree(previous, ignore_errors=True)

    def discard(self) -> None:
        """Remove the temporary folder (after a failure)."""
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


def write_model_folder(folder: ModelFolder, args, run, facts: dict) -> None:
    """Write the model, preprocessing, manifest, metrics, history, plots and report.

    Parameters
    ----------
    folder : ModelFolder
    args : argparse.Namespace
        The training options (stored in the manifest).
    run : types.SimpleNamespace
        What :func:`bpnn.cli.pipeline.train_model` produced (model, preprocessor, history,
        results, metric, best_epoch, seconds, classification).
    facts : dict
        The report's facts; ``facts["report"]`` is set to the Markdown written.
    """
    bpnn.save(run.model, folder.path(MODEL_FILE))
    run.preprocessor.save(folder.path(PREPROCESSING_FILE))
    training = {key: value for key, value in vars(args).items()
                if key not in ("handler", "debug")}
    with open(folder.path(MANIFEST), "w", encoding="utf-8") as handle:
        json.dump({"format": FORMAT, "version": 1, "bpnn_version": bpnn.__version__,
                   "task": facts["task"], "target": args.target, "data": facts["data"],
                   "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "training": training}, handle, indent=2)
    with open(folder.path("metrics.json"), "w", encoding="utf-8") as handle:
        json.dump({"task": facts["task"], "evaluated_on": facts["evaluated_on"],
                   "test": run.results, "best_epoch": run.best_epoch,
                   "epochs_run": facts["epochs_run"], "train_seconds": round(run.seconds, 3),
                   "split": facts["split"]}, handle, indent=2)
    report.write_history(folder.path("history.csv"), run.history)
    report.plot_curves(folder.path("curves.png"), run.history, run.metric, run.best_epoch)
    if run.classification:
        report.plot_confusion(folder.path("confusion.png"), run.results["confusion"],
                              run.preprocessor.classes_)
    else:
        toolkit.write_regression_plot(
            folder.path("regression.png"), run.model,
            {"train": run.parts["training rows"], "validation": run.parts["validation split"],
             "test": run.parts["test split"]}, run.preprocessor.decode_target)
    facts["report"] = toolkit.add_to_report(report.markdown_report(facts), run.summary,
                                            run.found, facts["task"])
    with open(folder.path("report.md"), "w", encoding="utf-8") as handle:
        handle.write(facts["report"])
