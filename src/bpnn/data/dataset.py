"""Datasets: anything with ``len`` and integer indexing; array datasets also take index arrays."""

from __future__ import annotations

import numbers

from bpnn import backend
from bpnn.autograd.tensor import Tensor
from bpnn.backend import xp


class Dataset:
    """Base class: subclasses implement ``__len__`` and ``__getitem__(index)``.

    A dataset that also sets ``arrays`` (a tuple of equally long arrays) is batched by
    fancy indexing in :class:`bpnn.data.DataLoader`, with no Python loop per sample.
    """

    arrays = None

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def __getitem__(self, index):  # pragma: no cover - interface
        raise NotImplementedError


class TensorDataset(Dataset):
    """Wrap arrays (or Tensors) that share their first dimension; row ``i`` of each is sample ``i``.

    Parameters
    ----------
    *arrays : array_like or Tensor
        Features, targets, weights...; NumPy arrays are kept as they are (no copy).

    Raises
    ------
    ValueError
        If no array is given, an array is 0-dimensional, or the lengths differ.

    Example
    -------
    >>> import numpy as np, bpnn
    >>> ds = bpnn.data.TensorDataset(np.zeros((5, 3)), np.arange(5))
    >>> len(ds), ds[np.array([0, 2])][1]
    (5, array([0, 2]))
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        converted = []
        for position, array in enumerate(arrays):
            array = array.data if isinstance(array, Tensor) else xp.asarray(array)
            if array.ndim == 0:
                raise ValueError(f"TensorDataset: array {position} is a scalar; "
                                 "each array needs one row per sample")
            converted.append(array)
        lengths = [len(a) for a in converted]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: arrays have different numbers of samples {lengths}")
        self.arrays = tuple(converted)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(array[index] for array in self.arrays)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (array datasets stay fancy-indexable).

    Parameters
    ----------
    dataset : Dataset
    indices : sequence of int
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = xp.asarray(indices, dtype=xp.int64)
        if self.indices.size and (self.indices.min() < -len(dataset)
                                  or self.indices.max() >= len(dataset)):
            raise ValueError(f"Subset: indices outside a dataset of {len(dataset)} samples")
        if dataset.arrays is not None:
            # Gathering once keeps every later batch a single fancy index.
            self.arrays = tuple(array[self.indices] for array in dataset.arrays)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        if self.arrays is not None:
            return tuple(array[index] for array in self.arrays)
        if isinstance(index, numbers.Integral):
            return self.dataset[int(self.indices[index])]
        return [self.dataset[int(i)] for i in self.indices[index]]


def _split_lengths(lengths, total: int) -> list:
    """Integer lengths from counts or fractions (fractions as in ``torch.utils.data``)."""
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if any(v < 0 for v in lengths):
        raise ValueError(f"random_split: lengths must be non-negative, got {lengths}")
    if all(isinstance(v, numbers.Integral) for v in lengths):
        counts = [int(v) for v in lengths]
    elif abs(sum(lengths) - 1.0) < 1e-6:
        counts = [int(v * total) for v in lengths]
        for i in range(total - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        raise ValueError(f"random_split: lengths must be counts summing to the dataset size or "
                         f"fractions summing to 1, got {lengths}")
    if sum(counts) != total:
        raise ValueError(f"random_split: lengths sum to {sum(counts)}, "
                         f"but the dataset has {total} samples")
    return counts


def random_split(dataset, lengths, seed: int | None = None) -> list:
    """Split ``dataset`` into non-overlapping random subsets.

    Parameters
    ----------
    dataset : Dataset
    lengths : sequence of int or of float
        Sizes, or fractions summing to 1 (remainders go one by one to the first subsets).
    seed : int, optional
        Seed of the permutation; by default the global generator (:func:`bpnn.manual_seed`).

    Returns
    -------
    list of Subset

    Raises
    ------
    ValueError
        If the lengths do not add up to ``len(dataset)``.

    Example
    -------
    >>> import numpy as np, bpnn
    >>> train, val = bpnn.data.random_split(bpnn.data.TensorDataset(np.arange(10)), [0.8, 0.2])
    >>> len(train), len(val)
    (8, 2)
    """
    counts = _split_lengths(lengths, len(dataset))
    rng = backend.get_rng() if seed is None else xp.random.default_rng(seed)
    order = rng.permutation(len(dataset))
    subsets, start = [], 0
    for count in counts:
        subsets.append(Subset(dataset, order[start:start + count]))
        start += count
    return subsets
