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

from bpnn import nn, optim
from bpnn.autograd import Tensor
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

# Per-sample errors: (formula shown, E_k per output as a formula, dE/dout of an output neuron).
# The default is the classic example's; the others are bpnn's training losses for one sample
# (MSELoss averages over the K outputs), so that ``bpnn playground`` can trace what it trains.
ERRORS = {
    "half_squared_error": ("E = sum_k 1/2 (target_k - out_k)^2", "1/2 ({t} - {o})^2",
                           "-(target - out)"),
    "mse": ("E = 1/K sum_k (target_k - out_k)^2", "1/{K} ({t} - {o})^2",
            "-2/K (target - out)"),
    "binary_cross_entropy": ("E = -sum_k [target_k log out_k + (1 - target_k) log(1 - out_k)]",
                             "-[{t} log {o} + (1 - {t}) log(1 - {o})]",
                             "(out - target) / (out (1 - out))"),
    "cross_entropy": ("E = -sum_k target_k log softmax(out)_k", "-{t} log softmax({o})",
                      "softmax(out) - target"),
}

def activations() -> dict:
    """Activation name -> layer class: bpnn's registered activations and ``linear``."""
    return {**nn.registered_activations(), "linear": nn.Identity}


# ---------------------------------------------------------------------------- network spec
def load_network(path: str | None) -> dict:
    """Read and check a network description (``CLASSIC_NETWORK``'s layout), or the classic one.

    Parameters
    ----------
    path : str or None
        A JSON file with ``input``, ``target``, ``layers`` (each ``{"weights": [[...]],
        "bias": number or list}``, weights shaped ``(outputs, inputs)`` as in ``nn.Linear``,
        optionally its own ``"activation"``), and optionally ``activation`` (of every layer
        without one), ``learning_rate`` and ``error`` (a key of ``ERRORS``).

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
    if path is not None and isinstance(spec, dict):
        spec.setdefault("description", f"the network in {os.path.basename(path)}")
    return check_network(spec, f"network file {path}")


def check_network(spec, source: str = "network") -> dict:
    """Check a network description given as a dict (see :func:`load_network`) and return it.

    Parameters
    ----------
    spec : dict
        Changed in place: biases expanded to lists, defaults filled in.
    source : str
        What the description is, for messages ("network file net.json").

    Returns
    -------
    dict

    Raises
    ------
    CLIError
        If the description is inconsistent.
    """
    if not isinstance(spec, dict):
        raise CLIError(f"{source}: expected a JSON object, got {type(spec).__name__}")
    missing = [key for key in ("input", "target", "layers") if key not in spec]
    if missing:
        raise CLIError(f"{source}: missing key(s) {', '.join(missing)}")
    spec.setdefault("activation", "sigmoid")
    spec.setdefault("learning_rate", 0.5)
    spec.setdefault("error", "half_squared_error")
    if spec["error"] not in ERRORS:
        raise CLIError(f"{source}: error must be one of {', '.join(ERRORS)}, "
                       f"got {spec['error']!r}")
    chosen = [spec["activation"]] + [layer.get("activation") for layer in spec["layers"]
                                      if isinstance(layer, dict) and "activation" in layer]
    known = activations()
    for activation in chosen:
        if activation not in known:
            raise CLIError(f"{source}: activation must be one of "
                           f"{', '.join(sorted(known))}, got {activation!r}")
    try:
        spec["input"] = [float(v) for v in spec["input"]]
        spec["target"] = [float(v) for v in spec["target"]]
        spec["learning_rate"] = float(spec["learning_rate"])
    except (TypeError, ValueError):
        raise CLIError(f"{source}: input, target and learning_rate must be "
                       "numbers") from None
    if not isinstance(spec["layers"], list) or not spec["layers"]:
        raise CLIError(f"{source}: 'layers' must be a non-empty list")
    width = len(spec["input"])
    for number, layer in enumerate(spec["layers"], start=1):
        try:
            weights = np.asarray(layer["weights"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise CLIError(f"{source}: layer {number} needs 'weights', a list of "
                           "rows of numbers") from None
        if weights.ndim != 2 or weights.shape[1] != width:
            raise CLIError(f"{source}: layer {number} weights must have shape "
                           f"(outputs, {width}), got {weights.shape}")
        bias = layer.get("bias", 0.0)
        bias = [float(bias)] * weights.shape[0] if np.isscalar(bias) else [float(b) for b in bias]
        if len(bias) != weights.shape[0]:
            raise CLIError(f"{source}: layer {number} has {weights.shape[0]} "
                           f"neurons but {len(bias)} biases")
        layer["weights"], layer["bias"] = weights.tolist(), bias
        layer.setdefault("activation", spec["activation"])
        width = weights.shape[0]
    if len(spec["target"]) != width:
        raise CLIError(f"{source}: the last layer has {width} outputs but the "
                       f"target has {len(spec['target'])} values")
    return spec


def _is_classic(spec: dict) -> bool:
    """Whether ``spec`` holds the classic example's numbers (biases fixed there, not here)."""
    classic = CLASSIC_NETWORK
    if any(spec.get(key) != classic[key] for key in ("input", "target", "learning_rate")):
        return False
    if len(spec["layers"]) != len(classic["layers"]):
        return False
    return all(layer["weights"] == reference["weights"]
               and all(b == reference["bias"] for b in layer["bias"])
               for layer, reference in zip(spec["layers"], classic["layers"], strict=True))


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
    return activations()[name]()


