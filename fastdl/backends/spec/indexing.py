"""Indexing along one dimension: gather, scatter (assign or accumulate) and a stable sort.

Shape legend: ``index`` is int64 and has the rank of the arrays it indexes; along
``dim`` its entries name positions of the indexed array's ``dim``, and outside ``dim``
its shape equals the indexed array's (the ops slice their inputs to that first).
Index entries lie in ``[0, size along dim)``; the ops check that on the host.
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, empty, randn, size

DIMS = (0, 1, 2)


def _shape(rng, dim: int, along: int) -> tuple[int, ...]:
    """A small 3-D shape with ``along`` entries on ``dim`` (batch 1 and odd sizes)."""
    shape = [int(rng.choice((1, 2, 3))) for _ in range(3)]
    shape[dim] = along
    return tuple(shape)


def _gather_sample(rng, dtype, dim=0):
    n = size(rng)
    x = randn(rng, _shape(rng, dim, n), dtype)
    shape = list(x.shape)
    shape[dim] = size(rng)
    return {
        "x": x,
        "index": rng.integers(0, n, size=shape).astype(np.int64),
        "dim": dim,
        "out": empty(tuple(shape), dtype),
    }


def _scatter_sample(rng, dtype, dim=0, accumulate=True):
    n = size(rng)
    out = randn(rng, _shape(rng, dim, n), dtype)
    shape = list(out.shape)
    if accumulate:  # repeated positions must accumulate
        shape[dim] = size(rng)
        index = rng.integers(0, n, size=shape)
    else:  # distinct positions per line: with repeats, which value lands is unspecified
        shape[dim] = min(size(rng), n)
        order = np.argsort(rng.random(out.shape), axis=dim)
        index = np.take(order, np.arange(shape[dim]), axis=dim)
    return {
        "out": out,
        "index": index.astype(np.int64),
        "dim": dim,
        "src": randn(rng, tuple(shape), dtype),
        "accumulate": accumulate,
    }


def _sort_sample(rng, dtype, dim=0, descending=False, nans=False):
    x = randn(rng, _shape(rng, dim, size(rng)), dtype)
    x = (np.round(x * 2) / 2).astype(dtype)  # frequent ties: the order of equals is checked
    if nans:
        x[rng.random(x.shape) < 0.2] = np.nan
    return {
        "x": x,
        "dim": dim,
        "descending": descending,
        "values": empty(x.shape, dtype),
        "indices": np.zeros(x.shape, np.int64),
    }


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "gather_along",
        "indexing",
        ("x", "index", "dim", "out"),
        ("out",),
        "out[..., j, ...] = x[..., index[..., j, ...], ...] along dim (torch.gather).",
        _gather_sample,
        options=tuple({"dim": d} for d in DIMS),
    ),
    Kernel(
        "scatter_along",
        "indexing",
        ("out", "index", "dim", "src", "accumulate"),
        ("out",),
        "out[..., index[..., j, ...], ...] = src[..., j, ...] along dim, or += when "
        "accumulate (repeats summed in index order); out is C-contiguous.",
        _scatter_sample,
        options=tuple({"dim": d, "accumulate": a} for d in DIMS for a in (True, False)),
    ),
    Kernel(
        "sort_along",
        "indexing",
        ("x", "dim", "descending", "values", "indices"),
        ("values", "indices"),
        "values, indices (int64) = x sorted along dim, stable (equal elements keep their "
        "order), NaN ordered above every number.",
        _sort_sample,
        options=(
            {"dim": 0, "descending": False, "nans": False},
            {"dim": 1, "descending": False, "nans": False},
            {"dim": 2, "descending": True, "nans": False},
            {"dim": 1, "descending": True, "nans": True},
            {"dim": 2, "descending": False, "nans": True},
        ),
    ),
)
