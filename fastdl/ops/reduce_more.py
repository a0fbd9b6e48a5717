"""More reductions of the torch namespace: ``any``/``all``, ``count_nonzero``, order
statistics (``median``, ``mode``, ``quantile``), NaN-skipping sums and means,
``aminmax``, ``std_mean``/``var_mean``, running extremes (``cummax``, ``cummin``),
``logcumsumexp``, ``diff`` and ``trapezoid``.

Values come from existing differentiable ops (sort, gather, cumsum...), so they have
gradients where PyTorch's do. Where an answer is an index found by counting
(``mode``, ``cummax``, ``cummin``), the indices are computed on the host with NumPy
and the values gathered with them.

Example::

    >>> import fastdl
    >>> fastdl.median(fastdl.tensor([3.0, 1.0, 2.0])).item()
    2.0
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from fastdl import backends, dtypes
from fastdl.autograd.grad_mode import no_grad
from fastdl.ops import elementwise as _ew
from fastdl.ops import pointwise as _pw
from fastdl.ops import reduce as _red
from fastdl.ops import reduce_math as _rm
from fastdl.ops import scan as _scan
from fastdl.ops import shape as _shape
from fastdl.ops import slicing as _sl
from fastdl.ops import sorting as _sort
from fastdl.ops._util import normalize_dim, normalize_dims
from fastdl.ops.indexing import gather
from fastdl.ops.reduce import ValuesIndices
from fastdl.tensor import Tensor


class MinMax(NamedTuple):
    """``(min, max)``, the result of :func:`aminmax`."""

    min: Tensor
    max: Tensor


def _check(x: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    return x


def _host(x: Tensor) -> np.ndarray:
    return backends.for_device(x.device).to_host(x._data)


def _to_device(array: np.ndarray, like: Tensor) -> Tensor:
    return Tensor._wrap(backends.for_device(like.device).from_host(np.asarray(array, order="C")))


def _drop(x: Tensor, dims: tuple, keepdim: bool) -> Tensor:
    """A keepdim result without the reduced axes unless ``keepdim``."""
    if keepdim:
        return x
    return x.reshape(tuple(n for i, n in enumerate(x.shape) if i not in dims))


# -- logical and counting reductions ---------------------------------------------------


def _nonzero_count(x: Tensor, dim: Any, keepdim: bool) -> Tensor:
    with no_grad():
        return _red.sum(_ew.compare(x, 0, "ne").to(dtypes.int64), dim, keepdim)


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001, A002
    """Whether any element over ``dim`` (an int, a tuple, or None for all) is non-zero,
    as a bool tensor.

    Example: ``fastdl.any(fastdl.tensor([[0, 1], [0, 0]]), dim=1)`` is ``[True, False]``.
    """
    x = _check(input, "any")
    return _ew.compare(_nonzero_count(x, dim, keepdim), 0, "gt")


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001, A002
    """Whether every element over ``dim`` is non-zero (see :func:`any`).

    Example: ``fastdl.all(fastdl.tensor([1.0, 2.0]))`` is ``True``.
    """
    x = _check(input, "all")
    with no_grad():
        zeros = _red.sum(_ew.compare(x, 0, "eq").to(dtypes.int64), dim, keepdim)
    return _ew.compare(zeros, 0, "eq")


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:  # noqa: A002
    """The number of non-zero elements over ``dim`` (int64).

    Example: ``fastdl.count_nonzero(fastdl.tensor([0, 1, 2]))`` is ``2``.
    """
    return _nonzero_count(_check(input, "count_nonzero"), dim, False)


# -- NaN-skipping ----------------------------------------------------------------------


def nansum(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """The sum over ``dim`` treating NaN as zero.

    Example: ``fastdl.nansum(fastdl.tensor([1.0, float("nan")]))`` is ``1.``.
    """
    x = _check(input, "nansum")
    if dtype is not None:
        x = x.to(dtype)
    if dtypes.is_floating(x.dtype):
        x = _ew.where(_pw.isnan(x), 0.0, x)
    return _red.sum(x, dim, keepdim)


def nanmean(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """The mean over ``dim`` of the elements that are not NaN (NaN where all are).

    Example: ``fastdl.nanmean(fastdl.tensor([1.0, float("nan"), 3.0]))`` is ``2.``.
    """
    x = _check(input, "nanmean")
    if dtype is not None:
        x = x.to(dtype)
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"nanmean: expected a floating point tensor, got {x.dtype}")
    with no_grad():
        count = _red.sum(_ew.compare(x, x, "eq").to(x.dtype), dim, keepdim)
    return _ew.div(nansum(x, dim, keepdim), count)


# -- extremes and moments --------------------------------------------------------------


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> MinMax:  # noqa: A002
    """``(min, max)`` over ``dim`` (all elements when None).

    Example: ``fastdl.aminmax(fastdl.tensor([3, 1, 2]))`` is ``(1, 3)``.
    """
    x = _check(input, "aminmax")
    if x.numel() == 0:
        raise ValueError(f"aminmax: cannot reduce an empty tensor of shape {x.shape}")
    if dim is None:
        low, high = _red.amin(x), _red.amax(x)
        if keepdim:
            low, high = low.reshape((1,) * x.ndim), high.reshape((1,) * x.ndim)
        return MinMax(low, high)
    dim = normalize_dim(dim, x.ndim)
    return MinMax(_red.amin(x, dim, keepdim), _red.amax(x, dim, keepdim))


def var_mean(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> tuple[Tensor, Tensor]:
    """``(var, mean)`` over ``dim``, with :func:`fastdl.var`'s arguments.

    Example: ``v, m = fastdl.var_mean(fastdl.tensor([1.0, 2.0, 3.0]))`` gives ``1., 2.``.
    """
    x = _rm._floating(_check(input, "var_mean"), "var_mean")
    if isinstance(dim, bool):  # var_mean(x, unbiased)
        dim, unbiased = None, dim
    variance = _rm.var(x, dim, unbiased, keepdim, correction=correction)
    return variance, _red.mean(x, normalize_dims(dim, x.ndim), keepdim)


def std_mean(
    input: Tensor,  # noqa: A002
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> tuple[Tensor, Tensor]:
    """``(std, mean)`` over ``dim`` (see :func:`var_mean`).

    Example: ``s, m = fastdl.std_mean(fastdl.randn(4, 5), dim=1)``.
    """
    variance, mean = var_mean(input, dim, unbiased, keepdim, correction=correction)
    return _ew.sqrt(variance), mean


# -- order statistics ------------------------------------------------------------------


def _sorted_along(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    values, indices = _sort.sort(x, dim)
    return values, indices


def median(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A002
    """The lower median (the ``(n - 1) // 2``-th smallest element): over all elements
    (0-d) when ``dim`` is None, else ``(values, indices)`` along ``dim``. A row holding
    NaN gives NaN and the index of its first NaN, as PyTorch.

    Example: ``fastdl.median(fastdl.tensor([1.0, 4.0, 2.0, 3.0]))`` is ``2.``.
    """
    x = _check(input, "median")
    if x.numel() == 0:
        raise ValueError(f"median: cannot reduce an empty tensor of shape {x.shape}")
    if dim is None:
        return median(x.reshape(-1), 0).values
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return ValuesIndices(x.clone(), _to_device(np.zeros((), np.int64), x))
    dim = normalize_dim(dim, x.ndim)
    values, indices = _sorted_along(x, dim)
    middle = (x.shape[dim] - 1) // 2
    value, index = _sl.narrow(values, dim, middle, 1), _sl.narrow(indices, dim, middle, 1)
    if dtypes.is_floating(x.dtype):
        with no_grad():
            nan = _pw.isnan(x)
            has_nan = any(nan, dim, keepdim=True)
            first_nan = _red.argmax(nan.to(dtypes.int64), dim, keepdim=True)
        value = _ew.where(has_nan, math.nan, value)
        index = _ew.where(has_nan, first_nan, index)
    return ValuesIndices(_drop(value, (dim,), keepdim), _drop(index, (dim,), keepdim))


def _mode_indices(rows: np.ndarray) -> np.ndarray:
    """Per row (last axis) the index of the last occurrence of the most frequent value
    (the smallest such value on ties), as PyTorch's CPU ``mode``."""
    n = rows.shape[-1]
    flat = rows.reshape(-1, n)
    out = np.empty(flat.shape[0], np.int64)
    for r, row in enumerate(flat):
        values, counts = np.unique(row, return_counts=True)
        best = values[np.argmax(counts)]  # np.unique sorts: the smallest on ties
        out[r] = n - 1 - int(np.flatnonzero(row[::-1] == best)[0])
    return out.reshape(rows.shape[:-1])


def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> ValuesIndices:  # noqa: A002
    """``(values, indices)``: the most frequent value along ``dim`` (the smallest on
    ties) and the index of its last occurrence. Indices are computed on the host.

    Example: ``fastdl.mode(fastdl.tensor([1, 2, 2, 3])).values`` is ``2``.
    """
    x = _check(input, "mode")
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return ValuesIndices(x.clone(), _to_device(np.zeros((), np.int64), x))
    dim = normalize_dim(dim, x.ndim)
    if x.shape[dim] == 0:
        raise ValueError(f"mode: dim {dim} of the input of shape {x.shape} is empty")
    found = _mode_indices(np.moveaxis(_host(x), dim, -1))
    indices = _to_device(np.expand_dims(found, dim), x)
    values = gather(x, dim, indices)
    return ValuesIndices(*(_drop(t, (dim,), keepdim) for t in (values, indices)))


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(
    input: Tensor,  # noqa: A002
    q: Any,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    interpolation: str = "linear",
) -> Tensor:
    """The ``q``-th quantiles (``q`` a number or a 1-d tensor in [0, 1]) over ``dim``
    (all elements when None), interpolating between the two nearest ranks by
    ``interpolation`` ("linear", "lower", "higher", "midpoint" or "nearest"); NaN where
    the reduced elements hold NaN. A tensor ``q`` puts its axis first in the result.

    Example: ``fastdl.quantile(fastdl.tensor([0.0, 1.0, 2.0, 3.0]), 0.5)`` is ``1.5``.
    """
    x = _check(input, "quantile")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"quantile: expected a floating point input, got {x.dtype}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"quantile: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}"
        )
    scalar_q = not isinstance(q, Tensor)
    levels = np.atleast_1d(np.asarray(q if scalar_q else _host(q), np.float64))
    if levels.ndim != 1:
        raise ValueError(f"quantile: q must be a number or a 1-d tensor, got shape {levels.shape}")
    if levels.size and (levels.min() < 0 or levels.max() > 1):
        raise ValueError(f"quantile: q must be in [0, 1], got {levels.tolist()}")
    if x.numel() == 0:
        raise ValueError(f"quantile: cannot reduce an empty tensor of shape {x.shape}")
    shape = x.shape
    if dim is None:
        x, dim, kept = x.reshape(-1), 0, (1,) * len(shape)
    else:
        dim = normalize_dim(dim, x.ndim)
        kept = tuple(1 if i == dim else n for i, n in enumerate(x.shape))
    n = x.shape[dim] if x.ndim else 1
    x = x.reshape(1) if x.ndim == 0 else x
    values, _ = _sorted_along(x, dim)
    with no_grad():
        has_nan = any(_pw.isnan(x), dim, keepdim=True)
    rank = levels * (n - 1)
    low = np.floor(rank).astype(np.int64)
    high = np.ceil(rank).astype(np.int64)
    if interpolation == "lower":
        high = low
    elif interpolation == "higher":
        low = high
    elif interpolation == "nearest":
        low = high = np.rint(rank).astype(np.int64)  # halves to even, as PyTorch
    weight = {"linear": rank - low, "midpoint": np.where(high > low, 0.5, 0.0)}.get(
        interpolation, np.zeros_like(rank)
    )
    results = []
    for lo, hi, w in zip(low.tolist(), high.tolist(), weight.tolist(), strict=True):
        below = _sl.narrow(values, dim, lo, 1)
        result = below if w == 0 else below + w * (_sl.narrow(values, dim, hi, 1) - below)
        result = _ew.where(has_nan, math.nan, result)
        results.append(result.reshape(kept) if keepdim else _drop(result, (dim,), False))
    if scalar_q:
        return results[0]
    return _shape.stack(results, 0)


