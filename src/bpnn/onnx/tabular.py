"""ONNX graphs that take a table's raw columns: the ``bpnn train`` preprocessing, then the network.

The graph repeats what ``bpnn predict`` does with a CSV file (see ``bpnn.cli.tabular``):

* a numeric column is one ``double`` input of shape ``(N, 1)``; NaN (missing) becomes the
  training median, then ``(x - mean) / scale``, in double precision as bpnn computes it, then
  float32;
* a categorical column is one ``string`` input of shape ``(N, 1)``; an empty string (missing)
  becomes the most frequent training value; ``ai.onnx.ml.LabelEncoder`` maps each category to
  its index (an unseen one to -1) and ``Equal`` against ``0 .. k-1`` makes the one-hot block
  (an unseen category all zeros, as in bpnn);
* the blocks are concatenated in training order and fed to the network;
* a classifier outputs ``label`` (the original class names, shape ``(N,)``) and
  ``probabilities`` (softmax, ``(N, classes)``); a regressor outputs ``prediction``
  (``(N,)``, double, in the target's units).
"""

from __future__ import annotations

import json

import numpy as np

from bpnn.onnx.graph import ML_DOMAIN, ExportError, GraphBuilder, require_onnx

PREPROCESSING_FORMAT = "bpnn-tabular"


def _column_block(builder, column: dict) -> str:
    """One column's float32 block ``(N, 1)`` or ``(N, k)``; the input is named as the column."""
    name = column["name"]
    if column["kind"] == "numeric":
        missing = builder.add("IsNaN", [name], "impute.missing")
        filled = builder.add("Where", [missing, builder.constant(
            np.asarray(column["fill"], np.float64), "impute.fill"), name], "impute")
        centred = builder.add("Sub", [filled, builder.constant(
            np.asarray(column["mean"], np.float64), "scale.mean")], "scale.centre")
        scaled = builder.add("Div", [centred, builder.constant(
            np.asarray(column["scale"], np.float64), "scale.scale")], "scale")
        return builder.add("Cast", [scaled], "scale.float", to=1)  # 1 = FLOAT
    categories = [str(c) for c in column["categories"]]
    fill = categories.index(str(column["fill"]))
    # an empty string is a missing value: it takes the fill category's index
    keys, values = categories, list(range(len(categories)))
    if "" not in categories:  # read_csv never makes one, but a hand-written state might
        keys, values = keys + [""], values + [fill]
    codes = builder.add("LabelEncoder", [name], "onehot.codes", domain=ML_DOMAIN,
                        keys_strings=keys, values_int64s=values, default_int64=-1)
    hot = builder.add("Equal", [codes, builder.constant(np.arange(len(categories),
                                                                  dtype=np.int64),
                                                        "onehot.indices")], "onehot.equal")
    return builder.add("Cast", [hot], "onehot", to=1)


def check_preprocessing(state) -> None:
    """Raise :class:`ExportError` unless ``state`` is a ``bpnn train`` preprocessing dict."""
    if not isinstance(state, dict) or state.get("format") != PREPROCESSING_FORMAT:
        raise ExportError("not a bpnn tabular preprocessing description (preprocessing.json "
                          "written by bpnn train)")
    if state.get("task") not in ("classification", "regression") or not state.get("columns"):
        raise ExportError("the preprocessing description has no task or no columns")


