"""Helpers shared by the op families: output allocation, kernel calls, broadcast reduction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def empty(shape: tuple, dtype: np.dtype) -> np.ndarray:
    return np.empty(shape, dtype=dtype)


def contiguous(a: np.ndarray) -> np.ndarray:
    """Kernels take C-contiguous arrays: copy only when needed."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def run(kernel: Callable, *arrays: np.ndarray, **extra: Any) -> np.ndarray:
    """Call an elementwise ``kernel(*arrays, [extra...], out)`` into a new array whose
    shape is the arrays' broadcast shape and whose dtype is their common dtype."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    out = empty(shape, np.result_type(*arrays))
    kernel(*arrays, *extra.values(), out)
    return out


def broadcast_axes(broadcast: tuple, shape: tuple) -> tuple[int, ...]:
    """The axes of ``broadcast`` along which an array of ``shape`` was broadcast to it."""
    lead = len(broadcast) - len(shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and broadcast[lead + i] != 1
    )


def unbroadcast(backend: Any, grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes along which an input of ``shape`` was broadcast."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    axes = broadcast_axes(grad.shape, shape)
    kept = tuple(1 if i in axes else n for i, n in enumerate(grad.shape))
    out = empty(kept, grad.dtype)
    backend.sum(grad, axes, True, out)
    return out.reshape(shape)


def normalize_dim(dim: Any, ndim: int, argument: str = "dim") -> int:
    if not isinstance(dim, int | np.integer) or isinstance(dim, bool):
        raise TypeError(f"{argument} must be an int, got {type(dim).__name__}")
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"{argument} {dim} is out of range for a tensor with {ndim} dimensions")
    return int(dim) % size


def normalize_dims(dim: Any, ndim: int, argument: str = "dim") -> tuple[int, ...]:
    """``None`` -> every axis; an int or a sequence of ints -> a sorted tuple."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
    resolved = tuple(sorted({normalize_dim(d, ndim, argument) for d in dims}))
    if ndim == 0:
        return ()
    return resolved
