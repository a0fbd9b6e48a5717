"""Numba scaled dot-product attention, blocked with an online softmax (FlashAttention-2).

Shape legend: q (B,L,E), k (B,S,E), v (B,S,Ev), mask None or (MB,L,S) additive,
out (B,L,Ev), lse (B,L); tiles of BLOCK queries by BLOCK keys.

* **Forward**, in parallel over (batch, query tile): for each key tile the scores of
  the tile (BLOCK x BLOCK, one small GEMM) update a running row maximum ``m``, row
  sum ``l`` and the unnormalised output; the output is divided by ``l`` at the end and
  ``lse = m + log(l)`` is saved. Causal tiles past the diagonal are skipped.
* **Backward**, in parallel over the batch: per key tile, the query tiles are walked,
  their probabilities recomputed from ``lse`` (``p = exp(s - lse)``), and grad_k,
  grad_v of the key tile accumulate locally while grad_q accumulates in place.

Nothing of size L x S is ever allocated: memory is O(BLOCK^2) per thread beyond the
inputs and outputs. The tile GEMMs are ``np.dot`` (BLAS) on float32/float64 blocks.

Threads: the kernels are ``nogil`` and the tasks are dealt out to a small pool of
Python threads (``fastdl.get_num_threads()``, the caller's thread included), not to a
Numba ``parallel=True`` region: Numba's OpenMP layer, once loaded, made torch's
attention in the same process 10x slower, and idle pool threads wait without
spinning, so they take no cycles from OpenBLAS either.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from fastdl.backends import _jit_cache
from fastdl.backends.cpu.random import _2POW_M24, _fill_words
from fastdl.threads import get_num_threads

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too

BLOCK = 64


@njit(cache=True)
def _mask_tile(s, mask, mb, i0, j0, causal):
    """Add the mask and exclude causal keys in the score tile s at (i0, j0)."""
    nq, nk = s.shape
    if mask.shape[0] > 0:
        mt = mask[mb]
        for r in range(nq):
            for c in range(nk):
                s[r, c] += mt[i0 + r, j0 + c]
    if causal and j0 + nk - 1 > i0:
        for r in range(nq):
            for c in range(max(0, i0 + r + 1 - j0), nk):
                s[r, c] = -np.inf


@njit(cache=True)
def _dropout_tile(z, words, drop, b, lq, sk, i0, j0):
    """z[r, c] = the dropout factor of query i0 + r and key j0 + c (see the spec)."""
    threshold, zscale, k0, k1, offset = drop
    nq, nk = z.shape
    for r in range(nq):
        start = offset + np.uint64((b * lq + i0 + r) * sk + j0)
        _fill_words(k0, k1, start, words[:nk])
        for c in range(nk):
            u = np.float64(words[c] >> np.uint32(8)) * _2POW_M24
            z[r, c] = zscale if u < threshold else 0


@njit(cache=True, nogil=True, error_model="numpy")
def _forward(q, k, v, mask, scale, causal, dropping, drop, out, lse, first, stride):
    b_count, lq, _ = q.shape
    sk, ev = k.shape[1], v.shape[2]
    tiles = (lq + BLOCK - 1) // BLOCK
    for t in range(first, b_count * tiles, stride):
        b = t // tiles
        i0 = (t % tiles) * BLOCK
        i1 = min(lq, i0 + BLOCK)
        nq = i1 - i0
        mb = b if mask.shape[0] > 1 else 0
        qb = np.ascontiguousarray(q[b, i0:i1])
        acc = np.zeros((nq, ev), q.dtype)
        m = np.full(nq, -np.inf, q.dtype)
        ls = np.zeros(nq, q.dtype)
        z = np.empty((BLOCK, BLOCK), q.dtype)
        words = np.empty(BLOCK, np.uint32)
        stop = min(sk, i1) if causal else sk
        for j0 in range(0, stop, BLOCK):
            j1 = min(stop, j0 + BLOCK)
            s = np.dot(qb, np.ascontiguousarray(k[b, j0:j1]).T)
            s *= scale
            _mask_tile(s, mask, mb, i0, j0, causal)
            for r in range(nq):
                row = s[r]
                top = m[r]
                for c in range(row.shape[0]):
                    if row[c] > top:
                        top = row[c]
                if top == -np.inf:
                    row[:] = 0
                    continue
                alpha = math.exp(m[r] - top)
                total = 0.0
                for c in range(row.shape[0]):
                    e = math.exp(row[c] - top)
                    row[c] = e
                    total += e
                ls[r] = ls[r] * alpha + total
                m[r] = top
                if alpha != 1.0:
                    acc[r] *= alpha
            if dropping:
                zt = z[:nq, : j1 - j0]
                _dropout_tile(zt, words, drop, b, lq, sk, i0, j0)
                s *= zt
            acc += np.dot(s, np.ascontiguousarray(v[b, j0:j1]))
        for r in range(nq):
            if ls[r] > 0:
                out[b, i0 + r] = acc[r] / ls[r]
                lse[b, i0 + r] = m[r] + math.log(ls[r])
            else:
                out[b, i0 + r] = 0
                lse[b, i0 + r] = -np.inf


@njit(cache=True, nogil=True, error_model="numpy")
def _backward(
    q,
    k,
    v,
    mask,
    scale,
    causal,
    dropping,
    drop,
    out,
    lse,
    grad_out,
    grad_q,
    grad_k,
    grad_v,
    first,
    stride,
):
    b_count, lq, _ = q.shape
    sk = k.shape[1]
    z = np.empty((BLOCK, BLOCK), q.dtype)
    words = np.empty(BLOCK, np.uint32)
    for b in range(first, b_count, stride):
        mb = b if mask.shape[0] > 1 else 0
        d = np.empty(lq, q.dtype)
        for i in range(lq):
            d[i] = np.dot(grad_out[b, i], out[b, i])
        grad_q[b] = 0
        for j0 in range(0, sk, BLOCK):
            j1 = min(sk, j0 + BLOCK)
            kb = np.ascontiguousarray(k[b, j0:j1])
            vb = np.ascontiguousarray(v[b, j0:j1])
            dk = np.zeros(kb.shape, q.dtype)
            dv = np.zeros(vb.shape, q.dtype)
            for i0 in range(j0 if causal else 0, lq, BLOCK):
                i1 = min(lq, i0 + BLOCK)
                qb = np.ascontiguousarray(q[b, i0:i1])
                gb = np.ascontiguousarray(grad_out[b, i0:i1])
                p = np.dot(qb, kb.T)
                p *= scale
                _mask_tile(p, mask, mb, i0, j0, causal)
                for r in range(i1 - i0):
                    top = lse[b, i0 + r]
                    row = p[r]
                    if top == -np.inf:
                        row[:] = 0
                    else:
                        for c in range(row.shape[0]):
                            row[c] = math.exp(row[c] - top)
                ds = np.dot(gb, vb.T)
                if dropping:
                    zt = z[: i1 - i0, : j1 - j0]
                    _dropout_tile(zt, words, drop, b, lq, sk, i0, j0)
                    dv += np.dot((p * zt).T, gb)
                    ds *= zt
                else:
                    dv += np.dot(p.T, gb)
                for r in range(i1 - i0):
                    dr = d[i0 + r]
                    for c in range(ds.shape[1]):
                        ds[r, c] = p[r, c] * (ds[r, c] - dr) * scale
                grad_q[b, i0:i1] += np.dot(ds, kb)
                dk += np.dot(ds.T, qb)
            grad_k[b, j0:j1] = dk
            grad_v[b, j0:j1] = dv


# Below this many multiply-adds a call runs on the caller's thread alone: handing
# work to the pool costs tens of microseconds.
PARALLEL_MIN_WORK = 1 << 18

_pool: list = [None, None]  # (process id, ThreadPoolExecutor): a fork gets a new pool


def _executor(workers: int) -> ThreadPoolExecutor:
    pid, pool = _pool
    if pool is None or pid != os.getpid() or pool._max_workers < workers:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastdl-attention")
        _pool[:] = [os.getpid(), pool]
    return pool


_blas: list = []  # threadpoolctl's controllers of the loaded BLAS libraries


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS single-threaded for a while: the tile GEMMs run on the pool's threads, and
    a BLAS spreading a 64 x 64 x 128 tile over its own threads from each of them ran
    the whole kernel 10-20x slower."""
    if not _blas:
        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS that Numba's np.dot calls)
        from threadpoolctl import ThreadpoolController

        _blas.extend(ThreadpoolController().select(user_api="blas").lib_controllers)
    saved = [lib.num_threads for lib in _blas]
    for lib in _blas:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(_blas, saved, strict=True):
            lib.set_num_threads(n)