def tabular_to_onnx(network, preprocessing: dict, opset: int = 17):
    """Build the ONNX model that takes raw table columns, as ``bpnn predict`` reads them.

    Parameters
    ----------
    network : bpnn.nn.Module or bpnn.Model
        Takes the preprocessed feature matrix (float32, one row per table row).
    preprocessing : dict
        ``TabularPreprocessor.to_dict()`` (the ``preprocessing.json`` of a model folder).
    opset : int, default 17

    Returns
    -------
    onnx.ModelProto
        One input per column (``double`` for numbers, NaN = missing; ``string`` for
        categories, ``""`` = missing), each shaped ``(N, 1)``; outputs ``label`` and
        ``probabilities``, or ``prediction``.

    Raises
    ------
    ExportError
        A malformed description, a layer with no ONNX form, or a network whose input width
        differs from the number of features.
    """
    from bpnn.onnx.convert import _network_dtype, _network_of, check_opset, finish_model
    from bpnn.onnx.layers import add_network

    onnx = require_onnx()
    check_preprocessing(preprocessing)
    opset = check_opset(opset)
    network = _network_of(network)
    dtype = _network_dtype(network)
    if dtype != np.float32:
        raise ExportError(f"the CLI's preprocessing makes float32 features; the network is {dtype}")
    columns = preprocessing["columns"]
    classification = preprocessing["task"] == "classification"
    output_names = ("label", "probabilities") if classification else ("prediction",)
    names = [column["name"] for column in columns]
    clash = [name for name in names if name in output_names]
    if clash:
        raise ExportError(f"column {clash[0]!r} has the name of a graph output; rename it")
    builder = GraphBuilder(reserved=(*names, *output_names))
    blocks = [_column_block(builder, column) for column in columns]
    features = blocks[0] if len(blocks) == 1 else builder.add("Concat", blocks, "features",
                                                              axis=1)
    n_features = sum(1 if c["kind"] == "numeric" else len(c["categories"]) for c in columns)
    scores, out_shape, _ = add_network(builder, network, features, (n_features,), dtype)

    batch = "batch"
    inputs = [onnx.helper.make_tensor_value_info(
        column["name"], onnx.TensorProto.DOUBLE if column["kind"] == "numeric"
        else onnx.TensorProto.STRING, [batch, 1]) for column in columns]
    metadata = {"bpnn_target": preprocessing["target"], "bpnn_task": preprocessing["task"],
                "bpnn_input_columns": json.dumps(names)}
    if classification:
        classes = preprocessing["classes"]
        if out_shape[1:] != (len(classes),):
            raise ExportError(f"the network outputs shape {out_shape[1:]} but there are "
                              f"{len(classes)} classes")
        builder.add("Softmax", [scores], "probabilities", output="probabilities", axis=1)
        best = builder.add("ArgMax", [scores], "argmax", axis=1, keepdims=0)
        if all(isinstance(c, int) for c in classes):
            table = np.asarray(classes, np.int64)
            label_type = onnx.TensorProto.INT64
        elif all(isinstance(c, (int, float)) for c in classes):
            table = np.asarray(classes, np.float64)
            label_type = onnx.TensorProto.DOUBLE
        else:
            table = np.asarray([str(c) for c in classes], dtype=object)
            label_type = onnx.TensorProto.STRING
        builder.add("Gather", [builder.constant(table, "classes"), best], "label",
                    output="label", axis=0)
        outputs = [onnx.helper.make_tensor_value_info("label", label_type, [batch]),
                   onnx.helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT,
                                                      [batch, len(classes)])]
        metadata["bpnn_classes"] = json.dumps(classes)
    else:
        if out_shape[1:] != (1,):
            raise ExportError(f"a regression network must output one number per row, this "
                              f"one outputs shape {out_shape[1:]}")
        wide = builder.add("Cast", [scores], "prediction.double", to=11)  # 11 = DOUBLE
        scaled = builder.add("Mul", [wide, builder.constant(
            np.asarray(preprocessing["target_scale"], np.float64), "target.scale")],
            "prediction.scale")
        shifted = builder.add("Add", [scaled, builder.constant(
            np.asarray(preprocessing["target_mean"], np.float64), "target.mean")],
            "prediction.shift")
        builder.add("Reshape", [shifted, builder.constant(np.asarray([-1], np.int64),
                                                          "prediction.shape")],
                    "prediction", output="prediction")
        outputs = [onnx.helper.make_tensor_value_info("prediction", onnx.TensorProto.DOUBLE,
                                                      [batch])]
    return finish_model(builder, inputs, outputs, opset,
                        doc=f"bpnn train model of {preprocessing['target']!r} with its CSV "
                            "preprocessing", metadata=metadata)
