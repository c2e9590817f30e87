"""Tables for the command line: read a CSV robustly, and turn its columns into numbers.

:func:`read_csv` reads a file with pandas and says in one line what is wrong with it (missing,
empty, header only, binary, not delimited). :class:`TabularPreprocessor` learns, from the training
rows only, how to turn the other columns into a float32 matrix (numeric columns imputed with the
median and standardised; string columns imputed with the most frequent value and one-hot
encoded, a category unseen in training becoming all zeros) and how to encode the target (class
labels with their original names kept, or a standardised number). Its state is plain JSON.
"""

from __future__ import annotations

import warnings

import numpy as np

from bpnn.cli.checks import check_preprocessing
from bpnn.cli.csvfile import import_pandas, read_csv, require_column  # noqa: F401 (re-exported)
from bpnn.cli.errors import DataError, closest_names
from bpnn.cli.jsonfiles import read_json, write_json
from bpnn.preprocessing import mean_and_scale

_MAX_AUTO_CLASSES = 20  # an integer target with more distinct values is taken as a quantity
_MIN_ROWS_FOR_ID = 10  # in tiny tables every column looks unique


def numeric_values(series):
    """The column as float64 if every present value is a number, else None.

    Parameters
    ----------
    series : pandas.Series

    Returns
    -------
    pandas.Series or None
    """
    pandas = import_pandas()
    if series.dtype == bool:
        return series.astype(np.float64)
    if pandas.api.types.is_numeric_dtype(series.dtype):
        return series.astype(np.float64)
    present = series.dropna()
    converted = pandas.to_numeric(present, errors="coerce")
    if len(present) and converted.notna().all():
        return pandas.to_numeric(series, errors="coerce").astype(np.float64)
    return None


