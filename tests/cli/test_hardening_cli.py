"""The command line under hostile input: exit 2 and one line, never exit 1 or a wrong exit 0.

Covers issue 16's CLI cases: repeated column names after trimming, infinite or float32-
overflowing cells, hand-edited model folders, a closed output pipe, concurrent ``--out``
writers, killed trainers, and the confusion plot of many classes.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import bpnn
from bpnn.cli import main

FAST = ["--epochs", "3", "--quiet"]


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classification model folder trained on a small table, and that table."""
    folder = tmp_path_factory.mktemp("hardening")
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x1": rng.normal(size=80).round(3), "x2": rng.normal(size=80).round(3),
                          "kind": rng.choice(["p", "q"], 80)})
    frame["label"] = np.where(frame.x1 + frame.x2 > 0, "high", "low")
    data = folder / "table.csv"
    frame.to_csv(data, index=False)
    assert main(["train", str(data), "--target", "label", "--out", str(folder / "model"),
                 *FAST]) == 0
    return folder, data, frame


@pytest.mark.parametrize("header, row, match", [
    ("a,a ,label", "1,2,x", "repeats column name"),
    ("a,b,label", "inf,2,x", "infinite or too large"),
    ("a,b,label", "1e300,2,x", "infinite or too large"),
    ("a,b,label", "1,-1e39,x", "infinite or too large"),
])
def test_bad_cells_and_names_exit_2(tmp_path, capsys, header, row, match):
    path = tmp_path / "bad.csv"
    rows = [row] + [f"{i},{i % 3},{'xy'[i % 2]}" for i in range(20)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    code, err = _run(["train", path, "--target", "label", "--out", tmp_path / "m", *FAST],
                     capsys)
    assert code == 2, err
    assert match in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_regression_target_near_1e300_exits_2(tmp_path, capsys):
    path = tmp_path / "huge.csv"
    path.write_text("a,y\n" + "".join(f"{i},{1e300 * (i + 1)}\n" for i in range(20)))
    code, err = _run(["train", path, "--target", "y", "--out", tmp_path / "m", *FAST], capsys)
    assert code == 2 and "'y'" in err


def _edited_copy(trained, tmp_path, file, change):
    folder = tmp_path / "edited"
    source = trained[0] / "model"
    folder.mkdir()
    for name in os.listdir(source):
        (folder / name).write_bytes((source / name).read_bytes())
    path = folder / file
    if file.endswith(".json"):
        state = json.loads(path.read_text())
        change(state)
        path.write_text(json.dumps(state))
    else:
        path.write_bytes(change(path.read_bytes()))
    return folder


def _set(key, value):
    def change(state):
        state[key] = value
    return change


def _column(key, value):
    def change(state):
        state["columns"][0][key] = value
    return change


@pytest.mark.parametrize("file, change", [
    ("preprocessing.json", _set("task", "regression")),
    ("preprocessing.json", _set("task", "ranking")),
    ("preprocessing.json", _set("classes", ["high"])),
    ("preprocessing.json", _set("classes", "high")),
    ("preprocessing.json", _set("classes", ["high", "low", "mid"])),
    ("preprocessing.json", _set("columns", [])),
    ("preprocessing.json", _set("columns", {"x1": 1})),
    ("preprocessing.json", _set("drop", "x1")),
    ("preprocessing.json", _set("target", 5)),
    ("preprocessing.json", _column("scale", 0)),
    ("preprocessing.json", _column("mean", "zero")),
    ("preprocessing.json", _column("kind", "text")),
    ("preprocessing.json", _column("name", None)),
    ("preprocessing.json", lambda state: state["columns"].pop()),
    ("preprocessing.json", lambda state: state["columns"].append(dict(state["columns"][0]))),
    ("model.bpnn", lambda data: data[:len(data) // 2]),
    ("model.bpnn", lambda data: data[:-1] + bytes([data[-1] ^ 1])),
    ("model.bpnn", lambda data: b"garbage"),
])
def test_damaged_model_folder_exits_2(trained, tmp_path, capsys, file, change):
    folder = _edited_copy(trained, tmp_path, file, change)
    code, err = _run(["predict", folder, trained[1], "-o", tmp_path / "p.csv"], capsys)
    assert code == 2, err
    assert "damaged" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.csv").exists()


def test_preprocessing_with_nan_token_is_damaged(trained, tmp_path, capsys):
    folder = _edited_copy(trained, tmp_path, "preprocessing.json", lambda s: None)
    path = folder / "preprocessing.json"
    text = path.read_text()
    path.write_text(text.replace('"scale": ', '"scale": NaN, "was": ', 1))
    code, err = _run(["evaluate", folder, trained[1]], capsys)
    assert code == 2 and "NaN" in err


def test_metrics_json_is_strict(trained):
    text = (trained[0] / "model" / "metrics.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))


def test_strict_json_writes_null_for_non_finite(tmp_path):
    from bpnn.cli.jsonfiles import read_json, write_json

    write_json(tmp_path / "m.json", {"r2": float("nan"), "n": 3, "v": [np.float64("inf"), 1.5]})
    assert read_json(tmp_path / "m.json") == {"r2": None, "n": 3, "v": [None, 1.5]}


def test_predict_into_a_closed_pipe_is_quiet(trained):
    folder, data, _ = trained
    command = [sys.executable, "-c", "import sys; from bpnn.cli import main; "
               "sys.exit(main(sys.argv[1:]))", "predict", str(folder / "model"), str(data),
               "-o", "-"]
    producer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    producer.stdout.readline()
    producer.stdout.close()  # like `| head -1`
    err = producer.stderr.read().decode()
    producer.stderr.close()
    code = producer.wait()
    assert err == "" and code in (0, 141), (code, err)


def test_confusion_plot_of_many_classes_draws_no_cell_text(tmp_path, monkeypatch):
    from bpnn.cli import report

    texts = []
    import matplotlib.axes

    original = matplotlib.axes.Axes.text
    monkeypatch.setattr(matplotlib.axes.Axes, "text",
                        lambda self, *a, **k: texts.append(a) or original(self, *a, **k))
    rng = np.random.default_rng(0)
    report.plot_confusion(str(tmp_path / "big.png"), rng.integers(0, 9, (200, 200)),
                          [f"c{i}" for i in range(200)])
    assert texts == [] and (tmp_path / "big.png").stat().st_size > 0
    report.plot_confusion(str(tmp_path / "small.png"), np.eye(3, dtype=int), ["a", "b", "c"])
    assert len(texts) == 9


def _train_command(data, out):
    return [sys.executable, "-c", "import sys; from bpnn.cli import main; "
            "sys.exit(main(sys.argv[1:]))", "train", str(data), "--target", "label",
            "--out", str(out), "--epochs", "2", "--quiet"]


def test_two_concurrent_trains_with_one_out_end_with_one_complete_model(trained, tmp_path):
    out = tmp_path / "shared"
    runs = [subprocess.Popen(_train_command(trained[1], out), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) for _ in range(2)]
    results = [(run.wait(), run.communicate()) for run in runs]
    assert [code for code, _ in results] == [0, 0], results
    model, preprocessor, manifest = bpnn.cli.commands.load_model_folder(str(out))
    assert isinstance(model, bpnn.Model) and preprocessor.task == "classification"
    assert sorted(os.listdir(tmp_path)) == ["shared"]


def test_killed_train_leaves_the_previous_folder_and_nothing_after_the_next(trained, tmp_path):
    out = tmp_path / "model"
    command = _train_command(trained[1], out)
    # Long enough to be killed while training on any machine: no early stopping, many epochs.
    command[command.index("2")] = "100000"
    command += ["--early-stopping", "0"]
    import shutil

    shutil.copytree(trained[0] / "model", out)  # the previous model, as a finished run left it
    before = (out / "model.bpnn").read_bytes()
    rng = np.random.default_rng(7)
    for sig in (signal.SIGKILL, signal.SIGTERM):
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(float(rng.uniform(1.0, 2.0)))  # not a timing assertion: spreads the kills
        run.send_signal(sig)
        run.wait()
        assert (out / "model.bpnn").read_bytes() == before
        bpnn.cli.commands.load_model_folder(str(out))
    assert subprocess.run(_train_command(trained[1], out), capture_output=True).returncode == 0
    assert sorted(os.listdir(tmp_path)) == ["model"]
