"""Indexing ops with PyTorch's signatures: gather, scatter, scatter_add, index_select,
masked_select, nonzero and where.

Gather and scatter run the ``gather_along``/``scatter_along`` kernels, which are each
other's adjoints: the gradient of a gather is a scatter-add of the gradient, and the
gradient of a scatter's source is a gather. ``masked_select`` and ``nonzero`` have a
data-dependent size, so they read the mask on the host (as PyTorch synchronises).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.autograd.function import Function
from fastdl.ops import elementwise as _ew
from fastdl.ops._util import empty, normalize_dim, zeros
from fastdl.ops.reshaping import expand
from fastdl.ops.shape import getitem
from fastdl.tensor import Tensor, tensor


def _region(shape: tuple, index_shape: tuple, dim: int) -> tuple:
    """The basic index of the part of an array of ``shape`` that an index of
    ``index_shape`` covers outside ``dim``."""
    return tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(index_shape))


def _covers(shape: tuple, index_shape: tuple, dim: int) -> bool:
    return all(a == b for d, (a, b) in enumerate(zip(shape, index_shape)) if d != dim)


def _scatter_into(backend: Any, out: Any, index: Any, dim: int, src: Any, accumulate: bool):
    """``scatter_along`` into a C-contiguous ``out`` that the index may cover only in
    part outside ``dim`` (then through a dense copy of the covered region)."""
    if _covers(out.shape, index.shape, dim):
        backend.scatter_along(out, index, dim, src, accumulate)
        return
    view = backend.view(out, _region(out.shape, index.shape, dim))
    dense = backend.contiguous(view)
    if dense is view:  # a covered region is never contiguous with the rest; be safe
        dense = backend.cast(view, view.dtype)
    backend.scatter_along(dense, index, dim, src, accumulate)
    backend.copy(dense, view)


class GatherAlong(Function):
    @staticmethod
    def forward(ctx, x, index, dim):
        ctx.shape, ctx.index, ctx.dim = x.shape, index, dim
        x = ctx.backend.view(x, _region(x.shape, index.shape, dim))
        out = empty(index.shape, x.dtype)
        ctx.backend.gather_along(x, index, dim, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = zeros(ctx.shape, grad.dtype)
        _scatter_into(ctx.backend, out, ctx.index, ctx.dim, grad, True)
        return out, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return ScatterSum.apply(grad, inputs[1], ctx.dim, ctx.shape), None, None


class ScatterSum(Function):
    """Zeros of ``shape`` with ``src`` added at ``index`` along ``dim``."""

    @staticmethod
    def forward(ctx, src, index, dim, shape):
        ctx.index, ctx.dim = index, dim
        out = zeros(shape, src.dtype)
        _scatter_into(ctx.backend, out, index, dim, src, True)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = empty(ctx.index.shape, grad.dtype)
        view = ctx.backend.view(grad, _region(grad.shape, ctx.index.shape, ctx.dim))
        ctx.backend.gather_along(view, ctx.index, ctx.dim, out)
        return out, None, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return GatherAlong.apply(grad, inputs[1], ctx.dim), None, None, None


class ScatterAssign(Function):
    """``x`` with ``src`` written at ``index`` along ``dim``."""

    @staticmethod
    def forward(ctx, x, src, index, dim):
        ctx.index, ctx.dim = index, dim
        out = empty(x.shape, x.dtype)
        ctx.backend.copy(x, out)
        _scatter_into(ctx.backend, out, index, dim, src, False)
        return out

    @staticmethod
    def backward(ctx, grad):
        be, index, dim = ctx.backend, ctx.index, ctx.dim
        grad_x = grad_src = None
        if ctx.needs_input_grad[0]:  # the overwritten positions get no gradient
            grad_x = empty(grad.shape, grad.dtype)
            be.copy(grad, grad_x)
            _scatter_into(be, grad_x, index, dim, zeros(index.shape, grad.dtype), False)
        if ctx.needs_input_grad[1]:
            grad_src = empty(index.shape, grad.dtype)
            be.gather_along(
                be.view(grad, _region(grad.shape, index.shape, dim)), index, dim, grad_src
            )
        return grad_x, grad_src, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        _, _, index, dim = inputs
        zero = Tensor._wrap(backends.of(grad._data).full(index.shape, 0, grad.dtype))
        return (
            ScatterAssign.apply(grad, zero, index, dim),
            GatherAlong.apply(grad, index, dim),
            None,
            None,
        )


def _check_index(op: str, x: Tensor, dim: Any, index: Any, name: str = "index") -> tuple:
    """(dim, index as an int64 Tensor) for gather/scatter: same rank as ``x``, no larger
    than ``x`` outside ``dim``, entries in range (checked when the index is on the host)."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(index).__name__}")
    if np.dtype(index.dtype).kind not in "iu":
        raise TypeError(f"{op}: {name} must be an integer tensor, got {index.dtype}")
    dim = normalize_dim(dim, x.ndim)
    if index.ndim != max(x.ndim, 1) and not (x.ndim == 0 and index.ndim == 0):
        raise ValueError(
            f"{op}: {name} of shape {index.shape} must have as many dimensions as the "
            f"input of shape {x.shape}"
        )
    if index.dtype != dtypes.int64:
        index = index.to(dtypes.int64)
    return dim, index


