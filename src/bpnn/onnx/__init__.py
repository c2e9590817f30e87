"""ONNX export: write bpnn networks (and ``bpnn train`` model folders) for any ONNX runtime.

Needs the optional ``onnx`` package (``pip install 'bpnn[onnx]'``); ``import bpnn`` never
imports it. ``verify=True`` and the tests run the graphs in onnxruntime.

>>> import bpnn, bpnn.onnx
>>> net = bpnn.nn.Sequential(bpnn.nn.Linear(4, 8), bpnn.nn.ReLU(), bpnn.nn.Linear(8, 3))
>>> bpnn.onnx.export(net, "net.onnx")  # doctest: +SKIP
"""

from bpnn.onnx.convert import export, save_model, to_onnx, write_atomically
from bpnn.onnx.graph import ExportError
from bpnn.onnx.layers import register_converter, supported_layers
from bpnn.onnx.tabular import tabular_to_onnx

__all__ = ["ExportError", "export", "register_converter", "save_model", "supported_layers",
           "tabular_to_onnx", "to_onnx", "write_atomically"]
