"""Gradient clipping kernels (Numba): the norm of a flat gradient buffer.

Shape legend: ``P`` flat parameter count; ``x`` is (P,), ``out`` a (1,) float64 array.

One pass over the buffer at memory speed, single-threaded (see the package
docstring). With the C extension, :func:`cext_kernels` serves ``grad_norm`` from
``cext/clip.py`` instead: the same norms on the C pool, whose threads take blocks
from a shared counter (two threads draw more memory bandwidth than one on a 2-core
Zen 4 VM), and the generic ``mul`` whose large in-place scalar case (clipping's
scaling) runs there too.

* p = 1, 2 and other finite p: the sum of ``|x|^p`` in a float64 accumulator.
  ``fastmath={"reassoc"}`` only lets LLVM reorder the sum, so it vectorises; NaN
  and inf keep their IEEE meaning (no ``nnan``/``ninf``): every term is >= 0, so
  a NaN anywhere gives NaN and an inf (with no NaN) gives inf.
* p = inf: the maximum of ``|x|`` taken on the bit patterns. With the sign bit
  cleared, a float's bits compare as integers in the same order as the floats,
  and every NaN's bits lie above inf's, so the integer maximum is exact, is NaN
  when any element is NaN, and vectorises (a float max with NaN semantics does not).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fastdl.backends import _jit_cache
from fastdl.backends.cpu import cext
from fastdl.backends.cpu.cext import clip as c_clip

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too

# Same-width signed integer view of each float dtype, and the mask clearing its sign.
_BITS = {
    np.dtype(np.float32): (np.int32, np.int32(0x7FFFFFFF)),
    np.dtype(np.float64): (np.int64, np.int64(0x7FFFFFFFFFFFFFFF)),
}


@njit(cache=True, nogil=True, fastmath={"reassoc"}, error_model="numpy")
def _sum_abs(x):
    total = 0.0
    for i in range(x.size):
        total += abs(np.float64(x[i]))
    return total


@njit(cache=True, nogil=True, fastmath={"reassoc"}, error_model="numpy")
def _sum_squares(x):
    total = 0.0
    for i in range(x.size):
        v = np.float64(x[i])
        total += v * v
    return total


@njit(cache=True, nogil=True, fastmath={"reassoc"}, error_model="numpy")
def _sum_powers(x, p):
    total = 0.0
    for i in range(x.size):
        total += abs(np.float64(x[i])) ** p
    return total


@njit(cache=True, nogil=True)
def _max_abs_bits(bits, mask):
    top = bits[0] & mask
    for i in range(bits.size):
        b = bits[i] & mask
        top = b if b > top else top
    return top


def grad_norm(x, norm_type, out):
    if x.size == 0:
        out[0] = 0.0
        return
    if norm_type == math.inf:
        int_type, mask = _BITS[x.dtype]
        top = _max_abs_bits(x.view(int_type), mask)
        out[0] = np.array(top, int_type).view(x.dtype)
    elif norm_type == 1.0:
        out[0] = _sum_abs(x)
    elif norm_type == 2.0:
        out[0] = math.sqrt(_sum_squares(x))
    else:
        p = float(norm_type)
        out[0] = _sum_powers(x, p) ** (1.0 / p)


def grad_norm_cext(x, norm_type, out):
    """grad_norm on the C pool from the size where it splits the buffer; below, the
    Numba kernel above, whose call costs less than half the C wrapper's (many small
    gradients without a flat buffer)."""
    if x.size < 2 * cext.PARALLEL_MIN_PER_THREAD:
        grad_norm(x, norm_type, out)
    else:
        c_clip.grad_norm(x, norm_type, out)


def cext_kernels() -> dict:
    """This family's kernels served through the C extension, by spec name ({} when
    ``cext.available()`` is False): the norm, and the generic ``mul`` that scales."""
    if not cext.available():
        return {}
    return {"grad_norm": grad_norm_cext, "mul": c_clip.mul}
