"""Whether operations record the graph: ``no_grad``, ``enable_grad``, ``is_grad_enabled``."""

from __future__ import annotations

import contextlib

_grad_state = {"enabled": True}


def is_grad_enabled() -> bool:
    """Return whether operations currently record the graph for backpropagation."""
    return _grad_state["enabled"]


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        self.previous = _grad_state["enabled"]
        _grad_state["enabled"] = self.enabled
        return self

    def __exit__(self, *exc):
        _grad_state["enabled"] = self.previous
        return False


def no_grad() -> _GradMode:
    """Context manager (and decorator) that stops recording the graph.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.ones(2, requires_grad=True)
    >>> with bpnn.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager (and decorator) that records the graph even inside ``no_grad``."""
    return _GradMode(True)
