"""Reference scaled dot-product attention: the (L, S) scores in full, then softmax.

Shape legend: q (B,L,E), k (B,S,E), v (B,S,Ev), mask None or (MB,L,S) additive,
out (B,L,Ev), lse (B,L).
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.reference.random import philox_words


def _scores(q, k, mask, scale, causal):
    s = np.matmul(q, k.transpose(0, 2, 1)) * q.dtype.type(scale)
    if mask is not None:
        s = s + mask
    if causal:
        lq, sk = s.shape[1], s.shape[2]
        s = np.where(np.tri(lq, sk, dtype=bool), s, -np.inf)
    return s


def _probabilities(s, lse):
    """exp(s - lse), 0 where a row has no key (lse = -inf)."""
    dead = np.isneginf(lse)[..., None]
    with np.errstate(invalid="ignore"):
        return np.where(dead, 0.0, np.exp(s - np.where(dead, 0.0, lse[..., None]))).astype(s.dtype)


def _dropout_scale(shape, dtype, dropout_p, seed, offset):
    """z = keep / (1 - dropout_p) from the Philox words, None without dropout."""
    if dropout_p == 0:
        return None
    words = philox_words(seed, offset, int(np.prod(shape))).reshape(shape)
    keep = (words >> 8).astype(np.float64) * 2.0**-24 < 1.0 - float(dropout_p)
    scale = 0.0 if dropout_p == 1 else 1.0 / (1.0 - float(dropout_p))
    return keep.astype(dtype) * np.dtype(dtype).type(scale)


def attention_forward(q, k, v, mask, scale, causal, dropout_p, seed, offset, out, lse):
    """out = (softmax(q k^T * scale + mask) * z) v; lse the log-sum-exp of each row."""
    s = _scores(q, k, mask, scale, causal)
    m = s.max(axis=2)
    live = ~np.isneginf(m)
    with np.errstate(divide="ignore"):
        total = np.exp(s - np.where(live, m, 0.0)[..., None]).sum(axis=2)
        lse[...] = np.where(live, m + np.log(total), -np.inf)
    p = _probabilities(s, lse)
    z = _dropout_scale(s.shape, q.dtype, dropout_p, seed, offset)
    out[...] = np.matmul(p if z is None else p * z, v)


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
    """The gradients of attention_forward's out with respect to q, k and v."""
    scale = q.dtype.type(scale)
    p = _probabilities(_scores(q, k, mask, scale, causal), lse)
    z = _dropout_scale(p.shape, q.dtype, dropout_p, seed, offset)
    grad_v[...] = np.matmul((p if z is None else p * z).transpose(0, 2, 1), grad_out)
    dp = np.matmul(grad_out, v.transpose(0, 2, 1))
    if z is not None:
        dp = dp * z
    d = (grad_out * out).sum(axis=2, keepdims=True)
    ds = p * (dp - d)
    grad_q[...] = np.matmul(ds, k) * scale
    grad_k[...] = np.matmul(ds.transpose(0, 2, 1), q) * scale
