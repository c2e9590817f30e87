"""Data-parallel training over MPI (mpi4py), in Horovod's vocabulary.

Launch N copies of one script with ``mpirun -n N python train.py``. Each process holds the
whole network and a share of every batch; one ``Allreduce`` per step sums the gradients, so
the job trains the network one process would train on the global batch. ``bpnn.Model.fit``
does all of it by itself when launched by ``mpirun``; the pieces below are for hand-written
loops. Needs the extra ``pip install 'bpnn[mpi]'``; importing this package does not import
mpi4py (:func:`init` does, and only under an MPI launcher).

Example
-------
>>> import bpnn, bpnn.distributed as dist
>>> dist.init()                                   # rank 0 of 1 without mpirun
>>> net = bpnn.nn.Linear(4, 2)
>>> dist.broadcast_parameters(net)
>>> opt = dist.DistributedOptimizer(bpnn.optim.Adam(net.parameters()))
>>> dist.broadcast_optimizer_state(opt)
"""

from bpnn.distributed.broadcast import (
    broadcast_object,
    broadcast_optimizer_state,
    broadcast_parameters,
    broadcast_rng_state,
)
from bpnn.distributed.optimizer import DistributedOptimizer, allreduce_gradients
from bpnn.distributed.runtime import (
    INSTALL_HINT,
    abort,
    allreduce,
    allreduce_max_,
    allreduce_sum_,
    barrier,
    broadcast_,
    communicator,
    init,
    is_initialized,
    launched_by_mpi,
    local_rank,
    rank,
    size,
)
from bpnn.distributed.sharding import shard

__all__ = [
    "DistributedOptimizer", "INSTALL_HINT", "abort", "allreduce", "allreduce_gradients",
    "allreduce_max_", "allreduce_sum_", "barrier", "broadcast_", "broadcast_object",
    "broadcast_optimizer_state", "broadcast_parameters", "broadcast_rng_state", "communicator",
    "init", "is_initialized", "launched_by_mpi", "local_rank", "rank", "shard", "size",
]
