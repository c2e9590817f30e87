"""Fully connected layer."""

from __future__ import annotations

import math

from bpnn import backend, regularizers
from bpnn.backend import xp
from bpnn.functional.linear import linear
from bpnn.nn import init
from bpnn.nn.module import Module, Parameter
from bpnn.nn.registry import register_layer


@register_layer
class Linear(Module):
    """``y = x @ W.T + b``, weight shaped ``(out_features, in_features)`` as in PyTorch.

    Weights and bias start from U(-1/sqrt(in_features), 1/sqrt(in_features)), PyTorch's
    default (``kaiming_uniform_`` with ``a = sqrt(5)``).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    weight_regularizer, bias_regularizer : bpnn.regularizers.Regularizer, optional
        Penalties added to the training loss (see :meth:`Module.regularization_loss`).
    dtype : float dtype, optional
        Defaults to :func:`bpnn.get_default_dtype`.

    Example
    -------
    >>> import bpnn
    >>> layer = bpnn.nn.Linear(3, 2)
    >>> layer(bpnn.ones(4, 3)).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 weight_regularizer=None, bias_regularizer=None, dtype=None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Linear: {name} must be a positive integer, got {value!r}")
        self.in_features, self.out_features = in_features, out_features
        dtype = backend.get_default_dtype() if dtype is None else backend.as_float_dtype(dtype)
        self.weight = Parameter(xp.empty((out_features, in_features), dtype=dtype))
        self.bias = Parameter(xp.empty(out_features, dtype=dtype)) if bias else None
        self.weight_regularizer = weight_regularizer
        self.bias_regularizer = bias_regularizer
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights and bias (PyTorch's default scheme)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear({self.in_features}, {self.out_features}): expected input with "
                f"{self.in_features} features, got {x.shape[-1]} (input shape {tuple(x.shape)})"
            )
        return linear(x, self.weight, self.bias)

    def penalties(self) -> list:
        terms = []
        if self.weight_regularizer is not None:
            terms.append(self.weight_regularizer(self.weight))
        if self.bias_regularizer is not None and self.bias is not None:
            terms.append(self.bias_regularizer(self.bias))
        return [t for t in terms if t is not None]

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")

    def get_config(self) -> dict:
        return {
            "in_features": self.in_features, "out_features": self.out_features,
            "bias": self.bias is not None, "dtype": str(self.weight.dtype),
            "weight_regularizer": None if self.weight_regularizer is None
            else self.weight_regularizer.get_config(),
            "bias_regularizer": None if self.bias_regularizer is None
            else self.bias_regularizer.get_config(),
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        for key in ("weight_regularizer", "bias_regularizer"):
            config[key] = regularizers.from_config(config.get(key))
        return cls(**config)
