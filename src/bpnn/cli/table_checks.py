"""Checks on a table before and after training: target leaks, and which rows trained a model.

:func:`find_leaks` names the feature columns that alone predict the target almost perfectly on
the training rows (a column that restates the target, or is computed from it), the classic way a
table reports an accuracy of 1.0 that will not hold on new data. :func:`row_fingerprints` hashes
rows so that ``bpnn evaluate`` can tell when its rows were used in training.
"""

from __future__ import annotations

import numpy as np

from bpnn.cli.tabular import import_pandas, numeric_values

_LEAK_ERROR = 0.01  # a column alone gets at most 1 % of the rows wrong (or R^2 >= 0.99)
_LEAK_GAIN = 0.1  # ... and at most a tenth of what always guessing the average gets wrong
_LEAK_BINS = 50  # numeric columns with more distinct values are cut into this many quantiles
_LEAK_MIN_ROWS_PER_GROUP = 5  # fewer rows per value and any column "predicts" its few rows


def _groups(series) -> np.ndarray | None:
    """Integer group codes for a column: its values, or quantile bins of a numeric column."""
    numeric = numeric_values(series)
    if numeric is None:
        codes, _ = series.astype(str).factorize()
        return codes
    values = numeric.to_numpy()
    if np.unique(values[np.isfinite(values)]).size <= _LEAK_BINS:
        codes, _ = numeric.factorize()
        return codes
    edges = np.unique(np.nanquantile(values, np.linspace(0, 1, _LEAK_BINS + 1)[1:-1]))
    codes = np.searchsorted(edges, values, side="right")
    codes[~np.isfinite(values)] = -1
    return codes


def _grouped_error(groups: np.ndarray, target: np.ndarray, classification: bool) -> tuple:
    """(error of predicting the target from the group alone, error of the best constant)."""
    _, groups = np.unique(groups, return_inverse=True)
    if classification:
        _, classes = np.unique(target, return_inverse=True)
        table = np.zeros((groups.max() + 1, classes.max() + 1))
        np.add.at(table, (groups, classes), 1)
        n = len(target)
        return 1 - table.max(axis=1).sum() / n, 1 - table.sum(axis=0).max() / n
    counts = np.bincount(groups)
    means = np.bincount(groups, weights=target) / counts
    total = float(((target - target.mean()) ** 2).sum())
    if total == 0:
        return 0.0, 0.0
    return float(((target - means[groups]) ** 2).sum()) / total, 1.0


def find_leaks(frame, target: str, task: str, columns) -> list:
    """Feature columns that alone predict ``target`` near-perfectly on these rows.

    One pass per column: each column's values (numeric columns with many values cut into 50
    quantile bins) are taken as groups, and the target is predicted by each group's majority
    class (classification) or mean (regression). A column is a suspect when that gets at most
    1 % of the rows wrong (R^2 at least 0.99), at most a tenth of what guessing the most frequent
    class (the mean) gets wrong, with at least 5 rows per group on average.

    Parameters
    ----------
    frame : pandas.DataFrame
        The training rows, target included (no missing target).
    target : str
    task : {"classification", "regression"}
    columns : iterable of str
        The feature columns to check.

    Returns
    -------
    list of (str, str)
        ``(column, how well it predicts)`` per suspect, e.g. ``("paid", "99.8 % of rows")``.
    """
    classification = task == "classification"
    if classification:
        labels = frame[target].astype(str).to_numpy()
    else:
        labels = numeric_values(frame[target]).to_numpy()
    suspects = []
    for name in columns:
        series = frame[name]
        groups = _groups(series)
        if groups is None or len(np.unique(groups)) * _LEAK_MIN_ROWS_PER_GROUP > len(series):
            continue
        error, baseline = _grouped_error(groups, labels, classification)
        if error <= _LEAK_ERROR and error <= _LEAK_GAIN * baseline:
            how = (f"{100 * (1 - error):.1f} % of rows" if classification
                   else f"R^2 {1 - error:.3f}")
            suspects.append((name, how))
    return suspects


def row_fingerprints(frame, columns) -> np.ndarray:
    """One 64-bit hash per row over ``columns`` (numbers hashed by value, text as text).

    Parameters
    ----------
    frame : pandas.DataFrame
    columns : sequence of str
        Columns present in ``frame``; the same list must be used to compare two tables.

    Returns
    -------
    numpy.ndarray
        ``uint64``, one per row, in row order.
    """
    pandas = import_pandas()
    parts = {}
    for name in columns:
        numeric = numeric_values(frame[name])
        parts[name] = numeric.round(9) if numeric is not None else frame[name].astype(str)
    table = pandas.DataFrame(parts, index=frame.index)
    return pandas.util.hash_pandas_object(table, index=False).to_numpy(np.uint64)
