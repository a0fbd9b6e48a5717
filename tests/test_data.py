"""fastdl.data: Dataset, TensorDataset, DataLoader and the built-in data sets."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

import fastdl
from fastdl.data import (
    DataLoader,
    Dataset,
    TensorDataset,
    load_digits,
    load_idx,
    make_moons,
    make_spirals,
    read_idx,
)
from fastdl.tensor import Tensor, from_numpy


def _labels_of_epoch(loader):
    """Concatenate the second field of every batch of one epoch."""
    seen = []
    for batch in loader:
        assert isinstance(batch, tuple)
        assert all(isinstance(field, Tensor) for field in batch)
        seen.append(batch[1].numpy())
    return np.concatenate(seen) if seen else np.empty(0, dtype=np.int64)


def _dataset(n=23, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    ids = np.arange(n, dtype=np.int64)
    return X, ids, TensorDataset(X, ids)


# --- TensorDataset ----------------------------------------------------------------


def test_tensor_dataset_indexing():
    X, ids, ds = _dataset(10)
    assert len(ds) == 10
    x3, i3 = ds[3]
    np.testing.assert_array_equal(x3, X[3])
    assert i3.shape == () and int(i3) == 3
    assert int(ds[-1][1]) == 9
    idx = np.array([7, 2, 2, 0])
    xb, ib = ds[idx]
    np.testing.assert_array_equal(xb, X[idx])
    np.testing.assert_array_equal(ib, idx)
    xs, _ = ds[2:5]
    np.testing.assert_array_equal(xs, X[2:5])
    with pytest.raises(IndexError):
        ds[10]
    with pytest.raises(IndexError):
        ds[np.array([[0, 1]])]
    with pytest.raises(IndexError):
        ds[np.array([0.5])]


def test_tensor_dataset_keeps_tensors_as_tensors():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    ds = TensorDataset(from_numpy(X), y)
    xb, yb = ds[np.array([5, 1])]
    assert isinstance(xb, Tensor)
    assert isinstance(yb, np.ndarray)
    np.testing.assert_array_equal(xb.numpy(), X[[5, 1]])


def test_tensor_dataset_size_mismatch_names_sizes():
    with pytest.raises(ValueError, match=r"\[5, 4\]"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError):
        TensorDataset()
    with pytest.raises(ValueError):
        TensorDataset(np.float32(1.0))


def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        Dataset()


# --- DataLoader -------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("batch_size", [1, 4, 5, 23, 100])
def test_loader_visits_every_index_once(shuffle, batch_size):
    X, ids, ds = _dataset(23)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=shuffle, seed=1)
    assert len(loader) == -(-23 // batch_size)
    for _ in range(3):
        batches = list(loader)
        assert len(batches) == len(loader)
        seen = np.concatenate([b[1].numpy() for b in batches])
        np.testing.assert_array_equal(np.sort(seen), ids)
        if not shuffle:
            np.testing.assert_array_equal(seen, ids)
        for xb, ib in batches:
            assert xb.numpy().dtype == np.float32
            assert xb.numpy().flags.c_contiguous
            assert 1 <= xb.shape[0] <= batch_size
            np.testing.assert_array_equal(xb.numpy(), X[ib.numpy()])


def test_loader_batch_is_a_copy():
    X, _, ds = _dataset(8)
    before = X.copy()
    for xb, _ in DataLoader(ds, batch_size=3):
        xb.numpy()[...] = -1.0
    np.testing.assert_array_equal(X, before)


def test_loader_drop_last():
    _, ids, ds = _dataset(23)
    loader = DataLoader(ds, batch_size=5, drop_last=True, shuffle=True, seed=0)
    assert len(loader) == 4
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [5, 5, 5, 5]
    seen = np.concatenate([b[1].numpy() for b in batches])
    assert len(np.unique(seen)) == 20
    assert np.isin(seen, ids).all()
    # drop_last changes nothing when the batch size divides the data set.
    assert len(DataLoader(ds, batch_size=23, drop_last=True)) == 1
    assert len(DataLoader(ds, batch_size=24, drop_last=True)) == 0
    assert list(DataLoader(ds, batch_size=24, drop_last=True)) == []


def test_loader_full_batch():
    X, ids, ds = _dataset(23)
    for shuffle in (False, True):
        loader = DataLoader(ds, batch_size="full", shuffle=shuffle, seed=0)
        assert len(loader) == 1
        (batch,) = list(loader)
        assert batch[0].shape == (23, 3)
        np.testing.assert_array_equal(np.sort(batch[1].numpy()), ids)


def test_loader_seed_determinism():
    _, _, ds = _dataset(50)

    def epochs(loader, n=3):
        return [_labels_of_epoch(loader) for _ in range(n)]

    a = epochs(DataLoader(ds, batch_size=7, shuffle=True, seed=123))
    b = epochs(DataLoader(ds, batch_size=7, shuffle=True, seed=123))
    c = epochs(DataLoader(ds, batch_size=7, shuffle=True, seed=124))
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)
    # Each epoch is reshuffled, and another seed gives another order.
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a[0], c[0])
    # Without a seed the order follows fastdl.manual_seed, as PyTorch's follows
    # torch.manual_seed: the same global seed repeats the run, epochs still differ.
    fastdl.manual_seed(11)
    g1 = epochs(DataLoader(ds, batch_size=7, shuffle=True))
    fastdl.manual_seed(11)
    g2 = epochs(DataLoader(ds, batch_size=7, shuffle=True))
    fastdl.manual_seed(12)
    g3 = epochs(DataLoader(ds, batch_size=7, shuffle=True))
    for ea, eb in zip(g1, g2):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(g1[0], g1[1])
    assert not np.array_equal(g1[0], g3[0])


class _Squares(Dataset):
    """A generic dataset without batch indexing: exercises the np.stack fallback."""

    def __init__(self, n):
        self.n = n
        self.calls = 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        return np.array([i, i * i], dtype=np.float64), i


def test_loader_generic_dataset_collates():
    ds = _Squares(10)
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=3)
    seen = []
    for xb, ib in loader:
        x, i = xb.numpy(), ib.numpy()
        assert x.shape == (len(i), 2)
        np.testing.assert_array_equal(x[:, 1], x[:, 0] ** 2)
        np.testing.assert_array_equal(x[:, 0], i)
        seen.append(i)
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(10))
    assert ds.calls == 10


def test_loader_uses_batch_indexing():
    calls = []

    class Batched(TensorDataset):
        def __getitem__(self, index):
            calls.append(index)
            return super().__getitem__(index)

    X, _, _ = _dataset(12)
    loader = DataLoader(Batched(X, np.arange(12)), batch_size=5)
    assert [b[0].shape[0] for b in loader] == [5, 5, 2]
    assert calls == []  # never sample by sample


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": -3}, ValueError, "batch_size"),
        ({"batch_size": "all"}, ValueError, "batch_size"),
        ({"batch_size": 2.0}, TypeError, "batch_size"),
        ({"batch_size": True}, TypeError, "batch_size"),
        ({"batch_size": [4]}, TypeError, "batch_size"),
        ({"shuffle": 1}, TypeError, "shuffle"),
        ({"drop_last": "no"}, TypeError, "drop_last"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
def test_loader_validates_arguments(kwargs, error, name):
    _, _, ds = _dataset(5)
    with pytest.raises(error, match=name):
        DataLoader(ds, **kwargs)


def test_loader_rejects_non_dataset():
    with pytest.raises(TypeError, match="dataset"):
        DataLoader(42)


# --- load_digits ------------------------------------------------------------------


def test_load_digits():
    X_train, y_train, X_test, y_test = split = load_digits()
    assert split.X_train is X_train
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert y_train.shape == (1347,) and y_test.shape == (450,)
    assert X_train.dtype == np.float32 and X_test.dtype == np.float32
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    X = np.concatenate([X_train, X_test])
    assert X.min() == 0.0 and X.max() == 1.0
    # Pixels are k/16 for integer k.
    np.testing.assert_array_equal(X * 16, np.round(X * 16))
    # Stratified: each class's share differs by at most one sample per split.
    train_counts = np.bincount(y_train, minlength=10)
    test_counts = np.bincount(y_test, minlength=10)
    total = train_counts + test_counts
    assert np.all(np.abs(test_counts - total * 0.25) <= 1)
    # The same call gives the same split.
    again = load_digits()
    np.testing.assert_array_equal(again.X_test, X_test)
    np.testing.assert_array_equal(again.y_train, y_train)


# --- IDX files --------------------------------------------------------------------


def _idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.asarray(array, dtype=dtype).tobytes()


def _write(path, data: bytes, compress: bool):
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def _mnist_like(n, rows=4, cols=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("kind, prefix", [("train", "train"), ("test", "t10k")])
def test_load_idx_round_trip(tmp_path, compress, kind, prefix):
    images, labels = _mnist_like(7)
    _write(tmp_path / f"{prefix}-images-idx3-ubyte", _idx_bytes(images), compress)
    _write(tmp_path / f"{prefix}-labels-idx1-ubyte", _idx_bytes(labels), compress)
    X, y = load_idx(tmp_path, kind=kind)
    assert X.shape == (7, 12) and X.dtype == np.float32
    assert y.shape == (7,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.round(X * 255).astype(np.uint8), images.reshape(7, 12))
    np.testing.assert_array_equal(y, labels)
    assert X.min() == 0.0 and X.max() == 1.0


def test_read_idx_other_dtypes(tmp_path):
    values = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    (tmp_path / "a").write_bytes(_idx_bytes(values, code=0x0B))
    back = read_idx(tmp_path / "a")
    assert back.dtype == np.int16 and back.dtype.isnative
    np.testing.assert_array_equal(back, values)
    floats = np.linspace(-1, 1, 5, dtype=np.float32)
    (tmp_path / "b").write_bytes(_idx_bytes(floats, code=0x0D))
    np.testing.assert_array_equal(read_idx(tmp_path / "b"), floats)


def test_load_idx_missing_file(tmp_path):
    images, _ = _mnist_like(3)
    _write(tmp_path / "train-images-idx3-ubyte", _idx_bytes(images), False)
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_idx(tmp_path)
    with pytest.raises(ValueError, match="kind"):
        load_idx(tmp_path, kind="validation")


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("cut", [2, 10, 20, -1])
def test_load_idx_truncated(tmp_path, compress, cut):
    images, labels = _mnist_like(5)
    data = _idx_bytes(images)
    _write(tmp_path / "train-images-idx3-ubyte", data[:cut], compress)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_bytes(labels), compress)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*truncated"):
        load_idx(tmp_path)


def test_load_idx_truncated_gzip_stream(tmp_path):
    images, labels = _mnist_like(50)
    compressed = gzip.compress(_idx_bytes(images))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(compressed[: len(compressed) // 2])
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_bytes(labels), True)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        load_idx(tmp_path)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b"\x01" + b[1:], "magic"),
        (lambda b: b[:2] + b"\x42" + b[3:], "type code"),
        (lambda b: b + b"\x00", "unexpected bytes"),
    ],
)
def test_load_idx_corrupt(tmp_path, mutate, message):
    images, labels = _mnist_like(5)
    _write(tmp_path / "train-images-idx3-ubyte", mutate(_idx_bytes(images)), False)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_bytes(labels), False)
    with pytest.raises(ValueError, match=message) as info:
        load_idx(tmp_path)
    assert os.fspath(tmp_path / "train-images-idx3-ubyte") in str(info.value)


def test_load_idx_count_and_shape_mismatch(tmp_path):
    images, labels = _mnist_like(5)
    _write(tmp_path / "train-images-idx3-ubyte", _idx_bytes(images), False)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_bytes(labels[:4]), False)
    with pytest.raises(ValueError, match="5 images.*4 labels"):
        load_idx(tmp_path)
    # Labels where images should be: wrong number of dimensions.
    _write(tmp_path / "train-images-idx3-ubyte", _idx_bytes(labels), False)
    with pytest.raises(ValueError, match="3-D"):
        load_idx(tmp_path)


# --- synthetic sets ---------------------------------------------------------------


@pytest.mark.parametrize("n_samples, n_classes", [(300, 3), (301, 3), (10, 4), (1, 1)])
def test_make_spirals(n_samples, n_classes):
    X, y = make_spirals(n_samples, n_classes=n_classes, seed=5)
    assert X.shape == (n_samples, 2) and X.dtype == np.float32
    assert y.shape == (n_samples,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=n_classes)
    assert len(counts) == n_classes and counts.max() - counts.min() <= 1
    # Radius grows along each arm in [0, 1]; noise only moves the angle.
    assert np.all(np.hypot(X[:, 0], X[:, 1]) <= 1.0 + 1e-6)
    X2, y2 = make_spirals(n_samples, n_classes=n_classes, seed=5)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_make_spirals_noise_and_seed():
    X0, y0 = make_spirals(90, noise=0.0, seed=0)
    X1, _ = make_spirals(90, noise=0.0, seed=1)
    # Without noise the points are the same set; only the row order differs.
    assert sorted(map(tuple, X0.tolist())) == sorted(map(tuple, X1.tolist()))
    Xn, _ = make_spirals(90, noise=0.5, seed=0)
    assert not np.allclose(np.sort(X0, axis=0), np.sort(Xn, axis=0))
    with pytest.raises(ValueError, match="n_samples"):
        make_spirals(0)
    with pytest.raises(ValueError, match="noise"):
        make_spirals(noise=-1.0)
    with pytest.raises(TypeError, match="n_classes"):
        make_spirals(n_classes=2.5)


def test_make_moons():
    X, y = make_moons(201, noise=0.0, seed=0)
    assert X.shape == (201, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100, 101]
    # Noise-free: class 0 on the unit circle's upper half, class 1 on the circle
    # of radius 1 around (1, 0.5), lower half.
    upper, lower = X[y == 0].astype(np.float64), X[y == 1].astype(np.float64)
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    assert np.all(upper[:, 1] >= -1e-6)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert np.all(lower[:, 1] <= 0.5 + 1e-6)
    Xa, ya = make_moons(seed=3)
    Xb, yb = make_moons(seed=3)
    np.testing.assert_array_equal(Xa, Xb)
    np.testing.assert_array_equal(ya, yb)
    assert Xa.shape == (200, 2)
    assert not np.array_equal(Xa, make_moons(seed=4)[0])
    with pytest.raises(ValueError, match="noise"):
        make_moons(noise=float("nan"))


def test_loader_refuses_dtypes_tensors_cannot_hold():
    images = np.zeros((4, 3), dtype=np.uint8)
    with pytest.raises(TypeError, match="field 0.*uint8"):
        DataLoader(TensorDataset(images, np.arange(4)))

    class Bytes(_Squares):
        def __getitem__(self, i):
            return np.full(2, i, dtype=np.int8), i

    loader = DataLoader(Bytes(3), batch_size=2)
    with pytest.raises(TypeError, match="field 0.*int8"):
        next(iter(loader))


def test_tensor_dataset_accepts_tensor_requiring_grad():
    X = np.arange(6, dtype=np.float64).reshape(3, 2)
    weights = from_numpy(X.copy()).requires_grad_(True)
    ds = TensorDataset(weights, np.arange(3))
    ((xb, yb),) = DataLoader(ds, batch_size="full")
    np.testing.assert_array_equal(xb.numpy(), X)
