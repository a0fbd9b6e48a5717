"""Data sets, as ``torch.utils.data`` has them: :class:`Dataset`, :class:`IterableDataset`,
:class:`TensorDataset`, :class:`ConcatDataset`, :class:`ChainDataset`, :class:`Subset`
and :func:`random_split`.

A map-style data set maps an index to a sample and knows its length; an iterable
data set yields its samples. :class:`TensorDataset` (and a :class:`Subset` of one)
can also gather a whole batch with one fancy-indexing call per field, which the
:class:`~fastdl.utils.data.DataLoader` uses instead of a Python loop over samples.
"""

from __future__ import annotations

import abc
import bisect
import itertools
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from fastdl.utils.data import sampler as _sampler

T_co = TypeVar("T_co", covariant=True)

__all__ = [
    "ChainDataset",
    "ConcatDataset",
    "Dataset",
    "IterableDataset",
    "Subset",
    "TensorDataset",
    "random_split",
]


def _tensor_api():
    """``(Tensor, from_numpy)`` from :mod:`fastdl.tensor`, imported lazily.

    Lazy so that the data modules import without an import cycle while
    ``fastdl/__init__.py`` is still running.
    """
    from fastdl.tensor import Tensor, from_numpy

    return Tensor, from_numpy


def _is_tensor(x: Any) -> bool:
    Tensor, _ = _tensor_api()
    return isinstance(x, Tensor)


def _tensor_to_numpy(t: Any) -> np.ndarray:
    """The CPU array behind Tensor ``t`` (detached first: ``numpy()`` refuses
    tensors that require grad)."""
    t = t.detach()
    if str(getattr(t, "device", "cpu")) != "cpu":
        t = t.cpu()
    return t.numpy()


def _wrap_array(array: np.ndarray) -> Any:
    """A Tensor over ``array`` (0-d arrays stay 0-d; made C-contiguous if needed)."""
    _, from_numpy = _tensor_api()
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    return from_numpy(array)


class Dataset(abc.ABC, Generic[T_co]):
    """A map-style data set: ``dataset[i]`` is sample ``i`` for ``0 <= i < len(dataset)``.

    Subclasses implement ``__getitem__`` and, for the default samplers, ``__len__``.
    A sample is any structure :func:`~fastdl.utils.data.default_collate` batches:
    tuples, lists, dicts of arrays, Tensors, numbers or strings. ``a + b`` is
    ``ConcatDataset([a, b])``. A subclass may define ``__getitems__(indices)``
    returning the list of samples ``indices`` (PyTorch's batched-fetch hook).

    Example:
        >>> class Squares(Dataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, i):
        ...         return np.float32(i), np.float32(i * i)
        >>> len(Squares()), Squares()[3]
        (4, (np.float32(3.0), np.float32(9.0)))
    """

    @abc.abstractmethod
    def __getitem__(self, index: Any) -> T_co:
        """Return sample ``index``."""

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """A data set that is a stream: subclasses implement ``__iter__``.

    With ``num_workers > 0`` every worker iterates its own copy; split the work
    with :func:`~fastdl.utils.data.get_worker_info`, as in PyTorch. ``a + b`` is
    ``ChainDataset([a, b])``.

    Example:
        >>> class Count(IterableDataset):
        ...     def __iter__(self):
        ...         return iter(range(3))
        >>> list(Count())
        [0, 1, 2]
    """

    @abc.abstractmethod
    def __iter__(self) -> Iterator[T_co]:
        """Yield the samples."""

    def __getitem__(self, index: Any) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} is iterable: it has no __getitem__")

    def __add__(self, other: Dataset) -> ChainDataset:
        return ChainDataset([self, other])


