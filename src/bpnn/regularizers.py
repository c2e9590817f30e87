"""Weight penalties added to the loss, so backpropagation includes their gradient.

``Linear(..., weight_regularizer=bpnn.regularizers.l2(1e-4))`` adds ``1e-4 * sum(w^2)``
to the training loss (Keras' convention: no factor 1/2).
"""

from __future__ import annotations

import math
import numbers


class Regularizer:
    """``l1 * sum(|w|) + l2 * sum(w^2)``.

    Parameters
    ----------
    l1, l2 : float, default 0.0
        Non-negative penalty factors.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
                   and v >= 0 for v in (l1, l2)):
            raise ValueError(f"regularization factors must be non-negative, finite numbers, "
                             f"got l1={l1!r}, l2={l2!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weight):
        total = None
        if self.l1:
            total = weight.abs().sum() * self.l1
        if self.l2:
            term = (weight * weight).sum() * self.l2
            total = term if total is None else total + term
        return total

    def get_config(self) -> dict:
        """Constructor arguments (JSON-friendly), for saving."""
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"Regularizer(l1={self.l1}, l2={self.l2})"


def l1(l1: float = 0.01) -> Regularizer:  # noqa: E741 - Keras' name
    """L1 penalty ``l1 * sum(|w|)``."""
    return Regularizer(l1=l1)


def l2(l2: float = 0.01) -> Regularizer:
    """L2 penalty ``l2 * sum(w^2)``."""
    return Regularizer(l2=l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> Regularizer:  # noqa: E741
    """Both penalties."""
    return Regularizer(l1=l1, l2=l2)


def from_config(config):
    """Rebuild a regularizer from ``get_config()`` (``None`` stays ``None``)."""
    return None if config is None else Regularizer(**config)
