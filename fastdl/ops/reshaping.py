"""Shape ops composed of views: flatten, squeeze, unsqueeze, movedim, t, expand, repeat,
repeat_interleave, flip, roll — PyTorch's signatures.

Each is written in terms of differentiable ops (reshape, permute, the broadcast view
``Expand``, indexing, cat), so it runs on every backend and its gradient comes from
theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl.autograd.function import Function
from fastdl.backends import for_device
from fastdl.ops._util import broadcast_view, normalize_dim, unbroadcast
from fastdl.ops.reduce import sum_to
from fastdl.ops.shape import cat, getitem, permute, transpose
from fastdl.ops.slicing import narrow
from fastdl.tensor import Tensor


class Expand(Function):
    """``x`` broadcast to ``shape`` as a view (stride 0 along the broadcast axes)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return broadcast_view(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(ctx.backend, grad, ctx.shape), None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return sum_to(grad, ctx.shape), None


def _sizes(sizes: tuple) -> tuple:
    """``f(2, 3)`` or ``f((2, 3))`` -> (2, 3)."""
    if len(sizes) == 1 and isinstance(sizes[0], Sequence | np.ndarray):
        return tuple(sizes[0])
    return sizes


def expand(input: Tensor, *sizes: Any) -> Tensor:  # noqa: A002
    """``input`` broadcast to ``sizes`` without copying (-1 keeps a dimension; new
    dimensions go in front). Example: ``fastdl.ones(3, 1).expand(3, 4).shape == (3, 4)``."""
    sizes = tuple(int(n) for n in _sizes(sizes))
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ValueError(
            f"expand: the number of sizes {len(sizes)} must be at least the tensor's "
            f"dimensions {input.ndim} (shape {input.shape})"
        )
    shape = []
    for d, n in enumerate(sizes):
        own = input.shape[d - lead] if d >= lead else None
        if n == -1:
            if own is None:
                raise ValueError(f"expand: -1 is not allowed for the new leading dimension {d}")
            n = own
        elif n < 0 or (own is not None and own not in (1, n)):
            raise ValueError(
                f"expand: the tensor of shape {input.shape} cannot be expanded to {sizes}"
            )
        shape.append(n)
    shape = tuple(shape)
    return input if shape == input.shape else Expand.apply(input, shape)


def expand_as(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """``input.expand(other.shape)``."""
    return expand(input, other.shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:  # noqa: A002
    """Merge dimensions ``start_dim`` to ``end_dim`` into one.

    Example::

        >>> fastdl.flatten(fastdl.zeros(2, 3, 4), 1).shape
        (2, 12)
    """
    if input.ndim == 0:
        return input.reshape(1)
    start = normalize_dim(start_dim, input.ndim, "start_dim")
    end = normalize_dim(end_dim, input.ndim, "end_dim")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = int(np.prod(input.shape[start : end + 1], dtype=np.int64))
    return input.reshape(input.shape[:start] + (merged,) + input.shape[end + 1 :])


def squeeze(input: Tensor, dim: Any = None) -> Tensor:  # noqa: A002
    """Drop size-1 dimensions: all of them, or those of ``dim`` (an int or a tuple;
    a named dimension that is not size 1 stays).

    Example::

        >>> fastdl.squeeze(fastdl.zeros(2, 1, 3, 1), 1).shape
        (2, 3, 1)
    """
    if dim is None:
        dims = set(range(input.ndim))
    else:
        named = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
        dims = {normalize_dim(d, input.ndim) for d in named}
    shape = tuple(n for d, n in enumerate(input.shape) if not (d in dims and n == 1))
    return input.reshape(shape)


def unsqueeze(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    """A size-1 dimension inserted at ``dim`` (``-1``: last).

    Example::

        >>> fastdl.unsqueeze(fastdl.zeros(3), 0).shape
        (1, 3)
    """
    dim = normalize_dim(dim, input.ndim + 1)
    return input.reshape(input.shape[:dim] + (1,) + input.shape[dim:])


def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:  # noqa: A002
    """Move dimensions ``source`` to positions ``destination`` (ints or sequences),
    the others keeping their order.

    Example::

        >>> fastdl.movedim(fastdl.zeros(2, 3, 4), 0, -1).shape
        (3, 4, 2)
    """
    src = (source,) if isinstance(source, int | np.integer) else tuple(source)
    dst = (destination,) if isinstance(destination, int | np.integer) else tuple(destination)
    if len(src) != len(dst):
        raise ValueError(
            f"movedim: source {source} and destination {destination} name different numbers "
            "of dimensions"
        )
    src = tuple(normalize_dim(d, input.ndim, "source") for d in src)
    dst = tuple(normalize_dim(d, input.ndim, "destination") for d in dst)
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: repeated dimension in {source} or {destination}")
    order = [None] * input.ndim
    for s, d in zip(src, dst, strict=True):
        order[d] = s
    rest = iter(d for d in range(input.ndim) if d not in src)
    dims = tuple(d if d is not None else next(rest) for d in order)
    return permute(input, dims) if input.ndim else input.reshape(())


def t(input: Tensor) -> Tensor:  # noqa: A002
    """The transpose of a matrix; a 0-d or 1-d tensor as it is.

    Example::

        >>> fastdl.t(fastdl.zeros(2, 3)).shape
        (3, 2)
    """
    if input.ndim > 2:
        raise ValueError(f"t: expects a tensor of at most 2 dimensions, got shape {input.shape}")
    return transpose(input, 0, 1) if input.ndim == 2 else input.reshape(input.shape)


def matrix_transpose(input: Tensor) -> Tensor:  # noqa: A002
    """The last two dimensions swapped (``Tensor.mT``)."""
    if input.ndim < 2:
        raise ValueError(f"mT: expects a tensor of at least 2 dimensions, got shape {input.shape}")
    return transpose(input, -2, -1)


def repeat(input: Tensor, *sizes: Any) -> Tensor:  # noqa: A002
    """``input`` tiled ``sizes[d]`` times along each dimension (new dimensions in front).

    Example::

        >>> fastdl.tensor([1, 2]).repeat(2, 2).tolist()
        [[1, 2, 1, 2], [1, 2, 1, 2]]
    """
    sizes = tuple(int(n) for n in _sizes(sizes))
    if len(sizes) < input.ndim:
        raise ValueError(
            f"repeat: the number of repeats {len(sizes)} must be at least the tensor's "
            f"dimensions {input.ndim} (shape {input.shape})"
        )
    if any(n < 0 for n in sizes):
        raise ValueError(f"repeat: repeats must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - input.ndim) + input.shape
    # (a, b) -> (1, a, 1, b) -> (r0, a, r1, b) -> (r0 * a, r1 * b)
    interleaved = tuple(v for n in shape for v in (1, n))
    spread = tuple(v for r, n in zip(sizes, shape, strict=True) for v in (r, n))
    tiled = expand(input.reshape(interleaved), spread)
    return tiled.reshape(tuple(r * n for r, n in zip(sizes, shape, strict=True)))


def repeat_interleave(
    input: Tensor,  # noqa: A002
    repeats: Any = None,
    dim: int | None = None,
    *,
    output_size: int | None = None,
) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times in place;
    ``repeats`` an int or a tensor of one count per element. Without ``dim`` the input
    is flattened first; ``repeat_interleave(counts)`` repeats ``arange(len(counts))``.

    Example::

        >>> fastdl.tensor([1, 2]).repeat_interleave(2).tolist()
        [1, 1, 2, 2]
    """
    if repeats is None:  # repeat_interleave(counts): the indices repeated
        counts = _counts(input, None)
        positions = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
        return Tensor._wrap(for_device(input.device).from_host(positions))
    source = input.reshape(-1) if dim is None else input
    dim = normalize_dim(0 if dim is None else dim, source.ndim)
    n = source.shape[dim] if source.ndim else 1
    if isinstance(repeats, int | np.integer) or (
        isinstance(repeats, Tensor) and repeats.numel() == 1
    ):
        count = int(repeats.item() if isinstance(repeats, Tensor) else repeats)
        if count < 0:
            raise ValueError(f"repeat_interleave: repeats must be non-negative, got {count}")
        shape = source.shape
        spread = expand(unsqueeze(source, dim + 1), shape[: dim + 1] + (count,) + shape[dim + 1 :])
        return flatten(spread, dim, dim + 1)
    counts = _counts(repeats, n)
    positions = np.repeat(np.arange(n, dtype=np.int64), counts)
    if output_size is not None and output_size != positions.size:
        raise ValueError(
            f"repeat_interleave: output_size {output_size} differs from the repeats' sum "
            f"{positions.size}"
        )
    return getitem(source, (slice(None),) * dim + (positions,))


def _counts(repeats: Any, n: int | None) -> np.ndarray:
    if not isinstance(repeats, Tensor) or np.dtype(repeats.dtype).kind not in "iu":
        raise TypeError("repeat_interleave: repeats must be an int or an integer tensor")
    counts = np.asarray(repeats.cpu()._data, dtype=np.int64).reshape(-1)
    if repeats.ndim > 1 or (n is not None and counts.size != n):
        raise ValueError(
            f"repeat_interleave: repeats of shape {repeats.shape} must hold one count per "
            f"element along the dimension ({n})"
        )
    if counts.size and counts.min() < 0:
        raise ValueError("repeat_interleave: repeats must be non-negative")
    return counts


def _dims(dims: Any, ndim: int, op: str) -> tuple[int, ...]:
    named = (dims,) if isinstance(dims, int | np.integer) else tuple(dims)
    resolved = tuple(normalize_dim(d, ndim) for d in named)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{op}: dims {dims} repeat a dimension")
    return resolved


def flip(input: Tensor, dims: Any) -> Tensor:  # noqa: A002
    """``input`` with the order of its elements reversed along ``dims`` (a copy).

    Example::

        >>> fastdl.flip(fastdl.tensor([1, 2, 3]), (0,)).tolist()
        [3, 2, 1]
    """
    dims = _dims(dims, input.ndim, "flip")
    if not dims or input.ndim == 0:
        return input.clone()
    index = tuple(slice(None, None, -1) if d in dims else slice(None) for d in range(input.ndim))
    return getitem(input, index)


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:  # noqa: A002
    """Elements shifted by ``shifts`` along ``dims``, wrapping around; without ``dims``
    over the flattened tensor, keeping its shape.

    Example::

        >>> fastdl.roll(fastdl.tensor([1, 2, 3, 4]), 1).tolist()
        [4, 1, 2, 3]
    """
    if dims is None:
        if not isinstance(shifts, int | np.integer):
            raise TypeError("roll: without dims, shifts must be an int")
        return roll(input.reshape(-1), shifts, 0).reshape(input.shape)
    dims = (dims,) if isinstance(dims, int | np.integer) else tuple(dims)
    shifts = (shifts,) if isinstance(shifts, int | np.integer) else tuple(shifts)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} differ in length")
    out = input
    for shift, dim in zip(shifts, dims, strict=True):
        dim = normalize_dim(dim, input.ndim)
        n = input.shape[dim]
        s = int(shift) % n if n else 0
        if s:
            out = cat([narrow(out, dim, n - s, s), narrow(out, dim, 0, n - s)], dim)
    return out if out is not input else input.clone()
