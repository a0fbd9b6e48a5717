"""CUDA indexing along one dimension: gather, scatter (assign or accumulate), stable sort.

Shape legend: arrays are seen as ``(outer, n, inner)`` around ``dim`` (C-contiguous
copies of strided inputs are made on the device first).

* **gather_along**: one thread per output element.
* **scatter_along**: one thread per ``(outer, inner)`` line, walking the index in order:
  repeated positions are summed (or assigned) in index order, deterministic and the
  reference's sums, without atomics.
* **sort_along**: ``dim`` is moved last; one thread per row runs a stable insertion
  sort into the outputs (suited to the short rows of top-k over classes or a batch;
  a long row costs its length squared in one thread).

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
def _sort_rows_kernel(x, descending, values, indices):
    r = cuda.grid(1)
    if r >= x.shape[0]:
        return
    for j in range(x.shape[1]):
        v = x[r, j]
        p = j
        while p > 0 and _before(v, values[r, p - 1], descending):
            values[r, p] = values[r, p - 1]
            indices[r, p] = indices[r, p - 1]
            p -= 1
        values[r, p] = v
        indices[r, p] = j


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
    sorted_values = _memory.empty(rows.shape, values.dtype)
    sorted_indices = _memory.empty(rows.shape, indices.dtype)
    _launch.launch(
        _sort_rows_kernel, rows.shape[0], rows, bool(descending), sorted_values, sorted_indices
    )
    copy(sorted_values.reshape(moved.shape), views.permute(values, last))
    copy(sorted_indices.reshape(moved.shape), views.permute(indices, last))
