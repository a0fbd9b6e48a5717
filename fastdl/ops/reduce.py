"""Reductions: sum, mean, max (with indices), argmax — PyTorch's ``dim``/``keepdim``."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.autograd.function import Function
from fastdl.ops._util import (
    broadcast_axes,
    empty,
    expand_dims,
    normalize_dim,
    normalize_dims,
    reshape_array,
    unbroadcast,
    zeros,
)
from fastdl.ops.shape import scatter
from fastdl.tensor import Tensor


def _reduced_shape(shape: tuple, dims: tuple, keepdim: bool) -> tuple:
    if keepdim:
        return tuple(1 if i in dims else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in dims)


def _expand_back(backend: Any, grad: np.ndarray, shape: tuple, dims: tuple) -> np.ndarray:
    """Broadcast a reduced gradient back over the reduced axes."""
    kept = _reduced_shape(shape, dims, keepdim=True)
    out = empty(shape, grad.dtype)
    backend.copy(reshape_array(grad, kept), out)
    return out


class BroadcastTo(Function):
    """Copy ``x`` broadcast to ``shape`` (used by double backward)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        out = empty(shape, x.dtype)
        ctx.backend.copy(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(ctx.backend, grad, ctx.shape), None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return sum_to(grad, ctx.shape), None


def broadcast_to(x: Tensor, shape: tuple) -> Tensor:
    """A differentiable copy of ``x`` broadcast to ``shape``."""
    return x if x.shape == tuple(shape) else BroadcastTo.apply(x, tuple(shape))


def sum_to(x: Tensor, shape: tuple) -> Tensor:
    """Differentiably sum ``x`` over the axes along which ``shape`` was broadcast."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return Sum.apply(x, broadcast_axes(x.shape, shape), True).reshape(shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims = x.shape, dims
        out = empty(_reduced_shape(x.shape, dims, keepdim), x.dtype)
        ctx.backend.sum(x, dims, keepdim, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return _expand_back(ctx.backend, grad, ctx.shape, ctx.dims), None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        kept = _reduced_shape(ctx.shape, ctx.dims, keepdim=True)
        return broadcast_to(grad.reshape(kept), ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims = x.shape, dims
        out = empty(_reduced_shape(x.shape, dims, keepdim), x.dtype)
        ctx.backend.mean(x, dims, keepdim, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        be = ctx.backend
        count = int(np.prod([ctx.shape[d] for d in ctx.dims], dtype=np.int64))
        spread = _expand_back(be, grad, ctx.shape, ctx.dims)
        be.mul(spread, np.asarray(1.0 / builtins.max(count, 1), grad.dtype), spread)
        return spread, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        count = int(np.prod([ctx.shape[d] for d in ctx.dims], dtype=np.int64))
        kept = _reduced_shape(ctx.shape, ctx.dims, keepdim=True)
        spread = broadcast_to(grad.reshape(kept), ctx.shape)
        return spread * (1.0 / builtins.max(count, 1)), None, None


class MaxDim(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        shape = x.shape[:dim] + x.shape[dim + 1 :]
        values, indices = empty(shape, x.dtype), empty(shape, dtypes.int64)
        ctx.backend.max(x, dim, values, indices)
        ctx.shape, ctx.dim, ctx.indices = x.shape, dim, indices
        if keepdim:
            values = expand_dims(values, dim)
            indices = expand_dims(indices, dim)
        return values, indices

    @staticmethod
    def backward(ctx, grad):
        be, dim, indices = ctx.backend, ctx.dim, ctx.indices
        grad = reshape_array(grad, indices.shape)
        out = zeros(ctx.shape, grad.dtype)
        be.index_add(out, _positions(indices, dim), grad)
        return out, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        grad = grad.reshape(ctx.indices.shape)
        return scatter(grad, ctx.shape, _positions(ctx.indices, ctx.dim)), None, None


def _positions(indices: np.ndarray, dim: int) -> tuple:
    """The index tuple that picks, along ``dim``, the element ``indices`` name."""
    grid = list(np.ogrid[tuple(slice(0, n) for n in indices.shape)])
    grid.insert(dim, indices)
    return tuple(grid)


def _check_dims_args(dim: Any, axis: Any, keepdim: bool, keepdims: Any) -> tuple[Any, bool]:
    if axis is not None:
        if dim is not None:
            raise TypeError("pass either dim or axis, not both")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, bool(keepdim)


def sum(  # noqa: A001
    x: Tensor,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: Any = None,
) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or None for all). NumPy's ``axis``/``keepdims``
    are accepted too. Example: ``x.sum(dim=1, keepdim=True)``."""
    dim, keepdim = _check_dims_args(dim, axis, keepdim, keepdims)
    if x.dtype == dtypes.bool_:
        x = x.to(dtypes.int64)
    return Sum.apply(x, normalize_dims(dim, x.ndim), keepdim)


def mean(
    x: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None
) -> Tensor:
    """Mean over ``dim``; floating tensors only, as in PyTorch."""
    dim, keepdim = _check_dims_args(dim, axis, keepdim, keepdims)
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"mean: expected a floating tensor, got {x.dtype}")
    return Mean.apply(x, normalize_dims(dim, x.ndim), keepdim)


def max(  # noqa: A001
    x: Tensor,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: Any = None,
) -> Any:
    """``max()`` -> the largest element (0-d); ``max(dim)`` -> ``(values, indices)``."""
    dim, keepdim = _check_dims_args(dim, axis, keepdim, keepdims)
    if x.numel() == 0:
        raise ValueError("max: the tensor is empty")
    if dim is None:
        values, _ = MaxDim.apply(x.reshape(-1), 0, False)
        return values
    return MaxDim.apply(x, normalize_dim(dim, x.ndim), keepdim)


def argmax(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (first one on ties); over the flattened tensor
    when ``dim`` is None."""
    data = x._data
    if dim is None:
        data, axis = reshape_array(data, (data.size,)), 0
    else:
        axis = normalize_dim(dim, x.ndim)
    backend = backends.for_device(x.device)
    out = backend.empty(data.shape[:axis] + data.shape[axis + 1 :], dtypes.int64)
    backend.argmax(data, axis, out)
    if keepdim and dim is not None:
        out = expand_dims(out, axis)
    return Tensor._wrap(out)
