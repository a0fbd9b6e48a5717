"""Shape ops: reshape, permute/transpose, indexing, cat, stack, dtype casts, clone.

Reshape and permute return views of the input's storage, as in PyTorch; indexing
gathers into a new array (a copy) through the ``gather`` kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.autograd.function import Function
from fastdl.backends.strides import view_strides
from fastdl.errors import ShapeError
from fastdl.ops._util import (
    empty,
    is_contiguous,
    normalize_dim,
    reshape_array,
    transpose_array,
    zeros,
)
from fastdl.tensor import Tensor, mark_view


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return reshape_array(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return reshape_array(grad, ctx.shape), None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return grad.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(int(d) for d in np.argsort(dims))
        return transpose_array(x, dims)

    @staticmethod
    def backward(ctx, grad):
        return transpose_array(grad, ctx.inverse), None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return Permute.apply(grad, ctx.inverse), None


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        # The result's shape, found on a zero-strided stand-in without touching data.
        shape = np.broadcast_to(np.empty((), np.uint8), x.shape)[index].shape
        out = empty(shape, x.dtype)
        ctx.backend.gather(x, index, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = zeros(ctx.shape, grad.dtype)
        ctx.backend.index_add(out, ctx.index, grad)
        return out, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return scatter(grad, ctx.shape, ctx.index), None


class Scatter(Function):
    """Zeros of ``shape`` with ``values`` added at ``index``: GetItem's adjoint."""

    @staticmethod
    def forward(ctx, values, shape, index):
        ctx.index = index
        out = zeros(shape, values.dtype)
        ctx.backend.index_add(out, index, values)
        return out

    @staticmethod
    def backward(ctx, grad):
        shape = np.broadcast_to(np.empty((), np.uint8), grad.shape)[ctx.index].shape
        out = empty(shape, grad.dtype)
        ctx.backend.gather(grad, ctx.index, out)
        return out, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return GetItem.apply(grad, ctx.index), None, None


def scatter(values: Tensor, shape: tuple, index: tuple) -> Tensor:
    """A differentiable ``zeros(shape); out[index] += values``."""
    return Scatter.apply(values, tuple(shape), index)


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        shape = list(arrays[0].shape)
        shape[dim] = sum(ctx.sizes)
        out = empty(tuple(shape), arrays[0].dtype)
        start = 0
        for a in arrays:
            ctx.backend.copy(a, _slab(out, dim, start, a.shape[dim]))
            start += a.shape[dim]
        return out

    @staticmethod
    def backward(ctx, grad):
        grads, start = [None], 0
        for size in ctx.sizes:
            grads.append(_slab(grad, ctx.dim, start, size))
            start += size
        return tuple(grads)

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        grads, start = [None], 0
        for size in ctx.sizes:
            index = [slice(None)] * grad.ndim
            index[ctx.dim] = slice(start, start + size)
            grads.append(GetItem.apply(grad, tuple(index)))
            start += size
        return tuple(grads)


