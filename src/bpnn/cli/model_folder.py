"""The model folder ``bpnn train`` writes: the model, its preprocessing, a manifest, a report.

The folder is built under a hidden temporary name and swapped into place at the end by
:class:`bpnn.io.AtomicFolder`, so ``DIR`` is either the previous model or the complete new one,
never half written; concurrent runs commit in turn, and what a killed run left is cleaned by
the next one.
"""

from __future__ import annotations

import os
import time

import numpy as np

import bpnn
from bpnn.cli import report, toolkit
from bpnn.cli.checks import check_model_fits_preprocessing
from bpnn.cli.errors import CLIError
from bpnn.cli.jsonfiles import read_json, write_json
from bpnn.cli.tabular import TabularPreprocessor
from bpnn.io import AtomicFolder

MANIFEST = "bpnn-model.json"
MODEL_FILE = "model.bpnn"
PREPROCESSING_FILE = "preprocessing.json"
# A 64-bit hash per training or validation row, raw little-endian (no header, no pickle).
TRAINING_ROWS_FILE = "training_rows.u64"
FORMAT = "bpnn-cli-model"


class ModelFolder:
    """Build a model folder under a hidden temporary name; rename it into place at the end.

    The work is :class:`bpnn.io.AtomicFolder`'s: ``DIR`` is either the previous model or the
    complete new one, concurrent runs commit in turn, and what a killed run left is cleaned
    by the next one.

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
        try:
            self._folder = AtomicFolder(self.out)
        except OSError as error:
            raise CLIError(f"cannot write --out {out}: {error.strerror or error}") from None
        self.temporary = self._folder.temporary

    def path(self, name: str) -> str:
        """Where file ``name`` goes inside the (temporary) folder."""
        return self._folder.file(name)

    def commit(self) -> None:
        """Swap the finished temporary folder into place at ``out``."""
        self._folder.commit()

    def discard(self) -> None:
        """Remove the temporary folder (after a failure)."""
        self._folder.discard()


def is_model_folder(path: str) -> bool:
    """Whether ``path`` holds a folder written by ``bpnn train``."""
    try:
        return read_json(os.path.join(path, MANIFEST)).get("format") == FORMAT
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


def training_rows(path: str):
    """The training rows' fingerprints kept in a model folder, or None in an older folder.

    Raises
    ------
    CLIError
        If the file is there but does not hold fingerprints.
    """
    where = os.path.join(path, TRAINING_ROWS_FILE)
    if not os.path.exists(where):
        return None
    try:
        with open(where, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise CLIError(f"model folder {path} is damaged: {TRAINING_ROWS_FILE}: "
                       f"{error.strerror or error}") from None
    if len(data) % 8:
        raise CLIError(f"model folder {path} is damaged: {TRAINING_ROWS_FILE} does not hold "
                       "64-bit row fingerprints")
    return np.frombuffer(data, dtype="<u8").astype(np.uint64)


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
    with open(folder.path(TRAINING_ROWS_FILE), "wb") as handle:
        handle.write(run.training_rows.astype("<u8").tobytes())
    training = {key: value for key, value in vars(args).items()
                if key not in ("handler", "debug")}
    write_json(folder.path(MANIFEST),
               {"format": FORMAT, "version": 1, "bpnn_version": bpnn.__version__,
                "task": facts["task"], "target": args.target, "data": facts["data"],
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "training": training})
    write_json(folder.path("metrics.json"),
               {"task": facts["task"], "evaluated_on": facts["evaluated_on"],
                "test": run.results, "best_epoch": run.best_epoch,
                "epochs_run": facts["epochs_run"], "train_seconds": round(run.seconds, 3),
                "split": facts["split"]})
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
