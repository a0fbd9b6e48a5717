"""Sorting with PyTorch's signatures: sort, argsort, topk.

``Sort`` runs the stable ``sort_along`` kernel; its gradient places each output's
gradient back at the position its index names (a scatter, the kernel
``scatter_along``). ``topk`` is the first ``k`` of a sort along ``dim``.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.ops._util import empty, normalize_dim, zeros
from fastdl.ops.indexing import ScatterSum
from fastdl.ops.slicing import narrow
from fastdl.tensor import Tensor

# PyTorch's torch.return_types.sort and .topk: tuples with named fields.
sort_result = namedtuple("sort", ["values", "indices"])
topk_result = namedtuple("topk", ["values", "indices"])


class Sort(Function):
    @staticmethod
    def forward(ctx, x, dim, descending):
        values, indices = empty(x.shape, x.dtype), empty(x.shape, dtypes.int64)
        ctx.backend.sort_along(x, dim, descending, values, indices)
        ctx.shape, ctx.dim, ctx.indices = x.shape, dim, indices
        return values, indices

    @staticmethod
    def backward(ctx, grad):
        out = zeros(ctx.shape, grad.dtype)
        ctx.backend.scatter_along(out, ctx.indices, ctx.dim, grad, False)
        return out, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        indices = Tensor._wrap(ctx.indices)
        return ScatterSum.apply(grad, indices, ctx.dim, ctx.shape), None, None


def _sort(op: str, input: Tensor, dim: int, descending: bool) -> tuple[Tensor, Tensor]:  # noqa: A002
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype == dtypes.bool_:
        raise TypeError(f"{op}: bool tensors are not supported; convert to an integer dtype")
    if input.ndim == 0:
        normalize_dim(dim, 0)
        values, indices = Sort.apply(input.reshape(1), 0, bool(descending))
        return values.reshape(()), indices.reshape(())
    return Sort.apply(input, normalize_dim(dim, input.ndim), bool(descending))


def sort(
    input: Tensor,  # noqa: A002
    dim: int = -1,
    descending: bool = False,
    *,
    stable: bool = False,
) -> Any:
    """``(values, indices)`` of ``input`` sorted along ``dim``. The sort is always
    stable (equal elements keep their order), which ``stable=False`` allows; NaN sorts
    above every number. Differentiable in ``input``.

    Example::

        >>> values, indices = fastdl.sort(fastdl.tensor([3.0, 1.0, 2.0]))
        >>> values.tolist(), indices.tolist()
        ([1.0, 2.0, 3.0], [1, 2, 0])
    """
    return sort_result(*_sort("sort", input, dim, descending))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:  # noqa: A002
    """The indices that sort ``input`` along ``dim`` (see :func:`sort`).

    Example::

        >>> fastdl.argsort(fastdl.tensor([3.0, 1.0, 2.0]), descending=True).tolist()
        [0, 2, 1]
    """
    return _sort("argsort", input, dim, descending)[1]


def topk(
    input: Tensor,  # noqa: A002
    k: int,
    dim: int = -1,
    largest: bool = True,
    sorted: bool = True,  # noqa: A002
) -> Any:
    """``(values, indices)`` of the ``k`` largest (or smallest) elements along ``dim``,
    in sorted order (which ``sorted=False`` allows). Differentiable in ``input``.

    Example::

        >>> fastdl.topk(fastdl.tensor([1.0, 5.0, 3.0]), 2).indices.tolist()
        [1, 2]
    """
    n = input.shape[normalize_dim(dim, input.ndim)] if input.ndim else 1
    if not isinstance(k, int) or not 0 <= k <= n:
        raise ValueError(f"topk: k={k!r} is out of range for a dimension of size {n}")
    values, indices = _sort("topk", input, dim, largest)
    if input.ndim == 0:
        return topk_result(values, indices)
    dim = normalize_dim(dim, input.ndim)
    return topk_result(narrow(values, dim, 0, k), narrow(indices, dim, 0, k))
