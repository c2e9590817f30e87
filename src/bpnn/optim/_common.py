"""Helpers every first-order optimizer shares: argument checks and the gradient direction."""

from __future__ import annotations

import numbers

from bpnn.backend import xp


def check_non_negative(**values) -> None:
    """Raise ``ValueError`` naming the first argument that is not a real number >= 0."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a real number >= 0, got {value!r}")
        if not value >= 0:  # written this way so that NaN fails too
            raise ValueError(f"invalid {name}: {value} (it must be >= 0)")


def check_betas(betas) -> tuple:
    """Return ``betas`` as a tuple of two floats, each in [0, 1), or raise ``ValueError``."""
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for index, beta in enumerate(betas):
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0.0 <= beta < 1.0:
            raise ValueError(f"invalid beta parameter at index {index}: {beta!r} "
                             "(it must be in [0, 1))")
    return float(betas[0]), float(betas[1])


def descent_direction(param_data, grad, weight_decay: float, maximize: bool):
    """``(-grad if maximize else grad) + weight_decay * param``, as torch.optim computes it.

    Returns ``grad`` itself (read-only for the caller) when there is nothing to add, so that
    the common case allocates nothing.
    """
    if weight_decay:
        direction = xp.multiply(param_data, weight_decay)
        if maximize:
            direction -= grad
        else:
            direction += grad
        return direction
    if maximize:
        return xp.negative(grad)
    return grad


def next_step(state: dict) -> int:
    """Increment and return ``state["step"]``, kept as a Python int.

    torch keeps a float32 tensor holding the same count; an int is exact and JSON-friendly,
    and a count loaded as a float (torch-style) or a 0-d array (safetensors) is turned back
    into an int here.
    """
    step = state["step"] = int(state["step"]) + 1
    return step
