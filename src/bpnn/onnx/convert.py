"""``to_onnx`` builds an ONNX model of a bpnn network; ``export`` checks it and writes it."""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np

from bpnn.onnx.graph import ML_DOMAIN, ML_OPSET, ExportError, GraphBuilder, require_onnx
from bpnn.onnx.layers import add_network, first_layer

MIN_OPSET = 13  # Softmax / LogSoftmax along one axis (earlier opsets flatten to 2-D first)
_MAX_PROTOBUF_BYTES = 2**31 - 1


def _network_of(module_or_model):
    from bpnn import nn

    network = getattr(module_or_model, "network", module_or_model)
    if not isinstance(network, nn.Module):
        raise ExportError(f"expected a bpnn Module or Model, got {type(module_or_model).__name__}")
    return network


def _network_dtype(network):
    dtypes = {np.dtype(p.data.dtype) for p in network.parameters()}
    dtypes |= {np.dtype(b.dtype) for _, b in network.named_buffers()
               if b is not None and np.issubdtype(b.dtype, np.floating)}
    if len(dtypes) > 1:
        raise ExportError(f"the network mixes dtypes {sorted(map(str, dtypes))}; convert it "
                          "with network.float() or network.double() first")
    if dtypes:
        return dtypes.pop()
    from bpnn import backend

    return np.dtype(backend.get_default_dtype())


def check_opset(opset) -> int:
    """``opset`` as an int, or :class:`ExportError` if this onnx package cannot write it."""
    onnx = require_onnx()
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise ExportError(f"opset must be an integer from {MIN_OPSET} to {newest} (the newest "
                          f"this onnx {onnx.__version__} knows), got {opset!r}")
    return int(opset)


def default_input_shape(network) -> tuple:
    """The per-sample input shape a network's first layer implies, or ExportError."""
    from bpnn import nn

    layer = first_layer(network)
    if isinstance(layer, nn.Linear):
        return (layer.in_features,)
    if isinstance(layer, nn.BatchNorm1d):
        return (layer.num_features,)
    described = type(layer).__name__ if layer is not None else "no layer"
    raise ExportError(f"pass input_shape (one sample's shape, without the batch, e.g. "
                      f"(1, 28, 28)): a network that starts with {described} does not say "
                      "what it takes")


def _check_input_shape(input_shape) -> tuple:
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ExportError(f"input_shape must be a sequence of positive integers (one sample's "
                          f"shape, without the batch), got {input_shape!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise ExportError(f"input_shape must be a non-empty sequence of positive integers, "
                          f"got {input_shape!r}")
    return shape


def finish_model(builder, inputs, outputs, opset: int, doc: str, metadata=None):
    """Wrap the builder's nodes in a model with the right opsets and IR version; full check."""
    onnx = require_onnx()
    import bpnn

    graph = onnx.helper.make_graph(builder.nodes, "bpnn", inputs, outputs,
                                   initializer=builder.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    if builder.uses_ml:
        opsets.append(onnx.helper.make_opsetid(ML_DOMAIN, ML_OPSET))
    model = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="bpnn",
                                   producer_version=bpnn.__version__, doc_string=doc)
    # the oldest IR version that carries these opsets, so older runtimes can read the file
    model.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    if metadata:
        onnx.helper.set_model_props(model, {key: str(value) for key, value in metadata.items()})
    if model.ByteSize() > _MAX_PROTOBUF_BYTES:
        raise ExportError("the network's weights exceed ONNX's 2 GB single-file limit")
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ExportError(f"the ONNX graph does not pass onnx.checker: {error}") from None
    return model


def to_onnx(module_or_model, input_shape=None, opset: int = 17, dynamic_batch: bool = True):
    """Build (but do not write) the ONNX model of a network in evaluation mode.

    Parameters
    ----------
    module_or_model : bpnn.nn.Module or bpnn.Model
    input_shape : tuple of int, optional
        One sample's shape without the batch; see :func:`export`.
    opset : int, default 17
    dynamic_batch : bool, default True

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model(full_check=True)``; one input ``"input"`` and
        one output ``"output"``.

    Raises
    ------
    ExportError
        For a layer with no ONNX form (named, with the reason), a bad ``input_shape`` or opset.
    """
    onnx = require_onnx()
    network = _network_of(module_or_model)
    opset = check_opset(opset)
    shape = _check_input_shape(default_input_shape(network) if input_shape is None
                               else input_shape)
    dtype = _network_dtype(network)
    builder = GraphBuilder(reserved=("input", "output"))
    result, out_shape, batch_kept = add_network(builder, network, "input", shape, dtype)
    builder.rename(result, "output")
    batch = "batch" if dynamic_batch else 1
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    inputs = [onnx.helper.make_tensor_value_info("input", elem, [batch, *shape])]
    out_dims = [batch, *out_shape[1:]] if batch_kept else (
        None if dynamic_batch else list(out_shape))
    outputs = [onnx.helper.make_tensor_value_info("output", elem, out_dims)]
    return finish_model(builder, inputs, outputs, opset, doc=repr(network))


