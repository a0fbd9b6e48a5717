"""CUDA row-wise softmax kernels.  x, y, out, grad_out, grad_x all (N,C); rows are reduced.

Each kernel is one launch. A row is served by a *row group* of ``32 * W`` threads (W
warps): the group strides over the row's columns (consecutive lanes read consecutive
addresses, so the loads are coalesced), then reduces its per-thread partials with a
butterfly of warp shuffles and, when W > 1, through shared memory, in a fixed order:
the results are deterministic and every thread of the group gets the same value. A
block holds R row groups (R rows). W grows with C (about 16 columns per thread, up to
1024 threads per row), so narrow rows (classifier logits, C = 10) take a warp each,
eight rows per 256-thread block, and wide ones (a 32k vocabulary) a whole block.

The forwards are stable: the row max is subtracted before ``exp``; a NaN anywhere in a
row (and an inf, through inf - inf) makes the row NaN, as in the reference. They read
the row three times (max, sum of exp, write), the second and third times from L1/L2
rather than DRAM for rows that fit there. Sums accumulate in the arrays' dtype.

The row machinery (:func:`row_config`, :func:`row_reduction`, :func:`launch_rows`) is
shared with the fused cross-entropy kernels of :mod:`fastdl.backends.cuda.loss`.

Under the CUDA simulator, which has no warp shuffles, a warp's values are exchanged
through shared memory and each thread runs the same butterfly (the same results), and
the row groups are small (64 threads at most) so the tests cover W = 1 and W > 1, several
rows per block and several blocks.

Example::

    >>> import numpy as np
    >>> from numba import cuda
    >>> out = cuda.device_array((1, 2), np.float64)
    >>> softmax(cuda.to_device(np.array([[0.0, np.log(3.0)]])), out)
    >>> out.copy_to_host().round(6)
    array([[0.25, 0.75]])
"""

from __future__ import annotations

import math
from functools import cache, lru_cache, partial

import numba
import numpy as np
from numba import config, cuda

from fastdl.backends.cuda import _launch

WARP = 32
FULL_MASK = 0xFFFFFFFF
if config.ENABLE_CUDASIM:
    BLOCK, COLUMNS_PER_THREAD, MAX_ROW_THREADS = 64, 2, 64
else:
    BLOCK, COLUMNS_PER_THREAD, MAX_ROW_THREADS = 256, 16, 1024


# -- launch configuration and signatures ------------------------------------------------


