"""Playground sessions: a data set and a real ``bpnn.Model`` trained a few epochs per request.

A :class:`SessionConfig` checks every option of a request before anything is built (unknown
names, widths, rates, sizes), so a bad request costs nothing. A :class:`Session` holds the
network, optimizer and history; :class:`SessionStore` caps how many sessions live at once and
how much memory they may take. Training runs under one lock with each session's own random
state swapped into bpnn's global generator, so a session replays identically for its seed
whatever other sessions do.

The options and limits live in :mod:`bpnn.playground.options` and the session itself in
:mod:`bpnn.playground.session`; this module keeps the store and the names the server and
callers import from here.
"""

from __future__ import annotations

import threading
import time
import uuid

from bpnn.playground.datasets import PlaygroundError, make_toy
from bpnn.playground.options import (
    ACTIVATIONS,
    INITIALISERS,
    LOSSES,
    MAX_EPOCHS_PER_REQUEST,
    MAX_HIDDEN_LAYERS,
    MAX_LM_JACOBIAN,
    MAX_POINTS,
    MAX_UNITS,
    OPTIMIZERS,
    SessionConfig,
)
from bpnn.playground.session import (
    CURVE_POINTS,
    EXPLAIN_ERRORS,
    GRID_SIZE,
    SECONDS_PER_REQUEST,
    Session,
)

__all__ = ["ACTIVATIONS", "CURVE_POINTS", "EXPLAIN_ERRORS", "GRID_SIZE", "INITIALISERS", "LOSSES",
           "MAX_EPOCHS_PER_REQUEST", "MAX_HIDDEN_LAYERS", "MAX_LM_JACOBIAN", "MAX_POINTS",
           "MAX_UNITS", "OPTIMIZERS", "SECONDS_PER_REQUEST", "Session", "SessionConfig",
           "SessionStore"]


class SessionStore:
    """Live sessions and uploaded tables, capped in number and estimated memory.

    Parameters
    ----------
    max_sessions : int, default 8
    max_bytes : int, default 256 MiB
        The sessions' estimated memory together.
    idle_seconds : float, default 600
        A full store first drops sessions unused this long.
    max_uploads : int, default 8
    """

    def __init__(self, max_sessions: int = 8, max_bytes: int = 256 * 2**20,
                 idle_seconds: float = 600.0, max_uploads: int = 8):
        self.max_sessions, self.max_bytes = max_sessions, max_bytes
        self.idle_seconds, self.max_uploads = idle_seconds, max_uploads
        self.sessions: dict = {}
        self.uploads: dict = {}
        self._lock = threading.Lock()

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for key, session in list(self.sessions.items()):
            if now - session.last_used > self.idle_seconds:
                del self.sessions[key]

    def create(self, options) -> Session:
        """Check the options, build the data and the session, and keep it.

        Raises
        ------
        PlaygroundError
            400 for bad options, 404 for an unknown upload, 429 when the store is full.
        """
        config = SessionConfig.from_json(options)
        if config.dataset == "upload":
            table = self.uploads.get(config.upload)
            if table is None:
                raise PlaygroundError(f"no upload {config.upload!r} (uploads live until the "
                                      "server stops, at most "
                                      f"{self.max_uploads} at a time)", status=404)
            data = table.dataset(config.test_fraction, config.seed)
        else:
            data = make_toy(config.dataset, config.n_points, config.noise, config.test_fraction,
                            config.seed)
        session = Session(config, data)
        with self._lock:
            self._drop_idle()
            if len(self.sessions) >= self.max_sessions:
                raise PlaygroundError(f"the playground already runs {len(self.sessions)} "
                                      "sessions, its limit; delete one first", status=429)
            used = sum(s.memory_bytes() for s in self.sessions.values())
            if used + session.memory_bytes() > self.max_bytes:
                raise PlaygroundError(
                    f"this session would need about {session.memory_bytes() / 2**20:.1f} MiB "
                    f"and the sessions may hold {self.max_bytes / 2**20:.0f} MiB together "
                    f"({used / 2**20:.1f} MiB in use); use a smaller network or data set, or "
                    "delete a session", status=429)
            self.sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session:
        """The session with this id, or a 404 ``PlaygroundError``."""
        session = self.sessions.get(session_id)
        if session is None:
            raise PlaygroundError(f"no session {session_id!r} (deleted, or dropped after "
                                  f"{self.idle_seconds:.0f} s unused)", status=404)
        return session

    def delete(self, session_id: str) -> None:
        """Forget a session (404 if there is none)."""
        with self._lock:
            self.get(session_id)
            del self.sessions[session_id]

    def add_upload(self, table) -> str:
        """Keep an uploaded table (the oldest goes when there are too many); returns its id."""
        with self._lock:
            if len(self.uploads) >= self.max_uploads:
                oldest = next(iter(self.uploads))
                del self.uploads[oldest]
            key = uuid.uuid4().hex[:12]
            self.uploads[key] = table
        return key
