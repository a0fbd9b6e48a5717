"""CUDA pointwise maths kernels: one thread per element, through the generic
elementwise launcher (broadcasting, strides and casts as there). Integer and bool
inputs compute in float64, as NumPy's loops do.
"""

from __future__ import annotations

import math

from numba import cuda

from fastdl.backends import special_math
from fastdl.backends.cuda import generic


def _expm1(x):
    return math.expm1(x)


def _log1p(x):
    return math.log1p(x)


def _log2(x):
    return math.log2(x)


def _sin(x):
    return math.sin(x)


def _cos(x):
    return math.cos(x)


def _erf(x):
    return math.erf(x)


def _tan(x):
    return math.tan(x)


def _sinh(x):
    return math.sinh(x)


def _cosh(x):
    return math.cosh(x)


def _asin(x):
    return math.asin(x)


def _acos(x):
    return math.acos(x)


def _atan(x):
    return math.atan(x)


def _lgamma(x):
    return math.lgamma(x)


_digamma_device = cuda.jit(device=True, inline=True)(special_math.digamma)
_trigamma_device = cuda.jit(device=True, inline=True)(special_math.trigamma)
_erfinv_device = cuda.jit(device=True, inline=True)(special_math.erfinv)


def _digamma(x):
    return _digamma_device(x)


def _trigamma(x):
    return _trigamma_device(x)


def _erfinv(x):
    return _erfinv_device(x)


def _fmod(a, b):
    return math.fmod(a, b)


# Past 2**52 every float is an integer (and inf, NaN have no fraction to drop). The
# rounding functions stay in floating point: math.floor would give an int64.
_WHOLE = 4503599627370496.0


def _trunc(x):
    if not abs(x) < _WHOLE:
        return x
    return x - math.fmod(x, 1.0)


def _floor(x):
    t = _trunc_device(x)
    return t - 1.0 if t > x else t


def _ceil(x):
    t = _trunc_device(x)
    return t + 1.0 if t < x else t


def _rint(x):
    if not abs(x) < _WHOLE:
        return x
    r = _floor_device(x + 0.5)
    if r - x == 0.5 and math.fmod(r, 2.0) != 0.0:  # a half: to the even neighbour
        r -= 1.0
    return r


_trunc_device = cuda.jit(device=True, inline=True)(_trunc)
_floor_device = cuda.jit(device=True, inline=True)(_floor)


def expm1(x, out):
    """out = exp(x) - 1."""
    generic._float_unary(_expm1, x, out)


def log1p(x, out):
    """out = log(1 + x)."""
    generic._float_unary(_log1p, x, out)


def log2(x, out):
    """out = log2(x)."""
    generic._float_unary(_log2, x, out)


def sin(x, out):
    """out = sin(x)."""
    generic._float_unary(_sin, x, out)


def cos(x, out):
    """out = cos(x)."""
    generic._float_unary(_cos, x, out)


def erf(x, out):
    """out = erf(x)."""
    generic._float_unary(_erf, x, out)


def floor(x, out):
    """out = floor(x)."""
    generic._float_unary(_floor, x, out)


def ceil(x, out):
    """out = ceil(x)."""
    generic._float_unary(_ceil, x, out)


def trunc(x, out):
    """out = x rounded toward zero."""
    generic._float_unary(_trunc, x, out)


def rint(x, out):
    """out = x rounded to the nearest integer, halves to even."""
    generic._float_unary(_rint, x, out)


def tan(x, out):
    """out = tan(x)."""
    generic._float_unary(_tan, x, out)


def sinh(x, out):
    """out = sinh(x)."""
    generic._float_unary(_sinh, x, out)


def cosh(x, out):
    """out = cosh(x)."""
    generic._float_unary(_cosh, x, out)


def asin(x, out):
    """out = asin(x)."""
    generic._float_unary(_asin, x, out)


def acos(x, out):
    """out = acos(x)."""
    generic._float_unary(_acos, x, out)


def atan(x, out):
    """out = atan(x)."""
    generic._float_unary(_atan, x, out)


def lgamma(x, out):
    """out = log(|Gamma(x)|)."""
    generic._float_unary(_lgamma, x, out)


def digamma(x, out):
    """out = digamma(x)."""
    generic._float_unary(_digamma, x, out)


def trigamma(x, out):
    """out = trigamma(x)."""
    generic._float_unary(_trigamma, x, out)


def erfinv(x, out):
    """out = erfinv(x)."""
    generic._float_unary(_erfinv, x, out)


def fmod(a, b, out):
    """out = fmod(a, b) (broadcast)."""
    dtype = generic._result_dtype((a, b))
    generic._elementwise(_fmod, out, (a, b), (dtype, dtype))
