"""``bpnn explain``: one step of backpropagation on a small network, number by number.

The network is built from bpnn's own layers and every number in the trace is read from bpnn's
engine: net inputs and outputs from the forward pass, dE/d(out) and dE/d(net) from
``Tensor.retain_grad()`` during ``backward()``, each activation's local derivative from the
backward of that activation, dE/dw from the weights' ``.grad`` and the updated weights from
``bpnn.optim.SGD``. The default network is the classic 2-2-2 worked example (Matt Mazur, "A Step
by Step Backpropagation Example", 2015).
"""

from __future__ import annotations

import json
import os

import numpy as np

from bpnn.cli.errors import CLIError

DTYPE = "float64"  # the trace is read to nine decimals; float32 would show rounding noise

CLASSIC_NETWORK = {
    "description": "the classic 2-2-2 example (Matt Mazur, 'A Step by Step Backpropagation "
                   "Example', 2015)",
    "input": [0.05, 0.10],
    "target": [0.01, 0.99],
    "activation": "sigmoid",
    "learning_rate": 0.5,
    "layers": [
        {"weights": [[0.15, 0.20], [0.25, 0.30]], "bias": 0.35},
        {"weights": [[0.40, 0.45], [0.50, 0.55]], "bias": 0.60},
    ],
}

_ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")