def _run(kernel, tasks: int, work: int, *args) -> None:
    """kernel(*args, first, stride) over ``tasks`` tasks: thread r of n takes tasks
    r, r + n, ... (interleaved, so causal tiles of unequal cost balance out)."""
    n = min(get_num_threads(), tasks) if work >= PARALLEL_MIN_WORK else 1
    if n <= 1:
        kernel(*args, 0, 1)
        return
    with _one_blas_thread():
        futures = [_executor(n - 1).submit(kernel, *args, r, n) for r in range(1, n)]
        kernel(*args, 0, n)
        for f in futures:
            f.result()


def _work(q, k, v):
    return q.shape[0] * q.shape[1] * k.shape[1] * (q.shape[2] + v.shape[2])


def _mask_array(mask, q):
    return np.empty((0, 1, 1), q.dtype) if mask is None else mask


def _dropout(dropout_p, seed, offset, dtype):
    """(dropping, (threshold, z scale, key low, key high, offset)) for the kernels."""
    p = float(dropout_p)
    zscale = np.dtype(dtype).type(0.0 if p == 1.0 else 1.0 / (1.0 - p))
    seed = int(seed)
    key = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32 & 0xFFFFFFFF)
    return p > 0.0, (1.0 - p, zscale, *key, np.uint64(offset))


def attention_forward(q, k, v, mask, scale, causal, dropout_p, seed, offset, out, lse):
    """out = (softmax(q k^T * scale + mask) * z) v and lse per query, tile by tile."""
    if lse.size == 0:
        return
    tasks = q.shape[0] * -(-q.shape[1] // BLOCK)
    mask, scale = _mask_array(mask, q), q.dtype.type(scale)
    args = (q, k, v, mask, scale, bool(causal), *_dropout(dropout_p, seed, offset, q.dtype))
    args += (out, lse)
    _run(_forward, tasks, _work(q, k, v), *args)


def attention_backward(
    q,
    k,
    v,
    mask,
    scale,
    causal,
    dropout_p,
    seed,
    offset,
    out,
    lse,
    grad_out,
    grad_q,
    grad_k,
    grad_v,
):
    """grad_q, grad_k, grad_v of attention_forward, recomputing the scores tile by tile."""
    if q.shape[0] == 0:
        return
    mask, scale = _mask_array(mask, q), q.dtype.type(scale)
    args = (q, k, v, mask, scale, bool(causal), *_dropout(dropout_p, seed, offset, q.dtype))
    args += (out, lse, grad_out, grad_q, grad_k, grad_v)
    _run(_backward, q.shape[0], _work(q, k, v), *args)
