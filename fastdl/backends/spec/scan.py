"""Scan kernels: cumulative sums and products along one axis.

Shape legend: ``x`` and ``out`` of one shape (any rank >= 1), one floating dtype;
``axis`` the scanned axis; ``reverse`` scans from the last element to the first
(the gradient of a forward scan is a reverse one). Elements are combined in scan
order, as NumPy does, so every backend gives the same rounding.
"""

from __future__ import annotations

from fastdl.backends.spec.base import Kernel, each, empty, randn, size


def _sample(rng, dtype, axis=0, reverse=False):
    shape = (size(rng), size(rng), size(rng))
    x = randn(rng, shape, dtype)
    return {"x": x, "axis": axis, "reverse": reverse, "out": empty(shape, dtype)}


_OPTIONS = each(axis=(0, 1, 2), reverse=(False, True))

KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "cumsum",
        "scan",
        ("x", "axis", "reverse", "out"),
        ("out",),
        "out = the running sum of x along axis (from the end when reverse).",
        _sample,
        options=_OPTIONS,
    ),
    Kernel(
        "cumprod",
        "scan",
        ("x", "axis", "reverse", "out"),
        ("out",),
        "out = the running product of x along axis (from the end when reverse).",
        _sample,
        options=_OPTIONS,
    ),
)
