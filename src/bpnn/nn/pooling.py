"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d`` (NCHW, PyTorch's names)."""

from __future__ import annotations

from bpnn.functional.conv import int_pair
from bpnn.functional.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from bpnn.nn.module import Module
from bpnn.nn.registry import register_layer


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = int_pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else int_pair(stride, "stride")
        self.padding = int_pair(padding, "padding", minimum=0)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def get_config(self) -> dict:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding)}


@register_layer
class MaxPool2d(_Pool2d):
    """Maximum over sliding windows, as ``torch.nn.MaxPool2d`` (floor mode).

    Windows may overlap (stride < kernel). Each window's gradient goes to one element, the
    first maximum in row-major order (PyTorch's choice), so tied values do not share it.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int), default 0
        Implicit -inf padding, at most half the kernel.
    dilation : int or (int, int), default 1

    Example
    -------
    >>> import bpnn
    >>> bpnn.nn.MaxPool2d(2)(bpnn.ones(1, 3, 28, 28)).shape
    (1, 3, 14, 14)
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__(kernel_size, stride, padding)
        self.dilation = int_pair(dilation, "dilation")

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", dilation={self.dilation}"

    def get_config(self) -> dict:
        return {**super().get_config(), "dilation": list(self.dilation)}


@register_layer
class AvgPool2d(_Pool2d):
    """Mean over sliding windows, as ``torch.nn.AvgPool2d`` (floor mode).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int), default 0
    count_include_pad : bool, default True
    divisor_override : int, optional

    Example
    -------
    >>> import bpnn
    >>> bpnn.nn.AvgPool2d(3, stride=1, padding=1)(bpnn.ones(1, 2, 5, 5)).shape
    (1, 2, 5, 5)
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad,
                          self.divisor_override)

    def get_config(self) -> dict:
        return {**super().get_config(), "count_include_pad": self.count_include_pad,
                "divisor_override": self.divisor_override}


@register_layer
class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, as ``torch.nn.AdaptiveAvgPool2d``.

    Parameters
    ----------
    output_size : int or (int or None, int or None)
        1 gives global average pooling; ``None`` keeps that input size.

    Example
    -------
    >>> import bpnn
    >>> bpnn.nn.AdaptiveAvgPool2d(1)(bpnn.ones(2, 16, 7, 7)).shape
    (2, 16, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = (list(output_size) if isinstance(output_size, (tuple, list))
                            else output_size)

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def get_config(self) -> dict:
        return {"output_size": self.output_size}