def check_output_path(path) -> str:
    """``path`` as a str if a file can be written there, else :class:`ExportError`."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise ExportError(f"path must be a file name, got {type(path).__name__}") from None
    if not path or os.path.isdir(path):
        raise ExportError(f"cannot write {path!r}: it is a folder, expected a file name "
                          "such as model.onnx")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ExportError(f"cannot write {path}: folder {folder} does not exist")
    return path


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    Readers see the old file or the whole new one, never part of one; a failed write leaves
    nothing behind.
    """
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def verify_with_onnxruntime(model, network, input_shape, tolerance: float = 1e-4) -> float:
    """Run ``model`` in onnxruntime on random input and compare with ``network`` (eval mode).

    Returns the largest absolute difference; raises :class:`ExportError` above ``tolerance``.
    """
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("verify=True needs onnxruntime: pip install onnxruntime") from None
    from bpnn.autograd import Tensor, no_grad

    dtype = _network_dtype(network)
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    size = 1 if batch.HasField("dim_value") else 3
    x = np.random.default_rng(0).standard_normal((size, *input_shape)).astype(dtype)
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    modes = [(module, module.training) for module in network.modules()]
    network.eval()
    try:
        with no_grad():
            expected = network(Tensor(x, requires_grad=False)).data
    finally:
        for module, training in modes:
            object.__setattr__(module, "training", training)
    difference = float(np.max(np.abs(got - expected))) if got.size else 0.0
    if got.shape != expected.shape or not difference <= tolerance:
        raise ExportError(f"onnxruntime disagrees with bpnn: output shape {got.shape} vs "
                          f"{expected.shape}, largest difference {difference:.3g}")
    return difference


def save_model(model, path) -> None:
    """Write a built ONNX model atomically.

    Parameters
    ----------
    model : onnx.ModelProto
        From :func:`to_onnx` or :func:`bpnn.onnx.tabular_to_onnx`.
    path : str or os.PathLike
        Its folder must exist; an existing file is replaced whole.

    Raises
    ------
    ExportError
        If ``path`` is a folder or its folder does not exist (checked before writing).
    OSError
        If writing fails; the old file, if any, is left as it was.
    """
    write_atomically(check_output_path(path), model.SerializeToString())


def export(module_or_model, path, input_shape=None, opset: int = 17, dynamic_batch: bool = True,
           verify: bool = False):
    """Write a network (evaluation mode) as an ONNX file.

    Parameters
    ----------
    module_or_model : bpnn.nn.Module or bpnn.Model
        The network; a Model's ``network`` is exported.
    path : str or os.PathLike
        File to write (replaced atomically if it exists).
    input_shape : tuple of int, optional
        One sample's shape without the batch, e.g. ``(1, 28, 28)``; taken from the first layer
        when that is ``Linear`` or ``BatchNorm1d``.
    opset : int, default 17
        ONNX operator set, 13 or newer.
    dynamic_batch : bool, default True
        Leave the batch dimension free (named ``batch``); False fixes it at 1.
    verify : bool, default False
        Before writing, run the model in onnxruntime and compare with bpnn (needs onnxruntime).

    Returns
    -------
    onnx.ModelProto
        The model written.

    Raises
    ------
    ExportError
        A layer with no ONNX form (named, with the reason), a bad path, input shape or opset,
        or (``verify``) a disagreement; nothing is written then.

    Example
    -------
    >>> import bpnn, bpnn.onnx
    >>> net = bpnn.nn.Sequential(bpnn.nn.Linear(4, 8), bpnn.nn.ReLU(), bpnn.nn.Linear(8, 3))
    >>> model = bpnn.onnx.export(net, "net.onnx")  # doctest: +SKIP
    >>> [node.op_type for node in model.graph.node]  # doctest: +SKIP
    ['Gemm', 'Relu', 'Gemm']
    """
    path = check_output_path(path)
    model = to_onnx(module_or_model, input_shape, opset, dynamic_batch)
    if verify:
        network = _network_of(module_or_model)
        shape = default_input_shape(network) if input_shape is None else input_shape
        verify_with_onnxruntime(model, network, _check_input_shape(shape))
    save_model(model, path)
    return model
