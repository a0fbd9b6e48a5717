"""CUDA gradient-clipping kernel: the norm of a flat gradient buffer.

Shape legend: ``P`` flat parameter count; ``x`` is (P,), ``out`` a (1,) float64 array.

One launch, deterministic. Each block runs a grid-stride loop accumulating ``|x|``,
``x * x``, ``|x| ** p`` or the NaN-keeping max of ``|x|`` in float64, reduces its
threads (:func:`fastdl.backends.cuda.softmax.row_reduction` over the whole block) and
stores the block's partial in a scratch vector; the last block to finish (a ticket
taken with ``atomic.inc`` after a ``threadfence``) combines the partials in block
order and writes ``out[0]``. So the result does not depend on block scheduling, and
no second launch is needed. ``atomic.inc`` wraps the ticket back to 0 as the last
block takes it, so the scratch is ready for the next call (or a graph replay) without
a reset. The scratch is allocated once per process; calls on concurrent streams
would share it (the backend launches on one stream).

The grid is capped at one wave of blocks (8 blocks of 256 threads per SM, 132 SMs on
an H100), so a 10M-parameter buffer is read in one pass at memory speed and the last
block combines at most 1056 partials.

Example::

    >>> import numpy as np
    >>> from numba import cuda
    >>> out = cuda.device_array(1)
    >>> grad_norm(cuda.to_device(np.array([3.0, -4.0], np.float32)), 2.0, out)
    >>> out.copy_to_host()
    array([5.])
"""

from __future__ import annotations

import math
from functools import cache

import numba
import numpy as np
from numba import config, cuda

from fastdl.backends.cuda import _launch
from fastdl.backends.cuda.softmax import WARP, add, nan_max, row_reduction

# The simulator runs a Python thread per CUDA thread and its barriers cost milliseconds
# per thread: there, at most two one-warp blocks (the block reductions with several
# warps are those of the row kernels, tested there).
if config.ENABLE_CUDASIM:
    BLOCK, MAX_BLOCKS = 32, 2
else:
    BLOCK, MAX_BLOCKS = 256, 132 * 8

_L1, _L2, _LP, _LINF = 1, 2, 3, 4  # p = 1, p = 2, other finite p, p = inf


def _kind(norm_type: float) -> int:
    if norm_type == math.inf:
        return _LINF
    return {1.0: _L1, 2.0: _L2}.get(norm_type, _LP)


@cache
def _scratch():
    """Per-block partials (float64) and the last-block ticket (uint32, starts at 0)."""
    return cuda.device_array(MAX_BLOCKS, np.float64), cuda.to_device(np.zeros(1, np.uint32))


@cache
def _norm_kernel(kind, dtype):
    f64 = np.dtype(np.float64)
    reduce = row_reduction(f64, BLOCK // WARP, 1, nan_max if kind == _LINF else add)
    zero = 0.0

    def norm(x, p, inv_p, out, partials, ticket):
        acc = zero
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < x.size:
            a = abs(np.float64(x[i]))
            if kind == _LINF:
                acc = nan_max(acc, a)
            elif kind == _L1:
                acc += a
            elif kind == _L2:
                acc += a * a
            else:
                acc += math.pow(a, p)
            i += stride
        acc = reduce(acc)

        blocks = cuda.gridDim.x
        last = cuda.shared.array(1, numba.int32)
        if cuda.threadIdx.x == 0:
            partials[cuda.blockIdx.x] = acc
            cuda.threadfence()  # the partial is visible before the ticket is taken
            last[0] = cuda.atomic.inc(ticket, 0, np.uint32(blocks - 1)) == blocks - 1
        cuda.syncthreads()
        if last[0] == 0:
            return

        # The last block: partials in block order. An atomic read (adding 0) goes to L2,
        # so no stale L1 line of another block's partial can be seen.
        acc = zero
        for b in range(cuda.threadIdx.x, blocks, BLOCK):
            v = cuda.atomic.add(partials, b, zero)
            acc = nan_max(acc, v) if kind == _LINF else acc + v
        acc = reduce(acc)
        if cuda.threadIdx.x == 0:
            if kind == _L2:
                acc = math.sqrt(acc)
            elif kind == _LP:
                acc = math.pow(acc, inv_p)
            out[0] = acc

    t = numba.from_dtype(dtype)
    sig = numba.void(t[::1], numba.float64, numba.float64, numba.float64[::1],
                     numba.float64[::1], numba.uint32[::1])  # fmt: skip
    return cuda.jit(sig)(norm)


def grad_norm(x, norm_type, out):
    """out[0] = (sum |x|^p)^(1/p), or max |x| for p = inf, in float64."""
    p = float(norm_type)
    kernel = _norm_kernel(_kind(p), np.dtype(x.dtype))
    partials, ticket = _scratch()
    blocks = min(max(1, -(-x.size // BLOCK)), MAX_BLOCKS)
    kernel[blocks, BLOCK](x, p, 1.0 / p, out, partials, ticket)
    _launch.count()
