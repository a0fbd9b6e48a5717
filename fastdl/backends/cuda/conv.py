"""CUDA convolution kernels.  x (N,C,H,W), weight (O,C/G,KH,KW), out (N,O,OH,OW), G groups.

Convolution is im2col + GEMM, the GEMM being :mod:`linear`'s tiled one (``_gemm``),
which reads its operands in place as C-contiguous bases plus a transposed flag:

* **Columns.** ``cols (C*KH*KW, N*OH*OW)``, rows (channel, i, j), so group g owns one
  contiguous block of rows, as it owns one of ``weight.reshape(O, C/G*KH*KW)``.
* **Forward.** ``im2col``, then per group ``y_g (O/G, N*OH*OW) = W_g @ cols_g`` into a
  scratch ``y (O, N, OH*OW)``, then one kernel moves y to NCHW adding the bias (the
  GEMM's epilogue adds a bias per column, and ours is per row). 2 + G launches.
* **Backward.** grad_out is moved to ``dy (O, N*OH*OW)`` once; per group
  ``grad_weight_g = dy_g @ cols_g.T`` (grad_bias fused into it as the row sums of dy_g)
  and ``gcols_g = W_g.T @ dy_g``, then ``col2im``. x is read only for grad_weight and
  weight only for grad_x (the double backward passes zero-stride stand-ins).
* **col2im** is a gather, one thread per pixel of grad_x summing its taps in tap order
  (i, j) in grad_x's dtype: no atomics, deterministic, bit for bit the reference.
* **Scratch** (columns, y, dy) is one device buffer per role and dtype, grown on demand
  and kept: a ``cudaMalloc`` per call would synchronise. Every launch is on the default
  stream, so reuse is ordered.

Every elementwise kernel is one thread per element of the array it writes, the fastest
index the innermost output pixel, so writes are coalesced (and reads of x along a row
for stride 1).

Not done (needs a GPU to measure): grouped convolutions with many groups (depthwise)
take a GEMM launch per group and would want a direct kernel; implicit GEMM (loading
the column tiles straight from x inside the GEMM) would save the cols round trip.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import config, cuda

from fastdl.backends.cuda import _launch
from fastdl.backends.cuda.linear import _gemm

# The simulator runs a Python thread per CUDA thread: small blocks for small tests.
BLOCK = 32 if config.ENABLE_CUDASIM else 256


def _launch_over(kernel, n, *args):
    if n > 0:
        _launch.launch(kernel, n, *args, block=BLOCK)


# -- scratch ------------------------------------------------------------------------

_scratch_buffers: dict = {}


def _scratch(role, shape, dtype):
    """A device array of ``shape`` carved from the kept buffer of ``role`` and dtype."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    buffer = _scratch_buffers.get((role, dtype))
    if buffer is None or buffer.size < size:
        buffer = cuda.device_array(max(size, 1), dtype=dtype)
        _scratch_buffers[role, dtype] = buffer
    return buffer[:size].reshape(shape)


# -- im2col / col2im ------------------------------------------------------------------


@cuda.jit
def _im2col_kernel(x, kh, kw, sh, sw, ph, pw, dh, dw, cols):
    """cols[(c, i, j), n, oh, ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] or 0."""
    t = cuda.grid(1)
    rows, n_img, oh_n, ow_n = cols.shape
    if t >= rows * n_img * oh_n * ow_n:
        return
    ow = t % ow_n
    rest = t // ow_n
    oh = rest % oh_n
    rest //= oh_n
    n = rest % n_img
    row = rest // n_img
    j = row % kw
    i = (row // kw) % kh
    c = row // (kw * kh)
    h = oh * sh - ph + i * dh
    w = ow * sw - pw + j * dw
    if 0 <= h < x.shape[2] and 0 <= w < x.shape[3]:
        cols[row, n, oh, ow] = x[n, c, h, w]
    else:
        cols[row, n, oh, ow] = 0


@cache
def _col2im_kernel(dtype):
    """One thread per pixel of grad_x, summing the column elements that read it."""
    zero = dtype.type(0)

    def col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, grad_x):
        t = cuda.grid(1)
        n_img, channels, height, width = grad_x.shape
        if t >= n_img * channels * height * width:
            return
        w = t % width
        rest = t // width
        h = rest % height
        rest //= height
        c = rest % channels
        n = rest // channels
        oh_n, ow_n = cols.shape[2], cols.shape[3]
        acc = zero
        for i in range(kh):
            th = h + ph - i * dh
            oh = th // sh
            if th < 0 or oh * sh != th or oh >= oh_n:
                continue
            for j in range(kw):
                tw = w + pw - j * dw
                ow = tw // sw
                if tw < 0 or ow * sw != tw or ow >= ow_n:
                    continue
                acc += cols[(c * kh + i) * kw + j, n, oh, ow]
        grad_x[n, c, h, w] = acc

    return cuda.jit(col2im)


def im2col(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, cols):
    """cols (C*KH*KW, N, OH, OW) = the taps of x as GEMM rows: one launch, a copy."""
    geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
    _launch_over(_im2col_kernel, cols.size, x, *geometry, cols)


def col2im(cols, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, grad_x):
    """grad_x = the adjoint of im2col, a gather per pixel in tap order: one launch."""
    geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
    kernel = _col2im_kernel(np.dtype(grad_x.dtype))
    _launch_over(kernel, grad_x.size, cols, *geometry, grad_x)


# -- layout moves between the GEMM's (O, N, OH*OW) and NCHW -----------------------------


