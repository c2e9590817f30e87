"""Atomic saves: a crash or SIGKILL mid-save leaves the previous file loadable, no partial file."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import bpnn
from bpnn import nn

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and fsync of folders: POSIX")

# Saves a 12 MB Linear layer filled with the iteration number, over and over, printing each
# number once its save has returned.
_SAVE_LOOP = textwrap.dedent("""
    import sys
    import bpnn
    net = bpnn.nn.Linear(1500, 2000)
    iteration = 0
    while True:
        iteration += 1
        net.weight.data[...] = iteration
        net.bias.data[...] = iteration
        bpnn.save(net, sys.argv[1])
        print(iteration, flush=True)
""")

# Saves once (value 1), then starts a second save (value 2) and stops inside its fsync: the
# temporary file is written, not yet renamed. The parent kills it there.
_STOP_IN_FSYNC = textwrap.dedent("""
    import os, sys, time
    import bpnn
    net = bpnn.nn.Linear(300, 400)
    net.weight.data[...] = 1
    net.bias.data[...] = 1
    bpnn.save(net, sys.argv[1])
    def hang(fd):
        print("in fsync", flush=True)
        time.sleep(60)
    os.fsync = hang
    net.weight.data[...] = 2
    net.bias.data[...] = 2
    bpnn.save(net, sys.argv[1])
""")


# Shared by the training child process and the test: data, network and training options.
_TRAINING_SETUP = textwrap.dedent("""
    import numpy as np
    import bpnn
    from bpnn import nn

    rng = np.random.default_rng(11)
    x = rng.normal(size=(128, 32)).astype("float32")
    y = (x[:, :4].sum(axis=1) > 0).astype("int64") + (x[:, 4] > 1)
    options = dict(batch_size=32, verbose=0, shuffle=True)

    def build():
        bpnn.manual_seed(7)
        net = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 64),
                            nn.ReLU(), nn.Linear(64, 3))
        return bpnn.Model(net, "cross_entropy", "adam", lr=1e-3)
""")

# Trains for many epochs with a checkpoint after each, printing the number of epochs done
# when the next one begins (ModelCheckpoint runs last at an epoch's end, so they are saved).
_TRAIN_WITH_CHECKPOINTS = _TRAINING_SETUP + textwrap.dedent("""
    import sys
    from bpnn.callbacks import Callback, ModelCheckpoint

    class Announce(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch:
                print(epoch, flush=True)

    build().fit(x, y, epochs=100000, callbacks=[ModelCheckpoint(sys.argv[1]), Announce()],
                **options)
""")


def _start(script, path):
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE,
                            text=True, env=environment)


def _filled_with(path):
    net = bpnn.load(path)
    value = net.weight.data.flat[0]
    assert np.all(net.weight.data == value) and np.all(net.bias.data == value), "mixed contents"
    return int(value)


def _leftovers(folder, name):
    """Files in ``folder`` other than ``name``; only the writer's hidden temporaries may remain."""
    others = sorted(p.name for p in folder.iterdir() if p.name != name)
    for other in others:
        assert other.startswith(f".{name}.") and other.endswith(".tmp"), other
    return others


def test_kill_inside_fsync_keeps_the_previous_file(tmp_path):
    path = tmp_path / "net.bpnn"
    process = _start(_STOP_IN_FSYNC, path)
    try:
        assert process.stdout.readline().strip() == "in fsync"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
    assert _filled_with(path) == 1
    left = _leftovers(tmp_path, "net.bpnn")
    assert len(left) == 1  # the killed write, under its own hidden name, never at `path`


def test_sigkill_at_random_moments_never_breaks_the_checkpoint(tmp_path):
    path = tmp_path / "net.bpnn"
    chooser = random.Random(20251123)
    for _ in range(4):
        process = _start(_SAVE_LOOP, path)
        try:
            first = process.stdout.readline()  # one save of this run has completed
            assert first.strip().isdigit(), first
            time.sleep(chooser.uniform(0.0, 0.4))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        completed = [int(first)] + [int(line) for line in process.stdout.read().split()]
        process.stdout.close()
        # The save in flight when killed either finished (renamed) or left the old file.
        assert _filled_with(path) in (completed[-1], completed[-1] + 1)
        _leftovers(tmp_path, "net.bpnn")


def test_successful_saves_leave_no_temporary_files(tmp_path):
    for i in range(3):
        bpnn.save(nn.Linear(4, 3), tmp_path / f"net{i}.bpnn")
        bpnn.save(nn.Linear(4, 3), tmp_path / f"net{i}.bpnn")  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net0.bpnn", "net1.bpnn", "net2.bpnn"]


def test_failed_save_keeps_the_old_file_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "net.bpnn"
    old = nn.Linear(4, 3)
    bpnn.save(old, path)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        bpnn.save(nn.Linear(4, 3), path)
    monkeypatch.undo()
    np.testing.assert_array_equal(bpnn.load(path).weight.numpy(), old.weight.numpy())
    assert [p.name for p in tmp_path.iterdir()] == ["net.bpnn"]


def test_saved_file_gets_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    bpnn.save(nn.Linear(2, 2), tmp_path / "net.bpnn")
    with open(tmp_path / "plain", "wb"):
        pass
    mode = os.stat(tmp_path / "net.bpnn").st_mode & 0o777
    assert mode == os.stat(tmp_path / "plain").st_mode & 0o777


def test_save_into_missing_folder_or_onto_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        bpnn.save(nn.Linear(2, 2), tmp_path / "missing" / "net.bpnn")
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        bpnn.save(nn.Linear(2, 2), tmp_path)


def test_training_killed_mid_checkpoint_resumes_bit_identically(tmp_path):
    setup = {}
    exec(_TRAINING_SETUP, setup)  # the same data and network as the child process
    path = tmp_path / "model.bpnn"
    chooser = random.Random(7)
    for _ in range(2):
        process = _start(_TRAIN_WITH_CHECKPOINTS, path)
        try:
            first = process.stdout.readline()
            assert first.strip().isdigit(), first
            time.sleep(chooser.uniform(0.0, 0.3))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        announced = [int(first)] + [int(line) for line in process.stdout.read().split()]
        process.stdout.close()
        resumed = bpnn.load(path)
        saved_epoch = resumed.epoch
        assert saved_epoch in (announced[-1], announced[-1] + 1)
        _leftovers(tmp_path, "model.bpnn")

        resumed.fit(setup["x"], setup["y"], epochs=saved_epoch + 2, initial_epoch=saved_epoch,
                    **setup["options"])
        reference = setup["build"]()
        reference.fit(setup["x"], setup["y"], epochs=saved_epoch + 2, **setup["options"])
        for key, value in reference.get_weights().items():
            np.testing.assert_array_equal(resumed.get_weights()[key], value, err_msg=key)
