"""Shape and regularisation layers: Dropout, Dropout2d, Flatten, Identity."""

from __future__ import annotations

from bpnn.functional.dropout import check_probability, dropout, dropout2d
from bpnn.nn.module import Module
from bpnn.nn.registry import register_layer


@register_layer
class Dropout(Module):
    """Zero activations with probability ``p`` in training mode (scaled by ``1 / (1 - p)``).

    Parameters
    ----------
    p : float, default 0.5
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        check_probability(p)
        self.p = float(p)

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def get_config(self) -> dict:
        return {"p": self.p}


@register_layer
class Dropout2d(Dropout):
    """Zero whole channels of an ``(N, C, H, W)`` input with probability ``p`` in training."""

    def forward(self, x):
        return dropout2d(x, self.p, self.training)


@register_layer
class Flatten(Module):
    """Flatten dimensions ``start_dim`` .. ``end_dim`` (default: all but the batch)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def get_config(self) -> dict:
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}


@register_layer
class Identity(Module):
    """Return the input unchanged (a placeholder, e.g. for a removed head)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
