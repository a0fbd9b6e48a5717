"""CUDA normalization kernels.  N rows/batch, D normalized features, C channels, L positions.

Both norms reduce over *groups* of x: a row of x (N,D) for layer_norm, a channel of x
(N,C,L) for batch_norm (its N*L elements, runs of L contiguous ones). One kernel body
serves both, specialised at compile time per (dtype, layout, block size):

* **One block per group.** Its threads stride through the group's elements (consecutive
  threads, consecutive addresses) and accumulate in float64, as the spec asks of the
  saved statistics; the partial sums meet in a fixed shared-memory tree, so results do
  not depend on scheduling (no atomics: deterministic, run to run and CPU to GPU).
* **Two passes** for the variance (mean first, then squared deviations): exact enough
  when the mean is large against the spread, and the group's second read hits L1/L2.
  A third pass writes the output, rounded once from float64 as the reference does.
* **Backward** reduces sum(g) and sum(g * xhat) together in one tree, then writes
  grad_x; batch_norm's grad_weight and grad_bias are those per-channel sums, so it is
  one launch. layer_norm's grad_weight and grad_bias are sums over the rows, the other
  direction: a second launch, a block per 32 columns with threads down the rows.

The block size is the group size rounded up to a power of two, capped (512 on a GPU;
16 under the simulator, so that the tests exercise the strided loop). Launches:
layer_norm 1, batch_norm 1, batch_norm_backward 1, layer_norm_backward 2 (1 without
grad_weight and grad_bias).

Not done yet (needs a GPU to measure): batch_norm with few channels and a large N*L
leaves SMs idle (a split reduction, two launches, would fill them), and L = 1 (the
(N, C) BatchNorm1d case) reads a channel with stride C; warp shuffles instead of the
shared tree.
"""

from __future__ import annotations

import math
from functools import cache, lru_cache

import numba
import numpy as np
from numba import config, cuda, types

from fastdl.backends.cuda import _launch

if config.ENABLE_CUDASIM:
    MIN_BLOCK, MAX_BLOCK = 2, 16
    COLS, ROWS = 4, 4
else:
    MIN_BLOCK, MAX_BLOCK = 32, 512
    COLS, ROWS = 32, 8

LAYER, BATCH = "layer", "batch"


@lru_cache(maxsize=4096)
def _block(count: int) -> int:
    """Threads per group: ``count`` rounded up to a power of two, within the caps."""
    block = MIN_BLOCK
    while block < count and block < MAX_BLOCK:
        block *= 2
    return block


@cache
def _placeholder(dtype, ndim):
    """A one-element device array standing in for an absent optional argument."""
    return cuda.device_array((1,) * ndim, dtype=dtype)


def _optional(a, dtype, ndim=1):
    return (_placeholder(np.dtype(dtype), ndim), False) if a is None else (a, True)


@cache
def _layout(layout):
    """Device accessors of element (n, c, p) of a group, and the element's affine index.

    layer: x (N,D) as groups c = rows, p = column, n always 0; weight per column.
    batch: x (N,C,L), groups c = channels; weight per channel.
    """
    if layout == LAYER:

        def get(a, n, c, p):
            return a[c, p]

        def put(a, n, c, p, v):
            a[c, p] = v

    else:

        def get(a, n, c, p):
            return a[n, c, p]

        def put(a, n, c, p, v):
            a[n, c, p] = v

    return cuda.jit(device=True)(get), cuda.jit(device=True)(put)


@cache
def _tree_sum(block):
    """Device function: the block-wide sums of two float64 values, in a fixed order.

    ``buf`` is a (2, block) float64 shared array; it is free again on return.
    """

    def tree_sum(buf, a, b):
        tid = cuda.threadIdx.x
        buf[0, tid] = a
        buf[1, tid] = b
        cuda.syncthreads()
        step = block // 2
        while step > 0:
            if tid < step:
                buf[0, tid] += buf[0, tid + step]
                buf[1, tid] += buf[1, tid + step]
            cuda.syncthreads()
            step //= 2
        a = buf[0, 0]
        b = buf[1, 0]
        cuda.syncthreads()
        return a, b

    return cuda.jit(device=True)(tree_sum)


def _types(dtype, layout):
    t = numba.from_dtype(np.dtype(dtype))
    x = t[:, ::1] if layout == LAYER else t[:, :, ::1]
    return t, x, t[::1], types.float64[::1]


