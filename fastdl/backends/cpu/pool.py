"""Numba pooling kernels.  N batch, C channels, H, W input size, Ho, Wo output size.

Direct loops, one plane (n, c) at a time: the windows are small, so there is no gain
in an im2col-style rearrangement. Each kernel first tabulates its windows' bounds along
each axis (the same for every plane), then runs one loop nest shared by its siblings:
max_pool2d and adaptive_max_pool2d share ``_max_windows``, avg_pool2d and
adaptive_avg_pool2d share ``_avg_windows``. The 2x2, stride 2 max pool of LeNet- and
ResNet-style networks has its own unrolled loop. Ties and NaN follow PyTorch's CPU
rule (first maximum in row-major order; a NaN is taken whenever met); sums are
float64. Single-threaded, as every Numba kernel here.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastdl.backends import _jit_cache

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too


def _c(a):
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _check_out(*arrays):
    for a in arrays:
        if not a.flags.c_contiguous:
            raise ValueError(f"pool kernels write C-contiguous outputs, got strides {a.strides}")


# -- window bounds along one axis --------------------------------------------------------


@njit(cache=True)
def _dilated_bounds(n_out, size, k, s, p, d):
    """[start, end) and step d of each max window, stepped past the left padding."""
    start = np.empty(n_out, np.int64)
    end = np.empty(n_out, np.int64)
    for i in range(n_out):
        a = i * s - p
        end[i] = min(a + (k - 1) * d + 1, size)
        while a < 0:
            a += d
        start[i] = a
    return start, end


@njit(cache=True)
def _avg_bounds(n_out, size, k, s, p, count_include_pad):
    """[start, end) of each average window clipped to the input, and its length for the
    divisor: clipped to the padded input if count_include_pad, else to the input."""
    start = np.empty(n_out, np.int64)
    end = np.empty(n_out, np.int64)
    count = np.empty(n_out, np.int64)
    for i in range(n_out):
        a = i * s - p
        e = min(a + k, size + p)
        count[i] = e - a
        start[i] = max(a, 0)
        end[i] = min(e, size)
        if not count_include_pad:
            count[i] = end[i] - start[i]
    return start, end, count


@njit(cache=True)
def _adaptive_bounds(n_out, size):
    """PyTorch's bins [floor(i size / n_out), ceil((i + 1) size / n_out)) and lengths."""
    start = np.empty(n_out, np.int64)
    end = np.empty(n_out, np.int64)
    for i in range(n_out):
        start[i] = (i * size) // n_out
        end[i] = ((i + 1) * size + n_out - 1) // n_out
    return start, end, end - start


# -- max ----------------------------------------------------------------------------------


@njit(cache=True)
def _max_windows(x, r0, r1, dr, c0, c1, dc, out, indices):
    # while loops over rows fetched once: 1.5x faster than range() with a step here.
    n, c, h, w = x.shape
    ho, wo = out.shape[2], out.shape[3]
    for b in range(n):
        for ch in range(c):
            plane = x[b, ch]
            dst = out[b, ch]
            arg = indices[b, ch]
            for i in range(ho):
                for j in range(wo):
                    best = -np.inf
                    best_r, best_q = r0[i], c0[j]
                    r = r0[i]
                    while r < r1[i]:
                        row = plane[r]
                        q = c0[j]
                        while q < c1[j]:
                            v = row[q]
                            if v > best or v != v:
                                best = v
                                best_r, best_q = r, q
                            q += dc
                        r += dr
                    dst[i, j] = best
                    arg[i, j] = best_r * w + best_q


@njit(cache=True)
def _max_2x2(x, out, indices):
    """Stride 2, no padding, every window inside the input: four taps, unrolled."""
    n, c, h, w = x.shape
    ho, wo = out.shape[2], out.shape[3]
    for b in range(n):
        for ch in range(c):
            plane = x[b, ch]
            dst = out[b, ch]
            arg = indices[b, ch]
            for i in range(ho):
                top = plane[2 * i]
                bottom = plane[2 * i + 1]
                for j in range(wo):
                    q = 2 * j
                    best = top[q]
                    where = 0
                    v = top[q + 1]
                    if v > best or v != v:
                        best = v
                        where = 1
                    v = bottom[q]
                    if v > best or v != v:
                        best = v
                        where = w
                    v = bottom[q + 1]
                    if v > best or v != v:
                        best = v
                        where = w + 1
                    dst[i, j] = best
                    arg[i, j] = 2 * i * w + q + where