def _check_range(op: str, index: Tensor, size: int, name: str = "index") -> None:
    if index.device.type != "cpu" or index.numel() == 0:
        return  # a device index is not read back (the kernels skip entries out of range)
    low, high = int(index._data.min()), int(index._data.max())
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        raise IndexError(f"{op}: {name} {bad} is out of bounds for a dimension of size {size}")


def _check_extent(
    op: str, index: Tensor, other: Tensor, dim: int, other_name: str, exact_dim: bool
):
    for d, (n, m) in enumerate(zip(index.shape, other.shape)):
        if (d != dim or exact_dim) and n > m:
            raise ValueError(
                f"{op}: index of shape {index.shape} is larger than {other_name} of shape "
                f"{other.shape} in dimension {d}"
            )


def _lines(x: Tensor) -> Tensor:
    """0-d tensors take part as 1-d ones, as in PyTorch's gather and scatter."""
    return x.reshape(1) if x.ndim == 0 else x


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:  # noqa: A002
    """Values of ``input`` along ``dim`` at ``index``: ``out[i][j] = input[i][index[i][j]]``
    for ``dim=1``. Differentiable in ``input``.

    Example::

        >>> x = fastdl.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> fastdl.gather(x, 1, fastdl.tensor([[1, 0], [0, 0]])).tolist()
        [[2.0, 1.0], [3.0, 3.0]]
    """
    dim, index = _check_index("gather", input, dim, index)
    source, lines = _lines(input), _lines(index)
    _check_extent("gather", lines, source, dim, "input", exact_dim=False)
    _check_range("gather", lines, source.shape[dim])
    out = GatherAlong.apply(source, lines, dim)
    return out.reshape(index.shape) if index.ndim == 0 else out


def _scatter_args(op: str, input: Tensor, dim: Any, index: Tensor, src: Any) -> tuple:  # noqa: A002
    dim, index = _check_index(op, input, dim, index)
    target, lines = _lines(input), _lines(index)
    _check_extent(op, lines, target, dim, "input", exact_dim=False)
    if isinstance(src, Tensor):
        if src.ndim != index.ndim:
            raise ValueError(
                f"{op}: src of shape {src.shape} must have as many dimensions as index of "
                f"shape {index.shape}"
            )
        src = _lines(src)
        _check_extent(op, lines, src, dim, "src", exact_dim=True)
        if src.shape != lines.shape:
            src = src[tuple(slice(0, n) for n in lines.shape)]
        src = src.to(input.dtype)
    elif isinstance(src, bool | int | float | np.number):
        src = Tensor._wrap(backends.for_device(input.device).full(lines.shape, src, input.dtype))
    else:
        raise TypeError(f"{op}: src must be a Tensor or a number, got {type(src).__name__}")
    _check_range(op, lines, target.shape[dim])
    return dim, target, lines, src


