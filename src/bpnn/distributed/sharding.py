"""Which samples of a batch this rank takes: the slice ``rank::size`` of the batch.

The ranks' parts of every global batch are disjoint and together are the whole batch, so the
job sees each epoch in exactly the order one process would (PyTorch's ``DistributedSampler``
deals the same way: index ``i`` of the order goes to rank ``i % size``). No sample is padded
or dropped; a rank whose part of a short last batch is empty contributes a zero gradient.
"""

from __future__ import annotations

from bpnn.distributed import runtime


def shard(index, rank: int | None = None, size: int | None = None):
    """This rank's part of a batch's indices (a slice stays a slice, an array a view).

    Parameters
    ----------
    index : slice or ndarray
        The global batch's rows: ``slice(start, stop)`` or an index array.
    rank, size : int, optional
        Default: this process's rank and the job's size.

    Returns
    -------
    slice or ndarray

    Example
    -------
    >>> import numpy as np
    >>> shard(np.arange(10, 15), rank=1, size=2)
    array([11, 13])
    >>> shard(slice(0, 5), rank=0, size=2)
    slice(0, 5, 2)
    """
    rank = runtime.rank() if rank is None else rank
    size = runtime.size() if size is None else size
    if isinstance(index, slice):
        return slice(index.start + rank, index.stop, size)
    return index[rank::size]