@njit(cache=True)
def _max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, out, indices):
    h, w = x.shape[2], x.shape[3]
    ho, wo = out.shape[2], out.shape[3]
    plain = ph == 0 and pw == 0 and dh == 1 and dw == 1
    if kh == 2 and kw == 2 and sh == 2 and sw == 2 and plain and 2 * ho <= h and 2 * wo <= w:
        _max_2x2(x, out, indices)
        return
    r0, r1 = _dilated_bounds(ho, h, kh, sh, ph, dh)
    c0, c1 = _dilated_bounds(wo, w, kw, sw, pw, dw)
    _max_windows(x, r0, r1, dh, c0, c1, dw, out, indices)


@njit(cache=True)
def _adaptive_max_pool2d(x, out, indices):
    h, w = x.shape[2], x.shape[3]
    r0, r1, _ = _adaptive_bounds(out.shape[2], h)
    c0, c1, _ = _adaptive_bounds(out.shape[3], w)
    _max_windows(x, r0, r1, 1, c0, c1, 1, out, indices)


@njit(cache=True)
def _max_pool2d_backward(grad_out, indices, grad_x):
    n, c, h, w = grad_x.shape
    hw = h * w
    m = grad_out.shape[2] * grad_out.shape[3]
    g = grad_out.reshape((n * c, m))
    idx = indices.reshape((n * c, m))
    gx = grad_x.reshape((n * c, hw))
    gx[:] = 0
    for p in range(n * c):
        for o in range(m):
            k = idx[p, o]
            if 0 <= k < hw:
                gx[p, k] += g[p, o]


# -- average ------------------------------------------------------------------------------


@njit(cache=True, fastmath={"reassoc"})
def _avg_windows(x, r0, r1, rn, c0, c1, cn, divisor, out):
    # reassoc lets the float64 sums vectorise; a window of whole rows is summed as one
    # contiguous run (a global average pool: 20x), and rows are sliced at the first
    # column so that Numba drops its negative-index wraparound from the loop.
    n, c, h, w = x.shape
    ho, wo = out.shape[2], out.shape[3]
    for b in range(n):
        for ch in range(c):
            plane = x[b, ch]
            flat = plane.reshape(h * w)
            dst = out[b, ch]
            for i in range(ho):
                for j in range(wo):
                    s = 0.0
                    q0, m = c0[j], c1[j] - c0[j]
                    if m == w:
                        run = flat[r0[i] * w :]
                        for k in range((r1[i] - r0[i]) * w):
                            s += run[k]
                    else:
                        for r in range(r0[i], r1[i]):
                            row = plane[r, q0:]
                            for k in range(m):
                                s += row[k]
                    d = divisor if divisor != 0 else max(rn[i] * cn[j], 1)
                    dst[i, j] = s / d


@njit(cache=True)
def _disjoint(start, end):
    for i in range(start.size - 1):
        if end[i] > start[i + 1]:
            return False
    return True


@njit(cache=True)
def _avg_windows_backward(grad_out, r0, r1, rn, c0, c1, cn, divisor, grad_x):
    n, c, h, w = grad_x.shape
    ho, wo = grad_out.shape[2], grad_out.shape[3]
    # Disjoint windows (stride >= kernel, most adaptive bins) write each input once, so
    # they skip the float64 scratch plane; the rounding is the same.
    disjoint = _disjoint(r0, r1) and _disjoint(c0, c1)
    covered = np.sum(r1 - r0) == h and np.sum(c1 - c0) == w
    acc = np.empty((h, w))
    for b in range(n):
        for ch in range(c):
            g = grad_out[b, ch]
            dst = grad_x[b, ch]
            if disjoint:
                if not covered:
                    dst[:] = 0
                for i in range(ho):
                    for j in range(wo):
                        d = divisor if divisor != 0 else max(rn[i] * cn[j], 1)
                        v = g[i, j] / d
                        q0, m = c0[j], c1[j] - c0[j]
                        for r in range(r0[i], r1[i]):
                            row = dst[r, q0:]
                            for k in range(m):
                                row[k] = v
                continue
            acc[:] = 0.0
            for i in range(ho):
                for j in range(wo):
                    d = divisor if divisor != 0 else max(rn[i] * cn[j], 1)
                    v = g[i, j] / d
                    q0, m = c0[j], c1[j] - c0[j]
                    for r in range(r0[i], r1[i]):
                        row = acc[r, q0:]
                        for k in range(m):
                            row[k] += v
            for r in range(h):
                for q in range(w):
                    dst[r, q] = acc[r, q]


