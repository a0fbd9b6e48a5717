"""More shape and indexing ops of the torch namespace: tiling and broadcasting,
``rot90``, stacking and splitting variants, ``take``/``take_along_dim``, the
``index_*`` updates, ``masked_scatter``, diagonals, ``block_diag``,
``cartesian_prod``/``combinations``, and the counting and searching functions
(``argwhere``, ``isin``, ``bincount``, ``unique``, ``unique_consecutive``,
``bucketize``, ``searchsorted``, ``histc``).

The shape ops compose existing differentiable ops (reshape, cat, getitem and its
adjoint scatter, where, gather). The counting and searching functions produce indices
or counts whose size depends on the data: they run on the host with NumPy, as
PyTorch's own CPU versions do, and have no gradient (as in PyTorch).

Example::

    >>> import fastdl
    >>> fastdl.tile(fastdl.tensor([1, 2]), (2,)).tolist()
    [1, 2, 1, 2]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.errors import ShapeError
from fastdl.ops import elementwise as _ew
from fastdl.ops import indexing as _idx
from fastdl.ops import reshaping as _rs
from fastdl.ops import shape as _shape
from fastdl.ops import slicing as _sl
from fastdl.ops._util import normalize_dim
from fastdl.tensor import Tensor


def _check(x: Any, name: str, argument: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {argument} must be a Tensor, got {type(x).__name__}")
    return x


def _host(x: Tensor) -> np.ndarray:
    return np.asarray(backends.for_device(x.device).to_host(x._data))


def _on(array: Any, like: Tensor, dtype: Any = None) -> Tensor:
    host = np.asarray(array, dtype=dtype, order="C")
    return Tensor._wrap(backends.for_device(like.device).from_host(host))


def _sizes(sizes: tuple, name: str) -> tuple[int, ...]:
    if len(sizes) == 1 and isinstance(sizes[0], Sequence | Tensor):
        sizes = tuple(sizes[0].tolist() if isinstance(sizes[0], Tensor) else sizes[0])
    for n in sizes:
        if not isinstance(n, int | np.integer) or isinstance(n, bool):
            raise TypeError(f"{name}: sizes must be ints, got {sizes!r}")
    return tuple(int(n) for n in sizes)


# -- copies, broadcasting, rotation ------------------------------------------------------


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:  # noqa: A002
    """A copy of ``input`` with its own storage (differentiable).

    Example: ``fastdl.clone(x)``.
    """
    return _shape.clone(_check(input, "clone"))


def tile(input: Tensor, dims: Sequence[int]) -> Tensor:  # noqa: A002
    """``input`` repeated ``dims[i]`` times along each axis; ``dims`` shorter than the
    input is padded with 1s in front, longer pads the input with leading axes.

    Example: ``fastdl.tile(fastdl.tensor([[1, 2]]), (2, 2))`` has shape (2, 4).
    """
    x = _check(input, "tile")
    reps = _sizes((dims,), "tile")
    reps = (1,) * (x.ndim - len(reps)) + reps
    return _rs.repeat(x, *reps)


def broadcast_to(input: Tensor, size: Sequence[int]) -> Tensor:  # noqa: A002
    """``input`` expanded to ``size`` by broadcasting (-1 keeps a size).

    Example: ``fastdl.broadcast_to(fastdl.tensor([1, 2]), (3, 2))``.
    """
    return _rs.expand(_check(input, "broadcast_to"), *_sizes((size,), "broadcast_to"))


def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    """The shape all ``shapes`` broadcast to. Example: ``broadcast_shapes((2, 1), (3,))``."""
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError:
        raise ShapeError(f"broadcast_shapes: shapes {shapes} do not broadcast") from None


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors expanded to their common broadcast shape.

    Example: ``a, b = fastdl.broadcast_tensors(fastdl.ones(2, 1), fastdl.ones(3))``.
    """
    for i, t in enumerate(tensors):
        _check(t, "broadcast_tensors", f"tensors[{i}]")
    try:
        shape = np.broadcast_shapes(*(t.shape for t in tensors))
    except ValueError:
        raise ShapeError(
            f"broadcast_tensors: shapes {[tuple(t.shape) for t in tensors]} do not broadcast"
        ) from None
    return tuple(_rs.expand(t, *shape) for t in tensors)


