"""Counter-based random numbers: the Philox 4x32-10 stream (Numba).

Shape legend: ``n`` the number of values written; every ``out`` is 1-D.

The stream is defined in :mod:`fastdl.backends.reference.random`: word ``w`` is
lane ``w % 4`` of the block with counter (c low 32, c high 32, 0, 0), ``c = w // 4``,
key (seed low 32, seed high 32). Raw words, uniforms and Bernoulli masks match
the reference bit for bit; normals may differ in the last bits (libm).

All integer arithmetic is on uint64 (Numba turns uint64 mixed with a signed int
into float64, so every constant here is an ``np.uint64``); the 32x32 -> 64-bit
Philox products are exact. Conversions to floats go through a small word buffer,
chunk by chunk, so a call allocates nothing in proportion to ``n``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fastdl.backends import _jit_cache, philox
from fastdl.backends.cpu import cext
from fastdl.backends.cpu.cext import random as c_random

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too

_U2 = np.uint64(2)
_U3 = np.uint64(3)

_2POW_M24 = 2.0**-24
_2POW_M53 = 2.0**-53
_2POW_26 = 2.0**26
_TWO_PI = 2.0 * math.pi

_CHUNK = 2048  # words per conversion chunk (8 KiB): a multiple of 4 that stays in L1


_block = njit(cache=True, inline="always")(philox.rounds)


@njit(cache=True)
def _fill_words(k0, k1, offset, out):
    """out[i] = word (offset + i) of the stream; out is uint32 (n,)."""
    n = out.size
    i = 0
    w = offset
    # Head: the rest of a block that the offset starts inside.
    first = np.int64(w & _U3)
    if first != 0 and n > 0:
        x = _block(w >> _U2, k0, k1)
        for lane in range(first, min(4, first + n)):
            out[i] = x[lane]
            i += 1
        w = offset + np.uint64(i)
    # Body: whole blocks, four words each.
    c = w >> _U2
    for b in range((n - i) // 4):
        x0, x1, x2, x3 = _block(c + np.uint64(b), k0, k1)
        j = i + 4 * b
        out[j] = x0
        out[j + 1] = x1
        out[j + 2] = x2
        out[j + 3] = x3
    i += 4 * ((n - i) // 4)
    # Tail: the first words of one more block.
    if i < n:
        x = _block((offset + np.uint64(i)) >> _U2, k0, k1)
        for lane in range(n - i):
            out[i + lane] = x[lane]


@njit(cache=True)
def _uniform64(a, b):
    # a, b uint32 words; the shifts keep 27 and 26 bits, 53 in all.
    return (np.float64(a >> 5) * _2POW_26 + np.float64(b >> 6)) * _2POW_M53


@njit(cache=True)
def _uniform32_inner(k0, k1, offset, out):
    buf = np.empty(_CHUNK, np.uint32)
    n = out.size
    for start in range(0, n, _CHUNK):
        m = min(_CHUNK, n - start)
        _fill_words(k0, k1, offset + np.uint64(start), buf[:m])
        chunk = out[start : start + m]
        for i in range(m):
            chunk[i] = np.float32(buf[i] >> 8) * np.float32(_2POW_M24)


@njit(cache=True)
def _uniform64_inner(k0, k1, offset, out):
    buf = np.empty(_CHUNK, np.uint32)
    n = out.size
    per_chunk = _CHUNK // 2
    for start in range(0, n, per_chunk):
        m = min(per_chunk, n - start)
        _fill_words(k0, k1, offset + np.uint64(2 * start), buf[: 2 * m])
        chunk = out[start : start + m]
        for i in range(m):
            chunk[i] = _uniform64(buf[2 * i], buf[2 * i + 1])


@njit(cache=True)
def _normal_inner(k0, k1, offset, mean, std, out):
    buf = np.empty(_CHUNK, np.uint32)
    n = out.size
    pairs = (n + 1) // 2
    per_chunk = _CHUNK // 4
    for start in range(0, pairs, per_chunk):
        m = min(per_chunk, pairs - start)
        _fill_words(k0, k1, offset + np.uint64(4 * start), buf[: 4 * m])
        for j in range(m):
            q = 4 * j
            u1 = 1.0 - _uniform64(buf[q], buf[q + 1])
            u2 = _uniform64(buf[q + 2], buf[q + 3])
            r = math.sqrt(-2.0 * math.log(u1))
            theta = _TWO_PI * u2
            k = 2 * (start + j)
            out[k] = mean + std * (r * math.cos(theta))
            if k + 1 < n:
                out[k + 1] = mean + std * (r * math.sin(theta))


@njit(cache=True)
def _bernoulli_inner(k0, k1, offset, p, out):
    buf = np.empty(_CHUNK, np.uint32)
    n = out.size
    for start in range(0, n, _CHUNK):
        m = min(_CHUNK, n - start)
        _fill_words(k0, k1, offset + np.uint64(start), buf[:m])
        chunk = out[start : start + m]
        for i in range(m):
            u = np.float64(buf[i] >> 8) * _2POW_M24
            chunk[i] = 1.0 if u < p else 0.0


def _key_offset(seed, offset):
    seed = int(seed)
    return np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32 & 0xFFFFFFFF), np.uint64(offset)


def philox_uint32(seed, offset, out):
    _fill_words(*_key_offset(seed, offset), out)


def philox_uniform(seed, offset, out):
    if out.dtype == np.float32:
        _uniform32_inner(*_key_offset(seed, offset), out)
    else:
        _uniform64_inner(*_key_offset(seed, offset), out)


def philox_normal(seed, offset, mean, std, out):
    _normal_inner(*_key_offset(seed, offset), float(mean), float(std), out)


def philox_bernoulli(seed, offset, p, out):
    _bernoulli_inner(*_key_offset(seed, offset), float(p), out)


# -- the C extension's path (cext/random.py), where the arguments allow --------------


def philox_uint32_cext(seed, offset, out):
    if not c_random.philox_uint32(seed, offset, out):
        philox_uint32(seed, offset, out)


def philox_uniform_cext(seed, offset, out):
    if not c_random.philox_uniform(seed, offset, out):
        philox_uniform(seed, offset, out)


def philox_normal_cext(seed, offset, mean, std, out):
    if not c_random.philox_normal(seed, offset, mean, std, out):
        philox_normal(seed, offset, mean, std, out)


def philox_bernoulli_cext(seed, offset, p, out):
    if not c_random.philox_bernoulli(seed, offset, p, out):
        philox_bernoulli(seed, offset, p, out)


def cext_kernels() -> dict:
    """This family's kernels served through the C extension, by spec name ({} when
    ``cext.available()`` is False): the Philox kernels, C on the common arguments."""
    if not cext.available():
        return {}
    return {
        "philox_uint32": philox_uint32_cext,
        "philox_uniform": philox_uniform_cext,
        "philox_normal": philox_normal_cext,
        "philox_bernoulli": philox_bernoulli_cext,
    }
