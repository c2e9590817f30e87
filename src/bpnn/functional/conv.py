"""2-D convolution through im2col: one BLAS matrix product per layer (per memory chunk).

Layout. Tensors are NCHW as in PyTorch, but the convolution's output is *stored* channels-last
(NHWC memory, returned as a transposed NCHW view). Elementwise ops and pooling keep that
memory order, so the next convolution gathers its column matrix from contiguous runs of
channels and its gradient reshapes to a matrix without a copy.

Column matrix. ``cols[n, oh, ow, kh, kw, c]``, built by one strided copy from a window view
(``numpy.lib.stride_tricks.as_strided``), flattened to ``(N*OH*OW, KH*KW*C)``; the forward pass is
``cols @ W`` and the backward pass ``cols.T @ grad`` (weight) and ``grad @ W.T`` (columns),
scattered back by a loop over the KH*KW kernel offsets (col2im), never over pixels. When the
batch is processed in chunks of samples whose columns take about :data:`CHUNK_BYTES` (cache
blocking); when the columns of the whole batch would exceed :data:`MAX_COLUMN_BYTES`, the backward
pass rebuilds each chunk's columns instead of keeping them.
"""

from __future__ import annotations

import numbers

from bpnn.autograd.function import Function
from bpnn.autograd.tensor import Tensor
from bpnn.backend import xp

#: Largest column matrix (bytes) of a whole batch kept for the backward pass; above it each
#: chunk's columns are rebuilt there instead, so memory stays bounded for any batch size.
MAX_COLUMN_BYTES = 128 * 2**20
#: Columns built and multiplied at once: a few MiB, so a chunk's columns, output and input
#: gradient stay in the processor's cache between the copy, the product and the adds.
CHUNK_BYTES = 4 * 2**20


def int_pair(value, name: str, minimum: int = 1) -> tuple[int, int]:
    """Read an int or a pair of ints (PyTorch's ``_pair``), checking each is >= ``minimum``."""
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum for v in pair
    ):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def output_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int = 1) -> int:
    """Length of a convolution / pooling output along one axis (floor mode)."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def check_4d(x, op: str) -> None:
    """Raise unless ``x`` is 4-D (the NCHW layout every 2-D op here works on)."""
    if x.ndim != 4:
        raise ValueError(f"{op} expects a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")


def check_fits(op: str, shape, padded: tuple, window: tuple) -> None:
    """Raise when the (padded) spatial size is smaller than the (dilated) window."""
    if padded[0] < window[0] or padded[1] < window[1]:
        raise ValueError(
            f"{op}: input of spatial size {tuple(shape[2:])} (padded: {padded}) is smaller than "
            f"the kernel (dilated size {window}); input shape {tuple(shape)}"
        )


def is_channels_last(array) -> bool:
    """True when a 4-D NCHW array is stored NHWC (channels innermost)."""
    return array.transpose(0, 2, 3, 1).flags.c_contiguous and not array.flags.c_contiguous


def empty_like_layout(like, shape: tuple, dtype, fill=None):
    """An NCHW array of ``shape`` stored in ``like``'s memory order (NHWC or NCHW)."""
    if is_channels_last(like):
        n, c, h, w = shape
        array = xp.empty((n, h, w, c), dtype=dtype).transpose(0, 3, 1, 2)
    else:
        array = xp.empty(shape, dtype=dtype)
    if fill is not None:
        array.fill(fill)
    return array


