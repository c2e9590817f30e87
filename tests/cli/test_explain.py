"""bpnn explain: the classic 2-2-2 numbers, the formats, other networks against PyTorch."""

import json

import numpy as np
import pytest

from bpnn.cli import main
from bpnn.cli.explain import load_network, render, trace_backpropagation

# Matt Mazur, "A Step by Step Backpropagation Example" (2015), nine significant digits.
CLASSIC = {
    "net_h1": 0.3775, "out_h1": 0.593269992, "out_h2": 0.596884378,
    "out_o1": 0.75136507, "out_o2": 0.772928465,
    "E_o1": 0.274811083, "E_o2": 0.023560026, "total": 0.298371109,
    "delta_o1": 0.138498562, "dE_dw5": 0.082167041, "dE_dout_h1": 0.036350306,
    "dE_dw1": 0.000438568,
    "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121,
    "w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
}


def _by_name(rows):
    return {row["name"]: row for row in rows}


def test_classic_trace_numbers():
    trace = trace_backpropagation(load_network(None))
    hidden, output = (_by_name(layer["neurons"]) for layer in trace["forward"])
    assert hidden["h1"]["net"] == pytest.approx(CLASSIC["net_h1"], abs=1e-9)
    assert hidden["h1"]["out"] == pytest.approx(CLASSIC["out_h1"], abs=1e-9)
    assert hidden["h2"]["out"] == pytest.approx(CLASSIC["out_h2"], abs=1e-9)
    assert output["o1"]["out"] == pytest.approx(CLASSIC["out_o1"], abs=1e-8)
    assert output["o2"]["out"] == pytest.approx(CLASSIC["out_o2"], abs=1e-9)
    errors = _by_name(trace["errors"])
    assert errors["o1"]["error"] == pytest.approx(CLASSIC["E_o1"], abs=1e-9)
    assert errors["o2"]["error"] == pytest.approx(CLASSIC["E_o2"], abs=1e-9)
    assert trace["total_error"] == pytest.approx(CLASSIC["total"], abs=1e-9)
    output_pass, hidden_pass = trace["backward"]
    assert _by_name(output_pass["neurons"])["o1"]["delta"] == pytest.approx(
        CLASSIC["delta_o1"], abs=1e-9)
    weights = {**_by_name(output_pass["weights"]), **_by_name(hidden_pass["weights"])}
    assert weights["w5"]["gradient"] == pytest.approx(CLASSIC["dE_dw5"], abs=1e-9)
    assert weights["w1"]["gradient"] == pytest.approx(CLASSIC["dE_dw1"], abs=1e-9)
    # The chain-rule factors multiply to the engine's gradient.
    w5 = weights["w5"]
    assert w5["dE_dout"] * w5["dout_dnet"] * w5["dnet_dw"] == pytest.approx(w5["gradient"])
    h1 = _by_name(hidden_pass["neurons"])["h1"]
    assert h1["dE_dout"] == pytest.approx(CLASSIC["dE_dout_h1"], abs=1e-9)
    assert sum(p["product"] for p in h1["from_next_layer"]) == pytest.approx(h1["dE_dout"])
    for name in ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"):
        assert weights[name]["updated"] == pytest.approx(CLASSIC[name], abs=1e-8), name


def test_text_output_shows_the_classic_numbers(capsys):
    assert main(["explain"]) == 0
    out = capsys.readouterr().out
    for text in ("net_h1 = w1*i1 + w2*i2 + b_h1", "0.377500000", "0.593269992", "0.751365070",
                 "E_total = E_o1 + E_o2 = 0.298371109", "delta_o1 = dE/dnet_o1",
                 "0.138498562", "dE/dw5 = dE/dout_o1 * dout_o1/dnet_o1 * dnet_o1/dw5",
                 "= 0.082167041", "w5 -> 0.4 - 0.5 * 0.082167041 = 0.358916480",
                 "w1 -> 0.15 - 0.5 * 0.000438568 = 0.149780716"):
        assert text in out, text


