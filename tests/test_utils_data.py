"""fastdl.utils.data: PyTorch's torch.utils.data: data sets, samplers, collation,
the DataLoader's argument rules, worker processes and seeding."""

from __future__ import annotations

import collections
import random
import time

import numpy as np
import pytest

import fastdl
from fastdl.tensor import Tensor, from_numpy
from fastdl.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)
from fastdl.utils.data.worker import numpy_seed


def _gen(seed: int) -> fastdl.Generator:
    return fastdl.Generator().manual_seed(seed)


def _as_numpy(batch):
    """A batch with every Tensor turned into a NumPy array (for comparisons)."""
    if isinstance(batch, Tensor):
        return batch.numpy()
    if isinstance(batch, dict):
        return {k: _as_numpy(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return (
            type(batch)(_as_numpy(v) for v in batch)
            if not hasattr(batch, "_fields")
            else (type(batch)(*(_as_numpy(v) for v in batch)))
        )
    return batch


def _assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        x, y = _as_numpy(x), _as_numpy(y)
        assert type(x) is type(y)
        if isinstance(x, dict):
            assert x.keys() == y.keys()
            for k in x:
                np.testing.assert_array_equal(x[k], y[k])
        elif isinstance(x, (tuple, list)):
            for u, v in zip(x, y, strict=True):
                np.testing.assert_array_equal(u, v)
        else:
            np.testing.assert_array_equal(x, y)


# -- data sets used below (module level: worker processes may need to pickle them) ----


class Squares(Dataset):
    """A generic map-style data set without batch indexing."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float64), i


class Records(Dataset):
    """Dict samples with a string, a Python float and a float32 array."""

    def __len__(self) -> int:
        return 9

    def __getitem__(self, i):
        return {"x": np.full(3, i, np.float32), "w": i / 2, "name": f"s{i}"}


class Stream(IterableDataset):
    """0 .. n-1, split among workers by get_worker_info()."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self) -> int:
        return self.n


class WhoLoads(Dataset):
    """Each sample reports the worker that loaded it and that worker's random streams."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        worker = -1 if info is None else info.id
        seed = -1 if info is None else info.seed
        return {
            "worker": worker,
            "seed": seed,
            "numpy": np.random.random(),
            "python": random.random(),
            "fastdl_seed": fastdl.initial_seed(),
        }


class Fails(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i):
        if i == 2:
            raise KeyError(f"sample {i} is broken")
        return np.float64(i)


class Slow(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i):
        time.sleep(1.5)
        return np.float64(i)


class Batched(Dataset):
    """A data set with PyTorch's __getitems__ hook (a list of samples)."""

    def __init__(self) -> None:
        self.calls = []

    def __len__(self) -> int:
        return 5

    def __getitem__(self, i):
        raise AssertionError("__getitems__ should be used")

    def __getitems__(self, indices):
        self.calls.append(list(indices))
        return [(np.float32(i), i) for i in indices]


# -- data sets -----------------------------------------------------------------------


def test_tensor_dataset_item_shapes_match_pytorch():
    X = from_numpy(np.arange(12, dtype=np.float32).reshape(6, 2))
    y = from_numpy(np.arange(6))
    x3, y3 = TensorDataset(X, y)[3]
    assert isinstance(y3, Tensor) and y3.shape == ()  # not (1,)
    assert int(y3.item()) == 3
    assert x3.shape == (2,)
    np.testing.assert_array_equal(x3.numpy(), [6.0, 7.0])


def test_subset_concat_chain():
    data = TensorDataset(np.arange(10))
    sub = Subset(data, [7, 2, 5])
    assert len(sub) == 3 and int(sub[0][0]) == 7 and int(sub[-1][0]) == 5
    both = ConcatDataset([sub, TensorDataset(np.arange(100, 104))])
    assert len(both) == 7 and both.cumulative_sizes == [3, 7]
    assert [int(both[i][0]) for i in range(7)] == [7, 2, 5, 100, 101, 102, 103]
    assert int(both[-1][0]) == 103
    with pytest.raises(IndexError):
        both[7]
    with pytest.raises(ValueError, match="absolute value"):
        both[-8]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])
    with pytest.raises(TypeError, match="IterableDataset"):
        ConcatDataset([Stream(3)])
    assert len(sub + data) == 13 and isinstance(sub + data, ConcatDataset)
    chained = Stream(2) + Stream(3)
    assert isinstance(chained, ChainDataset) and list(chained) == [0, 1, 0, 1, 2]
    assert len(chained) == 5


