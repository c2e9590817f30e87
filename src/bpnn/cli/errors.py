"""The command line's own error: one line on stderr and exit code 2, no traceback."""

from __future__ import annotations

import difflib


class CLIError(Exception):
    """A problem with the user's input (file, column, option), reported as one line.

    ``bpnn`` catches it at the top, prints ``bpnn: error: <message>`` on stderr and exits
    with code 2 (``--debug`` shows the traceback instead).
    """

    exit_code = 2


def closest_names(name: str, candidates, limit: int = 3) -> str:
    """Return "; did you mean 'a', 'b'?" for the candidates closest to ``name`` ('' if none)."""
    candidates = [str(c) for c in candidates]
    lowered = {c.lower(): c for c in candidates}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=limit, cutoff=0.5)
    # A candidate that merely contains the name ("price" in "price_range") counts too.
    matches += [c.lower() for c in candidates
                if name.lower() in c.lower() and c.lower() not in matches]
    names = [lowered[m] for m in matches[:limit]]
    if not names:
        return ""
    return "; did you mean " + ", ".join(repr(n) for n in names) + "?"


class DataError(CLIError, ValueError):
    """A CSV file or column the command cannot use (also a ``ValueError`` for library callers)."""
