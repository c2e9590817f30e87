"""Read a CSV file robustly (delimiter, encoding, missing-value markers), or say what is wrong.

Used by ``bpnn train`` / ``evaluate`` / ``predict`` and the playground's uploads; re-exported
by :mod:`bpnn.cli.tabular`.
"""

from __future__ import annotations

import csv
import os

from bpnn.cli.checks import check_frame
from bpnn.cli.errors import DataError, closest_names

_SNIFF_BYTES = 64 * 1024


def import_pandas():
    """pandas, or a DataError saying how to install it (the [cli] extra)."""
    try:
        import pandas
    except ImportError:  # pragma: no cover - pandas is in the cli extra
        raise DataError("reading CSV files needs pandas: pip install 'bpnn[cli]'") from None
    return pandas


def read_csv(path: str):
    """Read ``path`` into a pandas DataFrame, or raise a one-line :class:`DataError`.

    The delimiter (comma, semicolon, tab or bar) is sniffed from the first 64 KiB; the text is
    UTF-8 or else Latin-1; blanks after a delimiter and around column names are dropped; empty
    cells, ``NA``-like strings and ``?`` are missing values.

    Parameters
    ----------
    path : str

    Returns
    -------
    pandas.DataFrame
        At least one row and two columns.

    Raises
    ------
    DataError
        If the file is missing, a folder, empty, has only a header, is binary or not text,
        cannot be parsed, or has only one column.

    Example
    -------
    >>> frame = read_csv(bundled_csv("phone_price"))  # doctest: +SKIP
    """
    pandas = import_pandas()
    if not os.path.exists(path):
        raise DataError(f"file not found: {path}")
    if os.path.isdir(path):
        raise DataError(f"{path} is a folder, expected a CSV file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    if not head.strip():
        raise DataError(f"{path} is empty")
    if b"\x00" in head:
        raise DataError(f"{path} is not a CSV file (it looks binary)")
    encoding = "utf-8-sig"
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as error:
        if error.start >= len(head) - 4:  # a multi-byte character cut at the sniffing boundary
            text = head[:error.start].decode(encoding)
        else:  # spreadsheet exports are often Latin-1, which decodes any byte
            encoding = "latin-1"
            text = head.decode(encoding)
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        # "?" marks a missing value in many public data sets (the UCI repository's habit).
        frame = pandas.read_csv(path, sep=delimiter, skipinitialspace=True, encoding=encoding,
                                na_values=["?"])
    except pandas.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except (pandas.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path} is not a readable CSV file: {first}") from None
    frame.columns = [str(name).strip() for name in frame.columns]
    if frame.shape[1] < 2:
        raise DataError(f"{path} has a single column ({frame.columns[0]!r}); a CSV file with "
                        "features and a target needs at least two (is it comma-separated?)")
    if len(frame) == 0:
        raise DataError(f"{path} has a header but no data rows")
    duplicated = [name for name in frame.columns if name.split(".")[0] != name
                  and name.rsplit(".", 1)[0] in frame.columns]
    if duplicated:
        raise DataError(f"{path} repeats column name(s): "
                        f"{', '.join(repr(n.rsplit('.', 1)[0]) for n in duplicated)}")
    check_frame(frame, path)
    return frame


def require_column(frame, column: str, path: str) -> None:
    """Raise :class:`DataError` naming the closest columns when ``column`` is absent."""
    if column not in frame.columns:
        raise DataError(f"{path} has no column {column!r}{closest_names(column, frame.columns)}"
                        f" (columns: {', '.join(map(str, frame.columns[:12]))}"
                        f"{', ...' if frame.shape[1] > 12 else ''})")
