"""Reference pooling kernels.  N batch, C channels, H, W input size, Ho, Wo output size.

Plain loops over output positions, vectorised over the N*C planes; PyTorch's CPU rules
spelled out: max pooling scans a window's taps row-major, keeps the first maximum and
takes a NaN whenever it meets one; average pooling divides a float64 sum by PyTorch's
divisor. Flat indices are ``h * W + w`` within a plane.
"""

from __future__ import annotations

import numpy as np


def _max_taps(i, size, k, s, p, d):
    """Input positions a dilated window covers along one axis, and its first position
    stepped past the left padding (PyTorch's index for a window with no tap)."""
    start = i * s - p
    end = min(start + (k - 1) * d + 1, size)
    while start < 0:
        start += d
    return np.arange(start, end, d), start


def _argmax_first_nan_last(values):
    """Per row of values (P, T): index of the first maximum, or of the last NaN if any."""
    nan = np.isnan(values)
    first_max = np.argmax(np.where(nan, -np.inf, values), axis=1)
    last_nan = values.shape[1] - 1 - np.argmax(nan[:, ::-1], axis=1)
    return np.where(nan.any(axis=1), last_nan, first_max)


def _max_pool(x, out, indices, rows_of, cols_of):
    """Shared max loop: rows_of(i) / cols_of(j) give (taps, first position)."""
    n, c, h, w = x.shape
    planes = x.reshape(n * c, h, w)
    ho, wo = out.shape[2:]
    # Explicit sizes, not -1: an empty batch (n * c == 0) has no -1 to infer.
    flat_out, flat_idx = out.reshape(n * c, ho * wo), indices.reshape(n * c, ho * wo)
    for i in range(ho):
        rows, r0 = rows_of(i)
        for j in range(wo):
            cols, c0 = cols_of(j)
            o = i * wo + j
            if rows.size == 0 or cols.size == 0:
                flat_out[:, o] = -np.inf
                flat_idx[:, o] = r0 * w + c0
                continue
            window = planes[:, rows[:, None], cols[None, :]].reshape(n * c, rows.size * cols.size)
            where = (rows[:, None] * w + cols[None, :]).reshape(-1)
            best = _argmax_first_nan_last(window)
            flat_out[:, o] = window[np.arange(n * c), best]
            flat_idx[:, o] = where[best]


def max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, out, indices):
    """out, indices = max and flat argmax (first maximum; a NaN wins) of each window."""
    h, w = x.shape[2:]
    _max_pool(
        x,
        out,
        indices,
        lambda i: _max_taps(i, h, kh, sh, ph, dh),
        lambda j: _max_taps(j, w, kw, sw, pw, dw),
    )


def max_pool2d_backward(grad_out, indices, grad_x):
    """grad_x = 0, then grad_out scattered onto the argmax positions, accumulating."""
    n, c, h, w = grad_x.shape
    gx = np.zeros((n * c, h * w), grad_x.dtype)
    outputs = grad_out.shape[2] * grad_out.shape[3]
    idx = indices.reshape(n * c, outputs)
    g = grad_out.reshape(n * c, outputs)
    plane, o = np.nonzero((idx >= 0) & (idx < h * w))
    np.add.at(gx, (plane, idx[plane, o]), g[plane, o])  # in row-major output order
    grad_x[...] = gx.reshape(grad_x.shape)


def _avg_window(i, size, k, s, p, count_include_pad):
    """(start, end, padded length) of an average window along one axis, PyTorch's way."""
    start = i * s - p
    end = min(start + k, size + p)
    padded = end - start
    start, end = max(start, 0), min(end, size)
    return start, end, padded if count_include_pad else end - start


def _avg_windows(shape_in, shape_out, window, count_include_pad, divisor):
    """Yield (i, j, row slice, column slice, divisor) for every output of an avg pool;
    window is (kh, kw, sh, sw, ph, pw)."""
    kh, kw, sh, sw, ph, pw = window
    h, w = shape_in
    ho, wo = shape_out
    for i in range(ho):
        r0, r1, rn = _avg_window(i, h, kh, sh, ph, count_include_pad)
        for j in range(wo):
            c0, c1, cn = _avg_window(j, w, kw, sw, pw, count_include_pad)
            yield i, j, slice(r0, r1), slice(c0, c1), divisor or max(rn * cn, 1)


def avg_pool2d(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override, out):
    """out = float64 window sums / PyTorch's divisor (divisor_override 0 = none)."""
    x64 = x.astype(np.float64)
    window = (kh, kw, sh, sw, ph, pw)
    windows = _avg_windows(x.shape[2:], out.shape[2:], window, count_include_pad, divisor_override)
    for i, j, rows, cols, divisor in windows:
        out[:, :, i, j] = x64[:, :, rows, cols].sum(axis=(2, 3)) / divisor


def avg_pool2d_backward(
    grad_out, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override, grad_x
):
    """grad_x = sum over outputs of grad_out / divisor spread over each window."""
    gx = np.zeros(grad_x.shape)
    g = grad_out.astype(np.float64)
    window = (kh, kw, sh, sw, ph, pw)
    windows = _avg_windows(
        grad_x.shape[2:], grad_out.shape[2:], window, count_include_pad, divisor_override
    )
    for i, j, rows, cols, divisor in windows:
        gx[:, :, rows, cols] += (g[:, :, i, j] / divisor)[:, :, None, None]
    grad_x[...] = gx


def _bin(i, size_out, size_in):
    """PyTorch's adaptive bin along one axis: [floor(i in / out), ceil((i + 1) in / out))."""
    return (i * size_in) // size_out, -(-((i + 1) * size_in) // size_out)


def adaptive_avg_pool2d(x, out):
    """out[..., i, j] = mean of x over bin i of the rows and bin j of the columns."""
    x64 = x.astype(np.float64)
    (h, w), (ho, wo) = x.shape[2:], out.shape[2:]
    for i in range(ho):
        r0, r1 = _bin(i, ho, h)
        for j in range(wo):
            c0, c1 = _bin(j, wo, w)
            out[:, :, i, j] = x64[:, :, r0:r1, c0:c1].mean(axis=(2, 3))


def adaptive_avg_pool2d_backward(grad_out, grad_x):
    """grad_x = sum over outputs of grad_out / bin area spread over each bin."""
    gx = np.zeros(grad_x.shape)
    g = grad_out.astype(np.float64)
    (h, w), (ho, wo) = grad_x.shape[2:], grad_out.shape[2:]
    for i in range(ho):
        r0, r1 = _bin(i, ho, h)
        for j in range(wo):
            c0, c1 = _bin(j, wo, w)
            area = (r1 - r0) * (c1 - c0)
            gx[:, :, r0:r1, c0:c1] += (g[:, :, i, j] / area)[:, :, None, None]
    grad_x[...] = gx


def adaptive_max_pool2d(x, out, indices):
    """out, indices = max and flat argmax over each adaptive bin (max_pool2d's rules)."""
    (h, w), (ho, wo) = x.shape[2:], out.shape[2:]

    def taps(i, size_out, size_in):
        start, end = _bin(i, size_out, size_in)
        return np.arange(start, end), start

    _max_pool(x, out, indices, lambda i: taps(i, ho, h), lambda j: taps(j, wo, w))
