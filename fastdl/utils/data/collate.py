"""Batching samples: :func:`default_collate` (stack a list of samples into a batch)
and :func:`default_convert` (turn one sample's arrays into Tensors), as in PyTorch.

The structure of a sample is kept: a tuple of fields gives a tuple of batched
fields (PyTorch gives a list there; both unpack alike), a list a list, a dict a
dict with the same keys, a namedtuple the same namedtuple. Arrays, Tensors and
NumPy scalars are stacked into a Tensor of their dtype; Python ints into int64,
floats into float64, bools into bool; strings are left as they come (the
list of a batch's strings; a tuple of them inside tuple samples, as in PyTorch). A dtype fastdl
tensors cannot hold (uint8, int32, float16, ...) raises TypeError naming the field.
"""

from __future__ import annotations

import collections.abc
import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.utils.data.dataset import _is_tensor, _tensor_to_numpy, _wrap_array

__all__ = ["default_collate", "default_convert"]


class CollateError(ValueError, RuntimeError):
    """Samples that cannot be stacked (fields of different sizes): PyTorch raises
    RuntimeError there, fastdl's shape errors are ValueErrors; this is both."""


def _describe(where: str | None) -> str:
    return "sample" if where is None else where


def _child(where: str | None, key: Any) -> str:
    return f"field {key!r}" if where is None else f"{where}[{key!r}]"


def check_dtype(dtype: np.dtype, where: str) -> None:
    """TypeError unless fastdl tensors hold ``dtype``; ``where`` names the field."""
    if dtype not in dtypes.SUPPORTED:
        raise TypeError(
            f"DataLoader: {where} has dtype {dtype}, which fastdl tensors do not "
            "hold; expected float32, float64, int64 or bool (convert the data "
            "first, e.g. X.astype(np.float32) / 255 or y.astype(np.int64))"
        )


def as_tensor(array: np.ndarray, where: str) -> Any:
    """``array`` as a Tensor after the dtype check."""
    check_dtype(array.dtype, where)
    return _wrap_array(array)


def _is_numpy_numeric(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic)) and not isinstance(x, (np.str_, np.bytes_))


def _stack(arrays: list[np.ndarray], where: str) -> np.ndarray:
    shape = arrays[0].shape
    for position, a in enumerate(arrays):
        if a.shape != shape:
            raise CollateError(
                f"default_collate: {where}: stack expects each tensor to be equal size, "
                f"but got {list(shape)} at entry 0 and {list(a.shape)} at entry {position}"
            )
    return np.stack(arrays)


def _collate(batch: Sequence, where: str | None) -> Any:
    elem = batch[0]
    if _is_tensor(elem):
        stacked = as_tensor(
            _stack([_tensor_to_numpy(t) for t in batch], _describe(where)), _describe(where)
        )
        device = str(getattr(elem, "device", "cpu"))
        return stacked if device == "cpu" else stacked.to(device)
    if _is_numpy_numeric(elem):
        arrays = [np.asarray(a) for a in batch]
        if arrays[0].dtype.kind in "OSUV":
            raise TypeError(
                f"default_collate: {_describe(where)}: arrays of dtype {arrays[0].dtype} "
                "cannot be batched"
            )
        return as_tensor(_stack(arrays, _describe(where)), _describe(where))
    if isinstance(elem, bool):
        return as_tensor(np.array(batch), _describe(where))
    if isinstance(elem, int):
        return as_tensor(np.array(batch, dtype=np.int64), _describe(where))
    if isinstance(elem, float):
        return as_tensor(np.array(batch, dtype=np.float64), _describe(where))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: _collate([d[key] for d in batch], _child(where, key)) for key in elem}
        try:
            clone = copy.copy(elem)
            clone.update(collated)
            return clone
        except (TypeError, AttributeError):
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple
        return type(elem)(
            *(_collate(s, _child(where, k)) for k, s in zip(elem._fields, zip(*batch)))
        )
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise CollateError(
                f"default_collate: {_describe(where)}: each element in list of batch "
                "should be of equal size"
            )
        fields = [_collate(s, _child(where, k)) for k, s in enumerate(zip(*batch))]
        if isinstance(elem, tuple):
            return tuple(fields)
        try:
            return type(elem)(fields)
        except TypeError:
            return fields
    raise TypeError(
        "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
        f"lists; found {type(elem)}"
    )


def default_collate(batch: list) -> Any:
    """Stack a list of samples into one batch, field by field (PyTorch's rules; see
    the module docstring).

    Example:
        >>> xb, yb = default_collate([(np.zeros(2, np.float32), 0), (np.ones(2, np.float32), 1)])
        >>> tuple(xb.shape), yb.dtype
        ((2, 2), dtype('int64'))
        >>> default_collate([{"x": 1.5, "name": "a"}, {"x": 2.5, "name": "b"}])["name"]
        ['a', 'b']
    """
    if not isinstance(batch, collections.abc.Sequence) or len(batch) == 0:
        raise ValueError("default_collate: expected a non-empty list of samples")
    return _collate(list(batch), None)


def default_convert(data: Any) -> Any:
    """One sample with its NumPy arrays (and NumPy scalars) turned into Tensors, the
    structure kept; numbers, strings and Tensors are left as they are. The loader's
    ``collate_fn`` when ``batch_size=None``.

    Example:
        >>> x, y = default_convert((np.arange(3), 7))
        >>> tuple(x.shape), y
        ((3,), 7)
    """
    if _is_tensor(data):
        return data
    if _is_numpy_numeric(data):
        array = np.asarray(data)
        if array.dtype.kind in "OSUV":
            return data
        return as_tensor(array, "sample")
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(data[key]) for key in data}
        try:
            clone = copy.copy(data)
            clone.update(converted)
            return clone
        except (TypeError, AttributeError):
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return tuple(default_convert(d) for d in data)
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
