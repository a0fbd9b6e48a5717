"""Pointwise maths kernels (Numba): erf, lgamma, digamma, trigamma and erfinv, which
NumPy lacks (the last three share their bodies with the CUDA backend,
:mod:`fastdl.backends.special_math`).

The others (expm1 ... rint, tan ... atan) are NumPy ufuncs, one vectorised pass each, so this
backend shares them with the reference (``cpu.SHARED_WITH_REFERENCE``).
"""

from __future__ import annotations

import math

from numba import njit

from fastdl.backends import _jit_cache, special_math

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too


@njit(cache=True, nogil=True)
def _erf_flat(x, out):
    for i in range(x.size):
        out[i] = math.erf(x[i])


_digamma = njit(cache=True, inline="always")(special_math.digamma)
_trigamma = njit(cache=True, inline="always")(special_math.trigamma)
_erfinv = njit(cache=True, inline="always")(special_math.erfinv)


@njit(cache=True, nogil=True)
def _lgamma_flat(x, out):
    for i in range(x.size):
        out[i] = math.lgamma(x[i])


@njit(cache=True, nogil=True)
def _digamma_flat(x, out):
    for i in range(x.size):
        out[i] = _digamma(x[i])


@njit(cache=True, nogil=True)
def _trigamma_flat(x, out):
    for i in range(x.size):
        out[i] = _trigamma(x[i])


@njit(cache=True, nogil=True)
def _erfinv_flat(x, out):
    for i in range(x.size):
        out[i] = _erfinv(x[i])


def _dense(flat, x, out):
    """``flat`` over any layout: strided inputs and outputs go through dense copies."""
    dense = x.reshape(-1) if x.flags.c_contiguous else x.ravel()
    if out.flags.c_contiguous:
        flat(dense, out.reshape(-1))
    else:
        result = out.copy()
        flat(dense, result.reshape(-1))
        out[...] = result


def erf(x, out):
    """out = erf(x)."""
    _dense(_erf_flat, x, out)


def lgamma(x, out):
    """out = log(|Gamma(x)|)."""
    _dense(_lgamma_flat, x, out)


def digamma(x, out):
    """out = digamma(x)."""
    _dense(_digamma_flat, x, out)


def trigamma(x, out):
    """out = trigamma(x)."""
    _dense(_trigamma_flat, x, out)


def erfinv(x, out):
    """out = erfinv(x)."""
    _dense(_erfinv_flat, x, out)
