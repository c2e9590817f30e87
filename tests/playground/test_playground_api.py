"""The playground JSON API in process (TestClient), against PyTorch and bpnn explain."""

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from bpnn.cli.explain import load_network, trace_backpropagation
from bpnn.playground import create_app
from bpnn.playground.sessions import SessionStore


@pytest.fixture
def client():
    with TestClient(create_app(SessionStore(max_sessions=4))) as test_client:
        yield test_client


def _create(client, **options):
    response = client.post("/api/sessions", json=options)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _torch_network(torch, layers, activations):
    """The state's layers as a torch function (weights rounded to 6 decimals by the API)."""
    functions = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
                 "linear": lambda v: v}

    def forward(x):
        for layer, activation in zip(layers, activations, strict=True):
            x = functions[activation](x @ torch.tensor(layer["weight"], dtype=torch.float64).T
                                      + torch.tensor(layer["bias"], dtype=torch.float64))
        return x
    return forward


def test_xor_reaches_full_accuracy_within_300_epochs(client, torch):
    session = _create(client, dataset="xor", noise=0.0, hidden=[4], activation="tanh",
                      optimizer="adam", lr=0.03, batch_size=16, seed=0)
    reached = None
    for _ in range(6):
        result = client.post(f"/api/sessions/{session}/train", json={"epochs": 50}).json()
        if result["accuracy"] == 1.0:
            reached = result["epoch"]
            break
    assert reached is not None and reached <= 300, result
    # The test loss the API reports is the BCE of the state's weights on the test points.
    state = client.get(f"/api/sessions/{session}/state").json()
    points = client.get(f"/api/sessions/{session}/data").json()["test"]
    forward = _torch_network(torch, state["layers"], state["activations"])
    output = forward(torch.tensor(points["x"], dtype=torch.float64))
    expected = torch.nn.functional.binary_cross_entropy(
        output, torch.tensor(points["y"], dtype=torch.float64)).item()
    assert state["test_loss"] == pytest.approx(expected, rel=2e-3, abs=1e-5)
    assert state["history"]["loss"][-1] == state["loss"] and len(state["history"]["loss"]) \
        == state["epoch"]
    # The boundary grid is the network's probability over the data's box.
    view = state["view"]
    assert view["kind"] == "grid" and len(view["values"]) == view["size"] ** 2
    xs = np.linspace(*view["x_range"], view["size"])
    ys = np.linspace(*view["y_range"], view["size"])
    corner = forward(torch.tensor([[xs[-1], ys[0]]], dtype=torch.float64)).item()
    assert view["values"][view["size"] - 1] == pytest.approx(corner, abs=2e-4)
    client.delete(f"/api/sessions/{session}")


def test_mazur_explain_is_bpnn_explain(client):
    session = _create(client, dataset="mazur", optimizer="sgd", lr=0.5)
    trace = client.get(f"/api/sessions/{session}/explain?sample=0").json()
    reference = trace_backpropagation(load_network(None))
    assert trace["total_error"] == reference["total_error"]
    assert round(trace["total_error"], 9) == 0.298371109
    assert trace["forward"] == reference["forward"] and trace["backward"] == reference["backward"]
    w5 = next(w for w in trace["backward"][0]["weights"] if w["name"] == "w5")
    assert round(w5["updated"], 8) == 0.35891648
    # One epoch of the session is that very step: the weights it trains are explain's updates.
    assert client.post(f"/api/sessions/{session}/train", json={"epochs": 1}).json()["loss"] \
        == pytest.approx(0.298371109, abs=1e-9)
    after = client.get(f"/api/sessions/{session}/explain").json()
    updated = {w["name"]: w["updated"] for layer in reference["backward"]
               for w in layer["weights"]}
    for layer in after["backward"]:
        for w in layer["weights"]:
            assert w["value"] == pytest.approx(updated[w["name"]], abs=1e-12)


