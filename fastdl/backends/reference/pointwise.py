"""Pointwise maths kernels in NumPy: one ufunc each; erf and lgamma through the math
module, digamma, trigamma and erfinv through :mod:`fastdl.backends.special_math`."""

from __future__ import annotations

import math

import numpy as np

from fastdl.backends import special_math

_erf = np.vectorize(math.erf, otypes=[np.float64])
_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])
_digamma = np.vectorize(special_math.digamma, otypes=[np.float64])
_trigamma = np.vectorize(special_math.trigamma, otypes=[np.float64])
_erfinv = np.vectorize(special_math.erfinv, otypes=[np.float64])


def expm1(x, out):
    np.expm1(x, out=out)


def log1p(x, out):
    np.log1p(x, out=out)


def log2(x, out):
    np.log2(x, out=out)


def sin(x, out):
    np.sin(x, out=out)


def cos(x, out):
    np.cos(x, out=out)


def erf(x, out):
    out[...] = _erf(x)


def floor(x, out):
    np.floor(x, out=out)


def ceil(x, out):
    np.ceil(x, out=out)


def trunc(x, out):
    np.trunc(x, out=out)


def rint(x, out):
    np.rint(x, out=out)


def tan(x, out):
    np.tan(x, out=out)


def sinh(x, out):
    np.sinh(x, out=out)


def cosh(x, out):
    np.cosh(x, out=out)


def asin(x, out):
    np.arcsin(x, out=out)


def acos(x, out):
    np.arccos(x, out=out)


def atan(x, out):
    np.arctan(x, out=out)


def lgamma(x, out):
    out[...] = _lgamma(x)


def digamma(x, out):
    out[...] = _digamma(x)


def trigamma(x, out):
    out[...] = _trigamma(x)


def erfinv(x, out):
    out[...] = _erfinv(x)


def fmod(a, b, out):
    np.fmod(a, b, out=out)
