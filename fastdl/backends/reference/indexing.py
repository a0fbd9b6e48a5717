"""Indexing along one dimension (NumPy reference): gather, scatter, stable sort.

Shape legend: ``index`` (int64) has the rank of the array it indexes and its shape
outside ``dim``; see :mod:`fastdl.backends.spec.indexing`.
"""

from __future__ import annotations

import numpy as np


def _positions(index: np.ndarray, dim: int) -> tuple:
    """The advanced index that picks, along ``dim``, the positions ``index`` names."""
    grid = list(np.ogrid[tuple(slice(0, n) for n in index.shape)])
    grid[dim] = index
    return tuple(grid)


def gather_along(x, index, dim, out):
    out[...] = np.take_along_axis(x, index, axis=dim)


def scatter_along(out, index, dim, src, accumulate):
    if accumulate:
        np.add.at(out, _positions(index, dim), src)
    else:
        out[_positions(index, dim)] = src


def sort_along(x, dim, descending, values, indices):
    if descending:
        # A stable ascending sort of the reversed line, reversed back: descending, with
        # equal elements in their original order and NaN first.
        order = np.flip(np.argsort(np.flip(x, dim), axis=dim, kind="stable"), dim)
        indices[...] = x.shape[dim] - 1 - order
    else:
        indices[...] = np.argsort(x, axis=dim, kind="stable")
    values[...] = np.take_along_axis(x, indices, axis=dim)
