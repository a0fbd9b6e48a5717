"""Helpers shared by the op families: output allocation, kernel calls, broadcast reduction.

Allocation goes to the running op's device (``backends.active()``; NumPy when none is),
so the same op body allocates host arrays for CPU tensors and device arrays for CUDA
tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fastdl import backends
from fastdl.errors import ShapeError


def empty(shape: tuple, dtype: np.dtype) -> Any:
    """An uninitialised array where the running op's tensors live."""
    device = backends.active()
    return np.empty(shape, dtype) if device is None else device.empty(shape, dtype)


def full(shape: tuple, value: Any, dtype: np.dtype) -> Any:
    """An array of ``value`` where the running op's tensors live."""
    return backends.allocator().full(shape, value, dtype)


def zeros(shape: tuple, dtype: np.dtype) -> Any:
    return full(shape, 0, dtype)


def is_contiguous(a: Any) -> bool:
    return backends.of(a).is_contiguous(a)


def contiguous(a: Any) -> Any:
    """Kernels take C-contiguous arrays: copy only when needed, on the array's own device
    (so it serves outside an op's forward and backward too)."""
    return backends.of(a).contiguous(a)


def reshape_array(a: Any, shape: tuple) -> Any:
    """``a.reshape(shape)``: a view when the layout allows, else a copy."""
    return backends.of(a).reshape(a, shape)


def transpose_array(a: Any, dims: tuple) -> Any:
    """``a.transpose(dims)`` as a view."""
    return backends.of(a).permute(a, dims)


def broadcast_view(a: Any, shape: tuple) -> Any:
    """``np.broadcast_to(a, shape)``: a read-only view."""
    return backends.of(a).broadcast_to(a, tuple(shape))


def expand_dims(a: Any, axis: int) -> Any:
    return backends.of(a).expand_dims(a, axis)


def constant(value: Any, dtype: np.dtype) -> np.ndarray:
    """A 0-d host array: kernels of every backend take it as a scalar operand."""
    return np.asarray(value, dtype=dtype)


def run(kernel: Callable, *arrays: np.ndarray, **extra: Any) -> np.ndarray:
    """Call an elementwise ``kernel(*arrays, [extra...], out)`` into a new array whose
    shape is the arrays' broadcast shape and whose dtype is their common dtype."""
    shape = _common_shape(arrays)
    dtype = arrays[0].dtype
    for a in arrays:
        # Builtin dtypes are singletons: ``is`` decides the usual case, and an equal
        # dtype that is another object only takes NumPy's promotion, which agrees.
        if a.dtype is not dtype:
            dtype = np.result_type(*arrays)
            break
    device = backends.active()  # as empty(), one call fewer on the per-op path
    out = np.empty(shape, dtype) if device is None else device.empty(shape, dtype)
    if extra:
        kernel(*arrays, *extra.values(), out)
    else:
        kernel(*arrays, out)
    return out


def _common_shape(arrays: tuple) -> tuple:
    """The arrays' broadcast shape; without NumPy's helper when they share one shape or
    all but one are 0-d scalars."""
    shape = None
    for a in arrays:
        other = a.shape
        if not other or other == shape:
            continue
        if shape:
            return _broadcast_shape(arrays)
        shape = other
    return () if shape is None else shape


def _broadcast_shape(arrays: tuple) -> tuple:
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError as error:
        raise ShapeError(*error.args) from None


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
    return reshape_array(out, shape)


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
