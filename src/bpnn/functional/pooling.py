"""Max, average and adaptive average pooling over (N, C, H, W), vectorised over kernel offsets.

Every pass is a loop over the KH*KW kernel offsets, each an elementwise op on a strided view of
the whole batch, never a loop over pixels; no window matrix is built, so memory stays at a few
arrays the size of the output. Outputs and gradients keep the input's memory order, so a
channels-last convolution output stays channels-last.

Max-pool ties: the gradient of a window goes to ONE element, the first maximum in row-major
order within the window (as PyTorch's CPU kernel does), not shared among equal values. With
overlapping windows (stride < kernel) an element that is the maximum of several windows receives
the sum of their gradients. A dilated window that lies wholly in the padding gives -inf (as in
PyTorch) and passes no gradient (PyTorch sends it to an element outside the window).
"""

from __future__ import annotations

import math
import numbers

from bpnn.autograd.function import Function
from bpnn.autograd.tensor import Tensor
from bpnn.backend import xp
from bpnn.functional import conv as _conv
from bpnn.functional.conv import (
    check_4d,
    check_fits,
    empty_like_layout,
    int_pair,
    is_channels_last,
    output_size,
)


def _offset_views(padded, kernel, stride, dilation, out_hw):
    """Yield ``(index, view)`` per kernel offset: the elements each window takes at that offset."""
    span_h, span_w = stride[0] * (out_hw[0] - 1) + 1, stride[1] * (out_hw[1] - 1) + 1
    index = 0
    for i in range(kernel[0]):
        top = i * dilation[0]
        for j in range(kernel[1]):
            left = j * dilation[1]
            yield index, padded[:, :, top:top + span_h:stride[0], left:left + span_w:stride[1]]
            index += 1


def _pad(x, padding, fill):
    """``x`` padded on H and W with ``fill``, in ``x``'s memory order (``x`` itself if no pad)."""
    pad_h, pad_w = padding
    if not pad_h and not pad_w:
        return x
    n, c, h, w = x.shape
    padded = empty_like_layout(x, (n, c, h + 2 * pad_h, w + 2 * pad_w), x.dtype, fill)
    padded[:, :, pad_h:pad_h + h, pad_w:pad_w + w] = x
    return padded


def _geometry(op, x, kernel_size, stride, padding, dilation=1):
    """Validate pooling arguments; return kernel, stride, padding, dilation and output size."""
    check_4d(x, op)
    kernel = int_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else int_pair(stride, "stride")
    padding = int_pair(padding, "padding", minimum=0)
    dilation = int_pair(dilation, "dilation")
    window = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size "
                         f"{kernel}, as in PyTorch")
    h, w = x.shape[2:]
    check_fits(op, x.shape, (h + 2 * padding[0], w + 2 * padding[1]), window)
    out_hw = (output_size(h, kernel[0], stride[0], 2 * padding[0], dilation[0]),
              output_size(w, kernel[1], stride[1], 2 * padding[1], dilation[1]))
    return kernel, stride, padding, dilation, out_hw


def _unpad(grad_padded, padding, shape):
    pad_h, pad_w = padding
    return grad_padded[:, :, pad_h:pad_h + shape[2], pad_w:pad_w + shape[3]]


def _running_max(views, out=None):
    """Elementwise maximum of the views, into ``out`` or one new array (none for one view)."""
    result, owned = None, False
    for view in views:
        if result is None:
            result = view
        elif owned:
            xp.maximum(result, view, out=result)
        else:
            result, owned = xp.maximum(result, view, out=out), True
    if out is not None and not owned:
        out[...] = result
        result = out
    return result


