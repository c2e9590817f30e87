"""The playground's data sets, its session options and its place in the package."""

import subprocess
import sys

import numpy as np
import pytest

from bpnn.cli import build_parser
from bpnn.playground.datasets import TOY_SETS, make_toy
from bpnn.playground.sessions import SessionConfig


@pytest.mark.parametrize("name", [n for n in TOY_SETS if n != "mazur"])
def test_toy_sets_are_seeded_split_and_labelled(name):
    data = make_toy(name, 300, 0.05, 0.25, seed=4)
    again = make_toy(name, 300, 0.05, 0.25, seed=4)
    other = make_toy(name, 300, 0.05, 0.25, seed=5)
    np.testing.assert_array_equal(data.x_train, again.x_train)
    assert not np.array_equal(data.x_train, other.x_train)
    assert len(data.x_train) + len(data.x_test) == 300 and abs(len(data.x_test) - 75) <= 1
    assert np.abs(data.x_train).max() < 1.6
    if name == "sine":
        assert data.task == "regression" and data.n_features == 1
        residual = data.y_train[:, 0] - np.sin(np.pi * data.x_train[:, 0])
        assert abs(residual.std() - 0.05) < 0.015
    else:
        assert data.task == "binary" and set(np.unique(data.y_train)) == {0.0, 1.0}
        # Stratified: each class keeps its share in the test rows.
        assert abs(data.y_test.mean() - data.y_train.mean()) < 0.05


def test_xor_without_noise_is_the_quadrant_rule():
    data = make_toy("xor", 400, 0.0, 0.0, seed=0)
    expected = (data.x_train[:, 0] * data.x_train[:, 1] > 0).astype(float)
    np.testing.assert_array_equal(data.y_train[:, 0], expected)
    assert np.abs(data.x_train).min() >= 0.05  # the margin around the axes


def test_mazur_is_the_classic_sample():
    data = make_toy("mazur", 500, 0.3, 0.5, seed=0)
    assert data.x_train.tolist() == [[0.05, 0.10]] and data.y_train.tolist() == [[0.01, 0.99]]
    assert len(data.x_test) == 0 and data.task == "classic"


def test_session_config_defaults_are_the_issue_example():
    config = SessionConfig.from_json({"dataset": "xor", "noise": 0.1, "hidden": [8, 8],
                                      "activation": "tanh", "optimizer": "adam", "lr": 0.03,
                                      "batch_size": 16, "seed": 0})
    assert config == SessionConfig()
    assert SessionConfig.from_json({"dataset": "mazur"}).hidden == [2]


def test_import_bpnn_does_not_import_the_web_stack():
    code = ("import sys, bpnn, bpnn.cli, bpnn.playground.sessions; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('starlette', 'uvicorn', 'httpx', 'playwright')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_cli_options():
    parser = build_parser()
    args = parser.parse_args(["playground", "--no-browser", "--port", "9000"])
    assert (args.host, args.port, args.no_browser) == ("127.0.0.1", 9000, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["playground", "--port", "70000"])


def test_a_taken_port_is_one_line_and_exit_2(capsys):
    import socket

    from bpnn.cli import main

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["playground", "--no-browser", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
