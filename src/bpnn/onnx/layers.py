"""ONNX converters for bpnn layers, and the walk that chains them through a network.

Each converter takes ``(layer, builder, x, shape)``: the layer, the :class:`GraphBuilder`, the
name of its input value and the input's shape as the eval-mode dry run found it (batch of one);
it returns the name of its output. A converter is registered for one class, and a subclass uses
it only if it keeps that class's ``forward`` (anything else could compute something different).
"""

from __future__ import annotations

import numpy as np

from bpnn import nn
from bpnn.autograd import Tensor, no_grad
from bpnn.functional.conv import conv_padding
from bpnn.onnx.graph import ExportError

_CONVERTERS = {}


def register_converter(layer_class):
    """Decorator registering ``fn(layer, builder, x, shape) -> output name`` for a layer class.

    Parameters
    ----------
    layer_class : type
        A :class:`bpnn.nn.Module` subclass; its subclasses use ``fn`` too unless they override
        ``forward``.

    Example
    -------
    >>> @register_converter(MyGELU)  # doctest: +SKIP
    ... def _gelu(layer, builder, x, shape):
    ...     return builder.add("Gelu", [x], "gelu")
    """
    def decorate(fn):
        _CONVERTERS[layer_class] = fn
        return fn
    return decorate


def supported_layers() -> list:
    """Names of the layer classes :func:`bpnn.onnx.export` can write, plus ``Sequential``."""
    return sorted([cls.__name__ for cls in _CONVERTERS] + ["Sequential"])


def _converter(layer):
    for cls in type(layer).__mro__:
        if cls in _CONVERTERS:
            return _CONVERTERS[cls] if type(layer).forward is cls.forward else None
    return None


def _is_sequential(module) -> bool:
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _leaves(module, path: str):
    """``(path, layer)`` of every layer in forward order, Sequentials opened (nested too)."""
    if _is_sequential(module):
        for name, child in module.named_children():
            yield from _leaves(child, f"{path}.{name}" if path else name)
    else:
        yield path or type(module).__name__, module


def _describe(path: str, layer) -> str:
    return f"layer {path!r} ({type(layer).__name__})"


def check_exportable(network) -> None:
    """Raise :class:`ExportError` naming the first layer that has no ONNX form, and why."""
    for path, layer in _leaves(network, ""):
        if _converter(layer) is None:
            if isinstance(layer, nn.Sequential):
                why = "a Sequential subclass with its own forward, which ONNX export cannot follow"
            elif any(isinstance(layer, cls) for cls in _CONVERTERS) or type(layer).forward is \
                    nn.Module.forward:
                why = "it overrides forward (or has none), so its computation is unknown"
            else:
                why = "bpnn.onnx has no converter for it"
            raise ExportError(f"cannot export {_describe(path, layer)}: {why}; supported layers: "
                              f"{', '.join(supported_layers())}")
        check = getattr(_converter(layer), "check", None)
        if check is not None:
            problem = check(layer)
            if problem:
                raise ExportError(f"cannot export {_describe(path, layer)}: {problem}")


def first_layer(network):
    """The first layer the input meets (inside nested Sequentials), or None."""
    return next((layer for _, layer in _leaves(network, "")), None)


def add_network(builder, network, x: str, input_shape: tuple, dtype) -> tuple:
    """Append ``network``'s eval-mode graph reading value ``x``.

    A dry run of one zero sample (shape ``(1, *input_shape)``) gives each layer's input shape
    and proves the shape fits. Returns ``(output name, output shape of the dry run, whether
    dimension 0 is still the batch)``.
    """
    check_exportable(network)
    builder.dtype = np.dtype(dtype)
    sample = Tensor(np.zeros((1, *input_shape), dtype=dtype), requires_grad=False)
    batch_kept = True
    modes = [(module, module.training) for module in network.modules()]
    network.eval()
    try:
        with no_grad():
            for path, layer in _leaves(network, ""):
                shape = tuple(sample.shape)
                try:
                    sample = layer(sample)
                except (ValueError, TypeError) as error:
                    raise ExportError(f"the input shape {tuple(input_shape)} does not fit "
                                      f"{_describe(path, layer)}: {error}") from None
                try:
                    x = _converter(layer)(layer, builder, x, shape)
                except ExportError as error:
                    raise ExportError(f"cannot export {_describe(path, layer)}: {error}") from None
                if isinstance(layer, nn.Flatten) and _axis(layer.start_dim, len(shape)) == 0:
                    batch_kept = False
    finally:
        for module, training in modes:
            object.__setattr__(module, "training", training)
    return x, tuple(sample.shape), batch_kept


