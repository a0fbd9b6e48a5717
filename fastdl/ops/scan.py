"""Cumulative ops (cumsum, cumprod) and prod, on the scan kernels.

Shape legend: a scan keeps its input's shape; ``dim`` is the scanned axis.

The gradient of a running sum is the reverse running sum of the gradient. The
gradient of a product uses the products of the elements before and after each one
(exclusive scans from both ends), so zeros in the input get the right gradient.
"""

from __future__ import annotations

from typing import Any

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.ops._out import check_out, write_out
from fastdl.ops._util import empty, full, normalize_dim, run
from fastdl.tensor import Tensor


def _scan(backend: Any, kernel: str, x: Any, axis: int, reverse: bool) -> Any:
    out = empty(x.shape, x.dtype)
    getattr(backend, kernel)(x, axis, reverse, out)
    return out


class CumSum(Function):
    @staticmethod
    def forward(ctx, x, axis, reverse):
        ctx.axis, ctx.reverse = axis, reverse
        return _scan(ctx.backend, "cumsum", x, axis, reverse)

    @staticmethod
    def backward(ctx, grad):
        return _scan(ctx.backend, "cumsum", grad, ctx.axis, not ctx.reverse), None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return CumSum.apply(grad, ctx.axis, not ctx.reverse), None, None


class CumProd(Function):
    """The running product; its gradient is right with zeros in the input."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        ctx.save_for_backward(x)
        return _scan(ctx.backend, "cumprod", x, axis, False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return _cumprod_grad(Tensor._wrap(x), Tensor._wrap(grad), ctx.axis)._data, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return _cumprod_grad(inputs[0], grad, ctx.axis), None


def _cumprod_grad(x: Tensor, grad: Tensor, axis: int) -> Tensor:
    """``d/dx_k = sum_{i >= k} grad_i * prod_{j <= i, j != k} x_j`` along ``axis``.

    Without zeros that is the reverse running sum of ``grad * cumprod(x)`` divided by
    ``x`` (as PyTorch). With a zero somewhere, the products leaving out each ``x_k`` are
    formed explicitly: row ``k`` of an ``(n, n)`` block is ``x`` with a 1 at ``k``,
    its running product taken and summed against ``grad`` over ``i >= k``.
    """
    x, grad = x.movedim(axis, -1), grad.movedim(axis, -1)
    if float((x == 0).sum()) == 0:
        out = CumProd.apply(x, x.ndim - 1)
        result = CumSum.apply(grad * out, x.ndim - 1, True) / x
    else:
        n = x.shape[-1]
        upper = x.new_ones((n, n)).triu()  # [k, i] = 1 where i >= k
        diagonal = (upper - upper.triu(1)).bool()
        rows = x.unsqueeze(-2).expand(*x.shape[:-1], n, n).masked_fill(diagonal, 1.0)  # [..., k, j]
        products = CumProd.apply(rows, rows.ndim - 1)
        result = (products * upper * grad.unsqueeze(-2)).sum(-1)
    return result.movedim(-1, axis)


def _shifted(backend: Any, scanned: Any, toward_end: bool) -> Any:
    """The exclusive scan along the last axis: ``scanned`` moved one place (toward the
    end, or toward the start), a 1 entering at the emptied end."""
    out = full(scanned.shape, 1, scanned.dtype)
    n, lead = scanned.shape[-1], (slice(None),) * (scanned.ndim - 1)
    if n > 1:
        head, tail = lead + (slice(0, n - 1),), lead + (slice(1, n),)
        dst, src = (tail, head) if toward_end else (head, tail)
        backend.copy(backend.view(scanned, src), backend.view(out, dst))
    return out


class Prod(Function):
    """The product along the last axis of ``x``."""

    @staticmethod
    def forward(ctx, x):
        be = ctx.backend
        before = _scan(be, "cumprod", x, x.ndim - 1, False)
        after = _scan(be, "cumprod", x, x.ndim - 1, True)
        ctx.save_for_backward(before, after)
        lead = (slice(None),) * (x.ndim - 1)
        out = empty(x.shape[:-1], x.dtype)
        be.copy(be.view(before, lead + (x.shape[-1] - 1,)), out)
        return out

    @staticmethod
    def backward(ctx, grad):
        be, (before, after) = ctx.backend, ctx.saved
        others = run(be.mul, _shifted(be, before, True), _shifted(be, after, False))
        column = be.expand_dims(grad, grad.ndim)
        return run(be.mul, others, column)

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        # As differentiable ops: product / x, which assumes no zeros in x.
        x = inputs[0]
        column = grad.reshape(grad.shape + (1,))
        return column * Prod.apply(x).reshape(grad.shape + (1,)) / x


def cumsum(input: Tensor, dim: int, *, dtype: Any = None, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The running sum along ``dim``. Example: ``fastdl.cumsum(fastdl.tensor([1, 2, 3]), 0)``
    is ``[1, 3, 6]``."""
    return _cumulative(CumSum, input, dim, dtype, out, "cumsum")


def cumprod(input: Tensor, dim: int, *, dtype: Any = None, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The running product along ``dim``. Example: ``fastdl.cumprod(fastdl.tensor([1, 2, 3]),
    0)`` is ``[1, 2, 6]``. Its gradient is right with zeros in the input."""
    return _cumulative(CumProd, input, dim, dtype, out, "cumprod")


def _cumulative(op: type, x: Tensor, dim: int, dtype: Any, out: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    axis = normalize_dim(dim, x.ndim)
    check_out(out, name)
    if dtype is not None:
        x = x.to(dtypes.as_dtype(dtype))
    elif x.dtype == dtypes.bool_:
        x = x.to(dtypes.int64)
    if x.ndim == 0:
        return write_out(x.clone(), out, name)
    extra = (False,) if op is CumSum else ()
    return write_out(op.apply(x, axis, *extra), out, name)


def prod(
    input: Tensor,  # noqa: A002
    dim: int | None = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """The product of all elements, or along ``dim``; the gradient is right with zeros
    in the input. Example: ``fastdl.prod(fastdl.tensor([[1., 2.], [3., 4.]]), 1)`` is
    ``[2., 12.]``."""
    if not isinstance(input, Tensor):
        raise TypeError(f"prod: input must be a Tensor, got {type(input).__name__}")
    x = input.to(dtypes.as_dtype(dtype)) if dtype is not None else input
    if x.dtype == dtypes.bool_:
        x = x.to(dtypes.int64)
    if dim is None:
        return Prod.apply(x.reshape(1, -1)).reshape(())
    axis = normalize_dim(dim, x.ndim)
    if x.ndim == 0:
        return x.clone()
    order = tuple(d for d in range(x.ndim) if d != axis) + (axis,)
    result = Prod.apply(x.permute(*order).contiguous())
    return result.reshape(result.shape[:axis] + (1,) + result.shape[axis:]) if keepdim else result