class TensorDataset(Dataset[tuple]):
    """Samples are rows of one or more arrays (or Tensors) sharing their first dimension.

    ``dataset[i]`` with an integer ``i`` is the tuple of row ``i`` of every
    field (a 1-D field gives a 0-d row, shape ``()``, as in PyTorch);
    ``dataset[idx]`` with a 1-D integer index array (or a slice) is the tuple of
    the selected rows, batched. Fields given as Tensors come back as Tensors,
    fields given as arrays come back as arrays. Anything ``np.asarray`` accepts
    (scalars excepted) is turned into an array once, at construction.

    Example:
        >>> X = np.arange(12, dtype=np.float32).reshape(6, 2)
        >>> y = np.array([0, 1, 0, 1, 0, 1])
        >>> ds = TensorDataset(X, y)
        >>> len(ds), ds[1][1].shape
        (6, ())
        >>> xb, yb = ds[np.array([4, 0])]
        >>> xb.tolist(), yb.tolist()
        ([[8.0, 9.0], [0.0, 1.0]], [0, 0])
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor or array")
        arrays = []
        was_tensor = []
        for position, field in enumerate(tensors):
            is_tensor = _is_tensor(field)
            array = _tensor_to_numpy(field) if is_tensor else np.asarray(field)
            if array.ndim == 0:
                raise ValueError(
                    f"TensorDataset: tensor {position} is 0-dimensional; every "
                    "field needs a first (sample) dimension"
                )
            if array.dtype.hasobject:
                raise TypeError(
                    f"TensorDataset: tensor {position} has object dtype; expected a numeric array"
                )
            arrays.append(array)
            was_tensor.append(is_tensor)
        sizes = [a.shape[0] for a in arrays]
        if len(set(sizes)) != 1:
            raise ValueError(
                "TensorDataset: all tensors must have the same size in the first "
                f"dimension; got sizes {sizes}"
            )
        self.tensors = tuple(tensors)
        self._arrays = tuple(arrays)
        self._was_tensor = tuple(was_tensor)

    def __len__(self) -> int:
        return self._arrays[0].shape[0]

    def __getitem__(self, index: Any) -> tuple:
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"index {index} is out of range for a dataset of size {n}")
            # ``a[i, ...]`` keeps a 0-d array (not a NumPy scalar) for 1-D fields.
            rows = tuple(a[index, ...] for a in self._arrays)
        else:
            rows = self._take(index)
        return self._wrap(rows)

    def _take(self, index: Any) -> tuple[np.ndarray, ...]:
        """The rows ``index`` (a slice or 1-D integer array) of every field, as arrays."""
        if isinstance(index, slice):
            return tuple(a[index] for a in self._arrays)
        index = np.asarray(index)
        if index.ndim != 1:
            raise IndexError(
                "TensorDataset index must be an integer, a slice or a 1-D integer "
                f"array; got an array of shape {index.shape}"
            )
        if index.size == 0:
            index = index.astype(np.intp)
        if not np.issubdtype(index.dtype, np.integer):
            raise IndexError(
                f"TensorDataset index array must have an integer dtype; got {index.dtype}"
            )
        return tuple(a[index] for a in self._arrays)

    def _wrap(self, rows: tuple[np.ndarray, ...]) -> tuple:
        return tuple(_wrap_array(r) if t else r for r, t in zip(rows, self._was_tensor))

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self._arrays)
        return f"TensorDataset({shapes})"


def _batch_gatherer(dataset: Any) -> Callable[[np.ndarray], tuple[np.ndarray, ...]] | None:
    """A function taking a 1-D index array to the batched fields (arrays) of ``dataset``,
    for data sets that have one (a TensorDataset, a Subset of one); else None."""
    if isinstance(dataset, TensorDataset):
        return dataset._take
    if isinstance(dataset, Subset):
        inner = _batch_gatherer(dataset.dataset)
        if inner is not None:
            indices = np.asarray(dataset.indices, dtype=np.intp)
            return lambda index: inner(indices[index])
    return None


class Subset(Dataset[T_co]):
    """The samples ``indices`` of ``dataset``, in that order.

    Example:
        >>> ds = Subset(TensorDataset(np.arange(10)), [7, 2])
        >>> len(ds), int(ds[0][0])
        (2, 7)
    """

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: Any) -> T_co:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list:
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset[T_co]):
    """Map-style data sets one after the other.

    Example:
        >>> ds = ConcatDataset([TensorDataset(np.arange(3)), TensorDataset(np.arange(10, 12))])
        >>> len(ds), int(ds[3][0]), ds.cumulative_sizes
        (5, 10, [3, 5])
    """

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> T_co:
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = n + idx
        if idx >= n:
            raise IndexError(f"index {idx} is out of range for a dataset of size {n}")
        dataset_idx = bisect.bisect_right(self.cumulative_sizes, idx)
        start = 0 if dataset_idx == 0 else self.cumulative_sizes[dataset_idx - 1]
        return self.datasets[dataset_idx][idx - start]


class ChainDataset(IterableDataset):
    """Iterable data sets one after the other.

    Example:
        >>> class Count(IterableDataset):
        ...     def __iter__(self):
        ...         return iter(range(2))
        >>> list(ChainDataset([Count(), Count()]))
        [0, 1, 0, 1]
    """

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Fractions summing to 1 turned into lengths, PyTorch's way: floors, then the
    remainder handed out one by one from the first split."""
    counts = []
    for i, frac in enumerate(lengths):
        if frac < 0 or frac > 1:
            raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts.append(int(math.floor(n * frac)))
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    for i, length in enumerate(counts):
        if length == 0:
            warnings.warn(
                f"Length of split at index {i} is 0. This might result in an empty dataset.",
                stacklevel=3,
            )
    return counts


def random_split(
    dataset: Dataset[T_co],
    lengths: Sequence[int | float],
    generator: Any = None,
) -> list[Subset[T_co]]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of ``lengths``.

    ``lengths`` are sizes summing to ``len(dataset)``, or fractions summing to 1
    (each split gets ``floor(n * fraction)``, the remainder going one by one to
    the first splits, as in PyTorch). The permutation comes from ``generator``
    (a ``fastdl.Generator``; by default fastdl's global one, so it follows
    ``fastdl.manual_seed``).

    Example:
        >>> import fastdl
        >>> train, val = random_split(TensorDataset(np.arange(10)), [0.75, 0.25],
        ...                           generator=fastdl.Generator().manual_seed(0))
        >>> len(train), len(val)
        (8, 2)
    """
    n = len(dataset)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        lengths = _split_lengths(n, lengths)
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = _sampler.randperm(n, generator).tolist()
    return [
        Subset(dataset, indices[end - length : end])
        for end, length in zip(itertools.accumulate(lengths), lengths)
    ]
