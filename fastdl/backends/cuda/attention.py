"""CUDA scaled dot-product attention: one thread per query row (forward, grad_q) or
per key row (grad_k, grad_v), each with an online softmax over the other side.

Shape legend: q (B,L,E), k (B,S,E), v (B,S,Ev), mask None or (MB,L,S) additive,
out (B,L,Ev), lse (B,L). Like the CPU kernels nothing of size L x S is allocated:
the forward keeps the running maximum and sum in registers and the unnormalised
output in ``out``; the backward recomputes each probability from ``lse``. Simple
rather than fast (no shared-memory tiles): three launches per forward and backward
pair (one forward, two backward).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from numba import cuda

from fastdl.backends import philox
from fastdl.backends.cuda import _launch

_philox = cuda.jit(device=True, inline=True)(philox.rounds)


@cuda.jit(device=True)
def _z(drop, b, i, j, lq, sk):
    """The dropout factor of query i and key j of batch b (see the spec)."""
    threshold, zscale, k0, k1, offset = drop
    w = offset + np.uint64((b * lq + i) * sk + j)
    x0, x1, x2, x3 = _philox(w >> np.uint64(2), k0, k1)
    lane = w & np.uint64(3)
    word = x0 if lane == 0 else (x1 if lane == 1 else (x2 if lane == 2 else x3))
    u = np.float64(word >> np.uint64(8)) * 2.0**-24
    return zscale if u < threshold else 0.0


@cuda.jit(device=True)
def _score(q, k, mask, has_mask, mb, b, i, j, scale, causal):
    if causal and j > i:
        return -math.inf
    s = 0.0
    for e in range(q.shape[2]):
        s += q[b, i, e] * k[b, j, e]
    s *= scale
    if has_mask:
        s += mask[mb, i, j]
    return s


@cuda.jit
def _forward(q, k, v, mask, has_mask, scale, causal, dropping, drop, out, lse):
    t = cuda.grid(1)
    lq, sk, ev = q.shape[1], k.shape[1], v.shape[2]
    if t >= q.shape[0] * lq:
        return
    b, i = t // lq, t % lq
    mb = b if mask.shape[0] > 1 else 0
    for c in range(ev):
        out[b, i, c] = 0
    top, total = -math.inf, 0.0
    for j in range(sk):
        s = _score(q, k, mask, has_mask, mb, b, i, j, scale, causal)
        if s == -math.inf:
            continue
        if s > top:
            alpha = math.exp(top - s)
            total *= alpha
            for c in range(ev):
                out[b, i, c] *= alpha
            top = s
        e = math.exp(s - top)
        total += e
        if dropping:
            e *= _z(drop, b, i, j, lq, sk)
        for c in range(ev):
            out[b, i, c] += e * v[b, j, c]
    if total > 0:
        for c in range(ev):
            out[b, i, c] /= total
        lse[b, i] = top + math.log(total)
    else:
        lse[b, i] = -math.inf


@cuda.jit(device=True)
def _row_d(grad_out, out, b, i):
    d = 0.0
    for c in range(out.shape[2]):
        d += grad_out[b, i, c] * out[b, i, c]
    return d


@cuda.jit(device=True)
def _ds(q, k, v, mask, has_mask, mb, b, i, j, scale, causal, dropping, drop, lse, grad_out, d):
    """(p z, ds) of query i and key j: the kept probability and the score's gradient."""
    if lse[b, i] == -math.inf:
        return 0.0, 0.0
    s = _score(q, k, mask, has_mask, mb, b, i, j, scale, causal)
    if s == -math.inf:
        return 0.0, 0.0
    p = math.exp(s - lse[b, i])
    dp = 0.0
    for c in range(v.shape[2]):
        dp += grad_out[b, i, c] * v[b, j, c]
    z = _z(drop, b, i, j, q.shape[1], k.shape[1]) if dropping else 1.0
    return p * z, p * (dp * z - d)


@cuda.jit
def _backward_q(q, k, v, mask, has_mask, scale, causal, dropping, drop, out, lse, grad_out, grad_q):
    t = cuda.grid(1)
    lq, sk = q.shape[1], k.shape[1]
    if t >= q.shape[0] * lq:
        return
    b, i = t // lq, t % lq
    mb = b if mask.shape[0] > 1 else 0
    d = _row_d(grad_out, out, b, i)
    for e in range(q.shape[2]):
        grad_q[b, i, e] = 0
    for j in range(sk):
        _, ds = _ds(
            q, k, v, mask, has_mask, mb, b, i, j, scale, causal, dropping, drop, lse, grad_out, d
        )
        for e in range(q.shape[2]):
            grad_q[b, i, e] += ds * scale * k[b, j, e]


@cuda.jit
def _backward_kv(
    q, k, v, mask, has_mask, scale, causal, dropping, drop, out, lse, grad_out, grad_k, grad_v
):
    t = cuda.grid(1)
    lq, sk = q.shape[1], k.shape[1]
    if t >= k.shape[0] * sk:
        return
    b, j = t // sk, t % sk
    mb = b if mask.shape[0] > 1 else 0
    for e in range(k.shape[2]):
        grad_k[b, j, e] = 0
    for c in range(v.shape[2]):
        grad_v[b, j, c] = 0
    for i in range(lq):
        d = _row_d(grad_out, out, b, i)
        p, ds = _ds(
            q, k, v, mask, has_mask, mb, b, i, j, scale, causal, dropping, drop, lse, grad_out, d
        )
        for c in range(v.shape[2]):
            grad_v[b, j, c] += p * grad_out[b, i, c]
        for e in range(k.shape[2]):
            grad_k[b, j, e] += ds * scale * q[b, i, e]


@cache
def _placeholder(dtype):
    """A one-element device array standing in for an absent mask."""
    return cuda.device_array((1, 1, 1), dtype=dtype)


def _mask(mask, dtype):
    return (_placeholder(np.dtype(dtype)), False) if mask is None else (mask, True)


def _dropout(dropout_p, seed, offset):
    """(dropping, (threshold, z scale, key low, key high, offset)) for the kernels."""
    p = float(dropout_p)
    seed = int(seed)
    key = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32 & 0xFFFFFFFF)
    return p > 0.0, (1.0 - p, 0.0 if p == 1.0 else 1.0 / (1.0 - p), *key, np.uint64(offset))


def attention_forward(q, k, v, mask, scale, causal, dropout_p, seed, offset, out, lse):
    """out = (softmax(q k^T * scale + mask) * z) v and lse per query, one thread per query."""
    if lse.size == 0:
        return
    mask, has_mask = _mask(mask, q.dtype)
    scale = np.dtype(q.dtype).type(scale)
    args = (q, k, v, mask, has_mask, scale, bool(causal), *_dropout(dropout_p, seed, offset))
    _launch.launch(_forward, lse.size, *args, out, lse)


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
    """grad_q (a thread per query) and grad_k, grad_v (a thread per key) of attention_forward."""
    mask, has_mask = _mask(mask, q.dtype)
    scale = np.dtype(q.dtype).type(scale)
    args = (q, k, v, mask, has_mask, scale, bool(causal), *_dropout(dropout_p, seed, offset))
    args += (out, lse, grad_out)
    if grad_q.size:
        _launch.launch(_backward_q, lse.size, *args, grad_q)
    if grad_k.size or grad_v.size:
        _launch.launch(_backward_kv, k.shape[0] * k.shape[1], *args, grad_k, grad_v)