def conv_padding(padding, kernel: tuple, dilation: tuple, stride: tuple) -> tuple:
    """Resolve ``padding`` (int, pair, "valid", "same") into (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"padding='same' needs stride 1 (as in PyTorch), got stride {stride}")
        # PyTorch puts the odd pixel of an even kernel's padding at the bottom / right
        total_h, total_w = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2
    pad_h, pad_w = int_pair(padding, "padding", minimum=0)
    return pad_h, pad_h, pad_w, pad_w


class _Conv2d(Function):
    """Convolution, bias and their gradients as one node.

    Why fused: the column matrix is built once and reused by the backward pass, the NHWC
    output makes the next layer's im2col and this layer's gradient reshape copy-free, and the
    bias rides in the matrix product (a column of ones in ``cols``, a row of ``W``), so neither
    adding it nor summing its gradient costs a pass over the output.
    """

    def forward(self, x, weight, bias=None, stride=(1, 1), pads=(0, 0, 0, 0),
                dilation=(1, 1), groups=1):
        n, c, h, w = x.shape
        out_channels, group_channels, kh, kw = weight.shape
        top, bottom, left, right = pads
        oh = output_size(h, kh, stride[0], top + bottom, dilation[0])
        ow = output_size(w, kw, stride[1], left + right, dilation[1])
        x_nhwc = x.transpose(0, 2, 3, 1)
        if top or bottom or left or right:
            padded = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
            padded[:, top:top + h, left:left + w] = x_nhwc
        else:
            padded = x_nhwc
        self.geometry = (n, c, h, w, oh, ow, kh, kw, stride, pads, dilation, groups)
        self.padded = padded
        # weight as (groups, KH*KW*Cg [+ 1 bias row], OCg), matching the column order (kh, kw, c)
        out_per_group = out_channels // groups
        self.window_width = kh * kw * group_channels
        self.has_bias = bias is not None
        self.weight_matrix = xp.empty(
            (groups, self.window_width + self.has_bias, out_per_group), dtype=x.dtype)
        self.weight_matrix[:, :self.window_width] = (
            weight.reshape(groups, out_per_group, group_channels, kh, kw)
            .transpose(0, 3, 4, 2, 1).reshape(groups, self.window_width, out_per_group))
        if self.has_bias:
            self.weight_matrix[:, -1] = bias.reshape(groups, out_per_group)
        out = xp.empty((n, oh, ow, out_channels), dtype=x.dtype)
        out_rows = out.reshape(n * oh * ow, out_channels)
        bytes_per_sample = oh * ow * (self.window_width + 1) * groups * x.dtype.itemsize
        self.chunks = self._chunks(n, bytes_per_sample)
        keep = n * bytes_per_sample <= MAX_COLUMN_BYTES
        self.cols = [] if keep else None
        for start, stop in self.chunks:
            cols = self._im2col(start, stop)
            rows = slice(start * oh * ow, stop * oh * ow)
            if groups == 1:
                xp.matmul(cols[0], self.weight_matrix[0], out=out_rows[rows])
            else:
                product = xp.matmul(cols, self.weight_matrix)  # (G, rows, OCg)
                out_rows[rows].reshape(-1, groups, out_per_group)[...] = product.transpose(1, 0, 2)
            if keep:
                self.cols.append(cols)
        return out.transpose(0, 3, 1, 2)

    @staticmethod
    def _chunks(n: int, bytes_per_sample: int) -> list:
        per_chunk = max(1, min(CHUNK_BYTES, MAX_COLUMN_BYTES) // max(1, bytes_per_sample))
        return [(start, min(n, start + per_chunk)) for start in range(0, n, per_chunk)]

    def _windows(self):
        """View ``(G, N, OH, OW, KH, KW, Cg)`` of the padded NHWC input (no copy)."""
        n, c, _, _, oh, ow, kh, kw, stride, _, dilation, groups = self.geometry
        padded = self.padded
        s_n, s_h, s_w, s_c = padded.strides
        group_channels = c // groups
        return xp.lib.stride_tricks.as_strided(
            padded,
            shape=(groups, n, oh, ow, kh, kw, group_channels),
            strides=(s_c * group_channels, s_n, s_h * stride[0], s_w * stride[1],
                     s_h * dilation[0], s_w * dilation[1], s_c),
            writeable=False,
        )

    def _im2col(self, start: int, stop: int):
        n, c, _, _, oh, ow, kh, kw, _, _, _, groups = self.geometry
        windows = self._windows()[:, start:stop]
        width = self.window_width
        cols = xp.empty((groups, (stop - start) * oh * ow, width + self.has_bias),
                        dtype=self.padded.dtype)
        # splitting the axes of the (possibly column-sliced) buffer is always a view
        target = cols[:, :, :width].reshape(windows.shape)
        if windows.shape[-1] == 1:
            # one channel (a grayscale input): a window row is only KW values long, so copy one
            # kernel offset at a time, whole output rows per step
            for i in range(kh):
                for j in range(kw):
                    target[..., i, j, 0] = windows[..., i, j, 0]
        else:
            target[...] = windows
        if self.has_bias:
            cols[:, :, width] = 1
        return cols

    def backward(self, grad):
        n, c, h, w, oh, ow, kh, kw, stride, pads, dilation, groups = self.geometry
        x_tensor, weight_tensor = self.parents[0], self.parents[1]
        out_channels = weight_tensor.data.shape[0]
        out_per_group, group_channels = out_channels // groups, c // groups
        grad_rows = xp.ascontiguousarray(grad.transpose(0, 2, 3, 1)).reshape(-1, out_channels)
        want_x, want_w = x_tensor.requires_grad, weight_tensor.requires_grad
        grad_weight = grad_padded = None
        if want_x:
            grad_padded = xp.zeros(self.padded.shape, dtype=grad.dtype)
        for index, (start, stop) in enumerate(self.chunks):
            rows = grad_rows[start * oh * ow:stop * oh * ow]
            if groups == 1:
                grouped = rows[None]
            else:
                grouped = xp.ascontiguousarray(
                    rows.reshape(-1, groups, out_per_group).transpose(1, 0, 2))
            if want_w:
                cols = self.cols[index] if self.cols is not None else self._im2col(start, stop)
                product = xp.matmul(grouped.transpose(0, 2, 1), cols)  # (G, OCg, width)
                if grad_weight is None:
                    grad_weight = product
                else:
                    grad_weight += product
            if want_x:
                self._col2im(grouped, grad_padded[start:stop])
        grads = [None, None]
        if want_x:
            top, _, left, _ = pads
            grads[0] = grad_padded[:, top:top + h, left:left + w].transpose(0, 3, 1, 2)
        if want_w:
            grads[1] = (grad_weight[:, :, :self.window_width]
                        .reshape(groups, out_per_group, kh, kw, group_channels)
                        .transpose(0, 1, 4, 2, 3).reshape(weight_tensor.data.shape))
        if self.has_bias:
            if grad_weight is None:  # the bias wants a gradient but the weight does not
                grads.append(grad_rows.sum(axis=0))
            else:
                grads.append(grad_weight[:, :, self.window_width].reshape(-1))
        return tuple(grads)

    def _col2im(self, grouped, target) -> None:
        """Add the input gradient of each kernel offset into the padded input's gradient.

        One matrix product per offset, ``grad @ W_offset.T``, gives that offset's column block
        as a contiguous array; adding it to the strided window of the target then runs over
        whole rows. (One product for all offsets would leave each offset's block interleaved
        with the others, and the adds would crawl over short runs of channels.)
        """
        _, c, _, _, oh, ow, kh, kw, stride, _, dilation, groups = self.geometry
        count, group_channels = target.shape[0], c // groups
        piece = xp.empty(grouped.shape[:2] + (group_channels,), dtype=grouped.dtype)
        span_h, span_w = stride[0] * (oh - 1) + 1, stride[1] * (ow - 1) + 1
        for i in range(kh):
            top = i * dilation[0]
            for j in range(kw):
                left = j * dilation[1]
                offset = (i * kw + j) * group_channels
                weights = self.weight_matrix[:, offset:offset + group_channels]  # (G, Cg, OCg)
                xp.matmul(grouped, weights.transpose(0, 2, 1), out=piece)
                window = target[:, top:top + span_h:stride[0], left:left + span_w:stride[1]]
                if groups == 1:
                    window += piece[0].reshape(count, oh, ow, c)
                else:
                    window.reshape(count, oh, ow, groups, group_channels)[...] += (
                        piece.reshape(groups, count, oh, ow, group_channels)
                        .transpose(1, 2, 3, 0, 4))


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as ``torch.nn.functional.conv2d``).

    Parameters
    ----------
    x : Tensor, shape (N, C, H, W)
    weight : Tensor, shape (out_channels, C // groups, KH, KW)
    bias : Tensor, shape (out_channels,), optional
    stride : int or (int, int), default 1
    padding : int, (int, int), "valid" or "same", default 0
        Zero padding on each side; "same" keeps H and W (stride 1 only; an even kernel's
        extra pixel goes bottom / right, as in PyTorch).
    dilation : int or (int, int), default 1
    groups : int, default 1
        Split channels into ``groups`` independent convolutions.

    Returns
    -------
    Tensor, shape (N, out_channels, OH, OW)
        ``OH = (H + pad_top + pad_bottom - dilation * (KH - 1) - 1) // stride + 1``. Stored
        channels-last (an NCHW view of NHWC memory) so the next layer's im2col is fast.

    Raises
    ------
    ValueError
        If ``x`` is not 4-D, its channel count does not match ``weight`` and ``groups``, it is
        smaller than the (dilated) kernel, or a stride / padding / dilation is invalid.
    TypeError
        If ``x`` and ``weight`` have different dtypes.

    Example
    -------
    >>> import bpnn, bpnn.nn.functional as F
    >>> F.conv2d(bpnn.ones(2, 3, 8, 8), bpnn.ones(4, 3, 3, 3), padding=1).shape
    (2, 4, 8, 8)
    """
    check_4d(x, "conv2d")
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d expects a 4-D weight (out_channels, in_channels/groups, KH, KW), got shape "
            f"{tuple(weight.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups!r}")
    out_channels, group_channels, kh, kw = weight.shape
    if out_channels % groups:
        raise ValueError(f"conv2d: out_channels ({out_channels}) must be divisible by groups "
                         f"({groups})")
    if x.shape[1] != group_channels * groups:
        raise ValueError(
            f"conv2d: expected input with {group_channels * groups} channels (weight shape "
            f"{tuple(weight.shape)}, groups={groups}), got {x.shape[1]} channels "
            f"(input shape {tuple(x.shape)})")
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: input is {x.dtype} but weight is {weight.dtype}; cast one "
                        "with .to() (bpnn never upcasts silently)")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"conv2d: bias must have shape ({out_channels},), got "
                         f"{tuple(bias.shape)}")
    stride = int_pair(stride, "stride")
    dilation = int_pair(dilation, "dilation")
    pads = conv_padding(padding, (kh, kw), dilation, stride)
    padded = (x.shape[2] + pads[0] + pads[1], x.shape[3] + pads[2] + pads[3])
    check_fits("conv2d", x.shape, padded, (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1))
    params = {"stride": stride, "pads": pads, "dilation": dilation, "groups": int(groups)}
    if bias is None:
        return _Conv2d.apply(x, weight, **params)
    return _Conv2d.apply(x, weight, bias, **params)