@cuda.jit
def _to_nchw_kernel(y, bias, has_bias, out):
    """out[n, o, oh, ow] = y[o, n, oh*OW + ow] (+ bias[o])."""
    t = cuda.grid(1)
    n_img, channels, oh_n, ow_n = out.shape
    pixels = oh_n * ow_n
    if t >= n_img * channels * pixels:
        return
    p = t % pixels
    rest = t // pixels
    o = rest % channels
    n = rest // channels
    v = y[o, n, p]
    if has_bias:
        v += bias[o]
    out[n, o, p // ow_n, p % ow_n] = v


@cuda.jit
def _from_nchw_kernel(grad_out, dy):
    """dy[o, n, oh*OW + ow] = grad_out[n, o, oh, ow]."""
    t = cuda.grid(1)
    channels, n_img, pixels = dy.shape
    if t >= n_img * channels * pixels:
        return
    ow_n = grad_out.shape[3]
    p = t % pixels
    rest = t // pixels
    n = rest % n_img
    o = rest // n_img
    dy[o, n, p] = grad_out[n, o, p // ow_n, p % ow_n]


@cuda.jit
def _channel_sum_kernel(grad_out, grad_bias):
    """grad_bias[o] = sum of grad_out[:, o] in float64: one block per channel, a strided
    sum per thread then a shared-memory tree."""
    partial = cuda.shared.array(BLOCK, np.float64)
    o = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    n_img, _, oh_n, ow_n = grad_out.shape
    pixels = oh_n * ow_n
    s = 0.0
    for e in range(tid, n_img * pixels, BLOCK):
        p = e % pixels
        s += float(grad_out[e // pixels, o, p // ow_n, p % ow_n])
    partial[tid] = s
    cuda.syncthreads()
    step = BLOCK // 2
    while step > 0:
        if tid < step:
            partial[tid] += partial[tid + step]
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        grad_bias[o] = partial[0]


# -- conv2d -------------------------------------------------------------------------


def _columns(x, weight, out_hw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w):
    """im2col of x into the scratch columns, as a (C*KH*KW, N*OH*OW) matrix."""
    n, c = x.shape[:2]
    kh, kw = weight.shape[2:]
    rows, pixels = c * kh * kw, n * out_hw[0] * out_hw[1]
    cols = _scratch("cols", (rows, n, *out_hw), x.dtype)
    im2col(x, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, cols)
    return cols.reshape(rows, pixels)


def _weight_matrix(weight):
    o, cg, kh, kw = weight.shape
    return weight.reshape(o, cg * kh * kw)


def conv2d(x, weight, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, out):
    """out = conv2d(x, weight) + bias: im2col, a GEMM per group, a move to NCHW."""
    n, o, oh, ow = out.shape
    if out.size == 0:
        return
    og = o // groups
    cols = _columns(x, weight, (oh, ow), stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
    k = cols.shape[0] // groups
    w_mat = _weight_matrix(weight)
    y = _scratch("y", (o, n, oh * ow), out.dtype)
    y_mat = y.reshape(o, n * oh * ow)
    for g in range(groups):
        rows, taps = slice(g * og, (g + 1) * og), slice(g * k, (g + 1) * k)
        _gemm(w_mat[rows], False, cols[taps], False, y_mat[rows])
    has_bias = bias is not None
    _launch_over(_to_nchw_kernel, out.size, y, bias if has_bias else y_mat[0], has_bias, out)


def conv2d_backward(
    x,
    weight,
    grad_out,
    stride_h,
    stride_w,
    pad_h,
    pad_w,
    dil_h,
    dil_w,
    groups,
    grad_x,
    grad_weight,
    grad_bias,
):
    """grad_x, grad_weight, grad_bias of conv2d (each may be None): GEMMs and col2im.

    grad_bias rides on the grad_weight GEMMs (row sums of dy); a float64 channel sum
    computes it when grad_weight is None.
    """
    n, o, oh, ow = grad_out.shape
    og = o // groups
    kh, kw = weight.shape[2:]
    fused_bias = grad_bias is not None and grad_weight is not None
    if grad_bias is not None and not fused_bias and o > 0:
        _channel_sum_kernel[o, BLOCK](grad_out, grad_bias)
        _launch.count()
    if grad_x is None and grad_weight is None:
        return
    dy = _scratch("dy", (o, n, oh * ow), grad_out.dtype)
    _launch_over(_from_nchw_kernel, dy.size, grad_out, dy)
    dy_mat = dy.reshape(o, n * oh * ow)
    geometry = (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
    if grad_weight is not None:
        cols = _columns(x, weight, (oh, ow), *geometry)
        k = cols.shape[0] // groups
        gw_mat = _weight_matrix(grad_weight)
        for g in range(groups):
            rows, taps = slice(g * og, (g + 1) * og), slice(g * k, (g + 1) * k)
            sums = dict(sums=grad_bias[rows], fused_sum="a") if fused_bias else {}
            _gemm(dy_mat[rows], False, cols[taps], True, gw_mat[rows], **sums)
    if grad_x is not None:
        w_mat = _weight_matrix(weight)
        # the grad_weight GEMMs above read the same scratch: stream order keeps it safe
        gcols = _scratch("cols", (w_mat.shape[1] * groups, n, oh, ow), grad_x.dtype)
        gcols_mat = gcols.reshape(gcols.shape[0], n * oh * ow)
        k = w_mat.shape[1]
        for g in range(groups):
            rows, taps = slice(g * og, (g + 1) * og), slice(g * k, (g + 1) * k)
            _gemm(w_mat[rows], True, dy_mat[rows], False, gcols_mat[taps])
        col2im(gcols, kh, kw, *geometry, grad_x)
