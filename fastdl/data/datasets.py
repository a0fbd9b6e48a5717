"""Built-in data sets: scikit-learn's digits, MNIST-style IDX files, synthetic 2-D sets.

Every loader returns NumPy arrays: inputs as float32, labels as int64.
"""

from __future__ import annotations

import gzip
import numbers
import os
import stat
import zlib
from typing import BinaryIO, NamedTuple

import numpy as np


class Split(NamedTuple):
    """A train/test split of NumPy arrays (unpacks as ``X_train, y_train, X_test, y_test``)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def load_digits(test_size: float = 0.25, random_state: int = 0) -> Split:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), split.

    Pixels (0..16) are scaled to [0, 1] by dividing by 16. The split is
    stratified by class, made by ``sklearn.model_selection.train_test_split``
    with ``test_size`` and ``random_state`` (default 0.25 and 0: 1347 training
    and 450 test samples). Nothing is downloaded.

    Returns:
        :class:`Split` ``(X_train, y_train, X_test, y_test)``: ``X_*`` float32
        of shape ``(N, 64)``, ``y_*`` int64 of shape ``(N,)``.

    Example:
        >>> X_train, y_train, X_test, y_test = load_digits()
        >>> X_train.shape, X_test.shape, X_train.dtype, y_train.dtype
        ((1347, 64), (450, 64), dtype('float32'), dtype('int64'))
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    X = (np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=random_state, stratify=y
    )
    return Split(
        np.ascontiguousarray(X_train),
        np.ascontiguousarray(y_train),
        np.ascontiguousarray(X_test),
        np.ascontiguousarray(y_test),
    )


# --- IDX files (MNIST, Fashion-MNIST) -------------------------------------------

# IDX type code -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


# Deflate expands at most about 1032:1: a .gz header declaring more data than that
# is a lie, refused before inflating.
_MAX_DEFLATE_RATIO = 1032
_CHUNK = 1 << 20


def _read_exact(f: BinaryIO, out: np.ndarray) -> int:
    """Fill ``out``'s bytes from ``f`` in bounded chunks; the number of bytes read."""
    raw = out.reshape(-1).view(np.uint8)
    done = 0
    while done < raw.size:
        chunk = f.read(min(_CHUNK, raw.size - done))
        if not chunk:
            break
        raw[done : done + len(chunk)] = np.frombuffer(chunk, np.uint8)
        done += len(chunk)
    return done


