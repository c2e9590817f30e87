"""Dropout: zero a random fraction of activations during training (inverted scaling)."""

from __future__ import annotations

from bpnn import backend
from bpnn.autograd.function import Function
from bpnn.autograd.tensor import Tensor


class _MaskMultiply(Function):
    def forward(self, x, mask):
        self.mask = mask
        return x * mask

    def backward(self, grad):
        return grad * self.mask, None


def check_probability(p: float) -> None:
    """``ValueError`` unless the dropout probability ``p`` is in [0, 1]."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be between 0 and 1, got {p}")


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    The mask comes from the global generator, so :func:`bpnn.manual_seed` makes it
    reproducible. In evaluation (``training=False``) or with ``p == 0`` it is the identity.

    Parameters
    ----------
    x : Tensor
    p : float, default 0.5
    training : bool, default True

    Returns
    -------
    Tensor
    """
    check_probability(p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        mask = backend.xp.zeros(x.shape, dtype=x.dtype)
    else:
        keep = backend.get_rng().random(x.shape, dtype=x.dtype) >= p
        mask = keep * x.dtype.type(1.0 / (1.0 - p))
    return _MaskMultiply.apply(x, Tensor(mask))


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels of an ``(N, C, H, W)`` input with probability ``p``."""
    check_probability(p)
    if x.ndim != 4:
        raise ValueError(f"dropout2d expects a 4-D input (N, C, H, W), got shape {x.shape}")
    if not training or p == 0.0:
        return x
    n, c = x.shape[:2]
    if p == 1.0:
        mask = backend.xp.zeros((n, c, 1, 1), dtype=x.dtype)
    else:
        keep = backend.get_rng().random((n, c, 1, 1), dtype=x.dtype) >= p
        mask = keep * x.dtype.type(1.0 / (1.0 - p))
    return _MaskMultiply.apply(x, Tensor(mask))