def test_iterable_dataset_is_abstract():
    with pytest.raises(TypeError):
        IterableDataset()
    with pytest.raises(NotImplementedError):
        Stream(3)[0]


def test_random_split_lengths_and_fractions():
    data = TensorDataset(np.arange(10))
    a, b = random_split(data, [7, 3], generator=_gen(0))
    got = sorted(int(a[i][0]) for i in range(7)) + sorted(int(b[i][0]) for i in range(3))
    assert sorted(got) == list(range(10))
    # Fractions: floors 3, 3, 3, and the remainder goes to the first split.
    parts = random_split(data, [0.33, 0.33, 0.34], generator=_gen(0))
    assert [len(p) for p in parts] == [4, 3, 3]
    parts = random_split(TensorDataset(np.arange(11)), [0.25, 0.25, 0.25, 0.25])
    assert [len(p) for p in parts] == [3, 3, 3, 2]
    # The same generator seed gives the same split; the global one follows manual_seed.
    again = random_split(data, [7, 3], generator=_gen(0))
    assert a.indices == again[0].indices
    fastdl.manual_seed(3)
    first = random_split(data, [5, 5])[0].indices
    fastdl.manual_seed(3)
    assert random_split(data, [5, 5])[0].indices == first
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(data, [5, 4])
    with pytest.raises(ValueError, match="not between 0 and 1"):
        random_split(data, [1.5, -0.5])
    with pytest.warns(UserWarning, match="index 1 is 0"):
        random_split(TensorDataset(np.arange(2)), [0.9, 0.1])


# -- samplers ------------------------------------------------------------------------


def test_sequential_and_random_sampler():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    s = RandomSampler(range(20), generator=_gen(1))
    e1, e2 = list(s), list(s)
    assert sorted(e1) == list(range(20)) and e1 != e2  # a fresh permutation each epoch
    assert list(RandomSampler(range(20), generator=_gen(1))) == e1
    assert all(isinstance(i, int) for i in e1)
    more = list(RandomSampler(range(5), num_samples=12, generator=_gen(2)))
    assert len(more) == 12 and sorted(more[:10]) == sorted(list(range(5)) * 2)
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=200, generator=_gen(2)))
    assert len(drawn) == 200 and set(drawn) == {0, 1, 2}
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="generator"):
        RandomSampler(range(3), generator=3)


def test_random_sampler_follows_manual_seed():
    fastdl.manual_seed(5)
    a = [list(s) for s in [RandomSampler(range(30))] for _ in range(2)]
    fastdl.manual_seed(5)
    b = [list(s) for s in [RandomSampler(range(30))] for _ in range(2)]
    assert a == b and a[0] != a[1]


def test_subset_random_sampler():
    s = SubsetRandomSampler([4, 7, 9, 11], generator=_gen(0))
    assert len(s) == 4 and sorted(s) == [4, 7, 9, 11]


def test_weighted_sampler_distribution():
    weights = np.array([1.0, 2.0, 3.0, 4.0, 0.0])
    n = 40_000
    drawn = np.array(list(WeightedRandomSampler(weights, n, generator=_gen(0))))
    counts = np.bincount(drawn, minlength=5)
    assert counts[4] == 0
    expected = n * weights[:4] / weights.sum()
    chi2 = ((counts[:4] - expected) ** 2 / expected).sum()
    assert chi2 < 16.27  # chi-square, 3 degrees of freedom, p = 0.001
    # Without replacement: distinct indices, never one of weight 0, heavy ones first more often.
    firsts = []
    for seed in range(300):
        picks = list(WeightedRandomSampler(weights, 4, replacement=False, generator=_gen(seed)))
        assert sorted(picks) == [0, 1, 2, 3]
        firsts.append(picks[0])
    first_counts = np.bincount(firsts, minlength=4)
    assert first_counts[3] > first_counts[0]
    expected = 300 * weights[:4] / weights.sum()
    assert ((first_counts - expected) ** 2 / expected).sum() < 16.27


def test_weighted_sampler_errors():
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="replacement should be a boolean"):
        WeightedRandomSampler([1.0], 1, replacement="yes")
    with pytest.raises(ValueError, match="1d sequence"):
        WeightedRandomSampler([[1.0, 2.0]], 1)
    with pytest.raises(ValueError, match="invalid multinomial"):
        WeightedRandomSampler([1.0, -1.0], 1)
    with pytest.raises(ValueError, match="sum of probabilities"):
        WeightedRandomSampler([0.0, 0.0], 1)
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False)