def _plain(value):
    """A label as a JSON-friendly Python value (numpy scalars unwrapped, whole floats as int)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _examples(values, limit: int = 3) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:limit])
    return shown + (", ..." if len(values) > limit else "")


def infer_task(series, requested: str, column: str) -> tuple:
    """Decide classification or regression for a target column.

    Parameters
    ----------
    series : pandas.Series
        The target values (missing values already removed).
    requested : {"auto", "classification", "regression"}
    column : str
        The target's name, for messages.

    Returns
    -------
    (str, str)
        The task and a short reason.

    Raises
    ------
    DataError
        If regression is requested for a non-numeric target, or classification finds a single
        class.
    """
    numeric = numeric_values(series)
    distinct = series.nunique()
    if requested == "regression":
        if numeric is None:
            bad = [v for v in series.unique() if numeric_values(series[series == v]) is None]
            raise DataError(f"target {column!r} is not numeric (values like {_examples(bad)}); "
                            "regression needs numbers: use --task classification")
        task, reason = "regression", "requested"
    elif requested == "classification":
        task, reason = "classification", "requested"
    elif numeric is None:
        task, reason = "classification", "the target holds text labels"
    elif np.all(np.mod(numeric, 1) == 0) and distinct <= _MAX_AUTO_CLASSES:
        task, reason = "classification", f"the target holds {distinct} distinct whole numbers"
    else:
        task, reason = "regression", "the target holds numbers"
        if np.all(np.mod(numeric, 1) == 0):
            reason += (f" (whole numbers, {distinct} distinct values: too many to be classes; "
                       "use --task classification if they are)")
    if task == "classification" and distinct < 2:
        raise DataError(f"target {column!r} has a single class ({_examples(series.unique())}); "
                        "classification needs at least two")
    if task == "regression" and distinct < 2:
        raise DataError(f"target {column!r} is constant ({_examples(series.unique())}); "
                        "there is nothing to learn")
    return task, reason


def find_id_columns(frame, exclude=()) -> list:
    """Columns that are unique per row and so identify rows rather than describe them.

    Text columns with a distinct value in every row, and whole-number columns that count
    through consecutive values (1, 2, 3, ... in any order). Decided on the whole file: it uses no
    labels, and a split would hide the consecutive run.
    """
    if len(frame) < _MIN_ROWS_FOR_ID:
        return []
    found = []
    for name in frame.columns:
        if name in exclude:
            continue
        series = frame[name]
        if series.isna().any() or series.nunique() != len(series):
            continue
        numeric = numeric_values(series)
        if numeric is None:
            found.append(name)
        elif np.all(np.mod(numeric, 1) == 0) and numeric.max() - numeric.min() == len(series) - 1:
            found.append(name)
    return found


def find_empty_columns(frame) -> list:
    """Columns with no value at all."""
    return [name for name in frame.columns if frame[name].isna().all()]


class TabularPreprocessor:
    """Turn table columns into a float32 matrix and a target into labels or numbers.

    Learned from the training rows only (``fit``) and saved as JSON next to the model.

    Parameters
    ----------
    target : str
        The column to predict.
    task : {"classification", "regression"}
    drop : sequence of str, default ()
        Columns to ignore (``--drop``).
    ids : sequence of str, default ()
        Identifier columns (``--id``, or found by :func:`find_id_columns`): not features, but
        passed through into predictions so that rows can be joined back.

    Attributes
    ----------
    columns_ : list of dict
        Per input column: ``name``, ``kind`` (``numeric`` / ``categorical``), ``fill`` (the
        imputed value), ``mean`` and ``scale`` or ``categories``.
    classes_ : list
        Class labels with their original names (classification).
    target_mean_, target_scale_ : float
        The regression target's standardisation.
    notes_ : list of str
        What ``fit`` did that the user should know (imputations, dropped columns).

    Example
    -------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"size": [1.0, 2.0, None, 4.0], "color": ["r", "g", "r", None],
    ...                       "label": ["a", "b", "a", "b"]})
    >>> prep = TabularPreprocessor("label", "classification").fit(frame)
    >>> prep.transform(frame).shape, prep.classes_
    ((4, 3), ['a', 'b'])
    """

    def __init__(self, target: str, task: str, drop=(), ids=()):
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
        self.target = target
        self.task = task
        self.drop = list(drop)
        self.ids = list(ids)

    # ------------------------------------------------------------------ learning
    def fit(self, frame, all_labels=None) -> TabularPreprocessor:
        """Learn imputation values, scales, categories and the target encoding from ``frame``.

        Parameters
        ----------
        frame : pandas.DataFrame
            The training rows, target included.
        all_labels : pandas.Series, optional
            Every row's label, so that a class too rare to reach the training rows still gets
            an output (the set of labels is no information about the held-out rows' features).

        Raises
        ------
        DataError
            If a feature column has no value in these rows, or the target is unusable.
        """
        self.columns_, self.notes_ = [], []
        for name in frame.columns:
            if name == self.target or name in self.drop or name in self.ids:
                continue
            series = frame[name]
            missing = int(series.isna().sum())
            if missing == len(series):
                raise DataError(f"column {name!r} has no values in the {len(series)} training "
                                "row(s); remove it or fill it in")
            numeric = numeric_values(series)
            if numeric is not None:
                fill = float(numeric.median())
                mean, scale = mean_and_scale(numeric.fillna(fill).to_numpy(dtype=np.float64))
                column = {"name": name, "kind": "numeric", "fill": fill,
                          "mean": float(mean), "scale": float(scale)}
                how = f"the median {fill:g}"
            else:
                text = series.dropna().astype(str)
                fill = str(text.mode().sort_values().iloc[0])
                categories = sorted(set(text) | {fill})
                column = {"name": name, "kind": "categorical", "fill": fill,
                          "categories": categories}
                how = f"the most frequent value {fill!r}"
            if missing:
                self.notes_.append(f"column {name!r}: {missing} of {len(series)} training values "
                                   f"missing, filled with {how}")
            self.columns_.append(column)
        if not self.columns_:
            raise DataError(f"no feature columns left besides the target {self.target!r}")
        labels = frame[self.target].dropna()
        if self.task == "classification" and all_labels is not None:
            labels = all_labels.dropna()
        if self.task == "classification":
            values = [_plain(v) for v in labels.unique()]
            if all(isinstance(v, (int, float)) for v in values):
                self.classes_ = sorted(values)
            else:
                self.classes_ = sorted({str(v) for v in values})
            self.target_mean_ = self.target_scale_ = None
        else:
            numbers = numeric_values(labels).to_numpy()
            self.classes_ = None
            mean, scale = mean_and_scale(numbers.astype(np.float64))
            self.target_mean_, self.target_scale_ = float(mean), float(scale)
        return self

    # ------------------------------------------------------------------ using
    @property
    def feature_names(self) -> list:
        """Names of the matrix columns (``col`` or ``col=category``)."""
        names = []
        for column in self.columns_:
            if column["kind"] == "numeric":
                names.append(column["name"])
            else:
                names.extend(f"{column['name']}={c}" for c in column["categories"])
        return names

    @property
    def n_features(self) -> int:
        """Number of columns of the feature matrix."""
        return len(self.feature_names)

    @property
    def input_columns(self) -> list:
        """The table's columns the model reads."""
        return [column["name"] for column in self.columns_]

    def check_columns(self, frame, path: str = "the data") -> None:
        """Raise :class:`DataError` if ``frame`` lacks a column the model was trained on.

        Columns the model does not use are ignored with a warning.
        """
        present = set(frame.columns)
        missing = [name for name in self.input_columns if name not in present]
        if missing:
            unused = [name for name in frame.columns if name not in self.input_columns]
            raise DataError(
                f"{path} does not match the model: it lacks {len(missing)} column(s) the model "
                f"was trained on: {_examples(missing, 5)}{closest_names(missing[0], unused)}")
        known = set(self.input_columns) | set(self.drop) | set(self.ids) | {self.target}
        extra = [name for name in frame.columns if name not in known]
        if extra:
            warnings.warn(f"{path}: ignoring {len(extra)} column(s) the model was not trained "
                          f"on: {_examples(extra, 5)}", stacklevel=2)

    def transform(self, frame, path: str = "the data", notes: list | None = None) -> np.ndarray:
        """The feature matrix (float32, one row per row of ``frame``).

        Parameters
        ----------
        frame : pandas.DataFrame
        path : str
            The table's name in messages.
        notes : list, optional
            If given, one line per column with missing values is appended, saying what they
            were filled with (``bpnn predict`` prints them; training reports its own).

        Raises
        ------
        DataError
            If a column is missing, or a numeric column holds text.
        """
        self.check_columns(frame, path)
        blocks = []
        for column in self.columns_:
            series = frame[column["name"]]
            missing = int(series.isna().sum())
            if missing and notes is not None:
                fill = (f"the training median {column['fill']:g}" if column["kind"] == "numeric"
                        else f"the most frequent training value {column['fill']!r}")
                notes.append(f"{path}: column {column['name']!r}: {missing} of {len(series)} "
                             f"values missing, filled with {fill}")
            if column["kind"] == "numeric":
                numeric = numeric_values(series)
                if numeric is None:
                    bad = series.dropna()
                    bad = bad[import_pandas().to_numeric(bad, errors="coerce").isna()].unique()
                    raise DataError(f"{path}: column {column['name']!r} was numeric in training "
                                    f"but holds text such as {_examples(bad)}")
                values = (numeric.fillna(column["fill"]).to_numpy() - column["mean"])
                blocks.append((values / column["scale"])[:, None])
            else:
                text = series.astype(object).where(series.notna(), column["fill"]).astype(str)
                index = {c: i for i, c in enumerate(column["categories"])}
                codes = text.map(index)
                unseen = codes.isna()
                if unseen.any():
                    warnings.warn(
                        f"{path}: column {column['name']!r} has {int(unseen.sum())} row(s) with "
                        f"categories not seen in training ({_examples(text[unseen].unique())}); "
                        "they are encoded as all zeros", stacklevel=2)
                block = np.zeros((len(text), len(index)))
                rows = np.flatnonzero(~unseen.to_numpy())
                block[rows, codes[~unseen].to_numpy().astype(np.int64)] = 1.0
                blocks.append(block)
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def encode_target(self, series, path: str = "the data") -> np.ndarray:
        """Class indices (int64) or the standardised target (float32, shape ``(n, 1)``).

        Raises
        ------
        DataError
            If a value is missing, a label was not seen in training, or a regression target
            holds text.
        """
        if series.isna().any():
            raise DataError(f"{path}: the target {self.target!r} has {int(series.isna().sum())} "
                            "missing value(s)")
        if self.task == "classification":
            as_numbers = all(isinstance(c, (int, float)) for c in self.classes_)
            labels = [_plain(v) if as_numbers else str(_plain(v)) for v in series]
            index = {c: i for i, c in enumerate(self.classes_)}
            unknown = sorted({repr(v) for v in labels if v not in index})
            if unknown:
                raise DataError(f"{path}: the target {self.target!r} has label(s) the model "
                                f"does not know: {', '.join(unknown[:5])} (known: "
                                f"{_examples(self.classes_, 10)})")
            return np.asarray([index[v] for v in labels], dtype=np.int64)
        numeric = numeric_values(series)
        if numeric is None:
            raise DataError(f"{path}: the target {self.target!r} holds text but the model "
                            "predicts numbers")
        standardised = (numeric.to_numpy() - self.target_mean_) / self.target_scale_
        return standardised.astype(np.float32)[:, None]

    def decode_target(self, encoded) -> np.ndarray:
        """Labels with their original names (classification) or numbers in the target's units."""
        encoded = np.asarray(encoded)
        if self.task == "classification":
            return np.asarray(self.classes_, dtype=object)[encoded.astype(np.int64)]
        return encoded.reshape(-1).astype(np.float64) * self.target_scale_ + self.target_mean_

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """The fitted state as a JSON-serialisable dict."""
        return {"format": "bpnn-tabular", "version": 1, "target": self.target, "task": self.task,
                "drop": self.drop, "ids": self.ids, "columns": self.columns_,
                "classes": self.classes_,
                "target_mean": self.target_mean_, "target_scale": self.target_scale_,
                "notes": self.notes_}

    @classmethod
    def from_dict(cls, state: dict) -> TabularPreprocessor:
        """Rebuild a fitted preprocessor from :meth:`to_dict`'s output.

        Raises
        ------
        ValueError
            If ``state`` is not a bpnn tabular preprocessing description, or an entry has
            the wrong type or range.
        """
        check_preprocessing(state)
        if "ids" in state:
            prep = cls(state["target"], state["task"], state.get("drop", ()), state["ids"])
        else:  # written before --drop existed: "drop" held the identifier columns
            prep = cls(state["target"], state["task"], (), state.get("drop", ()))
        prep.columns_ = state["columns"]
        prep.classes_ = state["classes"]
        prep.target_mean_ = state["target_mean"]
        prep.target_scale_ = state["target_scale"]
        prep.notes_ = state.get("notes", [])
        return prep

    def save(self, path: str) -> None:
        """Write :meth:`to_dict` as strict JSON to ``path`` (atomically)."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str) -> TabularPreprocessor:
        """Read a preprocessor written by :meth:`save`."""
        return cls.from_dict(read_json(path))