# -- running extremes and sums ---------------------------------------------------------


def _running_extreme_indices(rows: np.ndarray, largest: bool) -> np.ndarray:
    """Along the last axis, the index of the running maximum (minimum), the later one on
    ties and NaN once one is met, as PyTorch."""
    n = rows.shape[-1]
    flat = rows.reshape(-1, n)
    out = np.zeros(flat.shape, np.int64)
    for r, row in enumerate(flat):
        best = 0
        for i in range(n):
            a, b = row[i], row[best]
            if b != b:  # NaN holds
                out[r, i] = best
                continue
            if a != a or (a >= b if largest else a <= b):
                best = i
            out[r, i] = best
    return out.reshape(rows.shape)


def _cumulative_extreme(x: Tensor, dim: int, largest: bool, name: str) -> ValuesIndices:
    _check(x, name)
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return ValuesIndices(x.clone(), _to_device(np.zeros((), np.int64), x))
    dim = normalize_dim(dim, x.ndim)
    found = _running_extreme_indices(np.moveaxis(_host(x), dim, -1), largest)
    indices = _to_device(np.moveaxis(found, -1, dim), x)
    return ValuesIndices(gather(x, dim, indices), indices)


def cummax(input: Tensor, dim: int) -> ValuesIndices:  # noqa: A002
    """``(values, indices)`` of the running maximum along ``dim`` (indices computed on
    the host; values differentiable).

    Example: ``fastdl.cummax(fastdl.tensor([1.0, 3.0, 2.0]), 0).values`` is ``[1., 3., 3.]``.
    """
    return _cumulative_extreme(input, dim, True, "cummax")


