"""Resizing: ``interpolate``, ``pixel_shuffle`` and ``pixel_unshuffle``, as
``torch.nn.functional``.

Compositions of differentiable ops. Interpolation is separable: each spatial dim is
resampled in turn by gathering source positions along it (``index_select``) and, for
the linear modes, blending the two neighbours with per-position weights. The pixel
shuffles are a reshape, a permute and a reshape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.errors import ShapeError
from fastdl.ops.indexing import index_select
from fastdl.ops.padding import host_tensor
from fastdl.tensor import Tensor

# mode: the input ranks it serves
_MODES = {
    "nearest": (3, 4, 5),
    "nearest-exact": (3, 4, 5),
    "linear": (3,),
    "bilinear": (4,),
    "trilinear": (5,),
    "area": (3, 4),
}
_LINEAR = ("linear", "bilinear", "trilinear")


def _per_dim(value: Any, spatial: int, argument: str, kinds: tuple) -> tuple | None:
    """``value`` as one entry per spatial dim (None stays None)."""
    if value is None:
        return None
    items = tuple(value) if isinstance(value, Sequence) else (value,) * spatial
    ok = len(items) == spatial and all(
        isinstance(v, kinds) and not isinstance(v, bool) for v in items
    )
    if not ok:
        raise ValueError(
            f"interpolate: {argument} must be a number or a sequence of {spatial} numbers "
            f"for {spatial} spatial dims, got {value!r}"
        )
    return items


def _check(x, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias):
    """(output sizes, coordinate scales or None per dim) after every check."""
    if not isinstance(x, Tensor):
        raise TypeError(f"interpolate: input must be a Tensor, got {type(x).__name__}")
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {tuple(_MODES)}, got {mode!r}")
    if x.ndim not in _MODES[mode]:
        raise ShapeError(
            f"interpolate: mode {mode!r} needs a {' or '.join(f'{r}-D' for r in _MODES[mode])} "
            f"input (N, C, spatial...), got input of shape {tuple(x.shape)}"
        )
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"interpolate: input must be float32 or float64, got {x.dtype}")
    if align_corners is not None and mode not in _LINEAR:
        raise ValueError(
            "interpolate: align_corners can only be set with the interpolating modes "
            f"{_LINEAR}, got mode {mode!r}"
        )
    if antialias:
        raise ValueError("interpolate: antialias=True is not implemented in fastdl")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    spatial = x.ndim - 2
    in_sizes = tuple(x.shape[2:])
    sizes = _per_dim(size, spatial, "size", (int, np.integer))
    scales = _per_dim(scale_factor, spatial, "scale_factor", (int, float, np.integer, np.floating))
    if sizes is None:
        if any(s <= 0 for s in scales):
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
        sizes = tuple(math.floor(n * float(s)) for n, s in zip(in_sizes, scales))
        if recompute_scale_factor:
            scales = None
    else:
        scales = None
    if any(int(s) <= 0 for s in sizes) or min(in_sizes) <= 0:
        raise ShapeError(
            f"interpolate: input of shape {tuple(x.shape)} and output size {tuple(sizes)} "
            "must both be non-empty"
        )
    return tuple(int(s) for s in sizes), scales


def _nearest(n_in: int, n_out: int, scale: float | None, exact: bool) -> np.ndarray:
    """Source position of every output position (PyTorch's float32 arithmetic)."""
    ratio = np.float32(n_in / n_out if scale is None else 1.0 / float(scale))
    dst = np.arange(n_out, dtype=np.float32) + np.float32(0.5 if exact else 0.0)
    return np.minimum(np.floor(dst * ratio).astype(np.int64), n_in - 1)


def _linear(n_in, n_out, scale, align_corners) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left source, right source, weight of the right one) per output position."""
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        ratio = n_in / n_out if scale is None else 1.0 / float(scale)
        src = np.maximum(ratio * (dst + 0.5) - 0.5, 0.0)
    left = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    right = np.minimum(left + 1, n_in - 1)
    return left, right, src - left


def _area(x: Tensor, sizes: tuple) -> Tensor:
    from fastdl.ops.pool import adaptive_avg_pool2d

    if x.ndim == 3:
        return adaptive_avg_pool2d(x.unsqueeze(2), (1, sizes[0])).squeeze(2)
    return adaptive_avg_pool2d(x, sizes)


def interpolate(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resample the spatial dims of ``input`` (N, C, *spatial) to ``size`` or by
    ``scale_factor``, as ``torch.nn.functional.interpolate``.

    Modes: "nearest" and "nearest-exact" (3-D to 5-D), "linear" (3-D), "bilinear" (4-D),
    "trilinear" (5-D), with ``align_corners`` (default False), and "area" (3-D, 4-D).
    With ``scale_factor`` the output size is ``floor(size * scale_factor)`` and the
    coordinates use ``1 / scale_factor`` unless ``recompute_scale_factor=True``.

    Example::

        x = fastdl.randn(1, 3, 8, 8)
        fastdl.nn.functional.interpolate(x, scale_factor=2, mode="bilinear").shape
        # (1, 3, 16, 16)
    """
    sizes, scales = _check(
        input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
    )
    if mode == "area":
        return _area(input, sizes)
    out = input
    for i, n_out in enumerate(sizes):
        d, n_in = i + 2, input.shape[i + 2]
        scale = None if scales is None else scales[i]
        if mode in _LINEAR:
            left, right, weight = _linear(n_in, n_out, scale, bool(align_corners))
            shape = (n_out,) + (1,) * (input.ndim - d - 1)
            w1 = host_tensor(weight.reshape(shape).astype(input.dtype), input)
            w0 = host_tensor((1.0 - weight).reshape(shape).astype(input.dtype), input)
            a = index_select(out, d, host_tensor(left, input))
            b = index_select(out, d, host_tensor(right, input))
            out = a * w0 + b * w1
        elif n_out != n_in or scale is not None:
            index = _nearest(n_in, n_out, scale, mode == "nearest-exact")
            out = index_select(out, d, host_tensor(index, input))
    return out


def _check_factor(x: Any, factor: Any, name: str, argument: str) -> int:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if isinstance(factor, bool) or not isinstance(factor, int | np.integer) or factor < 1:
        raise ValueError(f"{name}: {argument} must be a positive int, got {factor!r}")
    if x.ndim < 3:
        raise ShapeError(
            f"{name}: expected input of at least 3 dims (*, C, H, W), got shape {tuple(x.shape)}"
        )
    return int(factor)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:  # noqa: A002
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r), as ``torch.nn.functional.pixel_shuffle``.

    Example::

        fastdl.nn.functional.pixel_shuffle(fastdl.randn(1, 12, 4, 4), 2).shape   # (1, 3, 8, 8)
    """
    r = _check_factor(input, upscale_factor, "pixel_shuffle", "upscale_factor")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ShapeError(
            f"pixel_shuffle: channels {c} of input of shape {tuple(input.shape)} must be "
            f"divisible by upscale_factor ** 2 = {r * r}"
        )
    k = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:  # noqa: A002
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W), the inverse of :func:`pixel_shuffle`.

    Example::

        fastdl.nn.functional.pixel_unshuffle(fastdl.randn(1, 3, 8, 8), 2).shape  # (1, 12, 4, 4)
    """
    r = _check_factor(input, downscale_factor, "pixel_unshuffle", "downscale_factor")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ShapeError(
            f"pixel_unshuffle: height and width of input of shape {tuple(input.shape)} must "
            f"be divisible by downscale_factor {r}"
        )
    k = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)
