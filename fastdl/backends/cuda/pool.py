"""CUDA pooling kernels.  N batch, C channels, H, W input size, Ho, Wo output size.

PyTorch's CPU rules, as the reference spells them out: max pooling scans a window's
taps row-major, keeps the first maximum and takes a NaN whenever it meets one; average
pooling sums in float64 and divides by PyTorch's divisor. Flat indices are ``h * W + w``
within a plane.

* **Forwards**: one thread per output element, the fastest index the output column,
  so writes are coalesced; x may have any strides.
* **Average backwards are gathers**: one thread per input pixel finds the outputs whose
  window (or adaptive bin) covers it, a range computed in closed form and each
  candidate checked against the forward's own window rule, and sums grad_out / divisor
  in float64. No atomics: deterministic.
* **max_pool2d_backward** knows only the indices, not the windows, so a pixel cannot
  tell which outputs point at it without scanning the whole plane. It is one thread
  per (n, c) plane: it zeroes the plane, then adds grad_out in row-major output order,
  exactly as the reference (bit for bit, deterministic, no atomics). Its parallelism is
  N*C threads: enough for CNN-sized batches (N*C in the thousands), thin for a handful
  of planes; a gather per pixel would need the window geometry in the spec's arguments.

Every kernel is one launch.
"""

from __future__ import annotations

import math

from numba import config, cuda

from fastdl.backends.cuda import _launch

# The simulator runs a Python thread per CUDA thread: small blocks for small tests.
BLOCK = 32 if config.ENABLE_CUDASIM else 256


def _launch_over(kernel, n, *args):
    if n > 0:
        _launch.launch(kernel, n, *args, block=BLOCK)


@cuda.jit(device=True)
def _output_position(t, shape):
    """(n, c, i, j) of flat index t in an (N, C, Ho, Wo) array."""
    j = t % shape[3]
    rest = t // shape[3]
    i = rest % shape[2]
    rest //= shape[2]
    return rest // shape[1], rest % shape[1], i, j


# -- max pooling ----------------------------------------------------------------------