# ---------------------------------------------------------------------------- network spec
def load_network(path: str | None) -> dict:
    """Read and check a network description (``CLASSIC_NETWORK``'s layout), or the classic one.

    Parameters
    ----------
    path : str or None
        A JSON file with ``input``, ``target``, ``layers`` (each ``{"weights": [[...]],
        "bias": number or list}``, weights shaped ``(outputs, inputs)`` as in ``nn.Linear``),
        and optionally ``activation`` and ``learning_rate``.

    Returns
    -------
    dict
        The checked description with every bias expanded to a list.

    Raises
    ------
    CLIError
        If the file is missing, is not JSON, or describes an inconsistent network.
    """
    if path is None:
        spec = json.loads(json.dumps(CLASSIC_NETWORK))
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                spec = json.load(handle)
        except FileNotFoundError:
            raise CLIError(f"network file not found: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CLIError(f"cannot read network file {path} as JSON: {error}") from None
    if not isinstance(spec, dict):
        raise CLIError(f"network file {path}: expected a JSON object, got {type(spec).__name__}")
    missing = [key for key in ("input", "target", "layers") if key not in spec]
    if missing:
        raise CLIError(f"network file {path}: missing key(s) {', '.join(missing)}")
    spec.setdefault("activation", "sigmoid")
    spec.setdefault("learning_rate", 0.5)
    if path is not None:
        spec.setdefault("description", f"the network in {os.path.basename(path)}")
    if spec["activation"] not in _ACTIVATIONS:
        raise CLIError(f"network file {path}: activation must be one of {', '.join(_ACTIVATIONS)}, "
                       f"got {spec['activation']!r}")
    try:
        spec["input"] = [float(v) for v in spec["input"]]
        spec["target"] = [float(v) for v in spec["target"]]
        spec["learning_rate"] = float(spec["learning_rate"])
    except (TypeError, ValueError):
        raise CLIError(f"network file {path}: input, target and learning_rate must be "
                       "numbers") from None
    if not isinstance(spec["layers"], list) or not spec["layers"]:
        raise CLIError(f"network file {path}: 'layers' must be a non-empty list")
    width = len(spec["input"])
    for number, layer in enumerate(spec["layers"], start=1):
        try:
            weights = np.asarray(layer["weights"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise CLIError(f"network file {path}: layer {number} needs 'weights', a list of "
                           "rows of numbers") from None
        if weights.ndim != 2 or weights.shape[1] != width:
            raise CLIError(f"network file {path}: layer {number} weights must have shape "
                           f"(outputs, {width}), got {weights.shape}")
        bias = layer.get("bias", 0.0)
        bias = [float(bias)] * weights.shape[0] if np.isscalar(bias) else [float(b) for b in bias]
        if len(bias) != weights.shape[0]:
            raise CLIError(f"network file {path}: layer {number} has {weights.shape[0]} "
                           f"neurons but {len(bias)} biases")
        layer["weights"], layer["bias"] = weights.tolist(), bias
        width = weights.shape[0]
    if len(spec["target"]) != width:
        raise CLIError(f"network file {path}: the last layer has {width} outputs but the "
                       f"target has {len(spec['target'])} values")
    return spec


def _neuron_names(spec: dict) -> list:
    """Names per layer: i1.. for inputs, h1.. (h<layer>_<j> with several hidden layers), o1.."""
    names = [[f"i{j + 1}" for j in range(len(spec["input"]))]]
    hidden = len(spec["layers"]) - 1
    for number, layer in enumerate(spec["layers"], start=1):
        count = len(layer["weights"])
        if number == len(spec["layers"]):
            names.append([f"o{j + 1}" for j in range(count)])
        elif hidden == 1:
            names.append([f"h{j + 1}" for j in range(count)])
        else:
            names.append([f"h{number}_{j + 1}" for j in range(count)])
    return names


# ---------------------------------------------------------------------------- the trace
def _activation_module(name: str):
    from bpnn import nn

    return {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
            "linear": nn.Identity}[name]()


def _local_derivative(activation, net: np.ndarray) -> np.ndarray:
    """d out / d net, elementwise, from the backward of the activation itself."""
    from bpnn.autograd import Tensor

    leaf = Tensor(net.copy(), requires_grad=True)
    activation(leaf).backward(np.ones_like(net))
    return leaf.grad


def trace_backpropagation(spec: dict) -> dict:
    """Run one forward pass, one backward pass and one SGD step, recording every number.

    The error is E = sum_k 1/2 (target_k - out_k)^2, the classic example's.

    Parameters
    ----------
    spec : dict
        A network description from :func:`load_network`.

    Returns
    -------
    dict
        JSON-serialisable: ``network``, ``forward`` (per layer: neurons with net input and
        output), ``errors``, ``total_error``, ``backward`` (per layer from the output: neurons
        with dE/dout, dout/dnet and delta; weights with their chain-rule factors, gradient and
        updated value; biases likewise).

    Example
    -------
    >>> trace = trace_backpropagation(load_network(None))
    >>> round(trace["total_error"], 9)
    0.298371109
    """
    from bpnn import nn, optim
    from bpnn.autograd import Tensor

    names = _neuron_names(spec)
    layers = []
    for layer in spec["layers"]:
        weights = np.asarray(layer["weights"], dtype=DTYPE)
        linear = nn.Linear(weights.shape[1], weights.shape[0], dtype=DTYPE)
        linear.weight.data[...] = weights
        linear.bias.data[...] = np.asarray(layer["bias"], dtype=DTYPE)
        layers.append((linear, _activation_module(spec["activation"])))
    before = [(lin.weight.data.copy(), lin.bias.data.copy()) for lin, _ in layers]

    # Forward, keeping every intermediate tensor so the engine stores its gradient.
    values = Tensor(np.asarray([spec["input"]], dtype=DTYPE))
    inputs, nets, outs = [], [], []
    for linear, activation in layers:
        inputs.append(values)
        net = linear(values).retain_grad()
        values = activation(net).retain_grad()
        nets.append(net)
        outs.append(values)
    target = np.asarray([spec["target"]], dtype=DTYPE)
    per_output = ((target - values) ** 2) * 0.5
    total = per_output.sum()
    total.backward()

    parameters = [p for lin, _ in layers for p in lin.parameters()]
    optim.SGD(parameters, lr=spec["learning_rate"]).step()

    trace = {
        "network": {
            "description": spec.get("description", "network from file"),
            "sizes": [len(group) for group in names],
            "activation": spec["activation"],
            "learning_rate": spec["learning_rate"],
            "error": "E = sum_k 1/2 (target_k - out_k)^2",
            "dtype": DTYPE,
        },
        "forward": [],
        "errors": [],
        "total_error": float(total.item()),
        "backward": [],
    }
    weight_number = 0
    weight_names = []
    for weights, _ in before:
        rows, cols = weights.shape
        weight_names.append([[f"w{weight_number + r * cols + c + 1}" for c in range(cols)]
                             for r in range(rows)])
        weight_number += rows * cols
    for number, (weights, bias) in enumerate(before):
        neurons = []
        for j, name in enumerate(names[number + 1]):
            neurons.append({
                "name": name,
                "terms": [{"weight": weight_names[number][j][i], "value": float(weights[j, i]),
                           "input": names[number][i],
                           "input_value": float(inputs[number].data[0, i])}
                          for i in range(weights.shape[1])],
                "bias": float(bias[j]),
                "net": float(nets[number].data[0, j]),
                "out": float(outs[number].data[0, j]),
            })
        trace["forward"].append({"layer": number + 1, "neurons": neurons})
    for k, name in enumerate(names[-1]):
        trace["errors"].append({"name": name, "target": float(target[0, k]),
                                "out": float(values.data[0, k]),
                                "error": float(per_output.data[0, k])})

    for number in reversed(range(len(layers))):
        linear, activation = layers[number]
        weights, bias = before[number]
        local = _local_derivative(activation, nets[number].data)
        neurons = []
        for j, name in enumerate(names[number + 1]):
            neuron = {
                "name": name,
                "dE_dout": float(outs[number].grad[0, j]),
                "dout_dnet": float(local[0, j]),
                "delta": float(nets[number].grad[0, j]),
            }
            if number + 1 < len(layers):
                # dE/dout of a hidden neuron gathers delta * weight from each neuron it feeds.
                above_weights = before[number + 1][0]
                neuron["from_next_layer"] = [
                    {"neuron": above, "delta": float(nets[number + 1].grad[0, k]),
                     "weight": weight_names[number + 1][k][j],
                     "weight_value": float(above_weights[k, j]),
                     "product": float(nets[number + 1].grad[0, k] * above_weights[k, j])}
                    for k, above in enumerate(names[number + 2])
                ]
            neurons.append(neuron)
        weight_rows = []
        for j, name in enumerate(names[number + 1]):
            for i, source in enumerate(names[number]):
                weight_rows.append({
                    "name": weight_names[number][j][i], "from": source, "to": name,
                    "value": float(weights[j, i]),
                    "dE_dout": neurons[j]["dE_dout"], "dout_dnet": neurons[j]["dout_dnet"],
                    "dnet_dw": float(inputs[number].data[0, i]),
                    "gradient": float(linear.weight.grad[j, i]),
                    "updated": float(linear.weight.data[j, i]),
                })
        bias_rows = []
        for j, name in enumerate(names[number + 1]):
            bias_rows.append({
                "name": f"b_{name}", "to": name, "value": float(bias[j]),
                "gradient": float(linear.bias.grad[j]), "updated": float(linear.bias.data[j]),
            })
        trace["backward"].append({"layer": number + 1, "neurons": neurons,
                                  "weights": weight_rows, "biases": bias_rows})
    return trace


# ---------------------------------------------------------------------------- rendering
def _f(value: float) -> str:
    """Nine decimals, the classic example's precision; scientific for tiny values."""
    if value != 0 and abs(value) < 1e-5:
        return f"{value:.9e}"
    return f"{value:.9f}"


def _signed_sum(values) -> str:
    """``a + b - c`` with each number's sign folded into the operator."""
    text = ""
    for index, value in enumerate(values):
        if index == 0:
            text = _f(value)
        else:
            text += f" - {_f(-value)}" if value < 0 else f" + {_f(value)}"
    return text


def _source(name: str) -> str:
    return name if name.startswith("i") else f"out_{name}"


def render(trace: dict, fmt: str = "text") -> str:
    """Render :func:`trace_backpropagation`'s dict as ``text``, ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps(trace, indent=2)
    markdown = fmt == "markdown"
    lines = []

    def heading(text: str) -> None:
        lines.extend([f"## {text}" if markdown else text.upper(), ""])

    def block(rows: list) -> None:
        if markdown:
            lines.append("```")
        lines.extend(rows)
        if markdown:
            lines.append("```")
        lines.append("")

    net = trace["network"]
    title = f"Backpropagation, one step: {net['description']}"
    lines.extend([f"# {title}" if markdown else title, ""])
    block([
        f"layer sizes   {'-'.join(str(s) for s in net['sizes'])}",
        f"activation    {net['activation']}",
        f"error         {net['error']}",
        f"learning rate {net['learning_rate']:g} (plain SGD: w -> w - lr * dE/dw; biases are "
        "updated too" + (", the classic example keeps them fixed)"
                         if net["description"] == CLASSIC_NETWORK["description"] else ")"),
        f"arithmetic    bpnn's engine in {net['dtype']}",
    ])
    heading("Forward pass")
    rows = []
    for layer in trace["forward"]:
        for n in layer["neurons"]:
            terms = " + ".join(f"{t['weight']}*{_source(t['input'])}" for t in n["terms"])
            numbers = " + ".join(f"{t['value']:g}*{_f(t['input_value'])}" for t in n["terms"])
            rows.append(f"net_{n['name']} = {terms} + b_{n['name']} = {numbers} + {n['bias']:g}"
                        f" = {_f(n['net'])}")
            rows.append(f"out_{n['name']} = {net['activation']}(net_{n['name']}) = {_f(n['out'])}")
    block(rows)
    heading("Error")
    rows = [f"E_{e['name']} = 1/2 ({e['target']:g} - {_f(e['out'])})^2 = {_f(e['error'])}"
            for e in trace["errors"]]
    rows.append(f"E_total = {' + '.join('E_' + e['name'] for e in trace['errors'])}"
                f" = {_f(trace['total_error'])}")
    block(rows)
    for layer in trace["backward"]:
        is_output = layer is trace["backward"][0]
        heading(f"Backward pass, layer {layer['layer']} ({'output' if is_output else 'hidden'})")
        rows = []
        for n in layer["neurons"]:
            name = n["name"]
            if is_output:
                rows.append(f"dE/dout_{name} = -(target - out_{name}) = {_f(n['dE_dout'])}")
            else:
                parts = " + ".join(f"delta_{p['neuron']}*{p['weight']}"
                                   for p in n["from_next_layer"])
                numbers = _signed_sum(p["product"] for p in n["from_next_layer"])
                rows.append(f"dE/dout_{name} = {parts} = {numbers} = {_f(n['dE_dout'])}")
            rows.append(f"dout_{name}/dnet_{name} = {net['activation']}'(net_{name})"
                        f" = {_f(n['dout_dnet'])}")
            rows.append(f"delta_{name} = dE/dnet_{name} = {_f(n['dE_dout'])} * "
                        f"{_f(n['dout_dnet'])} = {_f(n['delta'])}")
        rows.append("")
        for w in layer["weights"]:
            to = w["to"]
            rows.append(f"dE/d{w['name']} = dE/dout_{to} * dout_{to}/dnet_{to} * "
                        f"dnet_{to}/d{w['name']} = {_f(w['dE_dout'])} * "
                        f"{_f(w['dout_dnet'])} * {_f(w['dnet_dw'])} = {_f(w['gradient'])}"
                        f"   ({w['from']} -> {to})")
        for b in layer["biases"]:
            rows.append(f"dE/d{b['name']} = delta_{b['to']} * 1 = {_f(b['gradient'])}")
        rows.append("")
        for row in layer["weights"] + layer["biases"]:
            step = net["learning_rate"] * row["gradient"]
            rows.append(f"{row['name']} -> {row['value']:g} - {net['learning_rate']:g} * "
                        f"{_f(row['gradient'])} = {_f(row['updated'])}"
                        if step >= 0 else
                        f"{row['name']} -> {row['value']:g} + {net['learning_rate']:g} * "
                        f"{_f(-row['gradient'])} = {_f(row['updated'])}")
        block(rows)
    return "\n".join(lines).rstrip() + "\n"


def run(args) -> int:
    """Entry point of ``bpnn explain``."""
    trace = trace_backpropagation(load_network(args.network))
    print(render(trace, args.format), end="")
    return 0