def cummin(input: Tensor, dim: int) -> ValuesIndices:  # noqa: A002
    """``(values, indices)`` of the running minimum along ``dim`` (see :func:`cummax`).

    Example: ``fastdl.cummin(fastdl.tensor([2.0, 1.0, 3.0]), 0).values`` is ``[2., 1., 1.]``.
    """
    return _cumulative_extreme(input, dim, False, "cummin")


def logcumsumexp(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    """``log(cumsum(exp(x)))`` along ``dim``, shifted by the maximum along ``dim`` so
    nothing overflows (a prefix far below that maximum may underflow to -inf).

    Example: ``fastdl.logcumsumexp(fastdl.tensor([0.0, 0.0]), 0)`` is ``[0., log 2]``.
    """
    x = _rm._floating(_check(input, "logcumsumexp"), "logcumsumexp")
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return x.clone()
    dim = normalize_dim(dim, x.ndim)
    if x.shape[dim] == 0:
        return x.clone()
    with no_grad():
        peak = _red.amax(x, dim, keepdim=True)
        peak = _ew.where(_ew.compare(_ew.abs(peak), math.inf, "lt"), peak, 0.0)
    with np.errstate(divide="ignore"):
        return _ew.log(_scan.cumsum(_ew.exp(x - peak), dim)) + peak


# -- differences and integrals ---------------------------------------------------------


def diff(
    input: Tensor,  # noqa: A002
    n: int = 1,
    dim: int = -1,
    prepend: Tensor | None = None,
    append: Tensor | None = None,
) -> Tensor:
    """The ``n``-th forward difference along ``dim``, after joining ``prepend`` and
    ``append`` to ``input`` there (bool tensors: whether neighbours differ).

    Example: ``fastdl.diff(fastdl.tensor([1, 4, 9]))`` is ``[3, 5]``.
    """
    x = _check(input, "diff")
    if x.ndim == 0:
        raise ValueError("diff: expected at least a 1-d input, got a 0-d tensor")
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"diff: n must be a non-negative int, got {n!r}")
    dim = normalize_dim(dim, x.ndim)
    parts = [t for t in (prepend, x, append) if t is not None]
    for name, t in (("prepend", prepend), ("append", append)):
        if t is not None and (not isinstance(t, Tensor) or t.ndim != x.ndim):
            raise ValueError(
                f"diff: {name} must be a Tensor with the input's {x.ndim} dimensions, got "
                f"{getattr(t, 'shape', type(t).__name__)}"
            )
    if len(parts) > 1:
        x = _shape.cat(parts, dim)
    for _ in range(n):
        length = x.shape[dim] - 1
        if length <= 0:
            return _sl.narrow(x, dim, 0, 0)
        later, earlier = _sl.narrow(x, dim, 1, length), _sl.narrow(x, dim, 0, length)
        if x.dtype == dtypes.bool_:
            x = _ew.compare(later, earlier, "ne")
        else:
            x = later - earlier
    return x


