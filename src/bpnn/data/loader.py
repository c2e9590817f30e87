"""``DataLoader``: mini-batches of a dataset, shuffled from bpnn's generator."""

from __future__ import annotations

import numbers

from bpnn import backend
from bpnn.autograd.tensor import Tensor, wrap_array
from bpnn.backend import xp
from bpnn.data.dataset import TensorDataset


class DataLoader:
    """Iterate over a dataset in mini-batches, as ``torch.utils.data.DataLoader``.

    Array datasets (those with ``arrays``, e.g. :class:`TensorDataset`) are batched by one
    fancy index per array; without shuffling a batch is a slice (a view, no copy). Other
    datasets are indexed sample by sample and stacked.

    Parameters
    ----------
    dataset : Dataset or tuple of arrays
        A tuple ``(x, y, ...)`` is wrapped in a :class:`TensorDataset`.
    batch_size : int, default 1
    shuffle : bool, default False
        Draw a new order each epoch.
    drop_last : bool, default False
        Skip the last batch when it is smaller than ``batch_size``.
    seed : int, optional
        Seed of this loader's own generator. By default the order comes from the global
        generator (:func:`bpnn.manual_seed`), so a saved RNG state resumes it exactly.
    transform : callable, optional
        Applied to the first array of each batch (the inputs), e.g. scaling or augmentation.
    shard : bool, default False
        Data-parallel training over MPI (:mod:`bpnn.distributed`): each rank gets its part
        (rows ``rank::size``) of every batch, so the ranks' parts make up the batch one
        process would draw. Every rank must draw the same order: same seed, or
        :func:`bpnn.distributed.broadcast_rng_state` before each epoch.

    Yields
    ------
    tuple of Tensor
        One Tensor per array of the dataset.

    Raises
    ------
    ValueError
        If ``batch_size`` is not a positive integer or the dataset is empty.

    Example
    -------
    >>> import numpy as np, bpnn
    >>> loader = bpnn.data.DataLoader((np.zeros((10, 2)), np.arange(10)), batch_size=4)
    >>> [len(y) for x, y in loader]
    [4, 4, 2]
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, transform=None,
                 shard: bool = False):
        if isinstance(dataset, (tuple, list)):
            dataset = TensorDataset(*dataset)
        if (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if len(dataset) == 0:
            raise ValueError("DataLoader got an empty dataset (0 samples)")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last, self.transform = bool(shuffle), bool(drop_last), transform
        self.seed, self.shard = seed, bool(shard)
        self._own_rng = None if seed is None else xp.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batch_indices(self):
        """Yield each batch's indices: index arrays when shuffling, slices otherwise."""
        n, size = len(self.dataset), self.batch_size
        stop = n - n % size if self.drop_last else n
        if self.shuffle:
            rng = self._own_rng if self._own_rng is not None else backend.get_rng()
            order = rng.permutation(n)
            for start in range(0, stop, size):
                yield order[start:start + size]
        else:
            for start in range(0, stop, size):
                yield slice(start, min(start + size, n))

    def __iter__(self):
        arrays = self.dataset.arrays
        indices = self.batch_indices()
        if self.shard:
            from bpnn.distributed import shard

            indices = map(shard, indices)
        for index in indices:
            if arrays is not None:
                batch = [array[index] for array in arrays]
            else:
                batch = self._collate(index)
            if self.transform is not None:
                batch[0] = self.transform(batch[0])
            yield tuple(b if isinstance(b, Tensor) else wrap_array(xp.asarray(b)) for b in batch)

    def _collate(self, index) -> list:
        positions = range(len(self.dataset))[index] if isinstance(index, slice) else index
        samples = [self.dataset[int(i)] for i in positions]
        if not isinstance(samples[0], (tuple, list)):
            samples = [(s,) for s in samples]
        return [xp.stack([xp.asarray(getattr(s[k], "data", s[k])) for s in samples])
                for k in range(len(samples[0]))]