def _sample_chunks(array) -> list:
    """Slices of samples holding about half of ``CHUNK_BYTES`` each (cache blocking: the passes
    over kernel offsets then find their operands in cache)."""
    n = array.shape[0]
    per_sample = max(1, array.nbytes // max(1, n))
    size = max(1, _conv.CHUNK_BYTES // 2 // per_sample)
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]


class _MaxPool2d(Function):
    """Max pooling as a running maximum, over kernel rows first, then over kernel columns.

    Why fused: the forward pass is bare ``maximum`` calls (no index bookkeeping); the backward
    pass finds each window's winner from the saved input and output, offset by offset.
    Rows first: a strided slice of whole rows is long contiguous runs in memory, so the first
    reduction is fast, and the column step then works on an array ``kernel_h`` times smaller.
    """

    def forward(self, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1),
                out_hw=(1, 1)):
        padded = _pad(x, padding, -xp.inf)
        span_h, span_w = stride[0] * (out_hw[0] - 1) + 1, stride[1] * (out_hw[1] - 1) + 1
        out = empty_like_layout(x, x.shape[:2] + tuple(out_hw), x.dtype)
        self.chunks = _sample_chunks(padded)
        for chunk in self.chunks:
            rows = _running_max(
                padded[chunk, :, i * dilation[0]:i * dilation[0] + span_h:stride[0]]
                for i in range(kernel[0]))
            _running_max((rows[..., j * dilation[1]:j * dilation[1] + span_w:stride[1]]
                          for j in range(kernel[1])), out=out[chunk])
        self.padded, self.out = padded, out
        self.geometry = (x.shape, kernel, stride, padding, dilation, out_hw)
        self.like = x
        return out

    def backward(self, grad):
        shape, kernel, stride, padding, dilation, out_hw = self.geometry
        tiled = dilation == (1, 1) and stride == kernel
        # windows that tile the input write every element they cover: only the strips past
        # the last window need zeros
        grad_padded = empty_like_layout(self.like, self.padded.shape, grad.dtype,
                                        None if tiled else 0)
        if tiled:
            grad_padded[:, :, out_hw[0] * stride[0]:] = 0
            grad_padded[:, :, :, out_hw[1] * stride[1]:] = 0
        overlapping = stride[0] < dilation[0] * (kernel[0] - 1) + 1 or (
            stride[1] < dilation[1] * (kernel[1] - 1) + 1)
        last = kernel[0] * kernel[1] - 1
        for chunk in self.chunks:
            out, chunk_grad = self.out[chunk], grad[chunk]
            source = _offset_views(self.padded[chunk], kernel, stride, dilation, out_hw)
            target = _offset_views(grad_padded[chunk], kernel, stride, dilation, out_hw)
            taken = None  # windows whose winner is already found
            for (index, view), (_, grad_view) in zip(source, target, strict=True):
                # the first offset (row-major) holding the maximum wins, as in PyTorch
                winner = view == out
                if taken is None:
                    taken = winner  # (used before taken changes in place)
                else:
                    xp.greater(winner, taken, out=winner)  # winner and not taken
                    if index < last:
                        taken |= winner
                if overlapping:
                    grad_view += chunk_grad * winner
                else:  # each input element lies in at most one window: write, no read
                    xp.multiply(chunk_grad, winner, out=grad_view)
        return (_unpad(grad_padded, padding, shape),)