def rot90(input: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:  # noqa: A002
    """``input`` rotated by ``k`` quarter turns in the plane ``dims``, from the first
    axis toward the second.

    Example: ``fastdl.rot90(fastdl.tensor([[1, 2], [3, 4]]))`` is ``[[2, 4], [1, 3]]``.
    """
    x = _check(input, "rot90")
    if len(dims) != 2:
        raise ValueError(f"rot90: dims must name two axes, got {tuple(dims)}")
    if x.ndim < 2:
        raise ValueError(f"rot90: expected at least a 2-D input, got shape {tuple(x.shape)}")
    a, b = (normalize_dim(d, x.ndim, "dims") for d in dims)
    if a == b:
        raise ValueError(f"rot90: dims must differ, got {tuple(dims)}")
    k = k % 4
    if k == 1:
        return _shape.transpose(_rs.flip(x, (b,)), a, b)
    if k == 2:
        return _rs.flip(x, (a, b))
    if k == 3:
        return _rs.flip(_shape.transpose(x, a, b), (b,))
    return x.clone()


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:  # noqa: A002
    """:func:`fastdl.transpose` under NumPy's name. Example: ``fastdl.swapaxes(x, 0, 1)``."""
    return _shape.transpose(_check(input, "swapaxes"), axis0, axis1)


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:  # noqa: A002
    """:func:`fastdl.transpose` (an alias). Example: ``fastdl.swapdims(x, 0, 1)``."""
    return _shape.transpose(_check(input, "swapdims"), dim0, dim1)


def moveaxis(input: Tensor, source: Any, destination: Any) -> Tensor:  # noqa: A002
    """:func:`fastdl.movedim` under NumPy's name. Example: ``fastdl.moveaxis(x, 0, -1)``."""
    return _rs.movedim(_check(input, "moveaxis"), source, destination)


# -- stacking and splitting ------------------------------------------------------------


def _at_least(t: Tensor, ndim: int) -> Tensor:
    if t.ndim >= ndim:
        return t
    if ndim == 3 and t.ndim == 2:
        return t.unsqueeze(-1)
    if ndim == 3:
        return t.reshape(1, -1, 1)
    return t.reshape(1, -1)


def _sequence(tensors: Sequence[Tensor], name: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, Sequence) or not tensors:
        raise TypeError(f"{name}: expected a non-empty sequence of Tensors")
    return [_check(t, name, f"tensors[{i}]") for i, t in enumerate(tensors)]


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Join 1-D tensors as columns (and 2-D ones side by side) into a 2-D tensor.

    Example: ``fastdl.column_stack([fastdl.tensor([1, 2]), fastdl.tensor([3, 4])])`` is
    ``[[1, 3], [2, 4]]``.
    """
    parts = _sequence(tensors, "column_stack")
    columns = [t.reshape(-1, 1) if t.ndim <= 1 else t for t in parts]
    return _shape.cat(columns, 1)


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along the third axis, after making every tensor at least 3-D (1-D (n,) as
    (1, n, 1), 2-D (m, n) as (m, n, 1)).

    Example: ``fastdl.dstack([fastdl.ones(2, 3), fastdl.zeros(2, 3)])`` has shape (2, 3, 2).
    """
    return _shape.cat([_at_least(t, 3) for t in _sequence(tensors, "dstack")], 2)


def tensor_split(input: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """Split along ``dim`` into ``n`` nearly equal parts (the first ``size % n`` one
    longer) when given an int, or before each index of a list/1-d tensor of indices.

    Example: ``fastdl.tensor_split(fastdl.arange(5), 2)`` gives ``[0, 1, 2]`` and ``[3, 4]``.
    """
    x = _check(input, "tensor_split")
    if x.ndim == 0:
        raise ValueError("tensor_split: expected at least a 1-d input, got a 0-d tensor")
    dim = normalize_dim(dim, x.ndim)
    size = x.shape[dim]
    spec = indices_or_sections
    if isinstance(spec, Tensor):
        spec = spec.item() if spec.ndim == 0 else spec.tolist()
    if isinstance(spec, int | np.integer) and not isinstance(spec, bool):
        if spec <= 0:
            raise ValueError(f"tensor_split: sections must be positive, got {spec}")
        base, extra = divmod(size, int(spec))
        lengths = [base + 1] * extra + [base] * (int(spec) - extra)
        bounds = list(itertools.accumulate(lengths, initial=0))
    elif isinstance(spec, Sequence):
        bounds = [0, *(int(i) for i in spec), size]
    else:
        raise TypeError(
            f"tensor_split: indices_or_sections must be an int, a sequence or a Tensor, got "
            f"{type(spec).__name__}"
        )
    parts = []
    for start, stop in itertools.pairwise(bounds):
        start, stop = min(max(start, 0), size), min(max(stop, 0), size)
        parts.append(_sl.narrow(x, dim, start, max(stop - start, 0)))
    return tuple(parts)


def _named_split(x: Tensor, spec: Any, dim: int, name: str) -> tuple[Tensor, ...]:
    if isinstance(spec, int) and x.shape[dim] % spec != 0:
        raise ValueError(
            f"{name}: dim {dim} of size {x.shape[dim]} does not split into {spec} equal parts"
        )
    return tensor_split(x, spec, dim)


def hsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:  # noqa: A002
    """Split along dim 1 (dim 0 for 1-D input); an int must divide it evenly.

    Example: ``fastdl.hsplit(fastdl.ones(2, 4), 2)`` gives two (2, 2) tensors.
    """
    x = _check(input, "hsplit")
    if x.ndim == 0:
        raise ValueError("hsplit: expected at least a 1-d input, got a 0-d tensor")
    return _named_split(x, indices_or_sections, 1 if x.ndim > 1 else 0, "hsplit")


def vsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:  # noqa: A002
    """Split along dim 0 of an at least 2-D tensor. Example: ``fastdl.vsplit(x, [1])``."""
    x = _check(input, "vsplit")
    if x.ndim < 2:
        raise ValueError(f"vsplit: expected at least a 2-D input, got shape {tuple(x.shape)}")
    return _named_split(x, indices_or_sections, 0, "vsplit")


def dsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:  # noqa: A002
    """Split along dim 2 of an at least 3-D tensor. Example: ``fastdl.dsplit(x, 2)``."""
    x = _check(input, "dsplit")
    if x.ndim < 3:
        raise ValueError(f"dsplit: expected at least a 3-D input, got shape {tuple(x.shape)}")
    return _named_split(x, indices_or_sections, 2, "dsplit")


def block_diag(*tensors: Tensor) -> Tensor:
    """A block-diagonal matrix of the given 0-, 1- or 2-D tensors (a 1-D (n,) is a row
    (1, n)), zeros elsewhere, in the tensors' promoted dtype.

    Example: ``fastdl.block_diag(fastdl.ones(1, 1), fastdl.ones(2, 2))`` is 3x3.
    """
    blocks = []
    for i, t in enumerate(tensors):
        _check(t, "block_diag", f"tensors[{i}]")
        if t.ndim > 2:
            raise ValueError(f"block_diag: tensors[{i}] must be 0-, 1- or 2-D, got {t.shape}")
        blocks.append(t.reshape(1, -1) if t.ndim < 2 else t)
    if not blocks:  # PyTorch's empty block_diag: one row, no columns
        return Tensor._wrap(backends.for_device("cpu").full((1, 0), 0, dtypes.float32))
    dtype = blocks[0].dtype
    for b in blocks[1:]:
        dtype = dtypes.promote(dtype, b.dtype)
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        b = b.to(dtype)
        right = width - left - b.shape[1]
        parts = [b.new_zeros((b.shape[0], left)), b, b.new_zeros((b.shape[0], right))]
        rows.append(_shape.cat(parts, 1))
        left += b.shape[1]
    return _shape.cat(rows, 0)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """The Cartesian product of 1-D tensors: one row per combination (the last tensor
    varying fastest); one tensor is returned as it is.

    Example: ``fastdl.cartesian_prod(fastdl.tensor([1, 2]), fastdl.tensor([3, 4]))``.
    """
    for i, t in enumerate(tensors):
        if _check(t, "cartesian_prod", f"tensors[{i}]").ndim != 1:
            raise ValueError(f"cartesian_prod: tensors[{i}] must be 1-D, got {tuple(t.shape)}")
    if not tensors:
        raise TypeError("cartesian_prod: expected at least one tensor")
    if len(tensors) == 1:
        return tensors[0]
    grids = np.meshgrid(*(np.arange(t.shape[0]) for t in tensors), indexing="ij")
    columns = [
        _idx.index_select(t, 0, _on(g.reshape(-1), t, np.int64))
        for t, g in zip(tensors, grids, strict=True)
    ]
    return _shape.stack(columns, 1)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:  # noqa: A002
    """The length-``r`` combinations of a 1-D tensor's elements, one per row, in
    ``itertools.combinations`` order (``combinations_with_replacement`` with
    ``with_replacement=True``).

    Example: ``fastdl.combinations(fastdl.tensor([1, 2, 3]))`` is ``[[1, 2], [1, 3], [2, 3]]``.
    """
    x = _check(input, "combinations")
    if x.ndim != 1:
        raise ValueError(f"combinations: expected a 1-D input, got shape {tuple(x.shape)}")
    if not isinstance(r, int) or r < 0:
        raise ValueError(f"combinations: r must be a non-negative int, got {r!r}")
    make = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    picks = np.asarray(list(make(range(x.shape[0]), r)), np.int64).reshape(-1, r)
    if r == 0 or picks.shape[0] == 0:
        return x.new_zeros((0,) if r == 0 else (0, r))
    chosen = _idx.index_select(x, 0, _on(picks.reshape(-1), x, np.int64))
    return chosen.reshape(picks.shape)


# -- gathering and index updates ---------------------------------------------------------


def take(input: Tensor, index: Tensor) -> Tensor:  # noqa: A002
    """``input`` read as 1-D at ``index`` (an integer tensor); the result has ``index``'s
    shape. Differentiable in ``input``.

    Example: ``fastdl.take(fastdl.tensor([[1, 2], [3, 4]]), fastdl.tensor([0, 3]))`` is
    ``[1, 4]``.
    """
    x = _check(input, "take")
    idx = _int_index(index, "take", "index")
    n = x.numel()
    positions = _host(idx).astype(np.int64)
    if positions.size and (positions.min() < -n or positions.max() >= n):
        raise IndexError(f"take: index out of range for an input of {n} elements")
    picked = _shape.getitem(x.reshape(-1), (np.where(positions < 0, positions + n, positions),))
    return picked.reshape(idx.shape)


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:  # noqa: A002
    """``gather`` with ``indices`` broadcast against ``input`` (both flattened when
    ``dim`` is None). Example: ``fastdl.take_along_dim(x, x.argmax(1, keepdim=True), 1)``.
    """
    x = _check(input, "take_along_dim")
    idx = _int_index(indices, "take_along_dim", "indices")
    if dim is None:
        return _idx.gather(x.reshape(-1), 0, idx.reshape(-1))
    dim = normalize_dim(dim, x.ndim)
    if idx.ndim != x.ndim:
        raise ShapeError(
            f"take_along_dim: indices of shape {tuple(idx.shape)} must have as many dimensions "
            f"as input of shape {tuple(x.shape)}"
        )
    try:
        common = list(np.broadcast_shapes(_without(x.shape, dim), _without(idx.shape, dim)))
    except ValueError:
        raise ShapeError(
            f"take_along_dim: indices of shape {tuple(idx.shape)} do not broadcast with input "
            f"of shape {tuple(x.shape)} outside dim {dim}"
        ) from None
    x = _rs.expand(x, *common[:dim], x.shape[dim], *common[dim + 1 :])
    idx = _rs.expand(idx, *common[:dim], idx.shape[dim], *common[dim + 1 :])
    return _idx.gather(x, dim, idx)


def _without(shape: tuple, dim: int) -> tuple:
    return tuple(1 if i == dim else n for i, n in enumerate(shape))


def _int_index(index: Any, name: str, argument: str) -> Tensor:
    if not isinstance(index, Tensor) or index.dtype.kind not in "iu":
        kind = index.dtype if isinstance(index, Tensor) else type(index).__name__
        raise TypeError(f"{name}: {argument} must be an integer tensor, got {kind}")
    return index


def _along(x: Tensor, dim: Any, index: Any, name: str) -> tuple[int, np.ndarray, tuple]:
    """``dim`` resolved, the host index (1-D, non-negative) and the raw index tuple that
    picks ``x[..., index, ...]`` at ``dim``."""
    idx = _int_index(index, name, "index")
    if idx.ndim > 1:
        raise ValueError(f"{name}: index must be 0-D or 1-D, got shape {tuple(idx.shape)}")
    dim = normalize_dim(dim, x.ndim)
    size = x.shape[dim] if x.ndim else 1
    positions = _host(idx).reshape(-1).astype(np.int64)
    if positions.size and (positions.min() < -size or positions.max() >= size):
        raise IndexError(
            f"{name}: index out of range for dim {dim} of size {size} (got {positions.tolist()})"
        )
    positions = np.where(positions < 0, positions + size, positions)
    return dim, positions, (slice(None),) * dim + (positions,)


def _source_shape(x: Tensor, dim: int, count: int) -> tuple:
    return tuple(count if i == dim else n for i, n in enumerate(x.shape))


def _check_source(x: Tensor, dim: int, count: int, source: Any, name: str, argument: str):
    _check(source, name, argument)
    want = _source_shape(x, dim, count)
    if tuple(source.shape) != want and not (x.ndim == 0 and source.numel() == count):
        raise ShapeError(
            f"{name}: {argument} of shape {tuple(source.shape)} must have shape {want} (the "
            f"input {tuple(x.shape)} with dim {dim} of the index's length {count})"
        )


def index_add(
    input: Tensor,  # noqa: A002
    dim: int,
    index: Tensor,
    source: Tensor,
    *,
    alpha: Any = 1,
) -> Tensor:
    """A copy of ``input`` with ``alpha * source[..., i, ...]`` added at
    ``input[..., index[i], ...]`` along ``dim``; repeated indices accumulate.

    Example: ``fastdl.index_add(fastdl.zeros(3), 0, fastdl.tensor([0, 0]), fastdl.ones(2))``
    is ``[2., 0., 0.]``.
    """
    x = _check(input, "index_add")
    dim, positions, raw = _along(x, dim, index, "index_add")
    _check_source(x, dim, positions.size, source, "index_add", "source")
    values = source.to(x.dtype).reshape(_source_shape(x, dim, positions.size))
    if alpha != 1:
        values = values * alpha
    return x + _shape.scatter(values, x.shape, raw)


def _hit(x: Tensor, raw: tuple) -> np.ndarray:
    mask = np.zeros(x.shape, np.bool_)
    mask[raw] = True
    return mask


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:  # noqa: A002
    """A copy of ``input`` with ``source[..., i, ...]`` written at
    ``input[..., index[i], ...]`` along ``dim`` (which value a repeated index keeps is
    unspecified, as in PyTorch).

    Example: ``fastdl.index_copy(fastdl.zeros(3), 0, fastdl.tensor([2]), fastdl.ones(1))``.
    """
    x = _check(input, "index_copy")
    dim, positions, raw = _along(x, dim, index, "index_copy")
    _check_source(x, dim, positions.size, source, "index_copy", "source")
    if len(set(positions.tolist())) != positions.size:  # keep the last, not their sum
        last = {p: i for i, p in enumerate(positions.tolist())}
        keep = np.asarray(sorted(last.values()), np.int64)
        source = _idx.index_select(source, dim, _on(keep, source, np.int64))
        positions = positions[keep]
        raw = (slice(None),) * dim + (positions,)
    values = source.to(x.dtype).reshape(_source_shape(x, dim, positions.size))
    hit = _on(_hit(x, raw), x)
    return _ew.where(hit, _shape.scatter(values, x.shape, raw), x)


def index_fill(input: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:  # noqa: A002
    """A copy of ``input`` with ``value`` (a number or a 0-d tensor) at
    ``input[..., index[i], ...]`` along ``dim``.

    Example: ``fastdl.index_fill(fastdl.zeros(2, 3), 1, fastdl.tensor([0, 2]), -1.0)``.
    """
    x = _check(input, "index_fill")
    dim, _, raw = _along(x, dim, index, "index_fill")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(
                f"index_fill: value must be a number or a 0-d tensor, got {value.shape}"
            )
        value = value.to(x.dtype)
    elif not isinstance(value, bool | int | float | np.number):
        raise TypeError(f"index_fill: value must be a number or a 0-d tensor, got {value!r}")
    return _ew.where(_on(_hit(x, raw), x), value, x)


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:  # noqa: A002
    """A copy of ``input`` with the positions where ``mask`` (bool, broadcast to the
    input) is True filled, in row-major order, with ``source``'s first elements.

    Example: ``fastdl.masked_scatter(fastdl.zeros(3), fastdl.tensor([True, False, True]),
    fastdl.tensor([1.0, 2.0]))`` is ``[1., 0., 2.]``.
    """
    x = _check(input, "masked_scatter")
    _check(source, "masked_scatter", "source")
    if not isinstance(mask, Tensor) or mask.dtype != dtypes.bool_:
        kind = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"masked_scatter: mask must be a bool tensor, got {kind}")
    try:
        full = np.broadcast_to(_host(mask), x.shape)
    except ValueError:
        raise ShapeError(
            f"masked_scatter: mask of shape {tuple(mask.shape)} does not broadcast to the input "
            f"of shape {tuple(x.shape)}"
        ) from None
    positions = np.flatnonzero(full)
    if positions.size > source.numel():
        raise ValueError(
            f"masked_scatter: mask selects {positions.size} elements but source has only "
            f"{source.numel()}"
        )
    values = _sl.narrow(source.to(x.dtype).reshape(-1), 0, 0, positions.size)
    spread = _shape.scatter(values, (x.numel(),), (positions,)).reshape(x.shape)
    return _ew.where(_on(np.ascontiguousarray(full), x), spread, x)


# -- diagonals ---------------------------------------------------------------------------


def _diagonal_positions(rows: int, cols: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    length = max(0, min(rows - max(-offset, 0), cols - max(offset, 0)))
    steps = np.arange(length)
    return steps + max(-offset, 0), steps + max(offset, 0)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:  # noqa: A002
    """The diagonal ``offset`` (above the main one when positive) of the planes
    ``(dim1, dim2)``, as the last axis of the result. Differentiable.

    Example: ``fastdl.diagonal(fastdl.tensor([[1, 2], [3, 4]]))`` is ``[1, 4]``.
    """
    x = _check(input, "diagonal")
    if x.ndim < 2:
        raise ValueError(f"diagonal: expected at least a 2-D input, got shape {tuple(x.shape)}")
    a, b = normalize_dim(dim1, x.ndim, "dim1"), normalize_dim(dim2, x.ndim, "dim2")
    if a == b:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    moved = _rs.movedim(x, (a, b), (-2, -1))
    rows, cols = _diagonal_positions(moved.shape[-2], moved.shape[-1], offset)
    return _shape.getitem(moved, (slice(None),) * (moved.ndim - 2) + (rows, cols))


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: A002
    """Matrices whose diagonal ``offset`` (in the planes ``(dim1, dim2)`` of the
    result) holds the last axis of ``input``, zeros elsewhere. Differentiable.

    Example: ``fastdl.diag_embed(fastdl.tensor([1, 2]))`` is ``[[1, 0], [0, 2]]``.
    """
    x = _check(input, "diag_embed")
    if x.ndim == 0:
        raise ValueError("diag_embed: expected at least a 1-D input, got a 0-d tensor")
    n = x.shape[-1] + abs(offset)
    a, b = normalize_dim(dim1, x.ndim + 1, "dim1"), normalize_dim(dim2, x.ndim + 1, "dim2")
    if a == b:
        raise ValueError(f"diag_embed: dim1 and dim2 must differ, got {dim1} and {dim2}")
    rows, cols = _diagonal_positions(n, n, offset)
    lead = (slice(None),) * (x.ndim - 1)
    matrices = _shape.scatter(x, (*x.shape[:-1], n, n), (*lead, rows, cols))
    return _rs.movedim(matrices, (-2, -1), (a, b))


def diagflat(input: Tensor, offset: int = 0) -> Tensor:  # noqa: A002
    """A 2-D matrix with the flattened ``input`` on diagonal ``offset``.

    Example: ``fastdl.diagflat(fastdl.tensor([[1, 2]]))`` is ``[[1, 0], [0, 2]]``.
    """
    return diag_embed(_check(input, "diagflat").reshape(-1), offset)


# -- counting and searching (host, no gradient) ------------------------------------------


def argwhere(input: Tensor) -> Tensor:  # noqa: A002
    """The indices of the non-zero elements, one row each (int64, computed on the host).

    Example: ``fastdl.argwhere(fastdl.tensor([0, 3, 5])).tolist()`` is ``[[1], [2]]``.
    """
    return _idx.nonzero(_check(input, "argwhere"))


def isin(
    elements: Any,
    test_elements: Any,
    *,
    assume_unique: bool = False,
    invert: bool = False,
) -> Tensor:
    """Whether each of ``elements`` occurs in ``test_elements`` (either may be a
    number), as a bool tensor of ``elements``' shape. Computed on the host.

    Example: ``fastdl.isin(fastdl.tensor([1, 2, 3]), fastdl.tensor([2]))`` is
    ``[False, True, False]``.
    """
    like = elements if isinstance(elements, Tensor) else test_elements
    if not isinstance(like, Tensor):
        raise TypeError("isin: elements or test_elements must be a Tensor")
    values = _host(elements) if isinstance(elements, Tensor) else np.asarray(elements)
    tests = _host(test_elements) if isinstance(test_elements, Tensor) else test_elements
    found = np.isin(values, tests, assume_unique=assume_unique, invert=invert)
    return _on(found, like, np.bool_)


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:  # noqa: A002
    """How often each value ``0 .. max(input)`` occurs in a 1-D non-negative integer
    tensor (summing ``weights`` instead when given); at least ``minlength`` long.
    int64 counts, or ``weights``' dtype. Computed on the host.

    Example: ``fastdl.bincount(fastdl.tensor([0, 1, 1, 3]))`` is ``[1, 2, 0, 1]``.
    """
    x = _check(input, "bincount")
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise ValueError(
            f"bincount: input must be a 1-D integer tensor, got {x.dtype} of shape {tuple(x.shape)}"
        )
    values = _host(x)
    if values.size and values.min() < 0:
        raise ValueError("bincount: input must be non-negative")
    if not isinstance(minlength, int) or minlength < 0:
        raise ValueError(f"bincount: minlength must be a non-negative int, got {minlength!r}")
    if weights is None:
        return _on(np.bincount(values, minlength=minlength), x, np.int64)
    _check(weights, "bincount", "weights")
    if weights.shape != x.shape:
        raise ShapeError(
            f"bincount: weights of shape {tuple(weights.shape)} must match input of shape "
            f"{tuple(x.shape)}"
        )
    dtype = weights.dtype if dtypes.is_floating(weights.dtype) else dtypes.float64
    counts = np.bincount(values, weights=_host(weights), minlength=minlength)
    return _on(counts, x, dtype)


def _unique_result(
    like: Tensor,
    values: np.ndarray,
    inverse: np.ndarray,
    counts: np.ndarray,
    return_inverse: bool,
    return_counts: bool,
) -> Any:
    result = [_on(values, like, like.dtype)]
    if return_inverse:
        result.append(_on(inverse, like, np.int64))
    if return_counts:
        result.append(_on(counts, like, np.int64))
    return result[0] if len(result) == 1 else tuple(result)


def unique(
    input: Tensor,  # noqa: A002
    sorted: bool = True,  # noqa: A002
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
) -> Any:
    """The distinct elements (or slices along ``dim``) of ``input``, in ascending order,
    with where each element went (``return_inverse``, ``input``'s shape) and how often
    each occurs (``return_counts``). Computed on the host; always sorted.

    Example: ``fastdl.unique(fastdl.tensor([3, 1, 3]))`` is ``[1, 3]``.
    """
    x = _check(input, "unique")
    host = _host(x)
    if dim is None:
        values, inverse, counts = np.unique(host, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(x.shape)
    else:
        axis = normalize_dim(dim, x.ndim)
        values, inverse, counts = np.unique(
            host, return_inverse=True, return_counts=True, axis=axis
        )
        inverse = inverse.reshape(-1)
    return _unique_result(x, values, inverse, counts, return_inverse, return_counts)


def unique_consecutive(
    input: Tensor,  # noqa: A002
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
) -> Any:
    """``input`` with each run of equal consecutive elements (or slices along ``dim``)
    kept once, with ``return_inverse`` and ``return_counts`` as :func:`unique`.
    Computed on the host.

    Example: ``fastdl.unique_consecutive(fastdl.tensor([1, 1, 2, 1]))`` is ``[1, 2, 1]``.
    """
    x = _check(input, "unique_consecutive")
    host = _host(x)
    if dim is None:
        flat = host.reshape(-1)
        rows = flat.reshape(-1, 1)
        axis = 0
    else:
        axis = normalize_dim(dim, x.ndim)
        flat = np.moveaxis(host, axis, 0)
        rows = flat.reshape(flat.shape[0], -1)
    if rows.shape[0] == 0:
        starts = np.zeros(0, np.int64)
    else:
        changed = np.any(rows[1:] != rows[:-1], axis=1)
        starts = np.concatenate(([0], np.flatnonzero(changed) + 1))
    counts = np.diff(np.append(starts, rows.shape[0]))
    inverse = np.repeat(np.arange(starts.size), counts)
    if dim is None:
        values = flat[starts]
        inverse = inverse.reshape(x.shape)
    else:
        values = np.moveaxis(flat[starts], 0, axis)
    return _unique_result(x, values, inverse, counts, return_inverse, return_counts)


def _sides(right: bool, side: str | None, name: str) -> str:
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"{name}: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise ValueError(f"{name}: side='left' contradicts right=True")
        return side
    return "right" if right else "left"


def searchsorted(
    sorted_sequence: Tensor,
    input: Any,  # noqa: A002
    *,
    out_int32: bool = False,
    right: bool = False,
    side: str | None = None,
    sorter: Tensor | None = None,
) -> Tensor:
    """Where each of ``input`` would go in ``sorted_sequence`` (its last axis; rows
    matched with ``input``'s leading axes when it is N-D) to keep it sorted: the first
    such place, or the last with ``right=True``/``side="right"``. Computed on the host.

    Example: ``fastdl.searchsorted(fastdl.tensor([1, 3, 5]), fastdl.tensor([3, 4]))`` is
    ``[1, 2]``.
    """
    seq = _check(sorted_sequence, "searchsorted", "sorted_sequence")
    where = _sides(right, side, "searchsorted")
    values = _host(input) if isinstance(input, Tensor) else np.asarray(input)
    rows = _host(seq)
    if sorter is not None:
        rows = np.take_along_axis(rows, _host(_int_index(sorter, "searchsorted", "sorter")), -1)
    if rows.ndim <= 1:
        found = np.searchsorted(rows, values, side=where)
    else:
        if values.ndim != rows.ndim or values.shape[:-1] != rows.shape[:-1]:
            raise ShapeError(
                f"searchsorted: input of shape {values.shape} must have the leading dimensions "
                f"of sorted_sequence {rows.shape}"
            )
        lead = rows.reshape(-1, rows.shape[-1])
        queries = values.reshape(-1, values.shape[-1])
        found = np.stack(
            [np.searchsorted(r, q, side=where) for r, q in zip(lead, queries, strict=True)]
        ).reshape(values.shape)
    return _on(found, seq, np.int32 if out_int32 else np.int64)


def bucketize(
    input: Any,  # noqa: A002
    boundaries: Tensor,
    *,
    out_int32: bool = False,
    right: bool = False,
) -> Tensor:
    """The bucket of each element among the 1-D ascending ``boundaries``: ``i`` with
    ``boundaries[i - 1] < x <= boundaries[i]`` (``<= x <`` with ``right=True``).
    Computed on the host.

    Example: ``fastdl.bucketize(fastdl.tensor([1, 4]), fastdl.tensor([1, 3, 5]))`` is
    ``[0, 2]``.
    """
    bounds = _check(boundaries, "bucketize", "boundaries")
    if bounds.ndim != 1:
        raise ValueError(f"bucketize: boundaries must be 1-D, got shape {tuple(bounds.shape)}")
    like = input if isinstance(input, Tensor) else bounds
    values = _host(input) if isinstance(input, Tensor) else np.asarray(input)
    found = np.searchsorted(_host(bounds), values, side="right" if right else "left")
    return _on(found, like, np.int32 if out_int32 else np.int64)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """A histogram of ``bins`` equal-width bins over ``[min, max]`` (the data's range
    when both are 0); elements outside are ignored. The input's floating dtype.
    Computed on the host.

    Example: ``fastdl.histc(fastdl.tensor([1.0, 2.0, 1.0]), bins=4, min=0, max=3)`` is
    ``[0., 2., 1., 0.]``.
    """
    x = _check(input, "histc")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"histc: expected a floating point input, got {x.dtype}")
    if not isinstance(bins, int) or bins <= 0:
        raise ValueError(f"histc: bins must be a positive int, got {bins!r}")
    if min > max:
        raise ValueError(f"histc: max ({max}) must be at least min ({min})")
    values = _host(x).reshape(-1)
    low, high = float(min), float(max)
    if low == high and values.size:
        low, high = float(values.min()), float(values.max())
    if low == high:
        low, high = low - 1, high + 1
    counts, _ = np.histogram(values, bins=bins, range=(low, high))
    return _on(counts, x, x.dtype)


__all__ = [
    "argwhere", "bincount", "block_diag", "broadcast_shapes", "broadcast_tensors",
    "broadcast_to", "bucketize", "cartesian_prod", "clone", "column_stack", "combinations",
    "diag_embed", "diagflat", "diagonal", "dsplit", "dstack", "histc", "hsplit", "index_add",
    "index_copy", "index_fill", "isin", "masked_scatter", "moveaxis", "rot90", "searchsorted",
    "swapaxes", "swapdims", "take", "take_along_dim", "tensor_split", "tile", "unique",
    "unique_consecutive", "vsplit",
]  # fmt: skip