def _axis(dim: int, rank: int) -> int:
    return dim + rank if dim < 0 else dim


def _array(parameter, dtype=None):
    data = np.asarray(parameter.data if hasattr(parameter, "data") else parameter)
    return data if dtype is None else data.astype(dtype)


# ---------------------------------------------------------------------------- weights
@register_converter(nn.Linear)
def _linear(layer, builder, x, shape):
    weight = _array(layer.weight)
    bias = None if layer.bias is None else builder.constant(_array(layer.bias), "linear.bias")
    if len(shape) == 2:
        inputs = [x, builder.constant(weight, "linear.weight")] + ([bias] if bias else [])
        return builder.add("Gemm", inputs, "linear", transB=1)
    # Gemm takes 2-D input only; a batch of sequences multiplies by W.T, then adds b.
    product = builder.add("MatMul", [x, builder.constant(np.ascontiguousarray(weight.T),
                                                         "linear.weight_t")], "linear")
    return product if bias is None else builder.add("Add", [product, bias], "linear.add")


@register_converter(nn.Conv2d)
def _conv2d(layer, builder, x, shape):
    top, bottom, left, right = conv_padding(layer.padding, layer.kernel_size, layer.dilation,
                                            layer.stride)
    inputs = [x, builder.constant(_array(layer.weight), "conv.weight")]
    if layer.bias is not None:
        inputs.append(builder.constant(_array(layer.bias), "conv.bias"))
    return builder.add("Conv", inputs, "conv", kernel_shape=list(layer.kernel_size),
                       strides=list(layer.stride), dilations=list(layer.dilation),
                       pads=[top, left, bottom, right], group=layer.groups)


def _batch_norm(layer, builder, x, shape):
    channels, dtype = layer.num_features, layer.running_mean.dtype
    weight = np.ones(channels, dtype) if layer.weight is None else _array(layer.weight)
    bias = np.zeros(channels, dtype) if layer.bias is None else _array(layer.bias)
    inputs = [x] + [builder.constant(value, f"batchnorm.{what}") for what, value in (
        ("weight", weight), ("bias", bias), ("running_mean", _array(layer.running_mean)),
        ("running_var", _array(layer.running_var)))]
    return builder.add("BatchNormalization", inputs, "batchnorm", epsilon=layer.eps)


_batch_norm.check = lambda layer: None if layer.track_running_stats else (
    "without running statistics (track_running_stats=False) it normalises with each batch's "
    "own statistics in evaluation too, so one sample's output depends on the others")
register_converter(nn.BatchNorm1d)(_batch_norm)
register_converter(nn.BatchNorm2d)(_batch_norm)


# ---------------------------------------------------------------------------- pooling
@register_converter(nn.MaxPool2d)
def _max_pool2d(layer, builder, x, shape):
    pad_h, pad_w = layer.padding
    return builder.add("MaxPool", [x], "maxpool", kernel_shape=list(layer.kernel_size),
                       strides=list(layer.stride), dilations=list(layer.dilation),
                       pads=[pad_h, pad_w, pad_h, pad_w])


@register_converter(nn.AvgPool2d)
def _avg_pool2d(layer, builder, x, shape):
    pad_h, pad_w = layer.padding
    divisor = layer.divisor_override
    pooled = builder.add("AveragePool", [x], "avgpool", kernel_shape=list(layer.kernel_size),
                         strides=list(layer.stride), pads=[pad_h, pad_w, pad_h, pad_w],
                         count_include_pad=int(layer.count_include_pad or divisor is not None))
    if divisor is None:
        return pooled
    # divisor_override: ONNX divides by the window size, so rescale to the given divisor
    area = layer.kernel_size[0] * layer.kernel_size[1]
    factor = builder.constant(np.asarray(area / divisor, dtype=builder.dtype),
                              "avgpool.divisor")
    return builder.add("Mul", [pooled, factor], "avgpool.rescale")