@cuda.jit(device=True)
def _first_tap(start, dilation):
    """start stepped past the left padding by whole dilations."""
    if start < 0:
        start += ((-start + dilation - 1) // dilation) * dilation
    return start


@cuda.jit(device=True)
def _window_max(x, n, c, r0, r1, dr, c0, c1, dc):
    """(max, flat index) over rows r0:r1:dr, columns c0:c1:dc of plane (n, c): the first
    maximum, or the last NaN; -inf and r0 * W + c0 for an empty window (or all -inf)."""
    width = x.shape[3]
    best = -math.inf
    where = r0 * width + c0
    for r in range(r0, r1, dr):
        for s in range(c0, c1, dc):
            v = x[n, c, r, s]
            if v > best or v != v:
                best = v
                where = r * width + s
    return best, where


@cuda.jit
def _max_pool_kernel(x, kh, kw, sh, sw, ph, pw, dh, dw, out, indices):
    t = cuda.grid(1)
    if t >= out.size:
        return
    n, c, i, j = _output_position(t, out.shape)
    start_h, start_w = i * sh - ph, j * sw - pw
    r1 = min(start_h + (kh - 1) * dh + 1, x.shape[2])
    c1 = min(start_w + (kw - 1) * dw + 1, x.shape[3])
    r0, c0 = _first_tap(start_h, dh), _first_tap(start_w, dw)
    out[n, c, i, j], indices[n, c, i, j] = _window_max(x, n, c, r0, r1, dh, c0, c1, dw)


@cuda.jit(device=True)
def _bin(i, size_out, size_in):
    """PyTorch's adaptive bin: [floor(i in / out), ceil((i + 1) in / out))."""
    return (i * size_in) // size_out, -(-((i + 1) * size_in) // size_out)


@cuda.jit
def _adaptive_max_pool_kernel(x, out, indices):
    t = cuda.grid(1)
    if t >= out.size:
        return
    n, c, i, j = _output_position(t, out.shape)
    r0, r1 = _bin(i, out.shape[2], x.shape[2])
    c0, c1 = _bin(j, out.shape[3], x.shape[3])
    out[n, c, i, j], indices[n, c, i, j] = _window_max(x, n, c, r0, r1, 1, c0, c1, 1)


@cuda.jit
def _max_pool_backward_kernel(grad_out, indices, grad_x):
    """One thread per plane: zero it, then add grad_out in row-major output order."""
    plane = cuda.grid(1)
    n_img, channels, height, width = grad_x.shape
    if plane >= n_img * channels:
        return
    n, c = plane // channels, plane % channels
    for h in range(height):
        for w in range(width):
            grad_x[n, c, h, w] = 0
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            e = indices[n, c, i, j]
            if 0 <= e < height * width:
                grad_x[n, c, e // width, e % width] += grad_out[n, c, i, j]


def max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, out, indices):
    """out, indices = max and flat argmax (first maximum; a NaN wins) of each window."""
    _launch_over(_max_pool_kernel, out.size, x, kh, kw, sh, sw, ph, pw, dh, dw, out, indices)


def max_pool2d_backward(grad_out, indices, grad_x):
    """grad_x = 0, then grad_out added at the argmax positions (row-major, per plane)."""
    planes = grad_x.shape[0] * grad_x.shape[1]
    _launch_over(_max_pool_backward_kernel, planes, grad_out, indices, grad_x)


def adaptive_max_pool2d(x, out, indices):
    """out, indices = max and flat argmax over each adaptive bin (max_pool2d's rules)."""
    _launch_over(_adaptive_max_pool_kernel, out.size, x, out, indices)


# -- average pooling ------------------------------------------------------------------


@cuda.jit(device=True)
def _avg_window(i, size, k, s, p, count_include_pad):
    """(start, end, divisor length) of an average window along one axis, PyTorch's way:
    clipped to [-p, size + p) for the padded length, then to [0, size)."""
    start = i * s - p
    end = min(start + k, size + p)
    padded = end - start
    start, end = max(start, 0), min(end, size)
    return start, end, padded if count_include_pad else end - start


@cuda.jit(device=True)
def _divisor(rn, cn, divisor_override):
    if divisor_override != 0:
        return float(divisor_override)
    return float(max(rn * cn, 1))


@cuda.jit
def _avg_pool_kernel(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override, out):
    t = cuda.grid(1)
    if t >= out.size:
        return
    n, c, i, j = _output_position(t, out.shape)
    r0, r1, rn = _avg_window(i, x.shape[2], kh, sh, ph, count_include_pad)
    c0, c1, cn = _avg_window(j, x.shape[3], kw, sw, pw, count_include_pad)
    total = 0.0
    for r in range(r0, r1):
        for s in range(c0, c1):
            total += float(x[n, c, r, s])
    out[n, c, i, j] = total / _divisor(rn, cn, divisor_override)


@cuda.jit(device=True)
def _covering(pos, size_out, k, s, p):
    """Range [lo, hi) of the outputs whose (unclipped) window can cover ``pos``."""
    lo = max((pos + p - k) // s + 1, 0)
    hi = min((pos + p) // s + 1, size_out)
    return lo, hi


@cuda.jit
def _avg_pool_backward_kernel(
    grad_out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override, grad_x
):
    """One thread per input pixel, summing grad_out / divisor over its windows."""
    t = cuda.grid(1)
    if t >= grad_x.size:
        return
    n, c, h, w = _output_position(t, grad_x.shape)
    height, width = grad_x.shape[2], grad_x.shape[3]
    i_lo, i_hi = _covering(h, grad_out.shape[2], kh, sh, ph)
    j_lo, j_hi = _covering(w, grad_out.shape[3], kw, sw, pw)
    total = 0.0
    for i in range(i_lo, i_hi):
        r0, r1, rn = _avg_window(i, height, kh, sh, ph, count_include_pad)
        if not r0 <= h < r1:
            continue
        for j in range(j_lo, j_hi):
            c0, c1, cn = _avg_window(j, width, kw, sw, pw, count_include_pad)
            if c0 <= w < c1:
                total += float(grad_out[n, c, i, j]) / _divisor(rn, cn, divisor_override)
    grad_x[n, c, h, w] = total


def avg_pool2d(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override, out):
    """out = float64 window sums / PyTorch's divisor (divisor_override 0 = none)."""
    window = (kh, kw, sh, sw, ph, pw, bool(count_include_pad), int(divisor_override))
    _launch_over(_avg_pool_kernel, out.size, x, *window, out)


def avg_pool2d_backward(
    grad_out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override, grad_x
):
    """grad_x = sum over the windows covering each pixel of grad_out / divisor."""
    window = (kh, kw, sh, sw, ph, pw, bool(count_include_pad), int(divisor_override))
    _launch_over(_avg_pool_backward_kernel, grad_x.size, grad_out, *window, grad_x)


# -- adaptive average pooling -----------------------------------------------------------


@cuda.jit
def _adaptive_avg_pool_kernel(x, out):
    t = cuda.grid(1)
    if t >= out.size:
        return
    n, c, i, j = _output_position(t, out.shape)
    r0, r1 = _bin(i, out.shape[2], x.shape[2])
    c0, c1 = _bin(j, out.shape[3], x.shape[3])
    total = 0.0
    for r in range(r0, r1):
        for s in range(c0, c1):
            total += float(x[n, c, r, s])
    out[n, c, i, j] = total / ((r1 - r0) * (c1 - c0))


@cuda.jit(device=True)
def _bins_covering(pos, size_in, size_out):
    """Range [lo, hi) of the adaptive bins that contain ``pos``."""
    lo = (pos * size_out) // size_in
    hi = -(-((pos + 1) * size_out) // size_in)
    return lo, min(hi, size_out)


@cuda.jit
def _adaptive_avg_pool_backward_kernel(grad_out, grad_x):
    """One thread per input pixel, summing grad_out / bin area over its bins."""
    t = cuda.grid(1)
    if t >= grad_x.size:
        return
    n, c, h, w = _output_position(t, grad_x.shape)
    height, width = grad_x.shape[2], grad_x.shape[3]
    ho, wo = grad_out.shape[2], grad_out.shape[3]
    i_lo, i_hi = _bins_covering(h, height, ho)
    j_lo, j_hi = _bins_covering(w, width, wo)
    total = 0.0
    for i in range(i_lo, i_hi):
        r0, r1 = _bin(i, ho, height)
        if not r0 <= h < r1:
            continue
        for j in range(j_lo, j_hi):
            c0, c1 = _bin(j, wo, width)
            if c0 <= w < c1:
                total += float(grad_out[n, c, i, j]) / ((r1 - r0) * (c1 - c0))
    grad_x[n, c, h, w] = total


def adaptive_avg_pool2d(x, out):
    """out = float64 mean of x over each adaptive bin."""
    _launch_over(_adaptive_avg_pool_kernel, out.size, x, out)


def adaptive_avg_pool2d_backward(grad_out, grad_x):
    """grad_x = sum over the bins containing each pixel of grad_out / bin area."""
    _launch_over(_adaptive_avg_pool_backward_kernel, grad_x.size, grad_out, grad_x)
