"""CUDA dense-layer kernels.  x (N,K), weight (M,K), bias (M,), out and grad_out (N,M).

Every matmul of the family, forward and backward, is one generic GEMM,
``out (M,N) = A (M,K) @ B (K,N)``, specialised at compile time per
(dtype, tile, A transposed, B transposed, fused prologue, fused epilogue, fused sum):

* **Operands by flag, not by copy.** A and B are passed as their C-contiguous base
  arrays plus a transposed flag, so ``x @ weight.T``, ``grad_out @ weight`` and
  ``grad_out.T @ x`` read the arrays in place.
* **Tiling.** A block computes a BM x BN tile of ``out`` through BK-deep slices of A and
  B staged in double-buffered shared memory (one ``syncthreads`` per slice; the next
  slice's global loads are issued before the current one is multiplied). Each thread
  holds a TM x TN micro-tile of accumulators in a constant-shape ``cuda.local.array``
  whose loops fully unroll, so they live in registers (the PTX for sm_90 has no local
  loads or spills). Its rows (columns) come in runs of four, one run per half of the
  tile, so a warp's fragment reads are 16-byte-aligned, conflict-free, and mostly
  merged by NVVM into 64/128-bit shared loads; the shared tiles' rows are padded so the
  transposing stores of K-contiguous operands spread over the banks.
* **Epilogue.** ``act(acc + bias)`` is applied as C is stored (linear, linear_act,
  gemm_bias_act).
* **Prologue.** In the backward passes the activation derivative, written in terms of
  the forward output y (act_backward's rules), masks grad_out as it is loaded, on
  whichever side (A or B) grad_out sits; ``g = grad_out * act'(y)`` is never stored.
* **Fused bias gradient.** The weight-gradient GEMM reduces over the batch, so the
  blocks of its first tile column (or row) also sum the masked grad_out they load: the
  bias gradient costs no launch. When only the bias gradient is asked for, a small
  column-sum kernel computes it.

A launch is a few tens of microseconds of Python, so: linear / linear_act /
gemm_bias_act are one launch, their backwards at most two.

Not done yet (needs a GPU to measure): 128-bit global loads (they need K or N a
multiple of four and aligned bases: a runtime-chosen specialisation), a register cap of
128 for two blocks per SM (ptxas: 137 registers now, a few bytes of spill at 128), and
tuning the tile sizes and the 128x128 / 64x64 crossover.
"""

from __future__ import annotations

import math
from functools import cache, lru_cache
from typing import NamedTuple

import numba
import numpy as np
from numba import config, cuda

from fastdl.backends.cuda import _launch, views


