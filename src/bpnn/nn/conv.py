"""Convolutional layer: ``Conv2d`` (NCHW, PyTorch's arguments and initialisation)."""

from __future__ import annotations

import math

from bpnn import backend
from bpnn.backend import xp
from bpnn.functional.conv import conv2d, int_pair
from bpnn.nn import init
from bpnn.nn.module import Module, Parameter
from bpnn.nn.registry import register_layer


@register_layer
class Conv2d(Module):
    """2-D convolution over ``(N, C, H, W)`` input, as ``torch.nn.Conv2d``.

    Weight shaped ``(out_channels, in_channels // groups, KH, KW)``; weight and bias start from
    PyTorch's default (``kaiming_uniform_`` with ``a = sqrt(5)``, bias U(-1/sqrt(fan_in),
    1/sqrt(fan_in))).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int, (int, int), "valid" or "same", default 0
    dilation : int or (int, int), default 1
    groups : int, default 1
        Both channel counts must be divisible by it.
    bias : bool, default True
    dtype : float dtype, optional
        Defaults to :func:`bpnn.get_default_dtype`.

    Raises
    ------
    ValueError
        For non-positive sizes, channel counts not divisible by ``groups``, or an unknown
        padding; at call time for an input with the wrong number of channels or too small.

    Example
    -------
    >>> import bpnn
    >>> conv = bpnn.nn.Conv2d(1, 8, 3, padding="same")
    >>> conv(bpnn.ones(2, 1, 28, 28)).shape
    (2, 8, 28, 28)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, dtype=None):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Conv2d: {name} must be a positive integer, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = int_pair(kernel_size, "kernel_size")
        self.stride = int_pair(stride, "stride")
        self.dilation = int_pair(dilation, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'valid' or 'same', "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' needs stride 1, got {self.stride}")
            self.padding = padding
        else:
            self.padding = int_pair(padding, "padding", minimum=0)
        dtype = backend.get_default_dtype() if dtype is None else backend.as_float_dtype(dtype)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(xp.empty(shape, dtype=dtype))
        self.bias = Parameter(xp.empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights and bias (PyTorch's default scheme)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.ndim == 4 and x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self._describe()}: expected input with {self.in_channels} channels, got "
                f"{x.shape[1]} (input shape {tuple(x.shape)})")
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)

    def _describe(self) -> str:
        return (f"Conv2d({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size})")

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")

    def get_config(self) -> dict:
        return {
            "in_channels": self.in_channels, "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size), "stride": list(self.stride),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "dilation": list(self.dilation), "groups": self.groups,
            "bias": self.bias is not None, "dtype": str(self.weight.dtype),
        }
