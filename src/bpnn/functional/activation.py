"""Activation functions, each forward with its derivative beneath it."""

from __future__ import annotations

from bpnn.autograd.function import Function
from bpnn.autograd.tensor import Tensor
from bpnn.backend import erf, xp


class _ReLU(Function):
    def forward(self, x):
        self.positive = x > 0
        return xp.maximum(x, 0)  # not x * mask, which would give -0.0 for negative x

    def backward(self, grad):
        return (grad * self.positive,)  # 0 at x == 0, as PyTorch


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)``; the derivative at 0 is taken as 0 (as in PyTorch).

    Example
    -------
    >>> import bpnn, bpnn.nn.functional as F
    >>> F.relu(bpnn.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    return _ReLU.apply(x)


class _LeakyReLU(Function):
    def forward(self, x, negative_slope):
        self.scale = xp.where(x > 0, x.dtype.type(1), x.dtype.type(negative_slope))
        return x * self.scale

    def backward(self, grad):
        return (grad * self.scale,)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` for x > 0, else ``negative_slope * x`` (the slope is also used at 0)."""
    return _LeakyReLU.apply(x, negative_slope=negative_slope)


class _ELU(Function):
    def forward(self, x, alpha):
        self.negative = x <= 0
        self.alpha_exp = alpha * xp.exp(xp.minimum(x, 0))
        return xp.where(self.negative, self.alpha_exp - alpha, x).astype(x.dtype)

    def backward(self, grad):
        return (grad * xp.where(self.negative, self.alpha_exp, 1).astype(grad.dtype),)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """``x`` for x > 0, else ``alpha * (exp(x) - 1)``."""
    return _ELU.apply(x, alpha=alpha)


def stable_sigmoid(x):
    """Logistic function on a raw array without overflow for large ``|x|``."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


class _Sigmoid(Function):
    def forward(self, x):
        self.out = stable_sigmoid(x)
        return self.out

    def backward(self, grad):
        out = self.out
        return (grad * out * (1 - out),)


def sigmoid(x: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``."""
    return _Sigmoid.apply(x)


class _Tanh(Function):
    def forward(self, x):
        self.out = xp.tanh(x)
        return self.out

    def backward(self, grad):
        return (grad * (1 - self.out * self.out),)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent; derivative ``1 - tanh(x)^2``."""
    return _Tanh.apply(x)


_SQRT_2 = 2.0 ** 0.5
_SQRT_2_OVER_PI = (2.0 / 3.141592653589793) ** 0.5
_INV_SQRT_2PI = (2.0 * 3.141592653589793) ** -0.5
_GELU_CUBIC = 0.044715


class _GELU(Function):
    def forward(self, x, approximate):
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            self.inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x)
            self.t = xp.tanh(self.inner)
            return 0.5 * x * (1 + self.t)
        self.cdf = 0.5 * (1 + erf(x / _SQRT_2))
        return x * self.cdf

    def backward(self, grad):
        x = self.x
        if self.approximate == "tanh":
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)
            return (grad * (0.5 * (1 + self.t) + 0.5 * x * (1 - self.t * self.t) * d_inner),)
        pdf = _INV_SQRT_2PI * xp.exp(-0.5 * x * x)
        return (grad * (self.cdf + x * pdf).astype(x.dtype, copy=False),)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)`` (Hendrycks & Gimpel 2016), as PyTorch's.

    Parameters
    ----------
    x : Tensor
    approximate : {"none", "tanh"}, default "none"
        ``"none"``: the exact form with ``Phi(x) = (1 + erf(x / sqrt(2))) / 2``;
        ``"tanh"``: ``0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``.

    Returns
    -------
    Tensor
        Same shape and dtype as ``x``.

    Raises
    ------
    ValueError
        For another ``approximate``.

    Example
    -------
    >>> import bpnn, bpnn.nn.functional as F
    >>> F.gelu(bpnn.tensor([-1.0, 0.0, 1.0], dtype="float64"))
    tensor([-0.15865525,  0.        ,  0.84134475], dtype=float64)
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _GELU.apply(x, approximate=approximate)


def log_softmax_array(x, axis: int):
    """Stable log-softmax of a raw array (the max is subtracted first)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_array(x, axis: int = -1):
    """Softmax of a raw array along ``axis`` (the max is subtracted first)."""
    exps = xp.exp(x - x.max(axis=axis, keepdims=True))
    return exps / exps.sum(axis=axis, keepdims=True)


class _Softmax(Function):
    def forward(self, x, axis):
        self.axis = axis
        self.out = softmax_array(x, axis)
        return self.out

    def backward(self, grad):
        out = self.out
        return (out * (grad - (grad * out).sum(axis=self.axis, keepdims=True)),)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, shifted by the max for stability."""
    return _Softmax.apply(x, axis=dim)


class _LogSoftmax(Function):
    def forward(self, x, axis):
        self.axis = axis
        self.out = log_softmax_array(x, axis)
        return self.out

    def backward(self, grad):
        return (grad - xp.exp(self.out) * grad.sum(axis=self.axis, keepdims=True),)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """``log(softmax(x))`` along ``dim``, computed stably (no log of a rounded-off 0)."""
    return _LogSoftmax.apply(x, axis=dim)


# Tensor methods for the common activations (x.relu(), x.sigmoid(), x.tanh()), attached here
# so that autograd never imports upward.
Tensor.relu = relu
Tensor.sigmoid = sigmoid
Tensor.tanh = tanh