@njit(cache=True)
def _avg_pool2d(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, out):
    r0, r1, rn = _avg_bounds(out.shape[2], x.shape[2], kh, sh, ph, count_include_pad)
    c0, c1, cn = _avg_bounds(out.shape[3], x.shape[3], kw, sw, pw, count_include_pad)
    _avg_windows(x, r0, r1, rn, c0, c1, cn, divisor, out)


@njit(cache=True)
def _avg_pool2d_backward(grad_out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, grad_x):
    r0, r1, rn = _avg_bounds(grad_out.shape[2], grad_x.shape[2], kh, sh, ph, count_include_pad)
    c0, c1, cn = _avg_bounds(grad_out.shape[3], grad_x.shape[3], kw, sw, pw, count_include_pad)
    _avg_windows_backward(grad_out, r0, r1, rn, c0, c1, cn, divisor, grad_x)


@njit(cache=True)
def _adaptive_avg_pool2d(x, out):
    r0, r1, rn = _adaptive_bounds(out.shape[2], x.shape[2])
    c0, c1, cn = _adaptive_bounds(out.shape[3], x.shape[3])
    _avg_windows(x, r0, r1, rn, c0, c1, cn, 0, out)


@njit(cache=True)
def _adaptive_avg_pool2d_backward(grad_out, grad_x):
    r0, r1, rn = _adaptive_bounds(grad_out.shape[2], grad_x.shape[2])
    c0, c1, cn = _adaptive_bounds(grad_out.shape[3], grad_x.shape[3])
    _avg_windows_backward(grad_out, r0, r1, rn, c0, c1, cn, 0, grad_x)


# -- kernels ------------------------------------------------------------------------------


def max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, out, indices):
    """out, indices = max and flat argmax (first maximum; a NaN wins) of each window."""
    _check_out(out, indices)
    _max_pool2d(_c(x), kh, kw, sh, sw, ph, pw, dh, dw, out, indices)


def max_pool2d_backward(grad_out, indices, grad_x):
    """grad_x = 0, then grad_out scattered onto the argmax positions, accumulating."""
    _check_out(grad_x)
    _max_pool2d_backward(_c(grad_out), _c(indices), grad_x)


def avg_pool2d(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override, out):
    """out = float64 window sums / PyTorch's divisor (divisor_override 0 = none)."""
    _check_out(out)
    cip, divisor = bool(count_include_pad), int(divisor_override)
    _avg_pool2d(_c(x), kh, kw, sh, sw, ph, pw, cip, divisor, out)


def avg_pool2d_backward(
    grad_out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override, grad_x
):
    """grad_x = sum over outputs of grad_out / divisor spread over each window."""
    _check_out(grad_x)
    cip, divisor = bool(count_include_pad), int(divisor_override)
    _avg_pool2d_backward(_c(grad_out), kh, kw, sh, sw, ph, pw, cip, divisor, grad_x)


def adaptive_avg_pool2d(x, out):
    """out[..., i, j] = mean of x over bin i of the rows and bin j of the columns."""
    _check_out(out)
    _adaptive_avg_pool2d(_c(x), out)


def adaptive_avg_pool2d_backward(grad_out, grad_x):
    """grad_x = sum over outputs of grad_out / bin area spread over each bin."""
    _check_out(grad_x)
    _adaptive_avg_pool2d_backward(_c(grad_out), grad_x)


def adaptive_max_pool2d(x, out, indices):
    """out, indices = max and flat argmax over each adaptive bin (max_pool2d's rules)."""
    _check_out(out, indices)
    _adaptive_max_pool2d(_c(x), out, indices)
