"""``pad``, as ``torch.nn.functional.pad``: constant, reflect, replicate, circular.

A composition of differentiable ops. Constant padding writes the (cropped) input into
zeros of the padded shape (``scatter``, whose gradient is the slice back) and adds the
constant outside it; the other modes gather each padded dim with an index that maps
every output position to the input position it copies (``index_select``, whose
gradient adds back into the sources). Negative padding crops, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl.errors import ShapeError
from fastdl.ops.indexing import index_select
from fastdl.ops.shape import getitem, scatter
from fastdl.tensor import Tensor

MODES = ("constant", "reflect", "replicate", "circular")


def host_tensor(values: np.ndarray, like: Tensor) -> Tensor:
    """A constant tensor of host ``values`` on ``like``'s device."""
    t = Tensor(values)
    return t if like.device == t.device else t.to(like.device)


def _check(x: Any, padding: Any, mode: str, value: Any) -> list[tuple[int, int]]:
    """(before, after) per padded dim, last dim first."""
    if not isinstance(x, Tensor):
        raise TypeError(f"pad: input must be a Tensor, got {type(x).__name__}")
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {MODES}, got {mode!r}")
    ok = isinstance(padding, Sequence) and not isinstance(padding, str)
    ok = ok and all(isinstance(p, int | np.integer) and not isinstance(p, bool) for p in padding)
    if not ok:
        raise TypeError(f"pad: pad must be a tuple of ints, got {padding!r}")
    if len(padding) % 2:
        raise ValueError(f"pad: pad length must be divisible by 2, got pad={tuple(padding)}")
    dims = len(padding) // 2
    if dims > x.ndim:
        raise ValueError(
            f"pad: pad={tuple(padding)} pads {dims} dims but input of shape {tuple(x.shape)} "
            f"has only {x.ndim}"
        )
    if mode != "constant":
        if value not in (None, 0):
            raise ValueError(f"pad: mode {mode!r} takes no value argument, got value={value!r}")
        if dims not in (1, 2, 3) or x.ndim not in (dims + 1, dims + 2):
            raise ValueError(
                f"pad: mode {mode!r} with a pad of length {len(padding)} needs a "
                f"{dims + 1}-D or {dims + 2}-D input, got input of shape {tuple(x.shape)}"
            )
    pairs = [(int(padding[2 * i]), int(padding[2 * i + 1])) for i in range(dims)]
    for i, (before, after) in enumerate(pairs):
        size = x.shape[x.ndim - 1 - i]
        if size + before + after < 0 or mode != "constant" and size + before + after == 0:
            raise ShapeError(
                f"pad: pad={tuple(padding)} leaves dim {x.ndim - 1 - i} of input of shape "
                f"{tuple(x.shape)} with size {size + before + after}"
            )
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(
                f"pad: reflect padding ({before}, {after}) must be less than the size {size} "
                f"of dim {x.ndim - 1 - i} of input of shape {tuple(x.shape)}"
            )
        kept = size - max(-before, 0) - max(-after, 0)
        if mode == "circular" and max(before, after) > kept:
            raise ValueError(
                f"pad: circular padding ({before}, {after}) wraps around more than once: "
                f"dim {x.ndim - 1 - i} of input of shape {tuple(x.shape)} keeps {kept}"
            )
    return pairs


def _source_positions(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each output position along a dim, the input position it copies."""
    if mode == "circular":  # PyTorch crops first, then wraps within what is left
        start, kept = max(-before, 0), size - max(-before, 0) - max(-after, 0)
        t = np.arange(-max(before, 0), kept + max(after, 0), dtype=np.int64)
        return start + np.mod(t, kept)
    t = np.arange(-before, size + after, dtype=np.int64)
    if mode == "reflect":
        t = np.abs(t)
        return np.where(t >= size, 2 * (size - 1) - t, t)
    return np.clip(t, 0, size - 1)  # replicate


def _constant(x: Tensor, pairs: list[tuple[int, int]], value: Any) -> Tensor:
    nd = x.ndim
    crop, place = [slice(None)] * nd, [slice(None)] * nd
    shape = list(x.shape)
    for i, (before, after) in enumerate(pairs):
        d = nd - 1 - i
        start, stop = max(-before, 0), x.shape[d] - max(-after, 0)
        kept = max(stop - start, 0)
        crop[d] = slice(start, start + kept)
        place[d] = slice(max(before, 0), max(before, 0) + kept)
        shape[d] = x.shape[d] + before + after
    if any(s != slice(None) for s in crop):
        x = getitem(x, tuple(crop))
    out = scatter(x, tuple(shape), tuple(place))
    if value is None or value == 0:
        return out
    border = np.full(shape, value, dtype=np.dtype(x.dtype))
    border[tuple(place)] = 0
    return out + host_tensor(border, x)


def pad(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
) -> Tensor:
    """Pad ``input``: ``pad`` = (left, right) for the last dim, then (top, bottom) for the
    one before, and so on, as ``torch.nn.functional.pad``.

    ``mode`` "constant" fills with ``value`` (0 by default) and accepts negative padding
    (cropping) on any number of dims; "reflect" (mirror without the edge, padding less
    than the dim's size), "replicate" (the edge repeated) and "circular" (wrap around)
    pad the last 1, 2 or 3 dims of a batched or unbatched input.

    Example::

        x = fastdl.arange(4.0).reshape(1, 1, 4)
        fastdl.nn.functional.pad(x, (2, 1), mode="reflect").tolist()
        # [[[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0]]]
    """
    pairs = _check(input, pad, mode, value)
    if mode == "constant":
        return _constant(input, pairs, value)
    out = input
    for i, (before, after) in enumerate(pairs):
        if before == after == 0:
            continue
        d = input.ndim - 1 - i
        index = _source_positions(input.shape[d], before, after, mode)
        out = index_select(out, d, host_tensor(index, input))
    return out