def test_explain_of_a_trained_tanh_network_matches_torch(client, torch):
    session = _create(client, dataset="circles", hidden=[5, 3], activation="tanh", lr=0.1,
                      seed=3, n_points=60)
    client.post(f"/api/sessions/{session}/train", json={"epochs": 5})
    trace = client.get(f"/api/sessions/{session}/explain?sample=7").json()
    assert trace["network"]["activations"] == ["tanh", "tanh", "sigmoid"]
    assert trace["network"]["error_name"] == "binary_cross_entropy"
    weights, biases = {}, {}
    for layer in trace["backward"]:
        rows, cols = len(layer["biases"]), len(layer["weights"]) // len(layer["biases"])
        weights[layer["layer"]] = torch.tensor(
            [w["value"] for w in layer["weights"]], dtype=torch.float64).reshape(rows, cols)
        biases[layer["layer"]] = torch.tensor([b["value"] for b in layer["biases"]],
                                              dtype=torch.float64)
    for tensor in (*weights.values(), *biases.values()):
        tensor.requires_grad_(True)
    x = torch.tensor([[t["input_value"] for t in trace["forward"][0]["neurons"][0]["terms"]]],
                     dtype=torch.float64)
    h = torch.tanh(x @ weights[1].T + biases[1])
    h = torch.tanh(h @ weights[2].T + biases[2])
    out = torch.sigmoid(h @ weights[3].T + biases[3])
    target = torch.tensor([[trace["errors"][0]["target"]]], dtype=torch.float64)
    loss = torch.nn.functional.binary_cross_entropy(out, target)
    loss.backward()
    assert trace["total_error"] == pytest.approx(loss.item(), abs=1e-12)
    for layer in trace["backward"]:
        gradients = np.array([w["gradient"] for w in layer["weights"]])
        np.testing.assert_allclose(gradients, weights[layer["layer"]].grad.numpy().ravel(),
                                   atol=1e-12)
        updated = np.array([w["updated"] for w in layer["weights"]])
        np.testing.assert_allclose(
            updated, (weights[layer["layer"]] - 0.1 * weights[layer["layer"]].grad)
            .detach().numpy().ravel(), atol=1e-12)


def test_sine_regression_fits_with_lbfgs(client, torch):
    session = _create(client, dataset="sine", noise=0.05, hidden=[8], optimizer="lbfgs", lr=1.0,
                      seed=1, n_points=200)
    result = client.post(f"/api/sessions/{session}/train", json={"epochs": 30}).json()
    assert result["r2"] > 0.9 and result["test_r2"] > 0.9
    state = client.get(f"/api/sessions/{session}/state").json()
    view = state["view"]
    assert view["kind"] == "curve"
    forward = _torch_network(torch, state["layers"], state["activations"])
    expected = forward(torch.tensor(view["x"], dtype=torch.float64)[:, None])[:, 0].numpy()
    np.testing.assert_allclose(view["y"], expected, atol=1e-4)
    # sklearn's r2 of the API's own test predictions agrees with the reported test r2.
    from sklearn.metrics import r2_score

    points = client.get(f"/api/sessions/{session}/data").json()["test"]
    predicted = forward(torch.tensor(points["x"], dtype=torch.float64))[:, 0].numpy()
    assert result["test_r2"] == pytest.approx(
        r2_score(np.array(points["y"])[:, 0], predicted), abs=2e-4)


def test_levenberg_marquardt_and_step(client):
    created = client.post("/api/sessions", json={
        "dataset": "blobs", "hidden": [3], "optimizer": "lm", "loss": "mse", "lr": 1.0,
        "n_points": 80, "seed": 2}).json()
    assert created["batch_size"] == created["n_train"] == 64  # full batch
    session = created["id"]
    first = client.post(f"/api/sessions/{session}/train", json={"epochs": 1}).json()
    later = client.post(f"/api/sessions/{session}/train", json={"epochs": 10}).json()
    assert later["epoch"] == 11 and later["loss"] < first["loss"]
    adam = _create(client, dataset="xor", hidden=[4], batch_size=8, seed=0)
    step = client.post(f"/api/sessions/{adam}/step").json()
    assert step["steps"] == 1 and step["epoch"] == 0 and step["step_loss"] > 0
    state = client.get(f"/api/sessions/{adam}/state").json()
    assert state["steps"] == 1 and state["history"]["loss"] == []