def test_json_format_parses_and_matches_the_trace(capsys):
    assert main(["explain", "--format", "json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["total_error"] == pytest.approx(CLASSIC["total"], abs=1e-9)
    assert parsed["network"]["sizes"] == [2, 2, 2]


def test_markdown_format_has_headings_and_code_blocks(capsys):
    assert main(["explain", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Backpropagation, one step")
    assert "## Forward pass" in out and "```" in out
    assert out.count("```") % 2 == 0


def test_network_file_matches_pytorch(tmp_path, torch, capsys):
    """A 3-4-3-2 tanh network from a file: every gradient and update agrees with torch."""
    rng = np.random.default_rng(3)
    shapes = [(4, 3), (3, 4), (2, 3)]
    weights = [rng.normal(size=s).round(3) for s in shapes]
    biases = [rng.normal(size=s[0]).round(3) for s in shapes]
    spec = {"input": [0.3, -0.2, 0.9], "target": [0.1, -0.4], "activation": "tanh",
            "learning_rate": 0.1,
            "layers": [{"weights": w.tolist(), "bias": b.tolist()}
                       for w, b in zip(weights, biases, strict=True)]}
    path = tmp_path / "net.json"
    path.write_text(json.dumps(spec))
    assert main(["explain", "--network", str(path), "--format", "json"]) == 0
    trace = json.loads(capsys.readouterr().out)

    values = torch.tensor([spec["input"]], dtype=torch.float64)
    params = []
    for w, b in zip(weights, biases, strict=True):
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, requires_grad=True)
        params.append((tw, tb))
        values = torch.tanh(values @ tw.T + tb)
    total = (0.5 * (torch.tensor([spec["target"]], dtype=torch.float64) - values) ** 2).sum()
    total.backward()
    assert trace["total_error"] == pytest.approx(total.item(), abs=1e-12)
    assert trace["network"]["sizes"] == [3, 4, 3, 2]
    for layer in trace["backward"]:
        tw, tb = params[layer["layer"] - 1]
        grads = np.array([row["gradient"] for row in layer["weights"]]).reshape(tw.shape)
        np.testing.assert_allclose(grads, tw.grad.numpy(), atol=1e-12)
        updated = np.array([row["updated"] for row in layer["weights"]]).reshape(tw.shape)
        np.testing.assert_allclose(updated, (tw - 0.1 * tw.grad).detach().numpy(), atol=1e-12)
        bias_grads = np.array([row["gradient"] for row in layer["biases"]])
        np.testing.assert_allclose(bias_grads, tb.grad.numpy(), atol=1e-12)
    # Names of neurons in networks with several hidden layers say which layer they are in.
    assert [n["name"] for n in trace["forward"][1]["neurons"]] == ["h2_1", "h2_2", "h2_3"]


@pytest.mark.parametrize("content, message", [
    (None, "network file not found"),
    ("not json", "cannot read network file"),
    ('{"input": [1, 2], "target": [1], "layers": [{"weights": [[1, 2, 3]]}]}',
     "weights must have shape (outputs, 2)"),
    ('{"input": [1, 2], "target": [1, 2], "layers": [{"weights": [[1, 2]]}]}',
     "the last layer has 1 outputs but the target has 2 values"),
    ('{"input": [1, 2], "target": [1], "layers": [{"weights": [[1, 2]]}], "activation": "x"}',
     "activation must be one of"),
    ('{"input": [1], "target": [1]}', "missing key(s) layers"),
])
def test_bad_network_file_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "net.json"
    if content is not None:
        path.write_text(content)
    assert main(["explain", "--network", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_render_formats_agree_on_the_numbers():
    trace = trace_backpropagation(load_network(None))
    for fmt in ("text", "markdown"):
        assert "0.298371109" in render(trace, fmt)
