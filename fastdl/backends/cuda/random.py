"""Counter-based random numbers on the GPU: the Philox 4x32-10 stream (numba-cuda).

Shape legend: ``n`` the number of values written; every ``out`` is 1-D.

The stream is defined in :mod:`fastdl.backends.reference.random`: word ``w`` is lane
``w % 4`` of the block with counter (c low 32, c high 32, 0, 0), ``c = w // 4``, key
(seed low 32, seed high 32). Raw words, uniforms and Bernoulli masks match the
reference and the CPU bit for bit (integer arithmetic, exact conversions); normals may
differ in the last bits (the GPU's log, sin and cos).

Each CUDA block fills one tile of ``out`` from a window of ``4 * BLOCK`` consecutive
words: thread ``t`` runs Philox block ``t`` of the window into shared memory (one
thread per 4-word block; the ten rounds are all the work), then the threads convert
consecutive words to consecutive outputs, so the global stores are coalesced whatever
the offset. An offset that is not a multiple of 4 starts the window inside a Philox
block; the window then reaches one block further, which thread 0 also runs.

The window's first Philox block is ``offset // 4 + tile * BLOCK`` with exact integers,
so words past 2**64 continue the 128-bit counter as in the reference. All integer
arithmetic is on uint64 holding 32-bit lanes (numba turns uint64 mixed with a signed
integer into float64, so every constant is an ``np.uint64``); the 32x32 -> 64-bit
products of the rounds are exact.

Example::

    >>> from numba import cuda
    >>> out = cuda.device_array(4, np.uint32)
    >>> philox_uint32(0, 0, out)  # block 0 of key 0
    >>> [hex(w) for w in out.copy_to_host()]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
"""

from __future__ import annotations

import math

import numpy as np
from numba import config, cuda

from fastdl.backends import _jit_cache, philox
from fastdl.backends.cuda import _launch

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too

# Threads per block. The simulator runs a Python thread per CUDA thread: there, small
# blocks so that the tests cross tile boundaries cheaply.
BLOCK = 32 if config.ENABLE_CUDASIM else 256
_WINDOW = 4 * BLOCK  # words a block converts
_SHARED_WORDS = _WINDOW + 4  # and the block an unaligned window reaches into

_U5 = np.uint64(5)
_U6 = np.uint64(6)
_U8 = np.uint64(8)

_2POW_M24_F32 = np.float32(2.0**-24)
_2POW_M24 = 2.0**-24
_2POW_M53 = 2.0**-53
_2POW_26 = 2.0**26
_TWO_PI = 2.0 * math.pi


_philox = cuda.jit(device=True, inline=True)(philox.rounds)


@cuda.jit(device=True, inline=True)
def _fill_window(first_block, lane0, k0, k1):
    """Shared uint32 words of this block's window: word j of the window at [lane0 + j]."""
    words = cuda.shared.array(_SHARED_WORDS, np.uint32)
    t = cuda.threadIdx.x
    c = first_block + np.uint64(cuda.blockIdx.x) * np.uint64(BLOCK)
    x0, x1, x2, x3 = _philox(c + np.uint64(t), k0, k1)
    words[4 * t] = x0
    words[4 * t + 1] = x1
    words[4 * t + 2] = x2
    words[4 * t + 3] = x3
    if t == 0 and lane0 != 0:
        x0, x1, x2, x3 = _philox(c + np.uint64(BLOCK), k0, k1)
        words[_WINDOW] = x0
        words[_WINDOW + 1] = x1
        words[_WINDOW + 2] = x2
        words[_WINDOW + 3] = x3
    cuda.syncthreads()
    return words


@cuda.jit(device=True, inline=True)
def _uniform64(a, b):
    # 27 high bits of a, then 26 of b: 53 in all, exact in float64.
    return (np.float64(np.uint64(a) >> _U5) * _2POW_26 + np.float64(np.uint64(b) >> _U6)) * (
        _2POW_M53
    )


# One word per output: out[k] from word offset + k; a block writes 4 * BLOCK outputs.


