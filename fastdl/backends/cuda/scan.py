"""CUDA scan kernels: cumulative sums and products along one axis.

Shape legend: ``x`` and ``out`` viewed as (outer, n, inner) around the scanned axis.
One thread per (outer, inner) line walks its n elements in order (from the end when
reversed), so the rounding is the reference's sequential one; adjacent threads read
adjacent addresses when inner > 1. A strided x is copied dense first.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from fastdl.backends.cuda import _launch
from fastdl.backends.cuda.generic import _contiguous, _flat


def _scan_kernel(multiply):
    @cuda.jit
    def scan(x, out, n, inner, reverse, start):
        t = cuda.grid(1)
        lines = x.shape[0] // n if n else 0
        if t >= lines:
            return
        o = t // inner
        i = t - o * inner
        base = o * n * inner + i
        acc = start
        for k in range(n):
            j = n - 1 - k if reverse else k
            at = base + j * inner
            if multiply:
                acc = acc * x[at]
            else:
                acc = acc + x[at]
            out[at] = acc

    return scan


_KERNELS = {False: _scan_kernel(False), True: _scan_kernel(True)}


def _scan(multiply, x, axis, reverse, out):
    if out.size == 0:
        return
    axis = int(axis) % x.ndim
    shape = tuple(x.shape)
    n, inner = shape[axis], math.prod(shape[axis + 1 :])
    lines = out.size // n
    start = np.dtype(out.dtype).type(1 if multiply else 0)
    x = _flat(_contiguous(x))
    _launch.launch(_KERNELS[multiply], lines, x, _flat(out), n, inner, bool(reverse), start)


def cumsum(x, axis, reverse, out):
    """out = the running sum of x along axis (from the end when reverse)."""
    _scan(False, x, axis, reverse, out)


def cumprod(x, axis, reverse, out):
    """out = the running product of x along axis (from the end when reverse)."""
    _scan(True, x, axis, reverse, out)