def _adaptive_windows(layer, shape):
    """Per axis ``(kernel, stride)`` for output sizes that divide the input, else None."""
    size = layer.output_size
    targets = list(size) if isinstance(size, (list, tuple)) else [size, size]
    windows = []
    for target, length in zip(targets, shape[2:], strict=True):
        target = length if target is None else int(target)
        if length % target:
            return None
        windows.append(length // target)
    return windows


@register_converter(nn.AdaptiveAvgPool2d)
def _adaptive_avg_pool2d(layer, builder, x, shape):
    windows = _adaptive_windows(layer, shape)
    if windows is None:
        raise ExportError(
            f"output_size {layer.output_size} on a {shape[2]}x{shape[3]} input makes windows of "
            "different sizes, which ONNX pooling cannot express (use output_size 1, or one "
            "that divides the input size)")
    if windows == list(shape[2:]):
        return builder.add("GlobalAveragePool", [x], "globalavgpool")
    return builder.add("AveragePool", [x], "adaptiveavgpool", kernel_shape=windows,
                       strides=windows)


# ---------------------------------------------------------------------------- shape
def _pass_through(layer, builder, x, shape):
    return x  # Dropout is the identity in evaluation; Identity always


for _cls in (nn.Dropout, nn.Dropout2d, nn.Identity):
    register_converter(_cls)(_pass_through)


@register_converter(nn.Flatten)
def _flatten(layer, builder, x, shape):
    rank = len(shape)
    start, end = _axis(layer.start_dim, rank), _axis(layer.end_dim, rank)
    if start >= end:
        return x  # a single dimension: nothing to flatten
    if start == 1 and end == rank - 1:
        return builder.add("Flatten", [x], "flatten", axis=1)
    # Reshape: 0 copies a leading dimension (the batch stays dynamic), -1 takes the flattened run
    target = [0] * start + [-1] + list(shape[end + 1:])
    return builder.add("Reshape", [x, builder.constant(np.asarray(target, np.int64),
                                                       "flatten.shape")], "flatten")


# ---------------------------------------------------------------------------- activations
def _simple(op: str, **attributes):
    def convert(layer, builder, x, shape):
        values = {key: getter(layer) for key, getter in attributes.items()}
        return builder.add(op, [x], op.lower(), **values)
    return convert


register_converter(nn.ReLU)(_simple("Relu"))
register_converter(nn.Sigmoid)(_simple("Sigmoid"))
register_converter(nn.Tanh)(_simple("Tanh"))
register_converter(nn.LeakyReLU)(_simple("LeakyRelu", alpha=lambda layer: layer.negative_slope))
register_converter(nn.ELU)(_simple("Elu", alpha=lambda layer: layer.alpha))
register_converter(nn.Softmax)(_simple("Softmax", axis=lambda layer: layer.dim))
register_converter(nn.LogSoftmax)(_simple("LogSoftmax", axis=lambda layer: layer.dim))


@register_converter(nn.GELU)
def _gelu(layer, builder, x, shape):
    # Built from Erf / Tanh rather than opset 20's Gelu, so that opsets 13-19 can carry it:
    # exact 0.5 x (1 + erf(x / sqrt 2)); "tanh" 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
    def constant(value, hint):
        return builder.constant(np.asarray(value, dtype=builder.dtype), f"gelu.{hint}")

    if layer.approximate == "tanh":
        cube = builder.add("Mul", [x, builder.add("Mul", [x, x], "gelu.square")], "gelu.cube")
        inner = builder.add("Add", [x, builder.add("Mul", [cube, constant(0.044715, "c")],
                                                   "gelu.scaled_cube")], "gelu.inner")
        scaled = builder.add("Mul", [inner, constant(np.sqrt(2 / np.pi), "k")], "gelu.arg")
        curve = builder.add("Tanh", [scaled], "gelu.tanh")
    else:
        scaled = builder.add("Mul", [x, constant(1 / np.sqrt(2), "k")], "gelu.arg")
        curve = builder.add("Erf", [scaled], "gelu.erf")
    one_plus = builder.add("Add", [curve, constant(1.0, "one")], "gelu.one_plus")
    half_x = builder.add("Mul", [x, constant(0.5, "half")], "gelu.half_x")
    return builder.add("Mul", [half_x, one_plus], "gelu")