@cuda.jit(cache=True)
def _words_kernel(out, first_block, lane0, k0, k1):
    words = _fill_window(first_block, lane0, k0, k1)
    base = cuda.blockIdx.x * _WINDOW
    for i in range(4):
        j = cuda.threadIdx.x + i * BLOCK
        if base + j < out.size:
            out[base + j] = words[lane0 + j]


@cuda.jit(cache=True)
def _uniform32_kernel(out, first_block, lane0, k0, k1):
    words = _fill_window(first_block, lane0, k0, k1)
    base = cuda.blockIdx.x * _WINDOW
    for i in range(4):
        j = cuda.threadIdx.x + i * BLOCK
        if base + j < out.size:
            out[base + j] = np.float32(np.uint64(words[lane0 + j]) >> _U8) * _2POW_M24_F32


@cuda.jit(cache=True)
def _bernoulli_kernel(out, first_block, lane0, k0, k1, p):
    words = _fill_window(first_block, lane0, k0, k1)
    base = cuda.blockIdx.x * _WINDOW
    for i in range(4):
        j = cuda.threadIdx.x + i * BLOCK
        if base + j < out.size:
            # The float32 uniform, exact in float64, tested against p in float64.
            u = np.float64(np.uint64(words[lane0 + j]) >> _U8) * _2POW_M24
            out[base + j] = 1.0 if u < p else 0.0


# Two words per output: a block writes 2 * BLOCK outputs.


@cuda.jit(cache=True)
def _uniform64_kernel(out, first_block, lane0, k0, k1):
    words = _fill_window(first_block, lane0, k0, k1)
    base = cuda.blockIdx.x * (2 * BLOCK)
    for i in range(2):
        j = cuda.threadIdx.x + i * BLOCK
        if base + j < out.size:
            out[base + j] = _uniform64(words[lane0 + 2 * j], words[lane0 + 2 * j + 1])


@cuda.jit(cache=True)
def _normal_kernel(out, first_block, lane0, k0, k1, mean, std):
    # Thread t: the pair t of the block, from words 4t .. 4t + 3 of the window.
    words = _fill_window(first_block, lane0, k0, k1)
    q = lane0 + 4 * cuda.threadIdx.x
    k = cuda.blockIdx.x * (2 * BLOCK) + 2 * cuda.threadIdx.x
    if k < out.size:
        u1 = 1.0 - _uniform64(words[q], words[q + 1])  # (0, 1]: log(u1) is finite
        u2 = _uniform64(words[q + 2], words[q + 3])
        r = math.sqrt(-2.0 * math.log(u1))
        theta = _TWO_PI * u2
        out[k] = mean + std * (r * math.cos(theta))
        if k + 1 < out.size:
            out[k + 1] = mean + std * (r * math.sin(theta))


def _run(kernel, seed, offset, words, out, *extra):
    """Launch ``kernel`` for ``out`` from ``words`` words at ``offset``: a thread per 4 words."""
    seed, offset = int(seed), int(offset)
    if not 0 <= offset < 2**64:
        raise OverflowError(f"offset {offset} is outside [0, 2**64)")
    if out.size:
        key = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32 & 0xFFFFFFFF)
        first_block, lane0 = np.uint64(offset >> 2), offset & 3
        _launch.launch(kernel, (words + 3) // 4, out, first_block, lane0, *key, *extra, block=BLOCK)


def philox_uint32(seed, offset, out):
    _run(_words_kernel, seed, offset, out.size, out)


def philox_uniform(seed, offset, out):
    if out.dtype == np.float32:
        _run(_uniform32_kernel, seed, offset, out.size, out)
    else:
        _run(_uniform64_kernel, seed, offset, 2 * out.size, out)


def philox_normal(seed, offset, mean, std, out):
    # Whole pairs: an odd n still draws the last pair's four words, as the reference does.
    pairs = (out.size + 1) // 2
    _run(_normal_kernel, seed, offset, 4 * pairs, out, float(mean), float(std))


def philox_bernoulli(seed, offset, p, out):
    _run(_bernoulli_kernel, seed, offset, out.size, out, float(p))