class _AvgPool2d(Function):
    """Average pooling: a sum over kernel offsets, scaled; backward spreads the scaled grad."""

    def forward(self, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0), out_hw=(1, 1),
                count_include_pad=True, divisor_override=None):
        padded = _pad(x, padding, 0)
        out = None
        for _, view in _offset_views(padded, kernel, stride, (1, 1), out_hw):
            if out is None:
                out = view.copy(order="K")
            else:
                out += view
        self.scale = self._scale(x.shape, kernel, stride, padding, out_hw, count_include_pad,
                                 divisor_override, x.dtype)
        out *= self.scale
        self.geometry = (x.shape, padded.shape, kernel, stride, padding, out_hw)
        self.like = x
        return out

    @staticmethod
    def _scale(shape, kernel, stride, padding, out_hw, count_include_pad, divisor_override,
               dtype):
        """1 / divisor: a scalar, or an (OH, OW) array when padding is not counted."""
        if divisor_override is not None:
            return dtype.type(1.0 / divisor_override)
        if count_include_pad or padding == (0, 0):
            return dtype.type(1.0 / (kernel[0] * kernel[1]))
        counts = []
        for axis in range(2):
            starts = xp.arange(out_hw[axis]) * stride[axis] - padding[axis]
            ends = xp.minimum(starts + kernel[axis], shape[2 + axis])
            counts.append(ends - xp.maximum(starts, 0))
        return (1.0 / xp.outer(counts[0], counts[1])).astype(dtype)

    def backward(self, grad):
        shape, padded_shape, kernel, stride, padding, out_hw = self.geometry
        grad_padded = empty_like_layout(self.like, padded_shape, grad.dtype, 0)
        scaled = grad * self.scale
        for _, view in _offset_views(grad_padded, kernel, stride, (1, 1), out_hw):
            view += scaled
        return (_unpad(grad_padded, padding, shape),)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1) -> Tensor:
    """Maximum over sliding windows (``torch.nn.functional.max_pool2d``, floor mode).

    Windows may overlap (stride < kernel). Padding counts as -inf. The gradient of each window
    goes to one element: the first maximum in row-major order within the window (as in
    PyTorch), so ties are not shared.

    Parameters
    ----------
    x : Tensor, shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int), default 0
        At most half the kernel size.
    dilation : int or (int, int), default 1

    Returns
    -------
    Tensor, shape (N, C, OH, OW), ``OH = (H + 2 * padding - dilation * (kernel - 1) - 1)
    // stride + 1``

    Raises
    ------
    ValueError
        If ``x`` is not 4-D, is smaller than the window, or an argument is out of range.

    Example
    -------
    >>> import bpnn, bpnn.nn.functional as F
    >>> F.max_pool2d(bpnn.ones(1, 2, 4, 4), 2).shape
    (1, 2, 2, 2)
    """
    kernel, stride, padding, dilation, out_hw = _geometry(
        "max_pool2d", x, kernel_size, stride, padding, dilation)
    return _MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding,
                            dilation=dilation, out_hw=out_hw)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over sliding windows (``torch.nn.functional.avg_pool2d``, floor mode).

    Parameters
    ----------
    x : Tensor, shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int), default 0
        Zero padding, at most half the kernel size.
    count_include_pad : bool, default True
        Divide by the full window size even where it covers padding (PyTorch's default).
    divisor_override : int, optional
        Divide every window's sum by this instead.

    Returns
    -------
    Tensor, shape (N, C, OH, OW)

    Raises
    ------
    ValueError
        If ``x`` is not 4-D, is smaller than the window, or an argument is out of range.

    Example
    -------
    >>> import bpnn, bpnn.nn.functional as F
    >>> F.avg_pool2d(bpnn.ones(1, 1, 4, 4), 2, stride=1).shape
    (1, 1, 3, 3)
    """
    kernel, stride, padding, _, out_hw = _geometry("avg_pool2d", x, kernel_size, stride, padding)
    if divisor_override is not None and (
            not isinstance(divisor_override, numbers.Integral) or divisor_override < 1):
        raise ValueError(f"divisor_override must be a positive integer, got {divisor_override!r}")
    return _AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding, out_hw=out_hw,
                            count_include_pad=bool(count_include_pad),
                            divisor_override=divisor_override)


class _AdaptiveAvgPool2d(Function):
    """Adaptive windows that do not tile evenly: a loop over the (few) output cells."""

    def forward(self, x, out_hw=(1, 1)):
        h, w = x.shape[2:]
        self.cells = [
            (i, j, (i * h) // out_hw[0], math.ceil((i + 1) * h / out_hw[0]),
             (j * w) // out_hw[1], math.ceil((j + 1) * w / out_hw[1]))
            for i in range(out_hw[0]) for j in range(out_hw[1])
        ]
        out = empty_like_layout(x, x.shape[:2] + tuple(out_hw), x.dtype)
        for i, j, top, bottom, left, right in self.cells:
            out[:, :, i, j] = x[:, :, top:bottom, left:right].mean(axis=(2, 3))
        self.like = x
        return out

    def backward(self, grad):
        grad_x = empty_like_layout(self.like, self.like.shape, grad.dtype, 0)
        for i, j, top, bottom, left, right in self.cells:
            area = grad.dtype.type(1.0 / ((bottom - top) * (right - left)))
            grad_x[:, :, top:bottom, left:right] += (grad[:, :, i, j] * area)[:, :, None, None]
        return (grad_x,)


class _GlobalAvgPool(Function):
    """Mean over H and W (output size 1), the common head of convolutional classifiers."""

    def forward(self, x):
        self.like = x
        if is_channels_last(x):
            out = x.transpose(0, 2, 3, 1).mean(axis=(1, 2))
        else:
            out = x.mean(axis=(2, 3))
        return out[:, :, None, None]

    def backward(self, grad):
        h, w = self.like.shape[2:]
        grad_x = empty_like_layout(self.like, self.like.shape, grad.dtype)
        grad_x[...] = grad * grad.dtype.type(1.0 / (h * w))
        return (grad_x,)


def adaptive_avg_pool2d(x: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size (``torch.nn.functional.adaptive_avg_pool2d``).

    Window ``i`` along an axis of length ``L`` covers ``[floor(i*L/out), ceil((i+1)*L/out))``.

    Parameters
    ----------
    x : Tensor, shape (N, C, H, W)
    output_size : int or (int or None, int or None)
        ``None`` keeps that input size.

    Returns
    -------
    Tensor, shape (N, C, *output_size)

    Raises
    ------
    ValueError
        If ``x`` is not 4-D or ``output_size`` is not positive.

    Example
    -------
    >>> import bpnn, bpnn.nn.functional as F
    >>> F.adaptive_avg_pool2d(bpnn.ones(2, 3, 5, 5), 1).shape
    (2, 3, 1, 1)
    """
    check_4d(x, "adaptive_avg_pool2d")
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2:
        raise ValueError(f"output_size must be an int or a pair, got {output_size!r}")
    out_hw = int_pair(tuple(x.shape[2 + a] if s is None else s for a, s in enumerate(sizes)),
                   "output_size")
    h, w = x.shape[2:]
    if out_hw == (1, 1):
        return _GlobalAvgPool.apply(x)
    if h % out_hw[0] == 0 and w % out_hw[1] == 0:
        kernel = (h // out_hw[0], w // out_hw[1])
        return _AvgPool2d.apply(x, kernel=kernel, stride=kernel, padding=(0, 0), out_hw=out_hw,
                                count_include_pad=True, divisor_override=None)
    return _AdaptiveAvgPool2d.apply(x, out_hw=out_hw)
