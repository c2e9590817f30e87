"""The acceptance runs: defaults on phone-price, the real console script, quiet log files."""

import json
import os
import platform
import subprocess
import sys

import pandas as pd

from bpnn.cli import main
from bpnn.cli.info import bundled_csv

BIN = os.path.dirname(sys.executable)


def test_defaults_on_phone_price_reach_095_and_predict_2000_rows(tmp_path, capsys):
    data = bundled_csv("phone_price")
    out = tmp_path / "phone_model"
    assert main(["train", data, "--target", "price_range", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] == 400
    assert metrics["test"]["accuracy"] >= 0.95
    assert metrics["test"]["macro_f1"] >= 0.95
    predictions = tmp_path / "predictions.csv"
    assert main(["predict", str(out), data, "-o", str(predictions)]) == 0
    written = pd.read_csv(predictions)
    assert len(written) == 2000 and list(written.columns) == ["price_range"]
    assert set(written["price_range"]) == {0, 1, 2, 3}
    truth = pd.read_csv(data)["price_range"]
    assert (written["price_range"] == truth).mean() >= 0.95
    capsys.readouterr()


def _run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


def test_console_script_explain_json_and_a_usage_error():
    script = os.path.join(BIN, "bpnn")
    command = [script] if os.path.exists(script) else [sys.executable, "-m", "bpnn"]
    done = _run([*command, "explain", "--format", "json"])
    assert done.returncode == 0, done.stderr
    assert round(json.loads(done.stdout)["total_error"], 9) == 0.298371109
    done = _run([sys.executable, "-m", "bpnn", "evaluate", "nowhere", "nothing.csv"])
    assert done.returncode == 2
    assert done.stderr == "bpnn: error: model folder not found: nowhere\n"


def test_a_200_epoch_run_redirected_to_a_file_stays_short(regression_csv, tmp_path):
    log = tmp_path / "train.log"
    with open(log, "w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "bpnn", "train", str(regression_csv), "--target", "price",
             "--out", str(tmp_path / "model"), "--epochs", "200", "--early-stopping", "0",
             "--hidden", "8", "--batch-size", "256"],
            stdout=handle, stderr=subprocess.STDOUT, timeout=300)
    assert done.returncode == 0
    lines = log.read_text().splitlines()
    assert sum(line.startswith("Epoch ") for line in lines) == 200
    assert len(lines) <= 240  # 200 epoch lines, the network summary (17 lines), the result
    assert "\r" not in log.read_text()  # no progress-bar redraws in a log file


def test_demo_prints_the_report_and_cleans_up(capsys, monkeypatch, tmp_path):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["demo", "--epochs", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "# bpnn model: price_range from phone_price.csv (bundled)" in out
    assert "accuracy" in out and "| 3 |" in out
    assert "bpnn demo --out DIR" in out
    assert os.listdir(tmp_path) == []  # the temporary model folder is gone


def test_info_names_version_blas_and_data_sets(capsys):
    import bpnn

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"bpnn:           {bpnn.__version__}" in out
    assert "default dtype:  float32" in out
    assert "BLAS:" in out and "BLAS threads:" in out
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert ("allocator:      glibc malloc tuned" if glibc else "C library defaults") in out
    assert "phone_price (bundled," in out