def _parse_idx(f: BinaryIO, path: str, limit: int) -> np.ndarray:
    """The IDX array in stream ``f``, whose decoded size is at most ``limit`` bytes."""
    magic = f.read(4)
    if len(magic) < 4:
        raise ValueError(
            f"{path}: truncated IDX file: {len(magic)} bytes, shorter than the 4-byte magic number"
        )
    if magic[0] != 0 or magic[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file: magic number starts with bytes "
            f"{magic[0]:#04x} {magic[1]:#04x}, expected 0x00 0x00"
        )
    code, ndim = magic[2], magic[3]
    if code not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: unknown IDX type code {code:#04x}; expected one of "
            f"{', '.join(f'{c:#04x}' for c in _IDX_DTYPES)}"
        )
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} "
            f"bytes, the file has {4 + len(raw_dims)}"
        )
    dims = tuple(int.from_bytes(raw_dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    dtype = _IDX_DTYPES[code]
    count = 1
    for d in dims:
        count *= d
    expected = header + count * dtype.itemsize
    if expected > limit:
        raise ValueError(
            f"{path}: truncated IDX file: dims {dims} of {dtype.name} need "
            f"{expected} bytes, the file can hold at most {limit}"
        )
    data = np.empty(count, dtype)
    got = _read_exact(f, data)
    if got < data.nbytes:
        raise ValueError(
            f"{path}: truncated IDX file: dims {dims} of {dtype.name} need "
            f"{expected} bytes, the file has {header + got}"
        )
    extra = len(f.read(_CHUNK))
    if extra:
        more = "" if extra < _CHUNK else " or more"
        raise ValueError(
            f"{path}: corrupt IDX file: {extra}{more} unexpected bytes "
            f"after the data of dims {dims}"
        )
    return data.reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """Read one IDX file (raw or gzip-compressed when the name ends in ``.gz``).

    The header is validated strictly: two zero bytes, a known type code, the
    number of dimensions, then one big-endian uint32 per dimension; the data
    must fill the rest of the file exactly. The dimensions are checked against
    the file's size before anything is allocated, and a ``.gz`` stream is
    inflated no further than the header implies. The array comes back in native
    byte order with the type the file declares.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a regular file, is truncated, has trailing
            bytes, a bad magic number or an unknown type code (the message names
            the path).

    Example:
        >>> images = read_idx("mnist/train-images-idx3-ubyte.gz")  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'))
    """
    path = os.fspath(path)
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if not path.endswith(".gz"):
            return _parse_idx(f, path, size)
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as stream:
                return _parse_idx(stream, path, size * _MAX_DEFLATE_RATIO)
        except (OSError, EOFError, zlib.error) as exc:
            # BadGzipFile is an OSError; a cut-off stream is an EOFError.
            raise ValueError(f"{path}: not a readable gzip file ({exc})") from exc


def _find_idx(directory: str, name: str) -> str:
    candidates = [os.path.join(directory, name), os.path.join(directory, name + ".gz")]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"IDX file not found: tried {candidates[0]} and {candidates[1]}")


def load_idx(directory, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST or Fashion-MNIST from IDX files under their standard names.

    ``kind="train"`` reads ``train-images-idx3-ubyte`` and
    ``train-labels-idx1-ubyte``; ``kind="test"`` reads
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``. Each may be raw
    or gzip-compressed with a ``.gz`` suffix (the raw file wins if both exist).
    Images must be a 3-D unsigned-byte IDX array ``(N, rows, cols)``, labels a
    1-D unsigned-byte array ``(N,)``.

    Returns:
        ``(X, y)``: ``X`` float32 of shape ``(N, rows * cols)`` scaled to
        [0, 1] by dividing by 255, ``y`` int64 of shape ``(N,)``.

    Raises:
        FileNotFoundError: a file is missing (the message names the paths tried).
        ValueError: a file is truncated, corrupt, of the wrong type or shape, or
            the image and label counts differ (the message names the path).

    Example:
        >>> X, y = load_idx("data/fashion-mnist", kind="test")  # doctest: +SKIP
        >>> X.shape, y.shape  # doctest: +SKIP
        ((10000, 784), (10000,))
    """
    if kind not in _IDX_NAMES:
        raise ValueError(f"load_idx: kind must be 'train' or 'test'; got {kind!r}")
    directory = os.fspath(directory)
    image_name, label_name = _IDX_NAMES[kind]
    image_path = _find_idx(directory, image_name)
    label_path = _find_idx(directory, label_name)

    images = read_idx(image_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"{image_path}: expected a 3-D unsigned-byte IDX array (N, rows, cols); "
            f"got {images.ndim}-D {images.dtype}"
        )
    labels = read_idx(label_path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{label_path}: expected a 1-D unsigned-byte IDX array (N,); "
            f"got {labels.ndim}-D {labels.dtype}"
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{image_path} holds {images.shape[0]} images but {label_path} holds "
            f"{labels.shape[0]} labels"
        )
    n, rows, cols = images.shape
    X = images.reshape(n, rows * cols).astype(np.float32)
    X /= np.float32(255.0)
    return X, labels.astype(np.int64)


# --- synthetic 2-D sets ----------------------------------------------------------


def _check_count(name: str, value, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def _check_noise(noise) -> float:
    if not isinstance(noise, numbers.Real) or isinstance(noise, (bool, np.bool_)):
        raise TypeError(f"noise must be a non-negative number; got {noise!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be a non-negative number; got {noise}")
    return float(noise)


def make_spirals(
    n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, seed=0
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved 2-D spiral arms, one per class (the CS231n toy set).

    Class ``k`` has points at radius ``r`` in [0, 1] and angle
    ``4 * (k + r) + noise * N(0, 1)`` radians. Classes get
    ``n_samples // n_classes`` points each, the first ``n_samples % n_classes``
    classes one more; the rows are shuffled. Same ``seed`` (an int or None for
    fresh entropy), same data.

    Returns:
        ``(X, y)``: ``X`` float32 ``(n_samples, 2)``, ``y`` int64 ``(n_samples,)``.

    Example:
        >>> X, y = make_spirals(300, n_classes=3)
        >>> X.shape, np.bincount(y).tolist()
        ((300, 2), [100, 100, 100])
    """
    n_samples = _check_count("n_samples", n_samples, 1)
    n_classes = _check_count("n_classes", n_classes, 1)
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    counts = [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]
    xs, ys = [], []
    for k, count in enumerate(counts):
        r = np.linspace(0.0, 1.0, count)
        theta = 4.0 * (k + r) + noise * rng.standard_normal(count)
        xs.append(np.column_stack([r * np.sin(theta), r * np.cos(theta)]))
        ys.append(np.full(count, k, dtype=np.int64))
    order = rng.permutation(n_samples)
    X = np.concatenate(xs)[order].astype(np.float32)
    y = np.concatenate(ys)[order]
    return X, y


def make_moons(n_samples: int = 200, noise: float = 0.1, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (the construction of scikit-learn's ``make_moons``).

    Class 0 is the upper half circle of radius 1 around (0, 0) with
    ``n_samples // 2`` points, class 1 the lower one around (1, 0.5) with the
    rest; Gaussian noise of standard deviation ``noise`` is added and the rows
    are shuffled. Same ``seed`` (an int or None for fresh entropy), same data.

    Returns:
        ``(X, y)``: ``X`` float32 ``(n_samples, 2)``, ``y`` int64 ``(n_samples,)``.

    Example:
        >>> X, y = make_moons(200, noise=0.1)
        >>> X.shape, np.bincount(y).tolist()
        ((200, 2), [100, 100])
    """
    n_samples = _check_count("n_samples", n_samples, 1)
    noise = _check_noise(noise)
    rng = np.random.default_rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    X = np.concatenate(
        [
            np.column_stack([np.cos(t_out), np.sin(t_out)]),
            np.column_stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)]),
        ]
    )
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(n_samples)
    return X[order].astype(np.float32), y[order]
