"""Reductions: sum, mean, max/min (with indices), amax/amin, argmax/argmin — PyTorch's
``dim``/``keepdim``."""

from __future__ import annotations

import builtins
from typing import Any, NamedTuple

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
    transpose_array,
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


class ValuesIndices(NamedTuple):
    """``(values, indices)`` of ``max``/``min`` along a dim, as PyTorch's return types."""

    values: Tensor
    indices: Tensor


class AMax(Function):
    """The largest element over the axes ``dims``; the gradient is shared evenly among
    the elements equal to it, as in PyTorch's ``amax``."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        kept_dims = tuple(d for d in range(x.ndim) if d not in dims)
        kept = _reduced_shape(x.shape, dims, keepdim=True)
        lines = reshape_array(
            transpose_array(x, kept_dims + dims),
            tuple(x.shape[d] for d in kept_dims) + (-1,),
        )
        values = empty(lines.shape[:-1], x.dtype)
        ctx.backend.max(lines, lines.ndim - 1, values, empty(values.shape, dtypes.int64))
        ctx.save_for_backward(x, reshape_array(values, kept))
        ctx.dims = dims
        return reshape_array(values, _reduced_shape(x.shape, dims, keepdim))

    @staticmethod
    def backward(ctx, grad):
        be, (x, values) = ctx.backend, ctx.saved
        share = empty(x.shape, grad.dtype)
        mask = empty(x.shape, dtypes.bool_)
        be.compare(x, values, "eq", mask)
        be.copy(mask, share)
        count = empty(values.shape, grad.dtype)
        be.sum(share, ctx.dims, True, count)
        per_element = empty(values.shape, grad.dtype)
        be.div(reshape_array(grad, values.shape), count, per_element)
        be.mul(share, per_element, share)
        return share, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        x, values = ctx.saved
        mask = Tensor._wrap(_equal_as(x, values, grad.dtype))
        count = mask.sum(ctx.dims, keepdim=True)
        return broadcast_to(grad.reshape(values.shape) / count, x.shape) * mask, None, None


def _equal_as(x: Any, values: Any, dtype: Any) -> Any:
    backend = backends.of(x)
    mask = backend.empty(x.shape, dtypes.bool_)
    backend.compare(x, values, "eq", mask)
    return backend.cast(mask, dtype)


def _extreme(x: Tensor, dim: Any, keepdim: bool, name: str, largest: bool) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    dims = normalize_dims(dim, x.ndim)
    if x.numel() == 0 and (dim is None or builtins.any(x.shape[d] == 0 for d in dims)):
        raise ValueError(f"{name}: cannot reduce an empty tensor of shape {x.shape}")
    if x.dtype == dtypes.bool_:
        return _extreme(x.to(dtypes.int64), dim, keepdim, name, largest).to(dtypes.bool_)
    if largest:
        return AMax.apply(x, dims, keepdim)
    return -AMax.apply(-x, dims, keepdim)


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:  # noqa: A002
    """The largest elements over ``dim`` (an int or a tuple; all axes when empty); the
    gradient is shared evenly among ties. Example: ``fastdl.amax(x, dim=(0, 1))``."""
    return _extreme(input, None if dim == () else dim, keepdim, "amax", largest=True)


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:  # noqa: A002
    """The smallest elements over ``dim`` (see :func:`amax`)."""
    return _extreme(input, None if dim == () else dim, keepdim, "amin", largest=False)


def max(  # noqa: A001
    x: Tensor,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: Any = None,
) -> Any:
    """``max(x)`` -> the largest element (0-d); ``max(x, dim)`` -> ``(values, indices)``;
    ``max(x, other)`` -> the elementwise maximum, as in PyTorch.

    Example: ``values, indices = fastdl.max(x, dim=1)``.
    """
    if isinstance(dim, Tensor):
        from fastdl.ops import elementwise  # elementwise builds on this module

        return elementwise.maximum(x, dim)
    dim, keepdim = _check_dims_args(dim, axis, keepdim, keepdims)
    if x.numel() == 0:
        raise ValueError("max: the tensor is empty")
    if dim is None:
        return _extreme(x, None, False, "max", largest=True)
    dim = normalize_dim(dim, x.ndim)
    if x.ndim == 0:  # PyTorch: a 0-d tensor has one element along dim 0 (or -1)
        return ValuesIndices(*MaxDim.apply(x.reshape(1), 0, False))
    return ValuesIndices(*MaxDim.apply(x, dim, keepdim))


def min(  # noqa: A001
    x: Tensor,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: Any = None,
) -> Any:
    """``min(x)`` -> the smallest element (0-d); ``min(x, dim)`` -> ``(values, indices)``
    (the first minimum); ``min(x, other)`` -> the elementwise minimum.

    Example: ``values, indices = fastdl.min(x, dim=0, keepdim=True)``.
    """
    if isinstance(dim, Tensor):
        from fastdl.ops import elementwise

        return elementwise.minimum(x, dim)
    dim, keepdim = _check_dims_args(dim, axis, keepdim, keepdims)
    if x.numel() == 0:
        raise ValueError("min: the tensor is empty")
    if dim is None:
        return _extreme(x, None, False, "min", largest=False)
    if x.dtype == dtypes.bool_:
        values, indices = min(x.to(dtypes.int64), dim, keepdim)
        return ValuesIndices(values.to(dtypes.bool_), indices)
    values, indices = max(-x, dim, keepdim)
    return ValuesIndices(-values, indices)


def argmin(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """Index of the smallest element (first one on ties); over the flattened tensor
    when ``dim`` is None. Example: ``fastdl.argmin(fastdl.tensor([3, 1, 2]))`` is 1."""
    from fastdl.autograd.grad_mode import no_grad

    with no_grad():
        flipped = -(input.to(dtypes.int64) if input.dtype == dtypes.bool_ else input)
    return argmax(flipped, dim, keepdim)


def argmax(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (first one on ties); over the flattened tensor
    when ``dim`` is None."""
    data = x._data
    if dim is None:
        data, axis = reshape_array(data, (data.size,)), 0
    else:
        axis = normalize_dim(dim, x.ndim)
        if x.ndim == 0:  # as in max: one element along dim 0, a 0-d result
            data, keepdim = reshape_array(data, (1,)), False
    backend = backends.for_device(x.device)
    out = backend.empty(data.shape[:axis] + data.shape[axis + 1 :], dtypes.int64)
    backend.argmax(data, axis, out)
    if keepdim and dim is not None:
        out = expand_dims(out, axis)
    return Tensor._wrap(out)