@cache
def _forward_kernel(dtype, layout, block):
    """out = (x - mean) * rstd * weight + bias over the groups, mean and rstd saved."""
    get, put = _layout(layout)
    tree_sum = _tree_sum(block)
    per_channel = layout == BATCH
    _, xt, vt, st = _types(dtype, layout)

    def forward(x, weight, bias, has_w, has_b, eps, inner, count, out, mean, rstd):
        buf = cuda.shared.array((2, block), types.float64)
        c = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        s = 0.0
        for e in range(tid, count, block):
            n = e // inner
            # float64 spelled out: the simulator (NumPy rules) would keep float32 x's sum.
            s += numba.float64(get(x, n, c, e - n * inner))
        s, _ = tree_sum(buf, s, 0.0)
        mu = s / count
        q = 0.0
        for e in range(tid, count, block):
            n = e // inner
            v = get(x, n, c, e - n * inner) - mu
            q += v * v
        q, _ = tree_sum(buf, q, 0.0)
        r = 1.0 / math.sqrt(q / count + eps)
        for e in range(tid, count, block):
            n = e // inner
            p = e - n * inner
            k = c if per_channel else p
            y = (get(x, n, c, p) - mu) * r
            if has_w:
                y = y * weight[k]
            if has_b:
                y = y + bias[k]
            put(out, n, c, p, y)
        if tid == 0:
            mean[c] = mu
            rstd[c] = r

    b, f8, i8 = types.boolean, types.float64, types.int64
    return cuda.jit(numba.void(xt, vt, vt, b, b, f8, i8, i8, xt, st, st))(forward)


@cache
def _backward_kernel(dtype, layout, block):
    """grad_x = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = grad_out * weight;
    for batch_norm also grad_weight = sum(grad_out * xhat), grad_bias = sum(grad_out)."""
    get, put = _layout(layout)
    tree_sum = _tree_sum(block)
    per_channel = layout == BATCH
    _, xt, vt, st = _types(dtype, layout)

    def backward(x, weight, has_w, mean, rstd, grad_out, inner, count, grad_x, need_x,
                 grad_weight, need_w, grad_bias, need_b):  # fmt: skip
        buf = cuda.shared.array((2, block), types.float64)
        c = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        mu = mean[c]
        r = rstd[c]
        # sums of g and g * xhat, the channel's weight factored out for batch_norm
        a = 0.0
        b = 0.0
        for e in range(tid, count, block):
            n = e // inner
            p = e - n * inner
            g = numba.float64(get(grad_out, n, c, p))
            if has_w and not per_channel:
                g = g * weight[p]
            a += g
            b += g * (get(x, n, c, p) - mu) * r
        a, b = tree_sum(buf, a, b)
        w = 1.0
        if per_channel:
            if has_w:
                w = numba.float64(weight[c])
            if tid == 0:
                if need_w:
                    grad_weight[c] = b
                if need_b:
                    grad_bias[c] = a
        if need_x:
            mean_g = w * a / count
            mean_gx = w * b / count
            for e in range(tid, count, block):
                n = e // inner
                p = e - n * inner
                g = numba.float64(get(grad_out, n, c, p)) * w
                if has_w and not per_channel:
                    g = g * weight[p]
                xhat = (get(x, n, c, p) - mu) * r
                put(grad_x, n, c, p, r * (g - mean_g - xhat * mean_gx))

    bt, i8 = types.boolean, types.int64
    sig = numba.void(xt, vt, bt, st, st, xt, i8, i8, xt, bt, vt, bt, vt, bt)
    return cuda.jit(sig)(backward)


