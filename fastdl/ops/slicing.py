"""Slicing and joining with PyTorch's signatures: narrow, split, chunk, unbind (views),
concat, hstack, vstack, and the triangular and diagonal parts: triu, tril, diag.

``Slice`` returns a view of its input's storage (ints and forward slices), as
PyTorch's ``narrow``/``split``/``unbind`` do; its gradient is the slice's gradient
placed into zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl import backends
from fastdl.autograd.function import Function
from fastdl.autograd.grad_mode import no_grad
from fastdl.ops import elementwise as _ew
from fastdl.ops._util import normalize_dim, zeros
from fastdl.ops.shape import cat, getitem, scatter
from fastdl.tensor import Tensor, mark_view


class Slice(Function):
    """``x[index]`` as a view, ``index`` a tuple of ints and forward slices."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        return ctx.backend.view(x, index)

    @staticmethod
    def backward(ctx, grad):
        out = zeros(ctx.shape, grad.dtype)
        ctx.backend.copy(grad, ctx.backend.view(out, ctx.index))
        return out, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return scatter(grad, ctx.shape, ctx.index), None


def slice_view(x: Tensor, index: tuple) -> Tensor:
    """``x[index]`` (ints, forward slices, Ellipsis) as a view marked on ``x``, so an
    in-place op through it reaches ``x``'s graph and ``x``'s other views."""
    out = Slice.apply(x, index)
    return mark_view(out, x, _SliceInverse(x, index), _SliceForward(index))


class _SliceForward:
    __slots__ = ("index",)

    def __init__(self, index: tuple) -> None:
        self.index = index

    def __call__(self, base: Tensor) -> Tensor:
        return Slice.apply(base, self.index)


class _SliceInverse:
    """Rebuilds the base of a slice view: the base's recorded value with the view's
    region replaced by the view (the storage already holds the written values)."""

    __slots__ = ("base", "index")

    def __init__(self, base: Tensor, index: tuple) -> None:
        self.base, self.index = base, index

    def __call__(self, view: Tensor) -> Tensor:
        old = Tensor._wrap(self.base._data)
        old._node, old.requires_grad = self.base._node, self.base.requires_grad
        spread = scatter(view, self.base.shape, self.index)
        with no_grad():
            ones = Tensor._wrap(self.base._data).new_ones(view.shape)
            hit = _ew.compare(scatter(ones, self.base.shape, self.index), 0, "ne")
        return _ew.where(hit, spread, old)


def _along(ndim: int, dim: int, part: Any) -> tuple:
    index = [slice(None)] * ndim
    index[dim] = part
    return tuple(index)