def test_batch_sampler():
    assert list(BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(7), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(range(7), 2, 0)


def test_distributed_sampler_padding_and_epochs():
    data = range(10)
    shares = [list(DistributedSampler(data, 4, r, shuffle=False)) for r in range(4)]
    # 10 samples, 4 ranks: 3 each, the order padded with its first 2 indices.
    assert shares == [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]
    assert len(DistributedSampler(data, 4, 0)) == 3
    cut = [list(DistributedSampler(data, 4, r, shuffle=False, drop_last=True)) for r in range(4)]
    assert cut == [[0, 4], [1, 5], [2, 6], [3, 7]]
    samplers = [DistributedSampler(data, 3, r, seed=7) for r in range(3)]
    epoch0 = [list(s) for s in samplers]
    assert sorted(sum(epoch0, [])) == sorted(list(range(10)) + [epoch0[0][0], epoch0[1][0]])
    assert [list(s) for s in samplers] == epoch0  # same epoch: same order
    for s in samplers:
        s.set_epoch(1)
    epoch1 = [list(s) for s in samplers]
    assert epoch1 != epoch0
    with pytest.raises(ValueError, match="Invalid rank 4"):
        DistributedSampler(data, 4, 4)
    # Outside mpiexec the world is one rank.
    assert list(DistributedSampler(range(3), shuffle=False)) == [0, 1, 2]


def test_custom_sampler_subclass():
    class Backwards(Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n - 1, -1, -1))

        def __len__(self):
            return self.n

    loader = DataLoader(TensorDataset(np.arange(5)), batch_size=2, sampler=Backwards(5))
    assert [b[0].numpy().tolist() for b in loader] == [[4, 3], [2, 1], [0]]


# -- collation -----------------------------------------------------------------------


def test_default_collate_structures():
    Point = collections.namedtuple("Point", "x y")
    batch = default_collate([(1, 2.5, True, "a"), (3, 4.5, False, "b")])
    assert isinstance(batch, tuple)
    ints, floats, flags, names = batch
    assert ints.dtype == fastdl.int64 and ints.numpy().tolist() == [1, 3]
    assert floats.dtype == fastdl.float64 and floats.numpy().tolist() == [2.5, 4.5]
    assert flags.dtype == fastdl.bool_ and flags.numpy().tolist() == [True, False]
    assert names == ("a", "b")  # as PyTorch leaves them
    lists = default_collate([[np.float32(1), np.zeros(2, np.float32)]] * 3)
    assert isinstance(lists, list) and lists[0].dtype == fastdl.float32
    assert lists[0].shape == (3,) and lists[1].shape == (3, 2)
    d = default_collate([{"a": np.arange(2), "b": {"c": 1.0}}] * 4)
    assert d["a"].shape == (4, 2) and d["a"].dtype == fastdl.int64
    assert d["b"]["c"].numpy().tolist() == [1.0] * 4
    p = default_collate([Point(1, np.ones(3)), Point(2, np.zeros(3))])
    assert isinstance(p, Point) and p.x.numpy().tolist() == [1, 2] and p.y.shape == (2, 3)
    t = default_collate([from_numpy(np.ones((2, 2))), from_numpy(np.zeros((2, 2)))])
    assert isinstance(t, Tensor) and t.shape == (2, 2, 2)
    zero_d = default_collate([np.array(1.5), np.array(2.5)])
    assert zero_d.shape == (2,) and zero_d.dtype == fastdl.float64


def test_default_collate_errors():
    with pytest.raises(ValueError, match="equal size") as info:
        default_collate([(1, 2), (1,)])
    assert isinstance(info.value, RuntimeError)  # PyTorch raises RuntimeError here
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match=r"field 'img'.*uint8"):
        default_collate([{"img": np.zeros(2, np.uint8)}])
    with pytest.raises(TypeError, match="batch must contain"):
        default_collate([object()])
    with pytest.raises(TypeError, match="cannot be batched"):
        default_collate([np.array(["a"])])


def test_default_convert():
    x, y, name = default_convert((np.arange(3), 7, "s"))
    assert isinstance(x, Tensor) and y == 7 and name == "s"
    d = default_convert({"v": np.float32(2.0)})
    assert d["v"].shape == () and d["v"].dtype == fastdl.float32


# -- the DataLoader's arguments ------------------------------------------------------

