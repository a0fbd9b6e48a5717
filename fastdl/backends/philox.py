"""The Philox 4x32-10 block function, one Python body compiled by each backend.

The CPU backend compiles :func:`rounds` with ``numba.njit`` and the CUDA backend with
``cuda.jit(device=True)``, so the two cannot drift apart; the reference
(:mod:`fastdl.backends.reference.random`) keeps its own vectorised NumPy form as the
oracle both are tested against.

All integer arithmetic is on uint64 holding 32-bit lanes (Numba turns uint64 mixed
with a signed integer into float64, so every constant is an ``np.uint64``); the
32x32 -> 64-bit products are exact. On sm_90 each product compiles to one
``IMAD.WIDE.U32``, so the 64-bit form costs nothing over a mulhi/mullo pair.
"""

from __future__ import annotations

import numpy as np

MASK32 = np.uint64(0xFFFFFFFF)
M0 = np.uint64(0xD2511F53)
M1 = np.uint64(0xCD9E8D57)
W0 = np.uint64(0x9E3779B9)
W1 = np.uint64(0xBB67AE85)
_U0 = np.uint64(0)
_U32 = np.uint64(32)


def rounds(c, k0, k1):
    """The four uint64 lanes (< 2**32) of Philox 4x32-10 on counter (c low 32, c high
    32, 0, 0) with key (k0, k1).

    Ten rounds; each multiplies lanes 0 and 2 (32x32 -> 64 bits), xors the high halves
    with the other lanes and the key, and the key is bumped between rounds.
    """
    x0 = c & MASK32
    x1 = c >> _U32
    x2 = _U0
    x3 = _U0
    for r in range(10):
        if r > 0:
            k0 = (k0 + W0) & MASK32
            k1 = (k1 + W1) & MASK32
        p0 = x0 * M0
        p1 = x2 * M1
        x0, x1, x2, x3 = (p1 >> _U32) ^ x1 ^ k0, p1 & MASK32, (p0 >> _U32) ^ x3 ^ k1, p0 & MASK32
    return x0, x1, x2, x3