def _slab(a: np.ndarray, dim: int, start: int, size: int) -> np.ndarray:
    index = [slice(None)] * a.ndim
    index[dim] = slice(start, start + size)
    return a[tuple(index)]


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        out = empty(x.shape, dtype)
        ctx.backend.copy(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad, None  # the engine casts a gradient to its input's dtype

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return grad, None


class ToDevice(Function):
    """A copy on another device; the gradient is copied back to the source device."""

    @staticmethod
    def forward(ctx, x, device):
        ctx.source = backends.of(x).device
        return _move(x, device)

    @staticmethod
    def backward(ctx, grad):
        return _move(grad, ctx.source), None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return ToDevice.apply(grad, ctx.source), None


def _move(array: Any, device: Any) -> Any:
    """``array`` copied to ``device`` (host <-> GPU; the one counted copy)."""
    host = backends.of(array).to_host(array)
    return backends.for_device(device).from_host(np.asarray(host, order="C"))


def to_device(x: Tensor, device: Any) -> Tensor:
    return ToDevice.apply(x, device)


def device_view(array: Any, index: tuple) -> Any:
    """``array[index]`` as a view of a device array (ints, slices and Ellipsis only)."""
    for part in index:
        if not isinstance(part, int | np.integer | slice) and part is not Ellipsis:
            raise TypeError(
                f"indexing a CUDA tensor in place takes ints, slices and ... only, got {part!r}"
            )
    return array[index]


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        out = empty(x.shape, x.dtype)
        ctx.backend.copy(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return grad


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """A tensor with the same data and a new shape (one entry may be -1): a view of
    ``x``'s storage when its strides allow, else a copy."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    target = _resolve_or_raise(x.shape, shape, "reshape")
    out = Reshape.apply(x, target)
    if viewable(x._data, target):
        mark_view(out, x, _Inverse("reshape", x.shape), _Inverse("reshape", target))
    return out


def viewable(array: Any, shape: tuple) -> bool:
    """Whether ``array`` can be seen with ``shape`` without a copy (PyTorch's rule)."""
    if is_contiguous(array):
        return True
    return view_strides(tuple(array.shape), tuple(array.strides), tuple(shape)) is not None


class _Inverse:
    """Rebuilds a view's base from the view (a reshape back, or the inverse
    permutation), or the view from its base (the reshape or permutation itself)."""

    __slots__ = ("kind", "arg")

    def __init__(self, kind: str, arg: tuple) -> None:
        self.kind, self.arg = kind, arg

    def __call__(self, view: Tensor) -> Tensor:
        if self.kind == "reshape":
            return Reshape.apply(view, self.arg)
        return Permute.apply(view, self.arg)


def _resolve_or_raise(old: tuple, shape: Sequence[int], name: str) -> tuple:
    try:
        return _resolve_shape(old, shape)
    except ValueError as error:
        raise ShapeError(
            f"{name}: shape {tuple(shape)} is invalid for input of shape {old}: {error}"
        ) from None


def _resolve_shape(old: tuple, new: Sequence[int]) -> tuple:
    new = tuple(int(n) for n in new)
    size = 1
    for n in old:  # Python ints: no NumPy call (and no overflow) on this per-op path
        size *= n
    if new.count(-1) > 1:
        raise ValueError("only one dimension can be -1")
    known = 1
    for n in new:
        if n != -1:
            known *= n
    if -1 in new:
        if known == 0 or size % known:
            raise ValueError(f"{size} elements do not fill it")
        new = tuple(size // known if n == -1 else n for n in new)
    elif known != size:
        raise ValueError(f"{size} elements do not fill it")
    return new


def permute(x: Tensor, *dims: Any) -> Tensor:
    """Reorder dimensions. Example: ``x.permute(1, 0)`` is ``x.T`` for a matrix."""
    if len(dims) == 1 and isinstance(dims[0], tuple | list):
        dims = tuple(dims[0])
    resolved = tuple(normalize_dim(d, x.ndim) for d in dims)
    if sorted(resolved) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of {x.ndim} dimensions")
    return _permuted(x, resolved)


def _permuted(x: Tensor, dims: tuple) -> Tensor:
    inverse = tuple(int(d) for d in np.argsort(dims))
    return mark_view(
        Permute.apply(x, dims), x, _Inverse("permute", inverse), _Inverse("permute", dims)
    )


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions."""
    dims = list(range(x.ndim))
    a, b = normalize_dim(dim0, x.ndim, "dim0"), normalize_dim(dim1, x.ndim, "dim1")
    dims[a], dims[b] = dims[b], dims[a]
    return _permuted(x, tuple(dims))


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]`` for ints, slices, None, Ellipsis, integer arrays/tensors and bool masks:
    a view of ``x`` for ints, forward slices and Ellipsis (PyTorch's basic indexing) that
    leave at least one dimension, a copy otherwise."""
    raw = _raw_index(index)
    if (
        _basic(raw)
        and sum(not isinstance(part, slice) and part is not Ellipsis for part in raw) < x.ndim
    ):
        from fastdl.ops.slicing import slice_view  # slicing imports this module

        return slice_view(x, raw)
    return GetItem.apply(x, raw)


def _basic(index: tuple) -> bool:
    return all(
        part is Ellipsis
        or (isinstance(part, int | np.integer) and not isinstance(part, bool | np.bool_))
        or (isinstance(part, slice) and (part.step is None or part.step > 0))
        for part in index
    )


def _raw_index(index: Any) -> tuple:
    parts = index if isinstance(index, tuple) else (index,)
    raw = []
    for part in parts:
        if isinstance(part, Tensor):
            part = part._data
        elif isinstance(part, list):
            part = np.asarray(part)
        if isinstance(part, np.ndarray) and part.dtype.kind not in "iub":
            raise TypeError(f"indices must be integers or bools, got an array of {part.dtype}")
        raw.append(part)
    return tuple(raw)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat: tensors[{i}] is a {type(t).__name__}, not a Tensor")
        if t.ndim == 0:
            raise ValueError(f"cat: tensors[{i}] is zero-dimensional and cannot be concatenated")
    first = tensors[0]
    dim = normalize_dim(dim, first.ndim)
    dtype = first.dtype
    for i, t in enumerate(tensors):
        dtype = dtypes.promote(dtype, t.dtype)
        if t.ndim != first.ndim or any(
            a != b for d, (a, b) in enumerate(zip(t.shape, first.shape)) if d != dim
        ):
            raise ShapeError(
                f"cat: tensors[{i}] has shape {t.shape}, incompatible with {first.shape} "
                f"outside dim {dim}"
            )
    return Cat.apply(dim, *(t.to(dtype) for t in tensors))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack along a new dimension; all tensors must have the same shape."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"stack: tensors[{i}] is a {type(t).__name__}, not a Tensor")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise ShapeError(f"stack: tensors[{i}] has shape {t.shape}, expected {shape}")
    dim = normalize_dim(dim, len(shape) + 1)
    expanded = [t.reshape(shape[:dim] + (1,) + shape[dim:]) for t in tensors]
    return cat(expanded, dim)


def cast(x: Tensor, dtype: np.dtype) -> Tensor:
    return Cast.apply(x, dtype)


def clone(x: Tensor) -> Tensor:
    return Clone.apply(x)