def _check_dim(op: str, input: Tensor, dim: int) -> int:  # noqa: A002
    if input.ndim == 0:
        raise ValueError(f"{op}: expects a tensor of at least 1 dimension, got a 0-d tensor")
    return normalize_dim(dim, input.ndim)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:  # noqa: A002
    """The view of ``length`` elements of ``input`` along ``dim`` from ``start``.

    Example::

        >>> fastdl.narrow(fastdl.tensor([1, 2, 3, 4]), 0, 1, 2).tolist()
        [2, 3]
    """
    dim = _check_dim("narrow", input, dim)
    n = input.shape[dim]
    start = int(start.item() if isinstance(start, Tensor) else start)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for dimension {dim} of size {n}")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise ValueError(
            f"narrow: start {start} + length {length} exceeds dimension {dim} of size {n}"
        )
    return slice_view(input, _along(input.ndim, dim, slice(start, start + length)))


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of ``tensor`` along ``dim``: pieces of ``split_size_or_sections`` elements
    (the last may be smaller), or of the sizes in a list.

    Example::

        >>> [p.tolist() for p in fastdl.split(fastdl.tensor([1, 2, 3]), 2)]
        [[1, 2], [3]]
    """
    dim = _check_dim("split", tensor, dim)
    n = tensor.shape[dim]
    if isinstance(split_size_or_sections, int | np.integer):
        size = int(split_size_or_sections)
        if size <= 0 and n > 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
    elif isinstance(split_size_or_sections, Sequence):
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(
                f"split: sections {sizes} do not add up to dimension {dim} of size {n}"
            )
    else:
        raise TypeError(
            "split: split_size_or_sections must be an int or a list of ints, got "
            f"{type(split_size_or_sections).__name__}"
        )
    pieces, start = [], 0
    for size in sizes:
        pieces.append(slice_view(tensor, _along(tensor.ndim, dim, slice(start, start + size))))
        start += size
    return tuple(pieces)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """``chunks`` views of (nearly) equal size along ``dim``; fewer when the size does
    not allow that many, as in PyTorch.

    Example::

        >>> [p.shape for p in fastdl.chunk(fastdl.zeros(5, 2), 3)]
        [(2, 2), (2, 2), (1, 2)]
    """
    if not isinstance(chunks, int | np.integer) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    dim = _check_dim("chunk", input, dim)
    n = input.shape[dim]
    return split(input, max(-(-n // int(chunks)), 1), dim)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """The slices of ``input`` along ``dim``, that dimension removed (views).

    Example::

        >>> [r.tolist() for r in fastdl.unbind(fastdl.tensor([[1, 2], [3, 4]]))]
        [[1, 2], [3, 4]]
    """
    dim = _check_dim("unbind", input, dim)
    return tuple(slice_view(input, _along(input.ndim, dim, i)) for i in range(input.shape[dim]))


def concat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """``cat``'s other name."""
    return cat(tensors, dim)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along dimension 1 (dimension 0 for 1-d tensors).

    Example::

        >>> fastdl.hstack([fastdl.tensor([1, 2]), fastdl.tensor([3])]).tolist()
        [1, 2, 3]
    """
    tensors = [t.reshape(1) if t.ndim == 0 else t for t in _tensors("hstack", tensors)]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along dimension 0, 1-d tensors taken as rows.

    Example::

        >>> fastdl.vstack([fastdl.tensor([1, 2]), fastdl.tensor([3, 4])]).shape
        (2, 2)
    """
    tensors = _tensors("vstack", tensors)
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


def _tensors(op: str, tensors: Sequence[Tensor]) -> list[Tensor]:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: tensors[{i}] is a {type(t).__name__}, not a Tensor")
    return tensors


def _triangle(op: str, input: Tensor, diagonal: int, upper: bool) -> Tensor:  # noqa: A002
    if input.ndim < 2:
        raise ValueError(f"{op}: expects a tensor of at least 2 dimensions, got {input.shape}")
    n, m = input.shape[-2:]
    keep = (
        np.triu(np.ones((n, m), bool), diagonal)
        if upper
        else np.tril(np.ones((n, m), bool), diagonal)
    )
    backend = backends.for_device(input.device)
    mask = Tensor._wrap(backend.from_host(keep))
    zero = Tensor._wrap(backend.from_host(np.zeros((), input.dtype)))  # keeps bool as bool
    return _ew.where(mask, input, zero)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The upper triangle of the last two dimensions (from ``diagonal``), zeros elsewhere.

    Example::

        >>> fastdl.triu(fastdl.ones(2, 2)).tolist()
        [[1.0, 1.0], [0.0, 1.0]]
    """
    return _triangle("triu", input, int(diagonal), upper=True)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The lower triangle of the last two dimensions (to ``diagonal``), zeros elsewhere.

    Example::

        >>> fastdl.tril(fastdl.ones(2, 2)).tolist()
        [[1.0, 0.0], [1.0, 1.0]]
    """
    return _triangle("tril", input, int(diagonal), upper=False)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """A 1-d tensor -> the square matrix with it on ``diagonal``; a matrix -> its
    ``diagonal`` as a 1-d tensor.

    Example::

        >>> fastdl.diag(fastdl.tensor([1.0, 2.0])).tolist()
        [[1.0, 0.0], [0.0, 2.0]]
    """
    k = int(diagonal)
    if input.ndim == 1:
        n = input.shape[0]
        size = n + abs(k)
        steps = np.arange(n)
        return scatter(input, (size, size), (steps + max(-k, 0), steps + max(k, 0)))
    if input.ndim == 2:
        n, m = input.shape
        length = max(0, min(n, m - k) if k >= 0 else min(n + k, m))
        steps = np.arange(length)
        return getitem(input, (steps + max(-k, 0), steps + max(k, 0)))
    raise ValueError(f"diag: expects a 1-d or 2-d tensor, got shape {input.shape}")
