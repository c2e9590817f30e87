"""Checks of what the command line reads: CSV cells, ``preprocessing.json``, a model folder.

Each problem becomes a :class:`~bpnn.cli.errors.DataError` / ``ValueError`` with one line
naming it, so ``bpnn`` exits with code 2 instead of an internal error or, worse, exit 0 with
wrong output (a folder whose ``task`` was edited).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from bpnn.cli.errors import DataError

# Beyond this a number cannot be a float32 feature: it would become infinity in the network.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_frame(frame, path: str) -> None:
    """Refuse repeated column names and numbers that are infinite or overflow float32."""
    repeated = sorted({name for name in frame.columns if list(frame.columns).count(name) > 1})
    if repeated:
        raise DataError(f"{path} repeats column name(s) {', '.join(map(repr, repeated))} "
                        "(after trimming blanks)")
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind not in "fiu":
            continue
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.abs(values) > FLOAT32_MAX  # NaN compares False: missing cells are fine
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(f"{path}: column {name!r} holds {values[row]!r} in data row "
                            f"{row + 1}, which is infinite or too large for a float32 feature "
                            f"(at most {FLOAT32_MAX:.3g} in magnitude)")


def _finite_number(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def check_preprocessing(state) -> None:
    """Refuse a ``preprocessing.json`` description that cannot transform data correctly.

    Raises
    ------
    ValueError
        Naming the first entry of the wrong type or range.
    """
    if not isinstance(state, dict) or state.get("format") != "bpnn-tabular":
        raise ValueError("not a bpnn tabular preprocessing description")
    if not isinstance(state.get("target"), str):
        raise ValueError("'target' must be a column name")
    task = state.get("task")
    if task not in ("classification", "regression"):
        raise ValueError(f"'task' must be 'classification' or 'regression', got {task!r}")
    for key in ("drop", "ids"):
        names = state.get(key, [])
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ValueError(f"{key!r} must be a list of column names")
    columns = state.get("columns")
    if not isinstance(columns, list) or not columns:
        raise ValueError("'columns' must be a non-empty list")
    names = []
    for column in columns:
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            raise ValueError("each entry of 'columns' needs a 'name'")
        names.append(column["name"])
        kind = column.get("kind")
        if kind == "numeric":
            if not all(_finite_number(column.get(key)) for key in ("fill", "mean", "scale")) \
                    or column["scale"] <= 0:
                raise ValueError(f"numeric column {column['name']!r} needs finite 'fill', "
                                 "'mean' and a positive 'scale'")
        elif kind == "categorical":
            categories = column.get("categories")
            if (not isinstance(categories, list) or not categories
                    or not all(isinstance(c, str) for c in categories)
                    or len(set(categories)) != len(categories)
                    or not isinstance(column.get("fill"), str)):
                raise ValueError(f"categorical column {column['name']!r} needs distinct "
                                 "string 'categories' and a string 'fill'")
        else:
            raise ValueError(f"column {column['name']!r} has kind {kind!r}, expected "
                             "'numeric' or 'categorical'")
    if len(set(names)) != len(names):
        raise ValueError("'columns' names a column twice")
    classes = state.get("classes")
    if task == "classification":
        if (not isinstance(classes, list) or len(classes) < 2
                or not all(isinstance(c, (str, int, float)) and not isinstance(c, bool)
                           for c in classes)
                or len({repr(c) for c in classes}) != len(classes)):
            raise ValueError("a classification needs a list of at least two distinct 'classes'")
    else:
        if not (_finite_number(state.get("target_mean"))
                and _finite_number(state.get("target_scale"))
                and state["target_scale"] > 0):
            raise ValueError("a regression needs a finite 'target_mean' and a positive "
                             "'target_scale'")
    notes = state.get("notes", [])
    if not isinstance(notes, list):
        raise ValueError("'notes' must be a list")


def check_model_fits_preprocessing(model, preprocessor) -> None:
    """Refuse a folder whose model and preprocessing disagree (inputs, outputs, task)."""
    expected_out = len(preprocessor.classes_) if preprocessor.task == "classification" else 1
    network_out = _output_units(model.network)
    if network_out is not None and network_out != expected_out:
        raise ValueError(f"preprocessing.json describes a {preprocessor.task} with "
                         f"{expected_out} output(s) but the network has {network_out}")
    if model.input_shape is not None and tuple(model.input_shape) != (preprocessor.n_features,):
        raise ValueError(f"preprocessing.json makes {preprocessor.n_features} inputs but the "
                         f"network takes {model.input_shape}")


def _output_units(network):
    last = None
    for module in network.modules():
        if hasattr(module, "out_features"):
            last = module.out_features
    return last