@cache
def _column_sums_kernel(dtype):
    """layer_norm's grad_weight[j] = sum_i grad_out * xhat, grad_bias[j] = sum_i grad_out:
    COLS columns per block (coalesced rows), ROWS threads down each, then a tree."""
    _, xt, vt, st = _types(dtype, LAYER)

    def column_sums(x, mean, rstd, grad_out, grad_weight, need_w, grad_bias, need_b):
        buf = cuda.shared.array((2, ROWS, COLS), types.float64)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        rows, cols = x.shape
        j = cuda.blockIdx.x * COLS + tx
        sw = 0.0
        sb = 0.0
        if j < cols:
            for i in range(ty, rows, ROWS):
                dy = numba.float64(grad_out[i, j])
                sw += dy * (x[i, j] - mean[i]) * rstd[i]
                sb += dy
        buf[0, ty, tx] = sw
        buf[1, ty, tx] = sb
        cuda.syncthreads()
        step = ROWS // 2
        while step > 0:
            if ty < step:
                buf[0, ty, tx] += buf[0, ty + step, tx]
                buf[1, ty, tx] += buf[1, ty + step, tx]
            cuda.syncthreads()
            step //= 2
        if ty == 0 and j < cols:
            if need_w:
                grad_weight[j] = buf[0, 0, tx]
            if need_b:
                grad_bias[j] = buf[1, 0, tx]

    bt = types.boolean
    return cuda.jit(numba.void(xt, st, st, xt, vt, bt, vt, bt))(column_sums)


# -- drivers -----------------------------------------------------------------------


def _groups(x, layout):
    """(groups, inner run length, elements per group) of x."""
    if layout == LAYER:
        return x.shape[0], x.shape[1], x.shape[1]
    return x.shape[1], x.shape[2], x.shape[0] * x.shape[2]


def _forward(layout, x, weight, bias, eps, out, mean, rstd):
    groups, inner, count = _groups(x, layout)
    if groups == 0 or count == 0:
        return
    dtype = np.dtype(x.dtype)
    block = _block(count)
    weight, has_w = _optional(weight, dtype)
    bias, has_b = _optional(bias, dtype)
    kernel = _forward_kernel(dtype, layout, block)
    kernel[groups, block](x, weight, bias, has_w, has_b, float(eps), inner, count, out, mean, rstd)
    _launch.count()


def _backward(layout, x, weight, mean, rstd, grad_out, grad_x, grad_weight, grad_bias):
    """The group kernel for grad_x (and batch_norm's parameter gradients)."""
    groups, inner, count = _groups(x, layout)
    dtype = np.dtype(x.dtype)
    batch = layout == BATCH
    params = batch and (grad_weight is not None or grad_bias is not None)
    if groups == 0 or (grad_x is None and not params):
        return
    block = _block(count)
    weight, has_w = _optional(weight, dtype)
    grad_x, need_x = _optional(grad_x, dtype, x.ndim)
    grad_weight, need_w = _optional(grad_weight if batch else None, dtype)
    grad_bias, need_b = _optional(grad_bias if batch else None, dtype)
    kernel = _backward_kernel(dtype, layout, block)
    kernel[groups, block](
        x, weight, has_w, mean, rstd, grad_out, inner, count,
        grad_x, need_x, grad_weight, need_w, grad_bias, need_b,
    )  # fmt: skip
    _launch.count()


def layer_norm(x, weight, bias, eps, out, mean, rstd):
    """Rows of x (N,D) normalised over D: out = (x - mean) * rstd * weight + bias.

    One launch, a block per row; mean and rstd (N,) float64.
    """
    _forward(LAYER, x, weight, bias, eps, out, mean, rstd)


def layer_norm_backward(x, weight, mean, rstd, grad_out, grad_x, grad_weight, grad_bias):
    """grad_x per row (a block per row), then grad_weight and grad_bias summed over rows
    (a second launch, only when one of them is wanted)."""
    _backward(LAYER, x, weight, mean, rstd, grad_out, grad_x, None, None)
    if grad_weight is None and grad_bias is None:
        return
    dtype = np.dtype(x.dtype)
    cols = x.shape[1]
    grad_weight, need_w = _optional(grad_weight, dtype)
    grad_bias, need_b = _optional(grad_bias, dtype)
    blocks = -(-cols // COLS)
    if blocks:
        _column_sums_kernel(dtype)[blocks, (COLS, ROWS)](
            x, mean, rstd, grad_out, grad_weight, need_w, grad_bias, need_b
        )
        _launch.count()


def batch_norm(x, weight, bias, eps, out, mean, rstd):
    """x (N,C,L) normalised per channel over N and L: one launch, a block per channel."""
    _forward(BATCH, x, weight, bias, eps, out, mean, rstd)


def batch_norm_backward(x, weight, mean, rstd, grad_out, grad_x, grad_weight, grad_bias):
    """grad_x and the per-channel grad_weight, grad_bias: one launch, a block per channel."""
    _backward(BATCH, x, weight, mean, rstd, grad_out, grad_x, grad_weight, grad_bias)