_DS = TensorDataset(np.arange(6))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sampler": SequentialSampler(_DS), "shuffle": True}, "sampler option is mutually"),
        ({"batch_sampler": BatchSampler(range(6), 2, False), "batch_size": 2}, "batch_sampler"),
        ({"batch_sampler": BatchSampler(range(6), 2, False), "shuffle": True}, "batch_sampler"),
        ({"batch_sampler": BatchSampler(range(6), 2, False), "drop_last": True}, "batch_sampler"),
        (
            {"batch_sampler": BatchSampler(range(6), 2, False), "sampler": range(6)},
            "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler",
        ),
        ({"batch_size": None, "drop_last": True}, "disables auto-batching"),
        ({"num_workers": -1}, "num_workers option should be non-negative"),
        ({"timeout": -1}, "timeout option should be non-negative"),
        ({"prefetch_factor": 2}, "prefetch_factor option could only be specified"),
        ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
        ({"seed": 1, "generator": fastdl.Generator()}, "seed or generator"),
        ({"sampler": range(6), "shard": (0, 2)}, "shard"),
    ],
)
def test_loader_argument_conflicts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(_DS, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shuffle": True}, "expected unspecified shuffle option"),
        ({"sampler": range(3)}, "expected unspecified sampler option"),
        ({"batch_sampler": [[0]]}, "expected unspecified batch_sampler option"),
    ],
)
def test_loader_iterable_conflicts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(Stream(3), **kwargs)


def test_loader_batch_size_none_and_batch_sampler():
    loader = DataLoader(Squares(3), batch_size=None)
    assert len(loader) == 3
    samples = list(loader)
    assert isinstance(samples[1][0], Tensor) and samples[1][0].shape == (2,) and samples[1][1] == 1
    bs = BatchSampler(SequentialSampler(range(7)), 3, drop_last=True)
    loader = DataLoader(TensorDataset(np.arange(7)), batch_sampler=bs)
    assert len(loader) == 2 and loader.batch_size is None
    assert [b[0].numpy().tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]]
    loader = DataLoader(TensorDataset(np.arange(7)), batch_sampler=[[6, 0], [3]])
    assert [b[0].numpy().tolist() for b in loader] == [[6, 0], [3]]


def test_loader_fast_path_equals_collated_samples():
    X = np.random.default_rng(0).standard_normal((11, 3)).astype(np.float32)
    y = np.arange(11)
    fast = DataLoader(TensorDataset(X, y), batch_size=4, shuffle=True, generator=_gen(3))
    slow = DataLoader(
        TensorDataset(X, y),
        batch_size=4,
        shuffle=True,
        generator=_gen(3),
        collate_fn=lambda samples: default_collate(samples),
    )
    _assert_same_batches(list(fast), list(slow))
    # A Subset of a TensorDataset (what random_split returns) batches alike.
    sub = Subset(TensorDataset(X, y), [10, 3, 4, 0, 8])
    got = [b[1].numpy().tolist() for b in DataLoader(sub, batch_size=2)]
    assert got == [[10, 3], [4, 0], [8]]


def test_loader_custom_collate_gets_samples():
    seen = []

    def collate(samples):
        seen.append(samples)
        return len(samples)

    loader = DataLoader(
        TensorDataset(np.arange(5), np.arange(5) * 2), batch_size=2, collate_fn=collate
    )
    assert list(loader) == [2, 2, 1]
    first = seen[0][1]
    assert isinstance(first, tuple) and int(first[1]) == 2 and first[0].shape == ()


def test_loader_uses_pytorch_getitems():
    data = Batched()
    batches = list(DataLoader(data, batch_size=2))
    assert data.calls == [[0, 1], [2, 3], [4]]
    assert batches[2][1].numpy().tolist() == [4]


def test_loader_generic_samples_and_dicts():
    batches = list(DataLoader(Records(), batch_size=4))
    assert [b["x"].shape for b in batches] == [(4, 3), (4, 3), (1, 3)]
    assert batches[0]["w"].dtype == fastdl.float64
    assert batches[0]["name"] == ["s0", "s1", "s2", "s3"]


def test_loader_iterable_dataset():
    loader = DataLoader(Stream(7), batch_size=3)
    assert len(loader) == 3
    assert [b.numpy().tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    loader = DataLoader(Stream(7), batch_size=3, drop_last=True)
    assert len(loader) == 2 and [b.numpy().tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]]
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]