class Tile(NamedTuple):
    """Block tile BM x BN, K-slice BK, per-thread micro-tile TM x TN."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self) -> int:
        return (self.bm // self.tm) * (self.bn // self.tn)


# On a GPU: 128x128 tiles (8x8 per thread, 256 threads) when they give at least a wave
# of blocks, else 64x64 (4x4 per thread) so small layers still fill the SMs. The CUDA
# simulator runs a Python thread per CUDA thread: the same code with small (and
# non-square, to catch a swapped index) tiles.
if config.ENABLE_CUDASIM:
    LARGE, SMALL, MIN_LARGE_BLOCKS = Tile(16, 32, 4, 8, 8), Tile(4, 8, 4, 2, 4), 2
    SUM_COLS, SUM_ROWS = 8, 4
else:
    LARGE, SMALL, MIN_LARGE_BLOCKS = Tile(128, 128, 8, 8, 8), Tile(64, 64, 16, 4, 4), 132
    SUM_COLS, SUM_ROWS = 32, 8

PAD = 4  # shared tiles' rows padded: transposing stores spread over the banks
# 16-byte aligned shared tiles let NVVM merge fragment reads into 128-bit loads (the
# simulator refuses an alignment).
ALIGN = None if config.ENABLE_CUDASIM else 16

RELU, LEAKY_RELU, SIGMOID, TANH = "relu", "leaky_relu", "sigmoid", "tanh"


# -- elementwise pieces, specialised per activation and dtype -------------------------


@cache
def _activation(act, dtype):
    """Device function x -> act(x) (the identity for None), constants in dtype."""
    zero, one = dtype.type(0), dtype.type(1)
    if act is None:

        def f(x, slope):
            return x

    elif act == RELU:

        def f(x, slope):
            return x if x > zero or x != x else zero  # NaN stays NaN, as torch.relu

    elif act == LEAKY_RELU:

        def f(x, slope):
            return x if x > zero else slope * x

    elif act == SIGMOID:

        def f(x, slope):
            e = math.exp(-abs(x))  # never overflows
            return one / (one + e) if x >= zero else e / (one + e)

    elif act == TANH:

        def f(x, slope):
            return math.tanh(x)

    else:
        raise ValueError(f"unknown activation {act!r}")
    return cuda.jit(device=True)(f)


@cache
def _derivative(act, dtype):
    """Device function (g, y) -> g * act'(x), in terms of the output y = act(x)."""
    zero, one = dtype.type(0), dtype.type(1)
    if act is None:

        def f(g, y, slope):
            return g

    elif act == RELU:

        def f(g, y, slope):
            return g if y > zero else zero

    elif act == LEAKY_RELU:

        def f(g, y, slope):
            return g if y > zero else slope * g

    elif act == SIGMOID:

        def f(g, y, slope):
            return g * y * (one - y)

    elif act == TANH:

        def f(g, y, slope):
            return g * (one - y * y)

    else:
        raise ValueError(f"unknown activation {act!r}")
    return cuda.jit(device=True)(f)


def _signature(dtype, *kinds):
    """A numba signature from 'm' (C-contiguous matrix), 'v' (vector), 's' (scalar)."""
    t = numba.from_dtype(dtype)
    parts = {"m": t[:, ::1], "v": t[::1], "s": t}
    return numba.void(*(parts[k] for k in kinds))


# -- the GEMM ----------------------------------------------------------------------