def test_uploaded_csv_trains_like_bpnn_train(client, torch):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 2))
    label = np.where(x[:, 0] > 0.5, "high", np.where(x[:, 0] < -0.5, "low", "mid"))
    frame = pd.DataFrame({"row id": [f"r{i}" for i in range(120)], "a": x[:, 0].round(4),
                          "b": x[:, 1].round(4), "level": label})
    body = frame.to_csv(index=False).encode()
    response = client.post("/api/uploads?name=levels.csv", content=body)
    assert response.status_code == 201, response.text
    table = response.json()
    assert table["target"] == "level" and table["task"] == "classification"
    assert table["dropped_ids"] == ["row id"]
    session = client.post("/api/sessions", json={
        "dataset": "upload", "upload": table["upload"], "hidden": [6], "lr": 0.05}).json()
    assert session["task"] == "multiclass" and session["loss"] == "cross_entropy"
    assert session["classes"] == ["high", "low", "mid"] and session["sizes"] == [2, 6, 3]
    result = client.post(f"/api/sessions/{session['id']}/train", json={"epochs": 60}).json()
    assert result["accuracy"] > 0.9
    view = client.get(f"/api/sessions/{session['id']}/state").json()["view"]
    assert set(view["classes"]) == {0, 1, 2}
    trace = client.get(f"/api/sessions/{session['id']}/explain?sample=2").json()
    assert trace["network"]["error_name"] == "cross_entropy"
    out = torch.tensor([[e["out"] for e in trace["errors"]]], dtype=torch.float64,
                       requires_grad=True)
    target = torch.tensor([[e["target"] for e in trace["errors"]]], dtype=torch.float64)
    loss = torch.nn.functional.cross_entropy(out, target.argmax(dim=1))
    loss.backward()
    assert trace["total_error"] == pytest.approx(loss.item(), abs=1e-12)
    np.testing.assert_allclose([n["dE_dout"] for n in trace["backward"][0]["neurons"]],
                               out.grad.numpy()[0], atol=1e-12)


@pytest.mark.parametrize("options, message", [
    ({"dataset": "moons"}, "unknown dataset 'moons'"),
    ({"hidden": [10000]}, "1 to 64 units"),
    ({"hidden": [8] * 7}, "at most 6 hidden layers"),
    ({"lr": -0.1}, "lr must be greater than 0"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"activation": "swish"}, "unknown activation 'swish'"),
    ({"optimizer": "lm", "loss": "bce"}, "Levenberg-Marquardt fits squared errors"),
    ({"optimizer": "lm", "l2": 0.01}, "does not see an L2 penalty"),
    ({"dataset": "sine", "loss": "bce"}, "trains with mse, not bce"),
    ({"dataset": "upload", "upload": "nope"}, "no upload 'nope'"),
    ({"n_points": 10**9}, "n_points must be at least 10 and at most 2000"),
    ({"colour": "red"}, "unknown option(s) 'colour'"),
])
def test_bad_session_options_are_4xx_with_a_message(client, options, message):
    response = client.post("/api/sessions", json=options)
    assert 400 <= response.status_code < 500
    assert message in response.json()["error"]
    assert client.app.state.store.sessions == {}


