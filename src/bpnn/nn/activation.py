"""Activation layers: thin wrappers over ``bpnn.nn.functional``."""

from __future__ import annotations

from bpnn.functional import activation as A
from bpnn.nn.module import Module
from bpnn.nn.registry import register_activation, register_layer


@register_layer
@register_activation("relu")
class ReLU(Module):
    """``max(x, 0)`` element-wise."""

    def forward(self, x):
        return A.relu(x)


@register_layer
@register_activation("sigmoid")
class Sigmoid(Module):
    """Logistic function ``1 / (1 + exp(-x))``, stable for large ``|x|``."""

    def forward(self, x):
        return A.sigmoid(x)


@register_layer
@register_activation("tanh")
class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x):
        return A.tanh(x)


@register_layer
@register_activation("leaky_relu")
class LeakyReLU(Module):
    """``x`` if x > 0 else ``negative_slope * x``.

    Parameters
    ----------
    negative_slope : float, default 0.01
    """

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return A.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope}


@register_layer
@register_activation("elu")
class ELU(Module):
    """``x`` if x > 0 else ``alpha * (exp(x) - 1)``.

    Parameters
    ----------
    alpha : float, default 1.0
    """

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        return A.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"

    def get_config(self) -> dict:
        return {"alpha": self.alpha}


@register_layer
@register_activation("gelu")
class GELU(Module):
    """Gaussian error linear unit; see :func:`bpnn.nn.functional.gelu`.

    Parameters
    ----------
    approximate : {"none", "tanh"}, default "none"
        The exact erf form or the tanh approximation, as ``torch.nn.GELU``.
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return A.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"

    def get_config(self) -> dict:
        return {"approximate": self.approximate}


class _AlongDim(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = int(dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def get_config(self) -> dict:
        return {"dim": self.dim}


@register_layer
class Softmax(_AlongDim):
    """Softmax along ``dim`` (default the last)."""

    def forward(self, x):
        return A.softmax(x, self.dim)


@register_layer
class LogSoftmax(_AlongDim):
    """Log-softmax along ``dim`` (default the last), computed stably."""

    def forward(self, x):
        return A.log_softmax(x, self.dim)
