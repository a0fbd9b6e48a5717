"""Scaled dot-product attention, forward and backward, as one fused kernel pair.

Shape legend: B batch (batch and heads flattened), L queries, S keys, E query/key
features, Ev value features. ``q`` (B, L, E), ``k`` (B, S, E), ``v`` (B, S, Ev),
``out`` (B, L, Ev), ``lse`` (B, L) the log-sum-exp of each query's scores.
``mask`` is None or an additive float mask (MB, L, S) with MB 1 or B (-inf excludes
a key); ``causal`` excludes key j from query i when j > i (top-left aligned, as
``torch.tril(ones(L, S))``). A query whose keys are all excluded gets out = 0,
lse = -inf and zero gradients. The forward saves only ``out`` and ``lse``: the
backward recomputes the scores, so no backend needs an (L, S) buffer.

Dropout (``dropout_p`` > 0) multiplies each probability by z = keep / (1 - dropout_p)
(0 when dropout_p = 1), keep = 1 when word ``offset + (b * L + i) * S + j`` of the
Philox stream keyed by ``seed`` gives (word >> 8) * 2^-24 < 1 - dropout_p, compared in
float64 (as ``philox_bernoulli``): the backward regenerates the mask, nothing stores it.
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, each, empty, randn, size

_MASKS = ("none", "batched", "shared")


def _inputs(rng, dtype, mask: str, causal: bool, dropout_p: float) -> dict:
    b, lq, s = int(rng.choice((1, 2, 3))), size(rng), size(rng)
    e, ev = int(rng.choice((1, 4, 8))), int(rng.choice((1, 3, 8)))
    args = {
        "q": randn(rng, (b, lq, e), dtype),
        "k": randn(rng, (b, s, e), dtype),
        "v": randn(rng, (b, s, ev), dtype),
        "mask": None,
        "scale": float(1.0 / np.sqrt(e)),
        "causal": causal,
        "dropout_p": dropout_p,
        "seed": int(rng.integers(0, 2**63)),
        "offset": 4 * int(rng.integers(0, 2**30)),
    }
    if mask != "none":
        m = randn(rng, (b if mask == "batched" else 1, lq, s), dtype)
        m[rng.random(m.shape) < 0.3] = -np.inf
        m[:, 0, :] = -np.inf  # a query with every key excluded
        args["mask"] = m
    return args


def _forward_sample(rng, dtype, mask="none", causal=False, dropout_p=0.0):
    args = _inputs(rng, dtype, mask, causal, dropout_p)
    b, lq, ev = args["q"].shape[0], args["q"].shape[1], args["v"].shape[2]
    args.update(out=empty((b, lq, ev), dtype), lse=empty((b, lq), dtype))
    return args


def _backward_sample(rng, dtype, mask="none", causal=False, dropout_p=0.0):
    from fastdl.backends.reference.attention import attention_forward

    args = _inputs(rng, dtype, mask, causal, dropout_p)
    q, k, v = args["q"], args["k"], args["v"]
    out = np.empty((q.shape[0], q.shape[1], v.shape[2]), dtype)
    lse = np.empty(q.shape[:2], dtype)
    drop = (dropout_p, args["seed"], args["offset"])
    attention_forward(q, k, v, args["mask"], args["scale"], causal, *drop, out, lse)
    args.update(
        out=out,
        lse=lse,
        grad_out=randn(rng, out.shape, dtype),
        grad_q=empty(q.shape, dtype),
        grad_k=empty(k.shape, dtype),
        grad_v=empty(v.shape, dtype),
    )
    return args


_OPTIONS = each(mask=_MASKS, causal=(False, True), dropout_p=(0.0, 0.3))

KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "attention_forward",
        "attention",
        ("q", "k", "v", "mask", "scale", "causal", "dropout_p", "seed", "offset", "out", "lse"),
        ("out", "lse"),
        "out = (softmax(q k^T * scale + mask, causal keys excluded) * z) v, row by row, z the "
        "dropout keep-mask scaled by 1/(1-dropout_p); lse = log(sum(exp(scores))) per query "
        "(-inf, and out = 0, when every key is excluded).",
        _forward_sample,
        options=_OPTIONS,
    ),
    Kernel(
        "attention_backward",
        "attention",
        (
            "q",
            "k",
            "v",
            "mask",
            "scale",
            "causal",
            "dropout_p",
            "seed",
            "offset",
            "out",
            "lse",
            "grad_out",
            "grad_q",
            "grad_k",
            "grad_v",
        ),
        ("grad_q", "grad_k", "grad_v"),
        "With p = exp(scores - lse) and z recomputed and D = sum(grad_out * out, row): "
        "grad_v = (p z)^T grad_out, ds = p * (z grad_out v^T - D), grad_q = ds k * scale, "
        "grad_k = ds^T q * scale.",
        _backward_sample,
        options=_OPTIONS,
    ),
)
