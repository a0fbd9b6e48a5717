"""More products of the torch namespace, composed from matmul, reshapes and sums:
``mv``, ``addmv``, ``baddbmm``, ``tensordot``, ``kron``, ``cross``, ``trace`` and
``cdist``. Differentiable on every backend.

Example::

    >>> import fastdl
    >>> fastdl.trace(fastdl.eye(3)).item()
    3.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd.grad_mode import no_grad
from fastdl.errors import ShapeError
from fastdl.ops import elementwise as _ew
from fastdl.ops import matmul as _mm
from fastdl.ops import reduce as _red
from fastdl.ops import slicing as _sl
from fastdl.ops._out import check_out, write_out
from fastdl.ops._util import normalize_dim, normalize_dims
from fastdl.ops.linalg import _ranked, _tensors
from fastdl.tensor import Tensor


def _scaled_sum(product: Tensor, input: Tensor, beta: Any, alpha: Any, name: str) -> Tensor:  # noqa: A002
    """``beta * input + alpha * product``, ``input`` ignored when ``beta`` is 0."""
    try:
        np.broadcast_shapes(input.shape, product.shape)
    except ValueError:
        raise ShapeError(
            f"{name}: input of shape {tuple(input.shape)} does not broadcast to "
            f"{tuple(product.shape)}"
        ) from None
    if alpha != 1:
        product = product * alpha
    if beta == 0:  # input is not read: NaN in it does not propagate, as in PyTorch
        return product
    return product + (input if beta == 1 else input * beta)


def mv(input: Tensor, vec: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The product of a matrix (n, m) and a vector (m,): shape (n,).

    Example: ``fastdl.mv(fastdl.eye(2), fastdl.tensor([1.0, 2.0]))`` is ``[1., 2.]``.
    """
    _ranked("mv", 2, input=input)
    _ranked("mv", 1, vec=vec)
    if input.shape[1] != vec.shape[0]:
        raise ShapeError(
            f"mv: input of shape {tuple(input.shape)} and vec of shape {tuple(vec.shape)} "
            "cannot be multiplied"
        )
    check_out(out, "mv")
    return write_out(_mm.matmul(input, vec.unsqueeze(-1)).squeeze(-1), out, "mv")