def scatter(
    input: Tensor,  # noqa: A002
    dim: int,
    index: Tensor,
    src: Any = None,
    *,
    value: Any = None,
    reduce: str | None = None,
) -> Tensor:
    """A copy of ``input`` with ``src`` (a tensor, or a number ``value``) written along
    ``dim`` at ``index``: ``out[i][index[i][j]] = src[i][j]`` for ``dim=1``. Where
    ``index`` repeats a position, which value lands there is unspecified (as in
    PyTorch). Differentiable in ``input`` and ``src``.

    Example::

        >>> out = fastdl.scatter(fastdl.zeros(2, 3), 1, fastdl.tensor([[2], [0]]), 1.0)
        >>> out.tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if reduce is not None:
        raise ValueError(f"scatter: reduce={reduce!r} is not supported; use scatter_add")
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: pass src (a Tensor) or value (a number)")
    dim, target, lines, src = _scatter_args("scatter", input, dim, index, src)
    return ScatterAssign.apply(target, src, lines, dim).reshape(input.shape)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:  # noqa: A002
    """A copy of ``input`` with ``src`` added along ``dim`` at ``index``; repeated
    positions accumulate. Differentiable in ``input`` and ``src``.

    Example::

        >>> out = fastdl.scatter_add(fastdl.zeros(3), 0, fastdl.tensor([0, 0, 2]),
        ...                          fastdl.tensor([1.0, 2.0, 5.0]))
        >>> out.tolist()
        [3.0, 0.0, 5.0]
    """
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add: src must be a Tensor, got {type(src).__name__}")
    dim, target, lines, src = _scatter_args("scatter_add", input, dim, index, src)
    added = ScatterSum.apply(src, lines, dim, target.shape)
    return (target + added).reshape(input.shape)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:  # noqa: A002
    """The slices of ``input`` along ``dim`` at the positions of the 1-d ``index``.

    Example::

        >>> x = fastdl.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        >>> fastdl.index_select(x, 0, fastdl.tensor([2, 0])).tolist()
        [[5.0, 6.0], [1.0, 2.0]]
    """
    if not isinstance(index, Tensor):
        raise TypeError(f"index_select: index must be a Tensor, got {type(index).__name__}")
    if index.ndim > 1:
        raise ValueError(f"index_select: index must be 0-d or 1-d, got shape {index.shape}")
    if np.dtype(index.dtype).kind not in "iu":
        raise TypeError(f"index_select: index must be an integer tensor, got {index.dtype}")
    source = _lines(input)
    dim = normalize_dim(dim, source.ndim)
    flat = index.reshape(-1).to(dtypes.int64)
    _check_range("index_select", flat, source.shape[dim])
    lead = [1] * source.ndim
    lead[dim] = flat.shape[0]
    shape = list(source.shape)
    shape[dim] = flat.shape[0]
    spread = expand(flat.reshape(lead), shape)
    out = GatherAlong.apply(source, spread, dim)
    return out.reshape(index.shape) if input.ndim == 0 else out


def masked_select(input: Tensor, mask: Tensor) -> Tensor:  # noqa: A002
    """The elements of ``input`` where the bool ``mask`` (broadcast with it) is True, as
    a 1-d tensor. Differentiable in ``input``.

    Example::

        >>> x = fastdl.tensor([1.0, -2.0, 3.0])
        >>> fastdl.masked_select(x, x > 0).tolist()
        [1.0, 3.0]
    """
    if not isinstance(mask, Tensor) or mask.dtype != dtypes.bool_:
        kind = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"masked_select: mask must be a bool tensor, got {kind}")
    try:
        shape = np.broadcast_shapes(input.shape, mask.shape)
    except ValueError:
        raise ValueError(
            f"masked_select: mask of shape {mask.shape} does not broadcast with input of "
            f"shape {input.shape}"
        ) from None
    picked = backends.for_device(mask.device).to_host(expand(mask, shape)._data)
    positions = np.flatnonzero(picked)  # the output's size: read on the host, as in PyTorch
    return getitem(expand(input, shape).reshape(-1), (positions,))


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:  # noqa: A002
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or with
    ``as_tuple=True`` one 1-d tensor per dimension.

    Example::

        >>> fastdl.nonzero(fastdl.tensor([0.0, 2.0, 3.0]), as_tuple=True)[0].tolist()
        [1, 2]
    """
    backend = backends.for_device(input.device)
    found = np.nonzero(np.atleast_1d(backend.to_host(input._data)))
    if as_tuple:
        return tuple(_on(backend, np.ascontiguousarray(i, np.int64)) for i in found)
    return _on(backend, np.ascontiguousarray(np.stack(found, axis=1), np.int64))


def _on(backend: Any, array: np.ndarray) -> Tensor:
    return Tensor._wrap(backend.from_host(array))


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:  # noqa: A002
    """``input`` where ``condition`` holds, else ``other`` (broadcast; either may be a
    number). With ``condition`` alone: ``nonzero(condition, as_tuple=True)``.

    Example::

        >>> x = fastdl.tensor([-1.0, 2.0])
        >>> fastdl.where(x > 0, x, 0.0).tolist()
        [0.0, 2.0]
    """
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: pass both input and other, or neither")
    if not isinstance(condition, Tensor):
        raise TypeError(f"where: condition must be a Tensor, got {type(condition).__name__}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        return _ew.where(condition, tensor(input).to(condition.device), other)
    return _ew.where(condition, input, other)
