"""Reference scaled dot-product attention: the (L, S) scores in full, then softmax.

Shape legend: q (B,L,E), k (B,S,E), v (B,S,Ev), mask None or (MB,L,S) additive,
out (B,L,Ev), lse (B,L).
"""

from __future__ import annotations

import numpy as np


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


def attention_forward(q, k, v, mask, scale, causal, out, lse):
    """out = softmax(q k^T * scale + mask) v; lse the log-sum-exp of each row."""
    s = _scores(q, k, mask, scale, causal)
    m = s.max(axis=2)
    live = ~np.isneginf(m)
    with np.errstate(divide="ignore"):
        total = np.exp(s - np.where(live, m, 0.0)[..., None]).sum(axis=2)
        lse[...] = np.where(live, m + np.log(total), -np.inf)
    out[...] = np.matmul(_probabilities(s, lse), v)


def attention_backward(q, k, v, mask, scale, causal, out, lse, grad_out, grad_q, grad_k, grad_v):
    """The gradients of attention_forward's out with respect to q, k and v."""
    scale = q.dtype.type(scale)
    p = _probabilities(_scores(q, k, mask, scale, causal), lse)
    grad_v[...] = np.matmul(p.transpose(0, 2, 1), grad_out)
    dp = np.matmul(grad_out, v.transpose(0, 2, 1))
    d = (grad_out * out).sum(axis=2, keepdims=True)
    ds = p * (dp - d)
    grad_q[...] = np.matmul(ds, k) * scale
    grad_k[...] = np.matmul(ds.transpose(0, 2, 1), q) * scale