@lru_cache(maxsize=4096)
def row_config(c: int) -> tuple[int, int]:
    """(W warps per row, R rows per block) for rows of c columns."""
    warps = 1
    while warps * WARP * COLUMNS_PER_THREAD < c and warps * WARP < MAX_ROW_THREADS:
        warps *= 2
    return warps, max(1, BLOCK // (warps * WARP))


def launch_rows(factory, dtype, n: int, c: int, *args) -> None:
    """Launch the row kernel ``factory(dtype, W, R)`` over n rows of c columns, counted;
    nothing for an empty problem."""
    if n == 0 or c == 0:
        return
    warps, rows = row_config(c)
    kernel = factory(np.dtype(dtype), warps, rows)
    kernel[-(-n // rows), warps * WARP * rows](*args)
    _launch.count()


def signature(dtype, *kinds):
    """A numba signature from 'm' (C-contiguous matrix), 'v' (vector), 's' (scalar) of
    dtype, and 't' (int64 class-target vector)."""
    t = numba.from_dtype(dtype)
    parts = {"m": t[:, ::1], "v": t[::1], "s": t, "t": numba.int64[::1]}
    return numba.void(*(parts[k] for k in kinds))


# -- reductions -------------------------------------------------------------------------


@cuda.jit(device=True, inline=True)
def nan_max(a, b):
    """max(a, b) that keeps a NaN of either, as np.max does."""
    return b if b > a or b != b else a


@cuda.jit(device=True, inline=True)
def add(a, b):
    return a + b


@cache
def _warp_reduction(dtype, op):
    """Device function v -> op over the 32 lanes of the warp, in every lane: a butterfly
    of shuffles (lanes i and i ^ k combine the same two values, so every lane ends with
    the same bits). All lanes must call it."""
    if not config.ENABLE_CUDASIM:

        def warp_reduce(v):
            k = WARP // 2
            while k > 0:
                v = op(v, cuda.shfl_xor_sync(FULL_MASK, v, k))
                k //= 2
            return v

    else:
        # The simulator has no shuffles, and each of its barriers costs milliseconds:
        # one exchange through shared memory, then each thread runs the same butterfly
        # over its warp's values (bit for bit the shuffles' result). Every thread of
        # the block must call it (the callers keep their control flow uniform).
        def warp_reduce(v):
            exchange = cuda.shared.array(1024, dtype)
            t = cuda.threadIdx.x
            exchange[t] = v
            cuda.syncthreads()
            first = t - t % WARP
            lanes = [exchange[first + lane] for lane in range(WARP)]
            cuda.syncthreads()
            k = WARP // 2
            while k > 0:
                lanes = [op(lanes[lane], lanes[lane ^ k]) for lane in range(WARP)]
                k //= 2
            return lanes[t % WARP]

    return cuda.jit(device=True, inline=True)(warp_reduce)


@cache
def row_reduction(dtype, warps, rows, op):
    """Device function v -> op over the row group of the thread, in every thread.

    The warp's butterfly of shuffles, then, for W > 1, lane 0 of each warp
    stores its warp's value in shared memory and every thread combines the W values in
    warp order. Every thread of the block must call it (it may contain barriers); the
    second barrier lets the next reduction reuse the shared buffer.
    """
    warp_reduce = _warp_reduction(dtype, op)
    nbt = numba.from_dtype(dtype)
    slots = rows * warps

    def reduce(v):
        v = warp_reduce(v)
        if warps > 1:
            partial = cuda.shared.array(slots, nbt)
            warp = cuda.threadIdx.x // WARP
            if cuda.threadIdx.x % WARP == 0:
                partial[warp] = v
            cuda.syncthreads()
            first = warp - warp % warps
            v = partial[first]
            for w in range(1, warps):
                v = op(v, partial[first + w])
            cuda.syncthreads()
        return v

    return cuda.jit(device=True, inline=True)(reduce)


@cuda.jit(device=True, inline=True)
def row_position(warps, rows):
    """(row, lane) of this thread: its block's row group, its place in the group."""
    threads = warps * WARP
    return cuda.blockIdx.x * rows + cuda.threadIdx.x // threads, cuda.threadIdx.x % threads


@cache
def row_max_and_sum(dtype, warps, rows):
    """Device function (x, row, lane, live) -> (max, sum(exp(x - max))) of row ``row``;
    threads of a row past the end (live False) take part with neutral values."""
    reduce_max = row_reduction(dtype, warps, rows, nan_max)
    reduce_sum = row_reduction(dtype, warps, rows, add)
    threads = warps * WARP
    neg_inf, zero = dtype.type(-np.inf), dtype.type(0)

    def max_and_sum(x, row, lane, live):
        c = x.shape[1]
        m = neg_inf
        if live:
            for j in range(lane, c, threads):
                m = nan_max(m, x[row, j])
        m = reduce_max(m)
        s = zero
        if live:
            for j in range(lane, c, threads):
                s += math.exp(x[row, j] - m)
        return m, reduce_sum(s)

    return cuda.jit(device=True, inline=True)(max_and_sum)


# -- softmax / log-softmax: forward and backward side by side --------------------------


@cache
def _forward_kernel(log, dtype, warps, rows):
    max_and_sum = row_max_and_sum(dtype, warps, rows)
    threads = warps * WARP

    def forward(x, out):
        n, c = x.shape
        row, lane = row_position(warps, rows)
        live = row < n
        m, s = max_and_sum(x, row, lane, live)
        if live:
            if log:
                lse = math.log(s)
                for j in range(lane, c, threads):
                    out[row, j] = (x[row, j] - m) - lse
            else:
                for j in range(lane, c, threads):
                    out[row, j] = math.exp(x[row, j] - m) / s

    return cuda.jit(signature(dtype, "m", "m"))(forward)


@cache
def _backward_kernel(log, dtype, warps, rows):
    """softmax: dot = sum(g * y), grad_x = y * (g - dot); log-softmax: total = sum(g),
    grad_x = g - exp(y) * total."""
    reduce_sum = row_reduction(dtype, warps, rows, add)
    threads = warps * WARP
    zero = dtype.type(0)

    def backward(y, g, grad_x):
        n, c = y.shape
        row, lane = row_position(warps, rows)
        live = row < n
        s = zero
        if live:
            for j in range(lane, c, threads):
                s += g[row, j] if log else g[row, j] * y[row, j]
        s = reduce_sum(s)
        if live:
            for j in range(lane, c, threads):
                if log:
                    grad_x[row, j] = g[row, j] - math.exp(y[row, j]) * s
                else:
                    grad_x[row, j] = y[row, j] * (g[row, j] - s)

    return cuda.jit(signature(dtype, "m", "m", "m"))(backward)


_SOFTMAX, _LOG_SOFTMAX = partial(_forward_kernel, False), partial(_forward_kernel, True)
_SOFTMAX_BACKWARD = partial(_backward_kernel, False)
_LOG_SOFTMAX_BACKWARD = partial(_backward_kernel, True)


def softmax(x, out):
    """out = exp(x - max) / sum(exp(x - max)), row by row."""
    launch_rows(_SOFTMAX, x.dtype, *x.shape, x, out)


def softmax_backward(y, grad_out, grad_x):
    """grad_x = y * (grad_out - sum(grad_out * y)), y the softmax output."""
    launch_rows(_SOFTMAX_BACKWARD, y.dtype, *y.shape, y, grad_out, grad_x)


def log_softmax(x, out):
    """out = x - max - log(sum(exp(x - max))), row by row."""
    launch_rows(_LOG_SOFTMAX, x.dtype, *x.shape, x, out)


def log_softmax_backward(y, grad_out, grad_x):
    """grad_x = grad_out - exp(y) * sum(grad_out), y the log-softmax output."""
    launch_rows(_LOG_SOFTMAX_BACKWARD, y.dtype, *y.shape, y, grad_out, grad_x)
