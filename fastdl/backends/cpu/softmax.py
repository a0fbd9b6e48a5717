"""Numba row-wise softmax kernels.  x, y, out, grad_out, grad_x all (N,C); rows are reduced.

Each forward is three passes: an ``@njit`` pass writes x - rowmax into ``out``,
NumPy's SIMD ``np.exp`` exponentiates it in place, and a second ``@njit`` pass
reduces and finishes each row. Without SVML, Numba's ``exp`` is a scalar libm call
per element, 4-10x slower than ``np.exp`` (32x1000 float32 softmax: one fused Numba
loop 146 us, these three passes about 35 us); the extra passes cost less than that.
Row sums accumulate in float64 and may be reassociated (vectorised): NaN and inf
still propagate. A NaN anywhere in a row makes that row's results NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastdl.backends import _jit_cache

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too


@njit(cache=True)
def row_max(row):
    m = row[0]
    for j in range(1, row.shape[0]):
        if row[j] > m:
            m = row[j]
    return m


@njit(cache=True, fastmath={"reassoc"})
def row_sum(row):
    s = 0.0
    for j in range(row.shape[0]):
        s += row[j]
    return s


@njit(cache=True, fastmath={"reassoc"})
def row_dot(a, b):
    s = 0.0
    for j in range(a.shape[0]):
        s += a[j] * b[j]
    return s


@njit(cache=True)
def _row_maxes(x, maxes):
    for i in range(x.shape[0]):
        maxes[i] = row_max(x[i])


@njit(cache=True)
def _subtract_rows(x, maxes, out):
    for i in range(x.shape[0]):
        xi = x[i]
        oi = out[i]
        m = maxes[i]
        for j in range(xi.shape[0]):
            oi[j] = xi[j] - m


# A NaN-propagating max does not vectorise in Numba (the compare is a branch); NumPy's
# SIMD max is ~4x faster on wide rows, while its call overhead loses on narrow ones.
_WIDE_ROWS = 64


def subtract_row_max(x, out, maxes):
    """out = x - rowmax(x), with maxes (N,) receiving the row maxima."""
    if x.shape[1] >= _WIDE_ROWS:
        np.max(x, axis=1, out=maxes)
    else:
        _row_maxes(x, maxes)
    _subtract_rows(x, maxes, out)


@njit(cache=True, error_model="numpy")
def _divide_by_row_sum(e):
    for i in range(e.shape[0]):
        ei = e[i]
        inv = 1.0 / row_sum(ei)
        for j in range(ei.shape[0]):
            ei[j] *= inv


@njit(cache=True)
def _log_softmax_finish(x, maxes, e):
    # e holds exp(x - max); overwrite it with (x - max) - log(sum(e)).
    for i in range(x.shape[0]):
        xi = x[i]
        ei = e[i]
        lse = np.log(row_sum(ei))
        m = maxes[i]
        for j in range(xi.shape[0]):
            ei[j] = (xi[j] - m) - lse


@njit(cache=True)
def _softmax_backward(y, g, grad_x):
    for i in range(y.shape[0]):
        yi = y[i]
        gi = g[i]
        gx = grad_x[i]
        dot = row_dot(gi, yi)
        for j in range(yi.shape[0]):
            gx[j] = yi[j] * (gi[j] - dot)


@njit(cache=True)
def _log_softmax_backward_finish(g, grad_x):
    # grad_x holds exp(y); overwrite it with g - exp(y) * sum(g).
    for i in range(g.shape[0]):
        gi = g[i]
        gx = grad_x[i]
        total = row_sum(gi)
        for j in range(gi.shape[0]):
            gx[j] = gi[j] - gx[j] * total


def softmax(x, out):
    """out = exp(x - max) / sum(exp(x - max)), row by row."""
    subtract_row_max(x, out, np.empty(x.shape[0], x.dtype))
    np.exp(out, out=out)
    _divide_by_row_sum(out)


def softmax_backward(y, grad_out, grad_x):
    """grad_x = y * (grad_out - sum(grad_out * y)), y the softmax output."""
    _softmax_backward(y, grad_out, grad_x)


def log_softmax(x, out):
    """out = x - max - log(sum(exp(x - max))), row by row."""
    maxes = np.empty(x.shape[0], x.dtype)
    subtract_row_max(x, out, maxes)
    np.exp(out, out=out)
    _log_softmax_finish(x, maxes, out)


def log_softmax_backward(y, grad_out, grad_x):
    """grad_x = grad_out - exp(y) * sum(grad_out), y the log-softmax output."""
    np.exp(y, out=grad_x)
    _log_softmax_backward_finish(grad_out, grad_x)