def test_bad_requests_are_4xx(client):
    session = _create(client, dataset="xor", n_points=40)
    cases = [
        client.post("/api/sessions", content=b"{not json"),
        client.post("/api/sessions", content=b"[1, 2]"),
        client.post(f"/api/sessions/{session}/train", json={"epochs": 0}),
        client.post(f"/api/sessions/{session}/train", json={"epochs": 100000}),
        client.post(f"/api/sessions/{session}/train", json={"epochs": "many"}),
        client.post(f"/api/sessions/{session}/train", json={"rounds": 3}),
        client.get(f"/api/sessions/{session}/explain?sample=9999"),
        client.get(f"/api/sessions/{session}/explain?sample=-1"),
        client.get(f"/api/sessions/{session}/state?sample=x"),
        client.get(f"/api/sessions/{session}/state?split=validation"),
        client.get("/api/sessions/unknown/state"),
        client.post("/api/sessions", content=b" " * 70_000),
        client.post("/api/uploads", content=b""),
        client.post("/api/uploads?name=bin.csv", content=b"\x00\x01\x02" * 10),
        client.post("/api/uploads?name=t.csv&target=price", content=b"a,b\n1,2\n3,4\n"),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"]
    assert "did you mean" in cases[-1].json()["error"] or "no column 'price'" in \
        cases[-1].json()["error"]
    assert "not a CSV file" in cases[-2].json()["error"]
    assert client.delete(f"/api/sessions/{session}").status_code == 200
    assert client.delete(f"/api/sessions/{session}").status_code == 404


def test_sessions_are_capped_in_number_and_memory():
    with TestClient(create_app(SessionStore(max_sessions=2))) as client:
        for _ in range(2):
            _create(client, dataset="xor", n_points=20)
        response = client.post("/api/sessions", json={"dataset": "xor"})
        assert response.status_code == 429 and "delete one" in response.json()["error"]
    with TestClient(create_app(SessionStore(max_bytes=200_000))) as client:
        response = client.post("/api/sessions", json={"dataset": "spirals", "n_points": 2000,
                                                      "hidden": [64] * 6, "optimizer": "lbfgs"})
        assert response.status_code == 429 and "MiB" in response.json()["error"]


def test_page_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="boundary"' in page.text
    script = client.get("/static/playground.js")
    assert script.status_code == 200 and "/api/sessions" in script.text
    assert client.get("/static/missing.js").status_code == 404
    options = client.get("/api/options").json()
    assert set(options["datasets"]) == {"xor", "circles", "spirals", "blobs", "sine", "mazur"}
    assert options["limits"]["upload_bytes"] == 1_000_000


def test_uploads_read_by_bpnn_trains_reader(client):
    """A semicolon-separated, Latin-1 table with '?' for missing: read_csv's rules apply."""
    text = "größe;farbe;preis\n1.5;rot;10.5\n2;?;12.25\n3;blau;15.5\n4;rot;18\n5;blau;21.75\n"
    body = text.encode("latin-1")
    table = client.post("/api/uploads?name=preise.csv", content=body).json()
    assert table["columns"] == ["größe", "farbe", "preis"] and table["task"] == "regression"
    session = client.post("/api/sessions", json={"dataset": "upload", "upload": table["upload"],
                                                 "hidden": [3], "test_fraction": 0.0}).json()
    assert session["sizes"] == [3, 3, 1]  # one numeric column and two one-hot colours
    assert any("missing" in note for note in session["notes"])


def test_a_diverging_network_answers_null_not_an_error(client):
    session = _create(client, dataset="sine", hidden=[32, 32], activation="relu",
                      optimizer="sgd", lr=10.0, init="he", batch_size=4, n_points=100)
    result = client.post(f"/api/sessions/{session}/train", json={"epochs": 5})
    assert result.status_code == 200
    assert result.json()["loss"] is None  # NaN or infinity, sent as null
    state = client.get(f"/api/sessions/{session}/state")
    assert state.status_code == 200 and state.json()["history"]["loss"][-1] is None
    assert client.get(f"/api/sessions/{session}/explain").status_code == 200


def test_sessions_replay_their_seed_whatever_else_trains(client):
    options = {"dataset": "circles", "hidden": [4], "n_points": 60, "dropout": 0.2, "seed": 7}
    alone = _create(client, **options)
    client.post(f"/api/sessions/{alone}/train", json={"epochs": 6})
    first = _create(client, **options)
    other = _create(client, **{**options, "seed": 8})
    for epochs in (2, 1, 3):  # interleaved with another session's training
        client.post(f"/api/sessions/{first}/train", json={"epochs": epochs})
        client.post(f"/api/sessions/{other}/train", json={"epochs": 2})
        client.get(f"/api/sessions/{other}/explain")
    histories = [client.get(f"/api/sessions/{s}/state").json()["history"]
                 for s in (alone, first, other)]
    assert histories[0] == histories[1] and histories[0] != histories[2]


def test_explain_text_is_what_bpnn_explain_prints(client, capsys):
    from bpnn.cli import main

    session = _create(client, dataset="mazur", optimizer="sgd", lr=0.5)
    text = client.get(f"/api/sessions/{session}/explain?text=1").json()["text"]
    assert main(["explain"]) == 0
    printed = capsys.readouterr().out
    # Everything but the title line (the description names the playground's data set).
    assert text.split("\n", 1)[1] == printed.split("\n", 1)[1]
    assert "w5 -> 0.4 - 0.5 * 0.082167041 = 0.358916480" in text