def _local_derivative(activation, net: np.ndarray) -> np.ndarray:
    """d out / d net, elementwise, from the backward of the activation itself."""
    leaf = Tensor(net.copy(), requires_grad=True)
    activation(leaf).backward(np.ones_like(net))
    return leaf.grad


def trace_backpropagation(spec: dict) -> dict:
    """Run one forward pass, one backward pass and one SGD step, recording every number.

    The error is the spec's ``error`` (default E = sum_k 1/2 (target_k - out_k)^2, the classic
    example's; see ``ERRORS``).

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
    names = _neuron_names(spec)
    layers = []
    for layer in spec["layers"]:
        weights = np.asarray(layer["weights"], dtype=DTYPE)
        linear = nn.Linear(weights.shape[1], weights.shape[0], dtype=DTYPE)
        linear.weight.data[...] = weights
        linear.bias.data[...] = np.asarray(layer["bias"], dtype=DTYPE)
        layers.append((linear, _activation_module(layer.get("activation", spec["activation"]))))
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
    error = spec.get("error", "half_squared_error")
    per_output = _per_output_error(error, values, target)
    total = per_output.sum()
    total.backward()

    parameters = [p for lin, _ in layers for p in lin.parameters()]
    optim.SGD(parameters, lr=spec["learning_rate"]).step()

    trace = {
        "network": {
            "description": spec.get("description", "network from file"),
            "classic": _is_classic(spec),
            "sizes": [len(group) for group in names],
            "activation": spec["activation"],
            "activations": [layer.get("activation", spec["activation"])
                            for layer in spec["layers"]],
            "learning_rate": spec["learning_rate"],
            "error": ERRORS[error][0],
            "error_name": error,
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


def _per_output_error(error: str, out, target: np.ndarray):
    """E_k, one per output, as a Tensor in the graph (their sum is E)."""
    if error == "half_squared_error":
        return ((target - out) ** 2) * 0.5
    if error == "mse":
        return ((target - out) ** 2) * (1.0 / target.shape[1])
    if error == "binary_cross_entropy":
        return -(out.log() * target + (1.0 - out).log() * (1.0 - target))
    from bpnn.nn import functional as F

    return -(F.log_softmax(out, dim=-1) * target)


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
        f"activation    {' / '.join(dict.fromkeys(net.get('activations', [net['activation']])))}",
        f"error         {net['error']}",
        f"learning rate {net['learning_rate']:g} (plain SGD: w -> w - lr * dE/dw; biases are "
        "updated too" + (", the classic example keeps them fixed)"
                         if net.get("classic") else ")"),
        f"arithmetic    bpnn's engine in {net['dtype']}",
    ])
    activations = net.get("activations", [net["activation"]] * len(trace["forward"]))
    _, error_formula, output_gradient = ERRORS[net.get("error_name", "half_squared_error")]
    heading("Forward pass")
    rows = []
    for layer in trace["forward"]:
        activation = activations[layer["layer"] - 1]
        for n in layer["neurons"]:
            terms = " + ".join(f"{t['weight']}*{_source(t['input'])}" for t in n["terms"])
            numbers = " + ".join(f"{t['value']:g}*{_f(t['input_value'])}" for t in n["terms"])
            rows.append(f"net_{n['name']} = {terms} + b_{n['name']} = {numbers} + {n['bias']:g}"
                        f" = {_f(n['net'])}")
            rows.append(f"out_{n['name']} = {activation}(net_{n['name']}) = {_f(n['out'])}")
    block(rows)
    heading("Error")
    rows = [f"E_{e['name']} = "
            + error_formula.format(t=f"{e['target']:g}", o=_f(e["out"]), K=len(trace["errors"]))
            + f" = {_f(e['error'])}" for e in trace["errors"]]
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
                rows.append(f"dE/dout_{name} = {output_gradient.replace('out', 'out_' + name)}"
                            f" = {_f(n['dE_dout'])}")
            else:
                parts = " + ".join(f"delta_{p['neuron']}*{p['weight']}"
                                   for p in n["from_next_layer"])
                numbers = _signed_sum(p["product"] for p in n["from_next_layer"])
                rows.append(f"dE/dout_{name} = {parts} = {numbers} = {_f(n['dE_dout'])}")
            rows.append(f"dout_{name}/dnet_{name} = {activations[layer['layer'] - 1]}'(net_{name})"
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