def trapezoid(
    y: Tensor,
    x: Tensor | None = None,
    *,
    dx: float | None = None,
    dim: int = -1,
) -> Tensor:
    """The trapezoid rule along ``dim``: samples ``y`` at points ``x`` (a tensor
    broadcast along ``dim``, 1-d or of ``y``'s shape) or spaced ``dx`` (1 by default).

    Example: ``fastdl.trapezoid(fastdl.tensor([1.0, 2.0, 3.0]))`` is ``4.``.
    """
    _check(y, "trapezoid")
    if x is not None and dx is not None:
        raise TypeError("trapezoid: pass either x or dx, not both")
    if y.ndim == 0:
        raise ValueError("trapezoid: expected at least a 1-d y, got a 0-d tensor")
    dim = normalize_dim(dim, y.ndim)
    length = y.shape[dim] - 1
    if length <= 0:
        return _red.sum(_sl.narrow(y, dim, 0, 0).to(_floating_dtype(y)), dim)
    halves = (_sl.narrow(y, dim, 1, length) + _sl.narrow(y, dim, 0, length)) * 0.5
    if x is None:
        return _red.sum(halves, dim) * (1.0 if dx is None else float(dx))
    if not isinstance(x, Tensor):
        raise TypeError(f"trapezoid: x must be a Tensor, got {type(x).__name__}")
    if x.ndim == 1:
        if x.shape[0] != y.shape[dim]:
            raise ValueError(
                f"trapezoid: x of shape {x.shape} does not match y's dim {dim} of size "
                f"{y.shape[dim]}"
            )
        spacing = diff(x).reshape(tuple(length if i == dim else 1 for i in range(y.ndim)))
    else:
        spacing = diff(x, dim=dim)
    return _red.sum(halves * spacing, dim)


def _floating_dtype(t: Tensor) -> np.dtype:
    return t.dtype if dtypes.is_floating(t.dtype) else dtypes.float32


__all__ = [
    "MinMax", "all", "aminmax", "any", "count_nonzero", "cummax", "cummin", "diff",
    "logcumsumexp", "median", "mode", "nanmean", "nansum", "quantile", "std_mean",
    "trapezoid", "var_mean",
]  # fmt: skip
