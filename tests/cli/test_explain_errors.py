"""bpnn explain with per-layer activations and the training losses as the error, against PyTorch."""

import json

import numpy as np
import pytest

from bpnn.cli import main
from bpnn.cli.explain import check_network, render, trace_backpropagation


def _spec(error, output_activation, target):
    rng = np.random.default_rng(9)
    shapes = [(3, 2), (len(target), 3)]
    return {"input": [0.4, -0.7], "target": target, "activation": "tanh", "error": error,
            "learning_rate": 0.2,
            "layers": [{"weights": rng.normal(size=shapes[0]).round(3).tolist(),
                        "bias": rng.normal(size=3).round(3).tolist()},
                       {"weights": rng.normal(size=shapes[1]).round(3).tolist(),
                        "bias": rng.normal(size=len(target)).round(3).tolist(),
                        "activation": output_activation}]}


@pytest.mark.parametrize("error, output_activation, target", [
    ("binary_cross_entropy", "sigmoid", [1.0]),
    ("mse", "linear", [0.3, -0.5]),
    ("cross_entropy", "linear", [0.0, 0.0, 1.0]),
    ("half_squared_error", "elu", [0.2, 0.1]),
])
def test_errors_and_output_activations_match_torch(torch, error, output_activation, target):
    spec = _spec(error, output_activation, target)
    trace = trace_backpropagation(check_network(json.loads(json.dumps(spec))))
    params = [(torch.tensor(layer["weights"], dtype=torch.float64, requires_grad=True),
               torch.tensor(layer["bias"], dtype=torch.float64, requires_grad=True))
              for layer in spec["layers"]]
    out_functions = {"sigmoid": torch.sigmoid, "linear": lambda v: v,
                     "elu": torch.nn.functional.elu}
    x = torch.tensor([spec["input"]], dtype=torch.float64)
    hidden = torch.tanh(x @ params[0][0].T + params[0][1])
    out = out_functions[output_activation](hidden @ params[1][0].T + params[1][1])
    y = torch.tensor([target], dtype=torch.float64)
    if error == "binary_cross_entropy":
        loss = torch.nn.functional.binary_cross_entropy(out, y)
    elif error == "mse":
        loss = torch.nn.functional.mse_loss(out, y)
    elif error == "cross_entropy":
        loss = torch.nn.functional.cross_entropy(out, y.argmax(dim=1))
    else:
        loss = (0.5 * (y - out) ** 2).sum()
    loss.backward()
    assert trace["total_error"] == pytest.approx(loss.item(), abs=1e-12)
    assert trace["network"]["activations"] == ["tanh", output_activation]
    for layer in trace["backward"]:
        weight, bias = params[layer["layer"] - 1]
        np.testing.assert_allclose([w["gradient"] for w in layer["weights"]],
                                   weight.grad.numpy().ravel(), atol=1e-12)
        np.testing.assert_allclose([b["gradient"] for b in layer["biases"]], bias.grad.numpy(),
                                   atol=1e-12)
        np.testing.assert_allclose([w["updated"] for w in layer["weights"]],
                                   (weight - 0.2 * weight.grad).detach().numpy().ravel(),
                                   atol=1e-12)
    text = render(trace)
    assert f"out_o1 = {output_activation}(net_o1)" in text
    assert trace["network"]["error"] in text


def test_network_file_with_an_unknown_error_is_refused(tmp_path, capsys):
    path = tmp_path / "net.json"
    spec = _spec("hinge", "linear", [1.0])
    path.write_text(json.dumps(spec))
    assert main(["explain", "--network", str(path)]) == 2
    assert "error must be one of half_squared_error, mse" in capsys.readouterr().err
    spec = _spec("mse", "swish", [1.0])
    path.write_text(json.dumps(spec))
    assert main(["explain", "--network", str(path)]) == 2
    assert "activation must be one of" in capsys.readouterr().err
