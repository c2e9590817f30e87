"""Launching real MPI jobs: ``mpirun -n 2`` on this machine, loopback and shared memory only."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
WORKER = Path(__file__).with_name("mpi_worker.py")
LAUNCHER_VARIABLES = ("OMPI_", "PMIX_", "PMI_", "MPI_LOCALNRANKS")


def _require(problem: str):
    if os.environ.get("BPNN_REQUIRE_MPI") == "1":
        pytest.fail(f"MPI is required (BPNN_REQUIRE_MPI=1) but {problem}")
    pytest.skip(problem)


@pytest.fixture(scope="session")
def mpirun():
    """``mpirun(*command, timeout=...)``: run ``command`` as a 2-process MPI job.

    A skip without mpi4py and mpirun (``pip install 'bpnn[mpi]'``), a failure when
    BPNN_REQUIRE_MPI=1 (CI). Returns the CompletedProcess (text output).
    """
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        _require("mpi4py is not installed (pip install 'bpnn[mpi]')")
    launcher = shutil.which("mpirun", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if launcher is None:
        _require("mpirun is not on the PATH (pip install 'bpnn[mpi]' brings Open MPI's)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_VARIABLES)}
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

    def run(*command, processes=2, timeout=90, cwd=None):
        job = subprocess.Popen(
            [launcher, "-n", str(processes), "--oversubscribe", "--mca", "btl", "self,sm",
             *map(str, command)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
            start_new_session=True)
        try:
            stdout, stderr = job.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)  # the launcher and every rank it started
            stdout, stderr = job.communicate()
            pytest.fail(f"the MPI job did not finish in {timeout} s (a hang):\n"
                        f"{stdout[-2000:]}\n{stderr[-3000:]}")
        return subprocess.CompletedProcess(job.args, job.returncode, stdout, stderr)

    return run


@pytest.fixture(scope="session")
def worker():
    """The command that runs mpi_worker.py's scenarios: ``worker(directory, "a,b")``."""
    return lambda directory, names: [sys.executable, WORKER, directory, names]