def test_loader_generator_and_global_seed():
    data = TensorDataset(np.arange(40))

    def epochs(loader):
        return [np.concatenate([b[0].numpy() for b in loader]).tolist() for _ in range(3)]

    a = epochs(DataLoader(data, batch_size=8, shuffle=True, generator=_gen(9)))
    assert a == epochs(DataLoader(data, batch_size=8, shuffle=True, generator=_gen(9)))
    assert a[0] != a[1]
    fastdl.manual_seed(9)
    b = epochs(DataLoader(data, batch_size=8, shuffle=True))
    fastdl.manual_seed(9)
    assert b == epochs(DataLoader(data, batch_size=8, shuffle=True))


def test_loader_state_with_a_generator():
    data = TensorDataset(np.arange(20))
    loader = DataLoader(data, batch_size=3, shuffle=True, generator=_gen(4))
    list(loader)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    rest = [b[0].numpy().tolist() for b in it] + [b[0].numpy().tolist() for b in loader]
    again = DataLoader(data, batch_size=3, shuffle=True, generator=fastdl.Generator())
    again.load_state_dict(state)
    assert [b[0].numpy().tolist() for b in again] + [b[0].numpy().tolist() for b in again] == rest
    with pytest.raises(TypeError, match="built-in samplers"):
        DataLoader(Stream(3)).state_dict()


# -- workers -------------------------------------------------------------------------


def _epochs(loader, n=2):
    return [list(loader) for _ in range(n)]


@pytest.mark.parametrize(
    "make",
    [
        lambda w: DataLoader(
            TensorDataset(np.arange(23, dtype=np.float32), np.arange(23)),
            batch_size=4,
            shuffle=True,
            seed=3,
            num_workers=w,
        ),
        lambda w: DataLoader(
            Squares(13), batch_size=3, shuffle=True, generator=_gen(1), num_workers=w
        ),
        lambda w: DataLoader(Records(), batch_size=2, drop_last=True, num_workers=w),
        lambda w: DataLoader(Squares(5), batch_size=None, num_workers=w),
    ],
    ids=["tensor-dataset-seed", "generic-generator", "dicts", "unbatched"],
)
def test_workers_give_the_batches_of_no_workers(make):
    _assert_same_batches(sum(_epochs(make(0)), []), sum(_epochs(make(2)), []))


def test_workers_follow_manual_seed_like_no_workers():
    data = TensorDataset(np.arange(30))
    fastdl.manual_seed(21)
    plain = _epochs(DataLoader(data, batch_size=4, shuffle=True))
    fastdl.manual_seed(21)
    parallel = _epochs(DataLoader(data, batch_size=4, shuffle=True, num_workers=3))
    _assert_same_batches(sum(plain, []), sum(parallel, []))


def test_persistent_workers_and_prefetch():
    def make(workers, **kwargs):
        return DataLoader(
            Squares(17), batch_size=2, shuffle=True, seed=8, num_workers=workers, **kwargs
        )

    reference = make(0)
    loader = make(2, persistent_workers=True, prefetch_factor=1)
    _assert_same_batches(sum(_epochs(reference, 3), []), sum(_epochs(loader, 3), []))
    # An epoch left half-way: the next one still gives every batch, in order.
    for each in (reference, loader):
        it = iter(each)
        next(it)
        del it
    _assert_same_batches(list(reference), list(loader))
    pool = loader._pool
    assert pool is not None and all(w.is_alive() for w in pool.workers)
    pool.shutdown()


def test_iterable_dataset_split_among_workers():
    batches = list(DataLoader(Stream(11), batch_size=2, num_workers=3))
    values = sorted(v for b in batches for v in b.numpy().tolist())
    assert values == list(range(11))
    # Round-robin over workers: worker 0 holds 0, 3, 6, 9; worker 1: 1, 4, 7, 10; ...
    assert [b.numpy().tolist() for b in batches[:3]] == [[0, 3], [1, 4], [2, 5]]
    loader = DataLoader(Stream(6), batch_size=2, num_workers=2, persistent_workers=True)
    first, second = (sorted(v for b in e for v in b.numpy().tolist()) for e in _epochs(loader))
    assert first == second == list(range(6))
    loader._pool.shutdown()


