"""Real ``mpirun -n 2`` jobs against the same runs in one process (the oracle).

The worker runs each scenario under MPI; the test imports the same functions and runs them
here, in one process, without MPI. Data-parallel training must give the single-process
weights and history: float64 to 1e-10 relative, float32 to 1e-5.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import mpi_worker
import numpy as np
import pandas as pd
import pytest

import bpnn

EQUALITY = {"adam64": 1e-10, "adam32": 1e-5, "sgd_momentum": 1e-10, "lbfgs": 1e-10,
            "levenberg_marquardt": 1e-10, "newton_cg": 1e-10, "manual_clip_groups": 1e-10}


def _relative(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


def _assert_same(two: dict, one: dict, tolerance: float) -> None:
    assert set(two) == set(one)
    for key, expected in one.items():
        limit = tolerance if key.startswith("w.") else max(tolerance, 1e-6)  # history: 1e-6
        assert two[key].shape == expected.shape, key
        assert _relative(two[key], expected) <= limit, (key, _relative(two[key], expected))


@pytest.fixture(scope="module")
def two_rank_runs(mpirun, worker, tmp_path_factory):
    directory = tmp_path_factory.mktemp("mpi")
    result = mpirun(*worker(directory, ",".join(EQUALITY)))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert json.loads((directory / "done.json").read_text())["size"] == 2
    return directory


@pytest.mark.parametrize("scenario", sorted(EQUALITY))
def test_two_ranks_train_the_network_one_rank_trains(two_rank_runs, scenario):
    rank0 = dict(np.load(two_rank_runs / f"{scenario}.npz"))
    rank1 = dict(np.load(two_rank_runs / f"{scenario}.rank1.npz"))
    for key in rank0:  # the ranks never drift apart: the same bits everywhere
        assert np.array_equal(rank0[key], rank1[key]), key
    one = getattr(mpi_worker, scenario)()
    _assert_same(rank0, one, EQUALITY[scenario])
    if scenario == "manual_clip_groups":  # the frozen bias never moved
        np.testing.assert_array_equal(rank0["w.0.bias"], rank0["frozen_start"])
        return
    assert len(one["h.loss"]) == (1 if scenario == "lbfgs" else 10 if "marquardt" in scenario
                                  else 3)


def test_checkpoint_is_written_once_and_resumes_in_one_and_two_processes(
        mpirun, worker, tmp_path):
    two = tmp_path / "two"
    two.mkdir()
    result = mpirun(*worker(two, "checkpoint,resume"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert int(np.load(two / "checkpoint.npz")["saves"][0]) == 2  # rank 0: once per epoch
    assert int(np.load(two / "checkpoint.rank1.npz")["saves"][0]) == 0
    log = (two / "log.csv").read_text().splitlines()
    assert len(log) == 3 and log[0].startswith("epoch")  # header + 2 epochs, written once
    # progress printed once: one line per epoch, from rank 0 only
    assert result.stdout.count("Epoch 1/2") == 1 and result.stdout.count("Epoch 2/2") == 1

    # the 2-rank checkpoint, resumed in this single process, and the resumed 2-rank run,
    # both equal 4 uninterrupted epochs in one process
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(two / "ckpt.bpnn", one / "ckpt.bpnn")
    resumed_here = mpi_worker.resume(str(one))
    uninterrupted = mpi_worker.uninterrupted()
    _assert_same(resumed_here, uninterrupted, 1e-10)
    _assert_same(dict(np.load(two / "resume.npz")), uninterrupted, 1e-10)
    assert len(uninterrupted["h.loss"]) == 4


def test_a_failing_rank_ends_the_whole_job(mpirun, worker, tmp_path):
    result = mpirun(*worker(tmp_path, "failure"), timeout=60)
    assert result.returncode != 0
    assert "rank 1 of 2: failed; aborting the whole MPI job" in result.stderr
    assert "RuntimeError: rank 1 fails on purpose" in result.stderr
    assert not (tmp_path / "done.json").exists()


def test_bpnn_train_under_mpirun_matches_one_process(mpirun, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "colour": rng.choice(["red", "blue"], 300),
                  "y": np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")}).to_csv(
        tmp_path / "data.csv", index=False)
    options = ["train", "data.csv", "--target", "y", "--epochs", "4", "--dropout", "0"]
    bpnn_command = str(Path(sys.executable).with_name("bpnn"))
    two = mpirun(bpnn_command, *options, "--out", "two", cwd=tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([bpnn_command, *options, "--out", "one"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-3000:]

    def without_times(text):
        return [line.split(" - ", 2)[::2] if line.startswith("Epoch") else line
                for line in text.splitlines() if " s)" not in line and "model folder" not in line]

    assert without_times(two.stdout) == without_times(one.stdout)
    assert two.stdout.count("Epoch 4/4") == 1 and "accuracy" in two.stdout
    assert two.stderr.count("bpnn: classification of 'y'") == 1
    weights_two = bpnn.load(str(tmp_path / "two" / "model.bpnn")).get_weights()
    weights_one = bpnn.load(str(tmp_path / "one" / "model.bpnn")).get_weights()
    for key, value in weights_one.items():
        assert _relative(weights_two[key], value) <= 1e-5, key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "one", "two"]


def test_an_update_cancelled_on_one_rank_is_cancelled_on_all(mpirun, worker, tmp_path):
    """4 ranks: the last rank's callback refuses one update; every rank stops there, as one
    process does (and a rank that a short last batch leaves empty still takes part). With
    batch norm, validation and early stopping, the 4 ranks end with the same bits."""
    result = mpirun(*worker(tmp_path, "cancelled,batch_norm"), processes=4)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    for scenario in ("cancelled", "batch_norm"):  # batch norm: buffers and stopping agree
        runs = [dict(np.load(tmp_path / f"{scenario}{suffix}.npz"))
                for suffix in ("", ".rank1", ".rank2", ".rank3")]
        for run in runs[1:]:
            for key in runs[0]:
                assert np.array_equal(run[key], runs[0][key]), (scenario, key)
    assert any("running_mean" in key for key in runs[0])
    runs = [dict(np.load(tmp_path / "cancelled.npz"))]
    one = mpi_worker.cancelled()
    assert len(one["h.loss"]) == 1  # stopped in the second epoch
    _assert_same(runs[0], one, 1e-10)


def test_bpnn_train_under_mpirun_reports_a_bad_input_and_ends(mpirun, tmp_path):
    bpnn_command = str(Path(sys.executable).with_name("bpnn"))
    result = mpirun(bpnn_command, "train", "missing.csv", "--target", "y", cwd=tmp_path,
                    timeout=60)
    assert result.returncode == 2
    assert "bpnn: error:" in result.stderr and "missing.csv" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no model folder, no leftovers
