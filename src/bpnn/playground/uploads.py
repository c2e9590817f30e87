"""Uploaded CSV tables, read and prepared by the same code as ``bpnn train``.

The body is streamed to a temporary file and refused as soon as it passes the size limit (a
``Content-Length`` over the limit is refused before a byte is read), then read with
:func:`bpnn.cli.tabular.read_csv`. Each session fits a
:class:`bpnn.cli.tabular.TabularPreprocessor` on its own training rows, as ``bpnn train`` does.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from bpnn.cli.errors import DataError
from bpnn.cli.tabular import (
    TabularPreprocessor,
    find_empty_columns,
    find_id_columns,
    infer_task,
    read_csv,
    require_column,
)
from bpnn.playground.datasets import Dataset, PlaygroundError, split_rows

MAX_UPLOAD_BYTES = 1_000_000
MAX_UPLOAD_ROWS = 5_000
MAX_UPLOAD_FEATURES = 64


async def receive_limited(chunks, declared_length, limit: int = MAX_UPLOAD_BYTES) -> str:
    """Write an async stream of byte chunks to a temporary file, refusing more than ``limit``.

    Parameters
    ----------
    chunks : async iterable of bytes
        The request body (``request.stream()``).
    declared_length : str or None
        The ``Content-Length`` header: a larger value is refused before anything is read.
    limit : int

    Returns
    -------
    str
        The temporary file's path (the caller removes it).

    Raises
    ------
    PlaygroundError
        413 when the body is larger than ``limit``; 400 when it is empty.
    """
    too_large = PlaygroundError(f"the upload is larger than the limit of {limit:,} bytes; "
                                "the playground takes small tables", status=413)
    if declared_length is not None:
        if not declared_length.strip().isdigit():
            raise PlaygroundError("the Content-Length header is not a number")
        if int(declared_length) > limit:
            raise too_large
    handle, path = tempfile.mkstemp(prefix="bpnn-playground-", suffix=".csv")
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise too_large
                out.write(chunk)
        if size == 0:
            raise PlaygroundError("the upload is empty; send the CSV file as the request body")
    except BaseException:
        os.unlink(path)
        raise
    return path


@dataclass
class Table:
    """An uploaded table: the frame, its target and what ``bpnn train`` would decide about it."""

    name: str
    frame: object
    target: str
    task: str
    reason: str
    ids: list
    size: int

    def describe(self) -> dict:
        """Name, rows, target, task and columns of the uploaded table, for the page."""
        return {"name": self.name, "rows": int(len(self.frame)), "target": self.target,
                "task": self.task, "reason": self.reason,
                "columns": [str(c) for c in self.frame.columns], "dropped_ids": self.ids}

    def dataset(self, test_fraction: float, seed: int) -> Dataset:
        """Split (stratified for classes), then prepare with a preprocessor fitted on train."""
        frame, target = self.frame, self.target
        classification = self.task == "classification"
        rng = np.random.default_rng(seed)
        labels = frame[target].astype(str).to_numpy() if classification else None
        train, test = split_rows(len(frame), test_fraction, rng, labels)
        preprocessor = TabularPreprocessor(target, self.task, drop=self.ids).fit(
            frame.iloc[train], all_labels=frame[target])
        if preprocessor.n_features > MAX_UPLOAD_FEATURES:
            raise PlaygroundError(f"{self.name} gives {preprocessor.n_features} input columns "
                                  f"after one-hot encoding; the playground takes at most "
                                  f"{MAX_UPLOAD_FEATURES}")

        def part(rows):
            subset = frame.iloc[rows]
            x = preprocessor.transform(subset, self.name).astype(np.float64)
            y = preprocessor.encode_target(subset[target], self.name)
            return x, y

        (x_train, y_train), (x_test, y_test) = part(train), part(test)
        if not classification:
            task, n_outputs, classes = "regression", 1, []
            y_train, y_test = y_train.astype(np.float64), y_test.astype(np.float64)
        elif len(preprocessor.classes_) == 2:
            task, n_outputs, classes = "binary", 1, preprocessor.classes_
            y_train = y_train.astype(np.float64)[:, None]
            y_test = y_test.astype(np.float64)[:, None]
        else:
            task, n_outputs = "multiclass", len(preprocessor.classes_)
            classes = preprocessor.classes_
        return Dataset(self.name, task, x_train, y_train, x_test, y_test,
                       preprocessor.feature_names, n_outputs, classes=list(classes),
                       notes=list(preprocessor.notes_))


def read_table(path: str, name: str, target: str | None = None) -> Table:
    """Read an uploaded CSV as ``bpnn train`` does and decide its task.

    Parameters
    ----------
    path : str
        The temporary file.
    name : str
        The file name the user gave, for messages.
    target : str, optional
        The column to predict; the last column by default.

    Returns
    -------
    Table

    Raises
    ------
    PlaygroundError
        For anything ``bpnn train`` would refuse, and for tables over the playground's limits.
    """
    try:
        frame = read_csv(path)
        frame.attrs.clear()
        if len(frame) > MAX_UPLOAD_ROWS:
            raise PlaygroundError(f"{name} has {len(frame):,} rows; the playground takes at "
                                  f"most {MAX_UPLOAD_ROWS:,}", status=413)
        target = str(frame.columns[-1]) if not target else target
        require_column(frame, target, name)
        empty = [c for c in find_empty_columns(frame) if c != target]
        if empty:
            raise DataError(f"column(s) {', '.join(map(repr, empty))} in {name} have no values "
                            "at all; remove them or fill them in")
        frame = frame[frame[target].notna()].reset_index(drop=True)
        if len(frame) < 4:
            raise DataError(f"{name} has {len(frame)} row(s) with a target value; the "
                            "playground needs at least 4")
        task, reason = infer_task(frame[target], "auto", target)
        ids = find_id_columns(frame, exclude=(target,))
    except DataError as error:
        raise PlaygroundError(str(error).replace(path, name)) from None
    return Table(name, frame, target, task, reason, ids, int(os.path.getsize(path)))
