"""Counter-based random numbers: the Philox 4x32-10 stream (Salmon et al., SC'11).

Shape legend: ``n`` the number of values written; every ``out`` is 1-D.

The stream is a function of (seed, word index) alone, so any slice of it can be
computed directly, on any backend, in any order. Word ``w`` of the stream keyed
by ``seed`` is lane ``w % 4`` of the Philox block whose 128-bit counter is
``c = w // 4`` laid out as (c low 32, c high 32, 0, 0), with key
(seed low 32, seed high 32). Raw words, uniforms and Bernoulli masks are
bit-identical on every backend; normals may differ in the last bits.

The arithmetic runs on uint64 arrays so that the 32x32 -> 64-bit products of the
Philox rounds are exact.
"""

from __future__ import annotations

import numpy as np

_MASK32 = 0xFFFFFFFF
_M0 = 0xD2511F53
_M1 = 0xCD9E8D57
_W0 = 0x9E3779B9
_W1 = 0xBB67AE85
_ROUNDS = 10

_2POW_M24 = 2.0**-24
_2POW_M53 = 2.0**-53


def _rounds(x0, x1, x2, x3, k0, k1):
    """Ten Philox rounds on uint64 arrays holding 32-bit lanes; k0, k1 Python ints."""
    for r in range(_ROUNDS):
        if r > 0:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = x0 * np.uint64(_M0)
        p1 = x2 * np.uint64(_M1)
        hi0, lo0 = p0 >> np.uint64(32), p0 & np.uint64(_MASK32)
        hi1, lo1 = p1 >> np.uint64(32), p1 & np.uint64(_MASK32)
        x0, x1, x2, x3 = hi1 ^ x1 ^ np.uint64(k0), lo1, hi0 ^ x3 ^ np.uint64(k1), lo0
    return x0, x1, x2, x3


def philox4x32_10(counter4, key2):
    """One Philox 4x32-10 block: four 32-bit counter words and two key words in,
    four 32-bit words out (as Python ints). For the known-answer tests.

    Example::

        >>> [hex(w) for w in philox4x32_10((0, 0, 0, 0), (0, 0))]
        ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    x = [np.array([int(c) & _MASK32], dtype=np.uint64) for c in counter4]
    out = _rounds(*x, int(key2[0]) & _MASK32, int(key2[1]) & _MASK32)
    return tuple(int(o[0]) for o in out)


def philox_words(seed, offset, n):
    """Words ``offset .. offset + n - 1`` of the stream keyed by ``seed``, as uint32 (n,)."""
    seed, offset, n = int(seed), int(offset), int(n)
    if n <= 0:
        return np.zeros(0, dtype=np.uint32)
    first_block = offset // 4
    last_block = (offset + n - 1) // 4
    c = np.arange(last_block - first_block + 1, dtype=np.uint64) + np.uint64(first_block)
    x0 = c & np.uint64(_MASK32)
    x1 = c >> np.uint64(32)
    zero = np.zeros_like(c)
    blocks = _rounds(x0, x1, zero, zero, seed & _MASK32, (seed >> 32) & _MASK32)
    words = np.stack(blocks, axis=1).reshape(-1)  # lane order within each block
    start = offset - 4 * first_block
    return words[start : start + n].astype(np.uint32)


def _uniform64(words):
    """Float64 uniforms in [0, 1) from word pairs: 27 high bits then 26 bits, 53 in all."""
    a = (words[0::2] >> 5).astype(np.float64)
    b = (words[1::2] >> 6).astype(np.float64)
    return (a * 2.0**26 + b) * _2POW_M53


def philox_uint32(seed, offset, out):
    out[...] = philox_words(seed, offset, out.size)


def philox_uniform(seed, offset, out):
    n = out.size
    if out.dtype == np.float32:
        words = philox_words(seed, offset, n)
        out[...] = (words >> 8).astype(np.float32) * np.float32(_2POW_M24)
    else:
        out[...] = _uniform64(philox_words(seed, offset, 2 * n))


def philox_normal(seed, offset, mean, std, out):
    n = out.size
    pairs = (n + 1) // 2
    words = philox_words(seed, offset, 4 * pairs).reshape(pairs, 4)
    u1 = 1.0 - _uniform64(words[:, 0:2].reshape(-1))  # (0, 1]: log(u1) is finite
    u2 = _uniform64(words[:, 2:4].reshape(-1))
    r = np.sqrt(-2.0 * np.log(u1))
    theta = 2.0 * np.pi * u2
    z = np.empty(2 * pairs, dtype=np.float64)
    z[0::2] = r * np.cos(theta)
    z[1::2] = r * np.sin(theta)
    out[...] = mean + std * z[:n]


def philox_bernoulli(seed, offset, p, out):
    # The float32 uniform (word >> 8) * 2^-24 is exact in float64 too; the test
    # against p is made in float64 so that every backend agrees bit for bit.
    words = philox_words(seed, offset, out.size)
    u = (words >> 8).astype(np.float64) * _2POW_M24
    out[...] = u < float(p)