def addmv(
    input: Tensor,  # noqa: A002
    mat: Tensor,
    vec: Tensor,
    *,
    beta: Any = 1,
    alpha: Any = 1,
    out: Tensor | None = None,
) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``.

    Example: ``fastdl.addmv(b, w, x)`` for ``b`` (n,), ``w`` (n, m), ``x`` (m,).
    """
    _tensors("addmv", input=input)
    product = mv(mat, vec)
    check_out(out, "addmv")
    return write_out(_scaled_sum(product, input, beta, alpha, "addmv"), out, "addmv")


def baddbmm(
    input: Tensor,  # noqa: A002
    batch1: Tensor,
    batch2: Tensor,
    *,
    beta: Any = 1,
    alpha: Any = 1,
    out: Tensor | None = None,
) -> Tensor:
    """``beta * input + alpha * (batch1 @ batch2)`` for (b, n, k) and (b, k, m) batches.

    Example: ``fastdl.baddbmm(c, a, b, alpha=0.5)``.
    """
    _tensors("baddbmm", input=input)
    _ranked("baddbmm", 3, batch1=batch1, batch2=batch2)
    if batch1.shape[0] != batch2.shape[0] or batch1.shape[2] != batch2.shape[1]:
        raise ShapeError(
            f"baddbmm: batch1 of shape {tuple(batch1.shape)} and batch2 of shape "
            f"{tuple(batch2.shape)} cannot be multiplied"
        )
    check_out(out, "baddbmm")
    product = _mm.matmul(batch1, batch2)
    return write_out(_scaled_sum(product, input, beta, alpha, "baddbmm"), out, "baddbmm")


def _dims_pair(dims: Any, a: Tensor, b: Tensor) -> tuple[list[int], list[int]]:
    if isinstance(dims, int):
        if not 0 <= dims <= min(a.ndim, b.ndim):
            raise ValueError(
                f"tensordot: dims={dims} must be in [0, {min(a.ndim, b.ndim)}] for shapes "
                f"{tuple(a.shape)} and {tuple(b.shape)}"
            )
        return list(range(a.ndim - dims, a.ndim)), list(range(dims))
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if not isinstance(dims, Sequence) or len(dims) != 2:
        raise TypeError(f"tensordot: dims must be an int or a pair of lists, got {dims!r}")
    first, second = dims
    first = [first] if isinstance(first, int) else list(first)
    second = [second] if isinstance(second, int) else list(second)
    if len(first) != len(second):
        raise ValueError(f"tensordot: dims lists differ in length: {first} and {second}")
    return (
        [normalize_dim(d, a.ndim, "dims") for d in first],
        [normalize_dim(d, b.ndim, "dims") for d in second],
    )


def tensordot(a: Tensor, b: Tensor, dims: Any = 2, out: Tensor | None = None) -> Tensor:
    """Sum products over the last ``dims`` axes of ``a`` and the first of ``b`` (or the
    axes listed in a pair ``([a axes], [b axes])``).

    Example: ``fastdl.tensordot(fastdl.ones(2, 3), fastdl.ones(3, 4), dims=1)`` is
    (2, 4) of 3s.
    """
    _tensors("tensordot", a=a, b=b)
    dims_a, dims_b = _dims_pair(dims, a, b)
    for da, db in zip(dims_a, dims_b, strict=True):
        if a.shape[da] != b.shape[db]:
            raise ShapeError(
                f"tensordot: contracted sizes differ: a{tuple(a.shape)} dim {da} and "
                f"b{tuple(b.shape)} dim {db}"
            )
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    k = math.prod(a.shape[d] for d in dims_a)
    left = a.permute(*free_a, *dims_a).reshape(-1, k)
    right = b.permute(*dims_b, *free_b).reshape(k, -1)
    shape = tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b)
    check_out(out, "tensordot")
    return write_out(_mm.matmul(left, right).reshape(shape), out, "tensordot")


def kron(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The Kronecker product: block ``(i, j, ...)`` is ``input[i, j, ...] * other``.

    Example: ``fastdl.kron(fastdl.eye(2), fastdl.ones(2, 2))`` is (4, 4) block diagonal.
    """
    _tensors("kron", input=input, other=other)
    ndim = max(input.ndim, other.ndim)
    a = input.reshape((1,) * (ndim - input.ndim) + tuple(input.shape))
    b = other.reshape((1,) * (ndim - other.ndim) + tuple(other.shape))
    spread_a = [n for size in a.shape for n in (size, 1)]
    spread_b = [n for size in b.shape for n in (1, size)]
    product = a.reshape(spread_a) * b.reshape(spread_b)
    check_out(out, "kron")
    shape = tuple(m * n for m, n in zip(a.shape, b.shape, strict=True))
    return write_out(product.reshape(shape), out, "kron")


