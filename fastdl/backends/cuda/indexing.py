"""CUDA indexing along one dimension: gather, scatter (assign or accumulate), stable sort.

Shape legend: arrays are seen as ``(outer, n, inner)`` around ``dim`` (C-contiguous
copies of strided inputs are made on the device first).

* **gather_along**: one thread per output element.
* **scatter_along**: one thread per ``(outer, inner)`` line, walking the index in order:
  repeated positions are summed (or assigned) in index order, deterministic and the
  reference's sums, without atomics.
* **sort_along**: ``dim`` is moved last and every row is merge-sorted bottom-up: pass
  ``k`` merges neighbouring sorted runs of ``2**k`` elements, one thread per element,
  each finding its place in the merged run by a binary search in the other run
  (``ceil(log2 n)`` launches, ``O(n log^2 n)`` work in ``O(log^2 n)`` depth). Ties
  between the runs go to the left one, so the sort is stable.

Index entries outside ``[0, n)`` are not checked on the device (that would cost a copy
to the host): a gather writes 0 (NaN for floats) there and a scatter skips them.

Example::

    >>> from numba import cuda
    >>> out = cuda.device_array((1, 2), np.float32)
    >>> x = cuda.to_device(np.array([[1.0, 2.0, 3.0]], np.float32))
    >>> gather_along(x, cuda.to_device(np.array([[2, 0]])), 1, out)
    >>> out.copy_to_host()
    array([[3., 1.]], dtype=float32)
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from fastdl.backends.cuda import _launch, views
from fastdl.backends.cuda import memory as _memory
from fastdl.backends.cuda.array_functions import contiguous
from fastdl.backends.cuda.generic import copy


def _as_lines(a, dim: int):
    """A C-contiguous ``a`` as (outer, n, inner) around ``dim``."""
    shape = tuple(a.shape)
    return a.reshape(math.prod(shape[:dim]), shape[dim], math.prod(shape[dim + 1 :]))


@cuda.jit
def _gather_kernel(x, index, out, fill):
    t = cuda.grid(1)
    if t >= out.size:
        return
    lines, inner = out.shape[1], out.shape[2]
    o = t // (lines * inner)
    r = t - o * lines * inner
    j = r // inner
    i = r - j * inner
    k = index[o, j, i]
    if k < 0 or k >= x.shape[1]:
        out[o, j, i] = fill
    else:
        out[o, j, i] = x[o, k, i]


@cuda.jit
def _scatter_kernel(out, index, src, accumulate):
    t = cuda.grid(1)
    inner = index.shape[2]
    if t >= index.shape[0] * inner:
        return
    o = t // inner
    i = t - o * inner
    for j in range(index.shape[1]):
        k = index[o, j, i]
        if k >= 0 and k < out.shape[1]:
            if accumulate:
                out[o, k, i] += src[o, j, i]
            else:
                out[o, k, i] = src[o, j, i]


@cuda.jit(device=True, inline=True)
def _before(a, b, descending):
    """Whether a sorts strictly before b; NaN (a != a) above every number."""
    if descending:
        return a > b or (a != a and b == b)
    return a < b or (b != b and a == a)


@cuda.jit
def _iota_kernel(indices):
    t = cuda.grid(1)
    if t < indices.size:
        indices[t // indices.shape[1], t % indices.shape[1]] = t % indices.shape[1]


@cuda.jit
def _merge_pass_kernel(src_values, src_indices, dst_values, dst_indices, width, descending):
    """Merge the sorted runs [start, start + width) and [start + width, start + 2 width)
    of every row: each element's place is its offset in its run plus the number of
    elements of the other run that go before it (for the right run, ties included)."""
    t = cuda.grid(1)
    n = src_values.shape[1]
    if t >= src_values.shape[0] * n:
        return
    r, p = t // n, t % n
    start = (p // (2 * width)) * (2 * width)
    mid = min(start + width, n)
    end = min(start + 2 * width, n)
    v = src_values[r, p]
    if p < mid:
        lo, hi = mid, end
        while lo < hi:
            m = (lo + hi) // 2
            if _before(src_values[r, m], v, descending):
                lo = m + 1
            else:
                hi = m
        dest = p + (lo - mid)
    else:
        lo, hi = start, mid
        while lo < hi:
            m = (lo + hi) // 2
            if not _before(v, src_values[r, m], descending):
                lo = m + 1
            else:
                hi = m
        dest = (p - mid) + lo
    dst_values[r, dest] = v
    dst_indices[r, dest] = src_indices[r, p]


def gather_along(x, index, dim, out):
    if out.size == 0:
        return
    target = _as_lines(out, dim) if out.is_c_contiguous() else None
    dense = target if target is not None else _memory.empty(out.shape, out.dtype)
    lines = _as_lines(dense, dim) if target is None else target
    dtype = np.dtype(out.dtype)
    fill = dtype.type(np.nan if dtype.kind == "f" else 0)
    x, index = _as_lines(contiguous(x), dim), _as_lines(contiguous(index), dim)
    _launch.launch(_gather_kernel, out.size, x, index, lines, fill)
    if target is None:
        copy(dense, out)


def scatter_along(out, index, dim, src, accumulate):
    if not out.is_c_contiguous():
        raise ValueError(f"scatter_along: out must be C-contiguous, got strides {out.strides}")
    if index.size == 0:
        return
    index, src = _as_lines(contiguous(index), dim), _as_lines(contiguous(src), dim)
    lines = index.shape[0] * index.shape[2]
    _launch.launch(_scatter_kernel, lines, _as_lines(out, dim), index, src, bool(accumulate))


def sort_along(x, dim, descending, values, indices):
    if x.size == 0:
        return
    last = tuple(d for d in range(x.ndim) if d != dim) + (dim,)
    moved = contiguous(views.permute(x, last))
    rows = moved.reshape(moved.size // moved.shape[-1], moved.shape[-1])
    src_values, src_indices = rows, _memory.empty(rows.shape, indices.dtype)
    _launch.launch(_iota_kernel, rows.size, src_indices)
    spare = (_memory.empty(rows.shape, values.dtype), _memory.empty(rows.shape, indices.dtype))
    width = 1
    while width < rows.shape[1]:
        dst_values, dst_indices = spare
        _launch.launch(
            _merge_pass_kernel,
            rows.size,
            src_values,
            src_indices,
            dst_values,
            dst_indices,
            width,
            bool(descending),
        )
        if src_values is rows:  # the input is never written: take a fresh pair once
            spare = (_memory.empty(rows.shape, values.dtype), src_indices)
        else:
            spare = (src_values, src_indices)
        src_values, src_indices = dst_values, dst_indices
        width *= 2
    copy(src_values.reshape(moved.shape), views.permute(values, last))
    copy(src_indices.reshape(moved.shape), views.permute(indices, last))