@cache
def _gemm_kernel(dtype, tile, trans_a, trans_b, mask, mask_act, act, has_bias, fused_sum):
    """out = act(A @ B + bias), A/B masked by act'(y) when ``mask`` is "a" or "b".

    Arguments ``(a, b, y, bias, out, sums, slope)``: a and b the C-contiguous bases of
    A (M,K) and B (K,N) (transposed views when trans_a / trans_b), y the forward output
    laid out as the masked operand's base, bias (N,), sums (M,) when ``fused_sum`` is
    "a" (row sums of A) or (N,) when "b" (column sums of B). Unused arrays are
    placeholders of the right type.
    """
    bm, bn, bk, tm, tn = tile
    threads = tile.threads
    tx_count = bn // tn
    tx_shift = tx_count.bit_length() - 1
    assert tx_count == 1 << tx_shift, tile
    # A thread's rows (columns) come in runs of va (vb) consecutive ones, one run per
    # group of the tile: fragment reads are 16-byte aligned and conflict-free.
    va, vb = min(4, tm), min(4, tn)
    a_group, b_group = bm // (tm // va), bn // (tn // vb)
    a_width, b_width = bm + PAD, bn + PAD
    load_a, load_b = bm * bk // threads, bk * bn // threads
    assert load_a * threads == bm * bk and load_b * threads == bk * bn, tile
    nbt = numba.from_dtype(dtype)
    zero = dtype.type(0)
    activate = _activation(act, dtype)
    derive = _derivative(mask_act, dtype)
    mask_a, mask_b = mask == "a", mask == "b"
    sum_a, sum_b = fused_sum == "a", fused_sum == "b"

    def gemm(a, b, y, bias, out, sums, slope):
        m, n = out.shape
        k = a.shape[0] if trans_a else a.shape[1]
        a_tile = cuda.shared.array((2, bk, a_width), nbt, alignment=ALIGN)
        b_tile = cuda.shared.array((2, bk, b_width), nbt, alignment=ALIGN)
        acc = cuda.local.array((tm, tn), nbt)
        a_frag = cuda.local.array(tm, nbt)
        b_frag = cuda.local.array(tn, nbt)
        a_next = cuda.local.array(load_a, nbt)
        b_next = cuda.local.array(load_b, nbt)
        a_sum = cuda.local.array(tm, nbt)
        b_sum = cuda.local.array(tn, nbt)
        tid = cuda.threadIdx.x
        # a mask and a shift, not % and //: NVVM then sees tx, ty >= 0 and merges the
        # fragment reads into vector loads
        tx = tid & (tx_count - 1)
        ty = tid >> tx_shift
        row0 = cuda.blockIdx.y * bm
        col0 = cuda.blockIdx.x * bn
        for i in range(tm):
            a_sum[i] = zero
            for j in range(tn):
                acc[i, j] = zero
        for j in range(tn):
            b_sum[j] = zero
        do_sum_a = sum_a and cuda.blockIdx.x == 0
        do_sum_b = sum_b and cuda.blockIdx.y == 0

        # Slice s (BK columns of A, BK rows of B) is read into registers at step s - 1,
        # while slice s - 1 is multiplied, then stored to shared buffer s % 2 at step s.
        # That buffer was last read at step s - 2, before the barrier of step s - 1, so
        # one barrier per slice suffices.
        slices = (k + bk - 1) // bk
        for s in range(-1, slices):
            buf = s % 2
            if s >= 0:
                for q in range(load_a):
                    e = tid + q * threads
                    if trans_a:
                        a_tile[buf, e // bm, e % bm] = a_next[q]
                    else:
                        a_tile[buf, e % bk, e // bk] = a_next[q]
                for q in range(load_b):
                    e = tid + q * threads
                    if trans_b:
                        b_tile[buf, e % bk, e // bk] = b_next[q]
                    else:
                        b_tile[buf, e // bn, e % bn] = b_next[q]
                cuda.syncthreads()

            if s + 1 < slices:
                # Element e of a slice is read where it is contiguous in memory, so
                # consecutive threads read consecutive addresses.
                k0 = (s + 1) * bk
                for q in range(load_a):
                    e = tid + q * threads
                    if trans_a:
                        r, c = e % bm, e // bm
                    else:
                        r, c = e // bk, e % bk
                    gr, gc = row0 + r, k0 + c
                    v = zero
                    if gr < m and gc < k:
                        if trans_a:
                            v = a[gc, gr]
                            if mask_a:
                                v = derive(v, y[gc, gr], slope)
                        else:
                            v = a[gr, gc]
                            if mask_a:
                                v = derive(v, y[gr, gc], slope)
                    a_next[q] = v
                for q in range(load_b):
                    e = tid + q * threads
                    if trans_b:
                        c, r = e // bk, e % bk
                    else:
                        c, r = e % bn, e // bn
                    gr, gc = k0 + r, col0 + c
                    v = zero
                    if gr < k and gc < n:
                        if trans_b:
                            v = b[gc, gr]
                            if mask_b:
                                v = derive(v, y[gc, gr], slope)
                        else:
                            v = b[gr, gc]
                            if mask_b:
                                v = derive(v, y[gr, gc], slope)
                    b_next[q] = v

            if s < 0:
                continue
            for kk in range(bk):
                for i in range(tm):
                    a_frag[i] = a_tile[buf, kk, (i // va) * a_group + ty * va + i % va]
                for j in range(tn):
                    b_frag[j] = b_tile[buf, kk, (j // vb) * b_group + tx * vb + j % vb]
                for i in range(tm):
                    for j in range(tn):
                        acc[i, j] += a_frag[i] * b_frag[j]
                if do_sum_a:
                    for i in range(tm):
                        a_sum[i] += a_frag[i]
                if do_sum_b:
                    for j in range(tn):
                        b_sum[j] += b_frag[j]

        for j in range(tn):  # b_frag now holds the bias of the thread's columns
            c = col0 + (j // vb) * b_group + tx * vb + j % vb
            b_frag[j] = bias[c] if has_bias and c < n else zero
        for i in range(tm):
            r = row0 + (i // va) * a_group + ty * va + i % va
            if r < m:
                for j in range(tn):
                    c = col0 + (j // vb) * b_group + tx * vb + j % vb
                    if c < n:
                        out[r, c] = activate(acc[i, j] + b_frag[j], slope)
                if do_sum_a and tx == 0:
                    sums[r] = a_sum[i]
        if do_sum_b and ty == 0:
            for j in range(tn):
                c = col0 + (j // vb) * b_group + tx * vb + j % vb
                if c < n:
                    sums[c] = b_sum[j]

    return cuda.jit(_signature(dtype, "m", "m", "m", "v", "m", "v", "s"))(gemm)


@lru_cache(maxsize=4096)
def _gemm_config(m: int, n: int) -> tuple[Tile, tuple[int, int]]:
    """The tile and the (x over N, y over M) grid of an M x N product."""
    large = (-(-n // LARGE.bn), -(-m // LARGE.bm))
    if large[0] * large[1] >= MIN_LARGE_BLOCKS:
        return LARGE, large
    return SMALL, (-(-n // SMALL.bn), -(-m // SMALL.bm))


@cache
def _placeholder(dtype):
    """A one-element device vector standing in for an absent bias or sum."""
    return cuda.device_array(1, dtype=dtype)


def _gemm(
    a,
    trans_a,
    b,
    trans_b,
    out,
    *,
    bias=None,
    act=None,
    slope=0.0,
    y=None,
    mask=None,
    mask_act=None,
    sums=None,
    fused_sum=None,
):
    """Launch out = act(A @ B + bias) with A, B given as (C-contiguous base, transposed)."""
    m, n = out.shape
    if m == 0 or n == 0:
        return
    dtype = np.dtype(out.dtype)
    tile, grid = _gemm_config(m, n)
    kernel = _gemm_kernel(
        dtype, tile, trans_a, trans_b, mask, mask_act, act, bias is not None, fused_sum
    )
    spare = _placeholder(dtype)
    kernel[grid, tile.threads](
        a,
        b,
        out if y is None else y,
        spare if bias is None else bias,
        out,
        spare if sums is None else sums,
        dtype.type(slope),
    )
    _launch.count()


# -- bias gradient on its own -----------------------------------------------------


@cache
def _column_sum_kernel(dtype, mask_act):
    """total[j] = sum_i g[i, j] * act'(y[i, j]): SUM_COLS columns per block, SUM_ROWS
    threads down each column (coalesced rows), then a shared-memory tree."""
    nbt = numba.from_dtype(dtype)
    zero = dtype.type(0)
    derive = _derivative(mask_act, dtype)
    masked = mask_act is not None

    def column_sum(g, y, total, slope):
        rows, cols = g.shape
        partial = cuda.shared.array((SUM_ROWS, SUM_COLS), nbt)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        c = cuda.blockIdx.x * SUM_COLS + tx
        s = zero
        if c < cols:
            for r in range(ty, rows, SUM_ROWS):
                v = g[r, c]
                if masked:
                    v = derive(v, y[r, c], slope)
                s += v
        partial[ty, tx] = s
        cuda.syncthreads()
        step = SUM_ROWS // 2
        while step > 0:
            if ty < step:
                partial[ty, tx] += partial[ty + step, tx]
            cuda.syncthreads()
            step //= 2
        if ty == 0 and c < cols:
            total[c] = partial[0, tx]

    return cuda.jit(_signature(dtype, "m", "m", "v", "s"))(column_sum)


def _column_sum(g, y, act, slope, total):
    """total = (g * act'(y)).sum(0) (zeros for an empty batch), one launch."""
    cols = total.shape[0]
    if cols == 0:
        return
    dtype = np.dtype(g.dtype)
    kernel = _column_sum_kernel(dtype, act)
    blocks = -(-cols // SUM_COLS)
    kernel[blocks, (SUM_COLS, SUM_ROWS)](g, g if y is None else y, total, dtype.type(slope))
    _launch.count()


# -- the kernels of the spec ------------------------------------------------------


def _prologue(side, y, act, slope):
    """_gemm's arguments masking the operand on ``side`` by act'(y); none for act None."""
    if act is None:
        return {}
    return dict(y=y, mask=side, mask_act=act, slope=slope)


def linear(x, weight, bias, out):
    """out = x @ weight.T + bias (bias may be None): one launch."""
    _gemm(x, False, weight, True, out, bias=bias)


def linear_act(x, weight, bias, act, negative_slope, out):
    """out = act(x @ weight.T + bias), the activation in the GEMM's epilogue."""
    _gemm(x, False, weight, True, out, bias=bias, act=act, slope=negative_slope)


def linear_backward(x, weight, grad_out, grad_x, grad_weight, grad_bias):
    """Gradients of linear; a grad_* that is None is not computed."""
    linear_act_backward(x, weight, None, grad_out, None, 0.0, grad_x, grad_weight, grad_bias)


def linear_act_backward(
    x, weight, out, grad_out, act, negative_slope, grad_x, grad_weight, grad_bias
):
    """Gradients of linear_act: grad_out masked by act'(out) as the GEMMs load it.

    grad_x = g @ weight; grad_weight = g.T @ x with grad_bias = g.sum(0) fused into it
    (the bias gradient takes a launch of its own only when grad_weight is None).
    """
    prologue = _prologue("a", out, act, negative_slope)
    if grad_x is not None:
        _gemm(grad_out, False, weight, False, grad_x, **prologue)
    # the bias sums ride on the blocks of grad_weight's first tile column, if any
    fused = grad_weight is not None and grad_bias is not None and grad_weight.shape[1] > 0
    if grad_weight is not None:
        sums = dict(sums=grad_bias, fused_sum="a") if fused else {}
        _gemm(grad_out, True, x, False, grad_weight, **prologue, **sums)
    if grad_bias is not None and not fused:
        _column_sum(grad_out, out, act, negative_slope, grad_bias)


def _operand(array):
    """(C-contiguous base, transposed) of a C-contiguous matrix or a transposed view."""
    if not hasattr(array, "is_c_contiguous"):
        array = cuda.as_cuda_array(array)
    if array.is_c_contiguous():
        return array, False
    base = views.permute(array, (1, 0))  # a view: DeviceNDArray.T would copy
    if base.is_c_contiguous():
        return base, True
    raise ValueError(
        "gemm operands must be C-contiguous or a transposed view of a C-contiguous array; "
        f"got shape {array.shape} with strides {array.strides}"
    )


def gemm_bias_act(a, b, bias, act, negative_slope, out):
    """out = act(a @ b + bias): one launch, a and b read in place (transposed or not)."""
    a_base, trans_a = _operand(a)
    b_base, trans_b = _operand(b)
    _gemm(a_base, trans_a, b_base, trans_b, out, bias=bias, act=act, slope=negative_slope)


def gemm_bias_act_backward(a, b, out, grad_out, act, negative_slope, grad_a, grad_b, grad_bias):
    """Gradients of gemm_bias_act; grad_out masked by act'(out) as it is loaded.

    grad_a = g @ b.T; grad_b = a.T @ g with grad_bias = g.sum(0) fused into it (a launch
    of its own only when grad_b is None).
    """
    if grad_a is not None:
        b_base, trans_b = _operand(b)
        prologue = _prologue("a", out, act, negative_slope)
        _gemm(grad_out, False, b_base, not trans_b, grad_a, **prologue)
    # the bias sums ride on the blocks of grad_b's first tile row, if any
    fused = grad_b is not None and grad_bias is not None and grad_b.shape[0] > 0
    if grad_b is not None:
        a_base, trans_a = _operand(a)
        sums = dict(sums=grad_bias, fused_sum="b") if fused else {}
        prologue = _prologue("b", out, act, negative_slope)
        _gemm(a_base, not trans_a, grad_out, False, grad_b, **prologue, **sums)
    if grad_bias is not None and not fused:
        _column_sum(grad_out, out, act, negative_slope, grad_bias)
