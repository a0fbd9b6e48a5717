"""Pointwise maths kernels (Numba): erf, which NumPy lacks.

The others (expm1 ... rint, tan ... atan) are NumPy ufuncs, one vectorised pass each, so this
backend shares them with the reference (``cpu.SHARED_WITH_REFERENCE``).
"""

from __future__ import annotations

import math

from numba import njit

from fastdl.backends import _jit_cache

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too


@njit(cache=True, nogil=True)
def _erf_flat(x, out):
    for i in range(x.size):
        out[i] = math.erf(x[i])


def erf(x, out):
    """out = erf(x) (any layout: strided inputs and outputs go through dense copies)."""
    dense = x.reshape(-1) if x.flags.c_contiguous else x.ravel()
    if out.flags.c_contiguous:
        _erf_flat(dense, out.reshape(-1))
    else:
        result = out.copy()
        _erf_flat(dense, result.reshape(-1))
        out[...] = result
