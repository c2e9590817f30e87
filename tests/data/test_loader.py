"""DataLoader, TensorDataset, Subset and random_split."""

import numpy as np
import pytest

import bpnn
from bpnn.data import DataLoader, Dataset, Subset, TensorDataset, random_split


def _order(loader):
    return np.concatenate([batch[1].numpy() for batch in loader])


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True),
                                                       (12, 4, False), (7, 10, False)])
def test_every_sample_once_per_epoch(n, batch_size, drop_last):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    loader = DataLoader(TensorDataset(x, np.arange(n)), batch_size=batch_size, shuffle=True,
                        drop_last=drop_last, seed=5)
    for _ in range(3):
        seen = _order(loader)
        expected = n - n % batch_size if drop_last else n
        assert len(seen) == expected
        assert len(set(seen.tolist())) == expected  # no sample twice
        if not drop_last:
            assert sorted(seen.tolist()) == list(range(n))
    sizes = [len(batch[0]) for batch in loader]
    assert len(sizes) == len(loader)
    assert all(s == batch_size for s in sizes[:-1])


def test_rows_stay_paired():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    for xb, yb in DataLoader((x, y), batch_size=4, shuffle=True, seed=1):
        np.testing.assert_array_equal(xb.numpy()[:, 0], 2 * yb.numpy())


def test_same_seed_same_order_and_epochs_differ():
    data = TensorDataset(np.arange(50))
    first = DataLoader(data, batch_size=8, shuffle=True, seed=3)
    second = DataLoader(data, batch_size=8, shuffle=True, seed=3)
    epoch1 = _order_single(first)
    assert np.array_equal(epoch1, _order_single(second))
    assert not np.array_equal(epoch1, _order_single(first))  # a new order next epoch
    assert not np.array_equal(epoch1, np.arange(50))


def _order_single(loader):
    return np.concatenate([b[0].numpy() for b in loader])


def test_default_order_comes_from_the_global_generator():
    loader = DataLoader(TensorDataset(np.arange(30)), batch_size=7, shuffle=True)
    bpnn.manual_seed(11)
    a = _order_single(loader)
    bpnn.manual_seed(11)
    b = _order_single(loader)
    np.testing.assert_array_equal(a, b)
    bpnn.manual_seed(12)
    assert not np.array_equal(a, _order_single(loader))


def test_unshuffled_batches_are_views_and_in_order():
    x = np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    batches = list(DataLoader((x,), batch_size=4))
    assert [len(b[0]) for b in batches] == [4, 4, 1]
    assert all(np.shares_memory(b[0].numpy(), x) for b in batches)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), x)


def test_array_dataset_is_indexed_once_per_batch_not_per_sample():
    calls = []

    class Counting(TensorDataset):
        def __getitem__(self, index):  # the loader must not need this for array datasets
            calls.append(index)
            return super().__getitem__(index)

    list(DataLoader(Counting(np.arange(100)), batch_size=10, shuffle=True, seed=0))
    assert calls == []


def test_transform_and_generic_dataset():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i

    batches = list(DataLoader(Squares(), batch_size=2, transform=lambda x: x * 10))
    np.testing.assert_array_equal(batches[0][0].numpy(), [[0, 0], [10, 10]])
    np.testing.assert_array_equal(batches[2][1].numpy(), [4])


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader((np.zeros(4),), batch_size=batch_size)


def test_empty_dataset_and_mismatched_arrays():
    with pytest.raises(ValueError, match="empty dataset"):
        DataLoader((np.zeros((0, 3)),), batch_size=2)
    with pytest.raises(ValueError, match=r"different numbers of samples \[3, 4\]"):
        TensorDataset(np.zeros(3), np.zeros(4))


def test_random_split_matches_torch_sizes_and_partitions(torch):
    data = TensorDataset(np.arange(10))
    for lengths in ([0.3, 0.7], [0.25, 0.25, 0.5], [3, 7], [0.33, 0.33, 0.34]):
        ours = random_split(data, lengths, seed=0)
        theirs = torch.utils.data.random_split(range(10), lengths)
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        joined = np.concatenate([s.arrays[0] for s in ours])
        assert sorted(joined.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(data, [4, 5])


def test_subset_keeps_fancy_indexing():
    data = TensorDataset(np.arange(10) * 2)
    subset = Subset(data, [1, 3, 5])
    assert len(subset) == 3
    np.testing.assert_array_equal(subset[np.array([0, 2])][0], [2, 10])
    np.testing.assert_array_equal(_order_single(DataLoader(subset, batch_size=2)), [2, 6, 10])
