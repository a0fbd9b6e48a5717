"""The CUDA backend's array functions (see :mod:`fastdl.backends`): allocation from the
caching allocator, the counted host <-> device copies, strided views, casts and
accumulation, each on device arrays and without a trip through the host.

Example::

    >>> x = from_host(np.ones((2, 3), np.float32))   # doctest: +SKIP
    >>> permute(x, (1, 0)).shape                      # doctest: +SKIP
    (3, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl.backends.cuda import generic, memory, views
from fastdl.backends.strides import view_strides

DEVICE = "cuda:0"


def owns(array: Any) -> bool:
    """Whether ``array`` is a numba-cuda device array (the simulator's included)."""
    return bool(getattr(type(array), "__cuda_ndarray__", False))


def full(shape: tuple, value: Any, dtype: Any) -> Any:
    out = memory.empty(shape, dtype)
    generic.fill(out, value)
    return out


def to_host(array: Any, copy: bool = True) -> np.ndarray:
    """A host copy (always a new array, whatever ``copy`` says)."""
    return memory.to_host(array)


def is_contiguous(array: Any) -> bool:
    return array.is_c_contiguous()


def contiguous(array: Any) -> Any:
    """``array``, or a C-contiguous copy on the device when it is strided."""
    if array.is_c_contiguous():
        return array
    out = memory.empty(array.shape, array.dtype)
    generic.copy(array, out)
    return out


def reshape(array: Any, shape: tuple) -> Any:
    """A view when the strides allow (as NumPy and PyTorch), else a contiguous copy."""
    shape = tuple(shape)
    if array.is_c_contiguous():
        return array.reshape(shape)
    strides = view_strides(tuple(array.shape), tuple(array.strides), shape)
    if strides is not None and min(strides, default=0) >= 0:
        return views.strided(array, shape, strides)
    return contiguous(array).reshape(shape)


def permute(array: Any, dims: tuple) -> Any:
    return views.permute(array, tuple(int(d) for d in dims))


def broadcast_to(array: Any, shape: tuple) -> Any:
    return views.broadcast_to(array, tuple(shape))


def expand_dims(array: Any, axis: int) -> Any:
    shape = list(array.shape)
    shape.insert(axis, 1)
    return reshape(array, tuple(shape))


def cast(array: Any, dtype: Any) -> Any:
    out = memory.empty(array.shape, dtype)
    generic.copy(array, out)
    return out


def add_into(dst: Any, src: Any) -> None:
    generic.add(dst, src, dst)


def view(array: Any, index: tuple) -> Any:
    return array[index]


def arrays() -> dict:
    """The array functions, by name, as the backend namespace carries them."""
    return {
        "device": DEVICE,
        "owns": owns,
        "empty": memory.empty,
        "full": full,
        "from_host": memory.to_device,
        "to_host": to_host,
        "is_contiguous": is_contiguous,
        "contiguous": contiguous,
        "reshape": reshape,
        "permute": permute,
        "broadcast_to": broadcast_to,
        "expand_dims": expand_dims,
        "cast": cast,
        "add_into": add_into,
        "view": view,
    }
