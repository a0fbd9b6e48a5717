"""Indexing along one dimension (Numba): scatter.

Shape legend: arrays are seen as ``(outer, n, inner)`` around ``dim``. ``gather_along``
and ``sort_along`` are NumPy's ``take_along_axis`` and stable ``argsort``, one
vectorised pass each, shared with the reference (``cpu.SHARED_WITH_REFERENCE``);
``np.add.at`` is not, so the scatter is a loop here.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fastdl.backends import _jit_cache

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too


def as_lines(a: np.ndarray, dim: int) -> np.ndarray:
    """``a`` reshaped to (outer, n, inner) around ``dim`` (a view when C-contiguous)."""
    shape = a.shape
    return a.reshape(math.prod(shape[:dim]), shape[dim], math.prod(shape[dim + 1 :]))


@njit(cache=True, nogil=True)
def _scatter(out, index, src, accumulate):
    outer, lines, inner = index.shape
    for o in range(outer):
        for j in range(lines):
            for i in range(inner):
                k = index[o, j, i]
                if accumulate:
                    out[o, k, i] += src[o, j, i]
                else:
                    out[o, k, i] = src[o, j, i]


def scatter_along(out, index, dim, src, accumulate):
    if not out.flags.c_contiguous:
        raise ValueError(f"scatter_along: out must be C-contiguous, got strides {out.strides}")
    if index.size == 0:
        return
    index = as_lines(np.ascontiguousarray(index, dtype=np.int64), dim)
    src = as_lines(np.ascontiguousarray(src, dtype=out.dtype), dim)
    _scatter(as_lines(out, dim), index, src, bool(accumulate))
