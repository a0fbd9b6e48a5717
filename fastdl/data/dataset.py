"""Datasets: the abstract :class:`Dataset` and the array-backed :class:`TensorDataset`.

A dataset maps an index to a sample and knows its length, as in PyTorch. A
dataset that can also fetch a whole batch in one call defines
``__getitems__(indices)`` (PyTorch's name for the same hook); the
:class:`~fastdl.data.DataLoader` then batches with one fancy-indexing call per
field instead of a Python loop over samples.
"""

from __future__ import annotations

import abc
import numbers

import numpy as np


def _tensor_api():
    """``(Tensor, from_numpy)`` from :mod:`fastdl.tensor`, imported lazily.

    Lazy so that ``fastdl.data`` can be imported by ``fastdl/__init__.py``
    without an import cycle.
    """
    from fastdl.tensor import Tensor, from_numpy

    return Tensor, from_numpy


def _is_tensor(x) -> bool:
    try:
        Tensor, _ = _tensor_api()
    except ModuleNotFoundError as exc:
        if exc.name != "fastdl.tensor":
            raise
        return False
    return isinstance(x, Tensor)


def _tensor_to_numpy(t) -> np.ndarray:
    """The CPU array behind Tensor ``t`` (detached first: ``numpy()`` refuses
    tensors that require grad)."""
    t = t.detach()
    if getattr(t, "device", "cpu") != "cpu":
        t = t.cpu()
    return t.numpy()


class Dataset(abc.ABC):
    """A map-style data set: ``dataset[i]`` is sample ``i`` for ``0 <= i < len(dataset)``.

    Subclasses implement ``__getitem__`` and ``__len__``. A sample is a tuple of
    fields (for example ``(x, y)``) or a single array; each field is a NumPy
    array, a Tensor or a Python number.

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
    def __getitem__(self, index):
        """Return sample ``index``."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """Return the number of samples."""


class TensorDataset(Dataset):
    """Samples are rows of one or more arrays (or Tensors) sharing their first dimension.

    ``dataset[i]`` with an integer ``i`` is the tuple of row ``i`` of every
    field; ``dataset[idx]`` with a 1-D integer index array (or a slice) is the
    tuple of the selected rows, batched — this is how the
    :class:`~fastdl.data.DataLoader` builds a batch in one call per field. Fields
    given as Tensors come back as Tensors, fields given as arrays come back as
    arrays. Anything ``np.asarray`` accepts (lists, scalars excepted) is turned
    into an array once, at construction.

    Example:
        >>> X = np.arange(12, dtype=np.float32).reshape(6, 2)
        >>> y = np.array([0, 1, 0, 1, 0, 1])
        >>> ds = TensorDataset(X, y)
        >>> len(ds)
        6
        >>> xb, yb = ds[np.array([4, 0])]
        >>> xb.tolist(), yb.tolist()
        ([[8.0, 9.0], [0.0, 1.0]], [0, 0])
    """

    def __init__(self, *tensors):
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

    def __getitem__(self, index):
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"index {index} is out of range for a dataset of size {n}")
            # ``a[i, ...]`` keeps a 0-d array (not a NumPy scalar) for 1-D fields.
            rows = tuple(a[index, ...] for a in self._arrays)
        else:
            rows = self._take(index)
        return self._wrap(rows)

    def __getitems__(self, indices):
        """Return the batch of samples ``indices`` (a 1-D integer array or a slice)."""
        return self._wrap(self._take(indices))

    def _take(self, index):
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

    def _wrap(self, rows):
        if not any(self._was_tensor):
            return rows
        _, from_numpy = _tensor_api()
        return tuple(
            from_numpy(np.ascontiguousarray(r)) if t else r for r, t in zip(rows, self._was_tensor)
        )

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self._arrays)
        return f"TensorDataset({shapes})"
