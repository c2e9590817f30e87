"""Ending well: SIGTERM cleans up like Ctrl-C, a closed output pipe ends quietly."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

# 128 + the signal number, as a shell reports a process ended by it.
EXIT_SIGTERM = 128 + 15
EXIT_SIGPIPE = 128 + 13


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM, so that ``finally`` blocks remove temporaries."""


def _raise_terminated(signum, frame):
    raise Terminated(EXIT_SIGTERM)


@contextlib.contextmanager
def terminate_cleanly():
    """Turn SIGTERM into :class:`Terminated` while the command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def quiet_broken_pipe() -> int:
    """The reader of our output went away (``| head``): no traceback, no message."""
    # Later flushes (at exit) would raise again: point stdout at /dev/null.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_SIGPIPE
