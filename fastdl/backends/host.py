"""Host memory: the array functions of the CPU backends ("numba" and "reference").

Every backend carries, besides its kernels, one namespace of array functions on its
own device's arrays (see :mod:`fastdl.backends`). On the host they are NumPy's, so
the two CPU backends share this module.

Example::

    >>> import numpy as np
    >>> x = np.zeros((2, 3), np.float32)
    >>> permute(x, (1, 0)).shape
    (3, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

ARRAY_TYPES = (np.ndarray, np.generic)

DEVICE = "cpu"


def owns(array: Any) -> bool:
    """Whether ``array`` lives in host memory (a NumPy array or scalar)."""
    return isinstance(array, ARRAY_TYPES)


def from_host(array: np.ndarray) -> np.ndarray:
    """The array itself: host memory is this device's memory."""
    return array


def to_host(array: np.ndarray, copy: bool = False) -> np.ndarray:
    """The array itself, or a copy when ``copy`` (so the result never aliases storage)."""
    return np.array(array, copy=True) if copy else array


def is_contiguous(array: np.ndarray) -> bool:
    return array.flags.c_contiguous


def contiguous(array: np.ndarray) -> np.ndarray:
    """``array``, or a C-contiguous copy when it is strided."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def reshape(array: np.ndarray, shape: tuple) -> np.ndarray:
    """A view when the layout allows (NumPy's rule), else a copy."""
    return array.reshape(shape)


def permute(array: np.ndarray, dims: tuple) -> np.ndarray:
    """``np.transpose(array, dims)``: a view."""
    return array.transpose(dims)


def broadcast_to(array: np.ndarray, shape: tuple) -> np.ndarray:
    """A read-only view with stride 0 along the broadcast axes."""
    return np.broadcast_to(array, shape)


def expand_dims(array: np.ndarray, axis: int) -> np.ndarray:
    return np.expand_dims(array, axis)


def cast(array: np.ndarray, dtype: Any) -> np.ndarray:
    """A new array of ``array``'s values in ``dtype``."""
    return array.astype(dtype)


def add_into(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst += src`` (``src`` broadcast to ``dst``'s shape)."""
    np.add(dst, src, out=dst)


def view(array: np.ndarray, index: tuple) -> np.ndarray:
    """``array[index]`` for basic indices (ints, slices, Ellipsis): a view."""
    return array[index]


def arrays() -> dict:
    """The array functions, by name, as a backend namespace carries them."""
    return {
        "device": DEVICE,
        "owns": owns,
        "empty": np.empty,
        "full": np.full,
        "from_host": from_host,
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
