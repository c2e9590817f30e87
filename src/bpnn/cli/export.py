"""``bpnn export``: write a ``bpnn train`` model folder as an ONNX file."""

from __future__ import annotations

import sys

from bpnn.cli.errors import CLIError


def add_parser(subparsers, parents) -> None:
    """Register ``bpnn export MODEL_DIR OUT.onnx [--opset N] [--with-preprocessing]``."""
    parser = subparsers.add_parser(
        "export", parents=parents, help="write a model folder as an ONNX file",
        description="Write a model folder as an ONNX file for onnxruntime and other runtimes. "
                    "By default the graph takes the preprocessed feature matrix (float32) and "
                    "outputs the network's raw scores; with --with-preprocessing it takes the "
                    "CSV's raw columns (one input per column: double for numbers with NaN for "
                    "missing, string for categories with '' for missing) and outputs the "
                    "label names and probabilities (or the prediction in the target's units).")
    parser.add_argument("model", metavar="MODEL_DIR")
    parser.add_argument("output", metavar="OUT.onnx")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    parser.add_argument("--with-preprocessing", action="store_true",
                        help="include the imputation, scaling and one-hot encoding, and the "
                             "label names")
    parser.set_defaults(handler=run)


def run(args) -> int:
    """Entry point of ``bpnn export``."""
    import bpnn.onnx as bpnn_onnx
    from bpnn.cli.commands import load_model_folder
    from bpnn.onnx.convert import check_opset, check_output_path

    try:
        check_output_path(args.output)  # a bad path fails before the model is read
        check_opset(args.opset)  # and says how to install onnx if it is missing
    except (bpnn_onnx.ExportError, ImportError) as error:
        raise CLIError(str(error)) from None
    model, preprocessor, _ = load_model_folder(args.model)
    try:
        if args.with_preprocessing:
            graph = bpnn_onnx.tabular_to_onnx(model, preprocessor.to_dict(), args.opset)
        else:
            graph = bpnn_onnx.to_onnx(model, (preprocessor.n_features,), args.opset)
        bpnn_onnx.save_model(graph, args.output)
    except bpnn_onnx.ExportError as error:
        raise CLIError(str(error)) from None
    except OSError as error:
        raise CLIError(f"cannot write {args.output}: {error.strerror or error}") from None
    inputs = ", ".join(value.name for value in graph.graph.input)
    outputs = ", ".join(value.name for value in graph.graph.output)
    print(f"wrote {args.output} (opset {args.opset}; inputs: {inputs}; outputs: {outputs})",
          file=sys.stderr)
    return 0
