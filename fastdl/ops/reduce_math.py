"""Reductions composed of differentiable ops: var, std, norm, logsumexp.

Built from sum, mean, amax and the elementwise ops, they run on every backend and
their gradients (and gradients of gradients) come from those ops.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd.grad_mode import no_grad
from fastdl.ops import elementwise as _ew
from fastdl.ops import reduce as _red
from fastdl.ops._util import normalize_dims
from fastdl.tensor import Tensor


def _floating(x: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{name}: expected a floating tensor, got {x.dtype}")
    return x


def _correction(unbiased: Any, correction: Any, name: str) -> float:
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}: pass either unbiased or correction, not both")
    if correction is not None:
        return float(correction)
    return 1.0 if unbiased is None or unbiased else 0.0


def var(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """The variance over ``dim`` (an int, a tuple, or None for all), divided by
    ``N - correction`` (Bessel's correction, 1, by default; ``unbiased=False`` is
    correction 0). ``var(x, False)`` is PyTorch's older ``var(x, unbiased)``.

    Example: ``fastdl.var(fastdl.tensor([1.0, 2.0, 3.0]))`` is ``1.``.
    """
    x = _floating(input, "var")
    if isinstance(dim, bool):  # var(x, unbiased)
        dim, unbiased = None, dim
    dims = normalize_dims(dim, x.ndim)
    count = math.prod(x.shape[d] for d in dims)
    dof = count - _correction(unbiased, correction, "var")
    centred = x - _red.mean(x, dims, keepdim=True)
    total = _red.sum(centred * centred, dims, keepdim)
    return total * (1.0 / dof if dof > 0 else math.nan)


def std(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """The standard deviation: the square root of :func:`var`, with its arguments.

    Example: ``fastdl.std(fastdl.randn(4, 5), dim=1, keepdim=True)``.
    """
    return _ew.sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def norm(
    input: Tensor,  # noqa: A002
    p: Any = "fro",
    dim: Any = None,
    keepdim: bool = False,
    dtype: Any = None,
) -> Tensor:
    """The vector p-norm over ``dim`` (all elements when None): ``p`` = 2 or "fro"
    (Euclidean), 1, inf, -inf, 0 (the count of non-zeros) or any other number.

    Example: ``fastdl.norm(fastdl.tensor([3.0, 4.0]))`` is ``5.``.
    """
    x = input.to(dtypes.as_dtype(dtype)) if dtype is not None else input
    x = _floating(x, "norm")
    if p == "fro":
        p = 2
    if isinstance(p, str) or isinstance(p, bool) or not isinstance(p, int | float):
        raise ValueError(f"norm: p must be 'fro' or a number, got {p!r}")
    dims = normalize_dims(dim, x.ndim)
    size = _ew.abs(x)
    if p == math.inf:
        return _red.amax(size, dims, keepdim)
    if p == -math.inf:
        return _red.amin(size, dims, keepdim)
    if p == 0:
        with no_grad():
            nonzero = _ew.compare(x, 0.0, "ne").to(x.dtype)
        return _red.sum(nonzero, dims, keepdim)
    if p == 1:
        return _red.sum(size, dims, keepdim)
    if p == 2:
        return _ew.sqrt(_red.sum(x * x, dims, keepdim))
    return _red.sum(size**p, dims, keepdim) ** (1.0 / p)


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:  # noqa: A002
    """``log(sum(exp(x)))`` over ``dim``, without overflow (the maximum is taken out
    first). Example: ``fastdl.logsumexp(fastdl.tensor([0.0, 0.0]), 0)`` is ``log(2)``.
    """
    x = _floating(input, "logsumexp")
    dims = normalize_dims(dim, x.ndim)
    with no_grad():
        peak = _red.amax(x, dims, keepdim=True)
        # An infinite (or empty-slice) peak would give inf - inf: shift by 0 there.
        peak = _ew.where(_ew.compare(_ew.abs(peak), np.inf, "lt"), peak, 0.0)
    total = _red.sum(_ew.exp(x - peak), dims, keepdim=True)
    result = _ew.log(total) + peak
    if keepdim:
        return result
    return result.reshape(tuple(n for i, n in enumerate(x.shape) if i not in dims))