def test_worker_seeding_matches_pytorch_rule():
    assert get_worker_info() is None
    loader = DataLoader(
        WhoLoads(), batch_size=None, num_workers=2, generator=_gen(5), worker_init_fn=None
    )
    samples = list(loader)
    # The loader draws the workers' base seed from its generator after the epoch order.
    g = _gen(5)
    base_seed = int(g.randint(0, 2**63 - 1, ()))
    for i, s in enumerate(samples):
        worker = i % 2
        assert s["worker"] == worker and s["seed"] == base_seed + worker
        assert s["fastdl_seed"] == base_seed + worker
    for worker in (0, 1):
        mine = [s for s in samples if s["worker"] == worker]
        rs = np.random.RandomState(numpy_seed(base_seed, worker))
        py = random.Random(base_seed + worker)
        assert [s["numpy"] for s in mine] == [rs.random_sample() for _ in mine]
        assert [s["python"] for s in mine] == [py.random() for _ in mine]


def _record_init(worker_id):
    np.random.seed(1000 + worker_id)


def test_worker_init_fn_runs_in_each_worker():
    samples = list(
        DataLoader(WhoLoads(), batch_size=None, num_workers=2, worker_init_fn=_record_init)
    )
    for worker in (0, 1):
        mine = [s["numpy"] for s in samples if s["worker"] == worker]
        rs = np.random.RandomState(1000 + worker)
        assert mine == [rs.random_sample() for _ in mine]


def test_worker_errors_reach_the_main_process():
    loader = DataLoader(Fails(), batch_size=1, num_workers=2)
    with pytest.raises(KeyError, match="worker process") as info:
        list(loader)
    assert "sample 2 is broken" in str(info.value)
    with pytest.raises(RuntimeError, match="timed out after 0.5 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.5))


def test_spawned_workers():
    data = TensorDataset(np.arange(9, dtype=np.float32), np.arange(9))
    plain = list(DataLoader(data, batch_size=4, shuffle=True, seed=1))
    spawned = list(
        DataLoader(
            data, batch_size=4, shuffle=True, seed=1, num_workers=1, multiprocessing_context="spawn"
        )
    )
    _assert_same_batches(plain, spawned)


# -- PyTorch itself, where installed -------------------------------------------------


def test_matches_torch_where_deterministic():
    torch = pytest.importorskip("torch")
    tud = torch.utils.data
    for n, world, drop in [(10, 4, False), (10, 4, True), (2, 5, False), (12, 3, False)]:
        for r in range(world):
            ours = list(DistributedSampler(range(n), world, r, shuffle=False, drop_last=drop))
            theirs = list(tud.DistributedSampler(range(n), world, r, shuffle=False, drop_last=drop))
            assert ours == theirs
    for drop in (False, True):
        assert list(BatchSampler(range(11), 4, drop)) == list(tud.BatchSampler(range(11), 4, drop))
    for n, fractions in [(10, [0.33, 0.33, 0.34]), (11, [0.25] * 4), (7, [0.5, 0.5])]:
        ours = [len(p) for p in random_split(TensorDataset(np.arange(n)), fractions)]
        theirs = [len(p) for p in tud.random_split(range(n), fractions)]
        assert ours == theirs
    Point = collections.namedtuple("Point", "x y")
    samples = [{"a": (1, 2.0), "b": [np.float32(1), "s"], "p": Point(1, 2)}] * 3
    ours, theirs = default_collate(samples), tud.default_collate(samples)
    assert ours.keys() == theirs.keys()
    assert isinstance(ours["b"], list) and isinstance(ours["p"], Point)
    for key, sub in [("a", 0), ("a", 1), ("b", 0)]:
        np.testing.assert_array_equal(ours[key][sub].numpy(), theirs[key][sub].numpy())
        assert (
            str(ours[key][sub].dtype).split(".")[-1] == str(theirs[key][sub].dtype).split(".")[-1]
        )
    assert ours["b"][1] == theirs["b"][1]
    ds = tud.TensorDataset(torch.arange(6.0), torch.arange(6))
    assert tuple(ds[2][1].shape) == tuple(TensorDataset(from_numpy(np.arange(6)))[2][0].shape)
    for kwargs in [
        {"sampler": tud.SequentialSampler(range(6)), "shuffle": True},
        {"batch_size": None, "drop_last": True},
        {"persistent_workers": True},
        {"prefetch_factor": 2},
        {"num_workers": -1},
    ]:
        with pytest.raises(ValueError) as theirs:
            tud.DataLoader(ds, **kwargs)
        with pytest.raises(ValueError) as ours:
            DataLoader(
                _DS,
                **kwargs
                if "sampler" not in kwargs
                else {"sampler": SequentialSampler(range(6)), "shuffle": True},
            )
        assert str(ours.value) == str(theirs.value)