def cross(
    input: Tensor,  # noqa: A002
    other: Tensor,
    dim: int | None = None,
    *,
    out: Tensor | None = None,
) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the first axis of size 3 when None,
    as ``torch.cross``), broadcasting the other axes.

    Example: ``fastdl.cross(fastdl.tensor([1.0, 0, 0]), fastdl.tensor([0.0, 1, 0]))`` is
    ``[0., 0., 1.]``.
    """
    _tensors("cross", input=input, other=other)
    if input.ndim != other.ndim:
        raise ShapeError(
            f"cross: input {tuple(input.shape)} and other {tuple(other.shape)} must have "
            "the same number of dimensions"
        )
    try:
        shape = np.broadcast_shapes(input.shape, other.shape)
    except ValueError:
        raise ShapeError(
            f"cross: input {tuple(input.shape)} and other {tuple(other.shape)} do not broadcast"
        ) from None
    if dim is None:
        sized = [d for d, n in enumerate(shape) if n == 3]
        if not sized:
            raise ShapeError(f"cross: no dimension of size 3 in shape {tuple(shape)}")
        dim = sized[0]
    dim = normalize_dim(dim, len(shape))
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise ShapeError(
            f"cross: dim {dim} must have size 3 in input {tuple(input.shape)} and other "
            f"{tuple(other.shape)}"
        )
    a = [_sl.narrow(input, dim, i, 1) for i in range(3)]
    b = [_sl.narrow(other, dim, i, 1) for i in range(3)]
    parts = [a[(i + 1) % 3] * b[(i + 2) % 3] - a[(i + 2) % 3] * b[(i + 1) % 3] for i in range(3)]
    from fastdl.ops.shape import cat

    check_out(out, "cross")
    return write_out(cat(parts, dim), out, "cross")


def trace(input: Tensor) -> Tensor:  # noqa: A002
    """The sum of the main diagonal of a 2-D tensor.

    Example: ``fastdl.trace(fastdl.tensor([[1.0, 2.0], [3.0, 4.0]]))`` is ``5.``.
    """
    _ranked("trace", 2, input=input)
    n = min(input.shape)
    if n == 0:
        return _red.sum(input.reshape(-1))
    positions = np.arange(n) * (input.shape[1] + 1)
    from fastdl.ops.shape import getitem

    return _red.sum(getitem(input.reshape(-1), (positions,)))


def cdist(
    x1: Tensor,
    x2: Tensor,
    p: float = 2.0,
    compute_mode: str = "use_mm_for_euclid_dist_if_necessary",
) -> Tensor:
    """The ``p``-norm distances between the rows of ``x1`` (..., P, M) and of ``x2``
    (..., R, M): shape (..., P, R). Computed elementwise (``compute_mode`` is accepted
    for PyTorch's signature and changes nothing).

    Example: ``fastdl.cdist(fastdl.zeros(1, 2), fastdl.tensor([[3.0, 4.0]]))`` is ``[[5.]]``.
    """
    _tensors("cdist", x1=x1, x2=x2)
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ShapeError(
            f"cdist: x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)} must be at least 2-D with "
            "the same last dimension"
        )
    if p < 0:
        raise ValueError(f"cdist: p must be non-negative, got {p}")
    gap = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
    return vector_norm(gap, ord=p, dim=-1)


def _floating(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{name}: expected a floating point tensor, got {x.dtype}")
    return x


def vector_norm(
    x: Tensor,
    ord: float = 2,  # noqa: A002
    dim: Any = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """The ``ord``-norm of ``x`` over ``dim`` (all elements when None) taken as one
    vector: ``sum(|x| ** ord) ** (1 / ord)``; ``inf``/``-inf`` the largest/smallest
    ``|x|``, 0 the count of non-zeros.

    Example: ``fastdl.linalg.vector_norm(fastdl.tensor([3.0, 4.0]))`` is ``5.``.
    """
    x = _floating(x if dtype is None or not isinstance(x, Tensor) else x.to(dtype), "vector_norm")
    dims = normalize_dims(dim, x.ndim)
    if isinstance(ord, str) or not isinstance(ord, int | float):
        raise TypeError(f"vector_norm: ord must be a number, got {ord!r}")
    size = _ew.abs(x)
    if ord == math.inf:
        return _red.amax(size, dims, keepdim) if x.numel() else _red.sum(size, dims, keepdim)
    if ord == -math.inf:
        return _red.amin(size, dims, keepdim)
    if ord == 0:
        with no_grad():
            return _red.sum(_ew.compare(x, 0, "ne").to(x.dtype), dims, keepdim)
    if ord == 1:
        return _red.sum(size, dims, keepdim)
    if ord == 2:
        return _ew.sqrt(_red.sum(x * x, dims, keepdim))
    return _red.sum(size**ord, dims, keepdim) ** (1.0 / ord)


__all__ = [
    "addmv", "baddbmm", "cdist", "cross", "kron", "mv", "tensordot", "trace", "vector_norm",
]  # fmt: skip
