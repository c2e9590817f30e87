"""Killed and concurrent writers: the previous file or folder survives, nothing is left over.

Writers run in forked children (bpnn is already imported, so a child starts in milliseconds)
and are killed with SIGKILL at a random moment; the random delays come from a seeded
generator. Nothing here measures time: the delays only spread the kills over the write.
"""

import os
import signal
import time

import numpy as np
import pytest

import bpnn
from bpnn import nn
from bpnn.io import AtomicFolder

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork and signals")


def _fork(work):
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            work()
            code = 0
        finally:
            os._exit(code)
    return pid


def _wait(pid):
    _, status = os.waitpid(pid, 0)
    return status


def _hidden(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def _network():
    bpnn.manual_seed(0)
    return nn.Sequential(nn.Linear(256, 512), nn.Tanh(), nn.Linear(512, 256))


def test_sigkill_during_save_leaves_the_previous_file_and_no_temporaries(tmp_path):
    network = _network()
    target = tmp_path / "net.bpnn"
    bpnn.save(network, target)
    reference = {k: v.copy() for k, v in network.state_dict().items()}

    def save_forever():
        while True:
            bpnn.save(network, target)

    rng = np.random.default_rng(16)
    for _ in range(20):
        pid = _fork(save_forever)
        time.sleep(float(rng.uniform(0.0, 0.05)))
        os.kill(pid, signal.SIGKILL)
        assert os.WIFSIGNALED(_wait(pid))
        loaded = bpnn.load(target)  # intact: the old or the new bytes, never a mix
        for key, value in reference.items():
            np.testing.assert_array_equal(loaded.state_dict()[key], value)
    bpnn.save(network, target)  # the next save cleans what the killed ones left
    assert _hidden(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["net.bpnn"]


def test_a_temporary_being_written_is_not_taken_for_stale(tmp_path):
    target = tmp_path / "x.bin"
    started = []

    def slow_writer(handle):
        handle.write(b"first")
        started.append(True)
        # While this writer holds its temporary, another writer's cleaning must keep it.
        assert bpnn.io.clean_stale(target) == []
        handle.write(b" second")

    bpnn.io.atomic_write(target, writer=slow_writer)
    assert started and target.read_bytes() == b"first second"
    assert _hidden(tmp_path) == []


def _write_folder(target, marker):
    folder = AtomicFolder(target)
    for name in ("a.txt", "b.txt", "c.txt"):
        with open(folder.file(name), "w") as handle:
            handle.write(marker)
    folder.commit()


def test_concurrent_folder_commits_never_fail_and_end_complete(tmp_path):
    target = tmp_path / "out"

    def writer(marker):
        def work():
            for _ in range(150):
                _write_folder(target, marker)
        return work

    pids = [_fork(writer(marker)) for marker in ("one", "two")]
    statuses = [_wait(pid) for pid in pids]
    assert all(os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0 for s in statuses), statuses
    contents = {(target / name).read_text() for name in ("a.txt", "b.txt", "c.txt")}
    assert len(contents) == 1 and contents <= {"one", "two"}
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_sigkill_during_folder_commits_keeps_the_previous_folder(tmp_path):
    target = tmp_path / "out"
    _write_folder(target, "first")

    def commit_forever():
        while True:
            _write_folder(target, "again")

    rng = np.random.default_rng(19)
    for _ in range(20):
        pid = _fork(commit_forever)
        time.sleep(float(rng.uniform(0.0, 0.02)))
        os.kill(pid, signal.SIGKILL)
        _wait(pid)
        assert sorted(os.listdir(target)) == ["a.txt", "b.txt", "c.txt"]
        assert len({(target / n).read_text() for n in os.listdir(target)}) == 1
    _write_folder(target, "last")
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert (target / "a.txt").read_text() == "last"
