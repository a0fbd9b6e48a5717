"""Scaled dot-product attention, as ``torch.nn.functional.scaled_dot_product_attention``.

Shape legend: query (..., L, E), key (..., S, E), value (..., S, Ev), out (..., L, Ev);
the leading dims broadcast and are flattened to one batch dim B for the kernels.

The op is one fused kernel pair (``attention_forward`` / ``attention_backward``): the
forward saves the output and one log-sum-exp per query, the backward recomputes the
scores tile by tile, so no (L, S) array is kept between the passes. Dropout takes a
seed and an offset of the default generator's Philox stream (one word per score), and
the backward regenerates the mask from them. Double backward forms the weights
explicitly (:func:`attention_weights`) from differentiable ops.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl import random as _random
from fastdl.autograd.function import Function
from fastdl.errors import ShapeError
from fastdl.ops._util import contiguous, empty, reshape_array
from fastdl.tensor import Tensor


class _Attention(Function):
    """out = kernel(q, k, v, mask, scale, causal, *dropout) on (B, L, E) views of the
    inputs; ``dropout`` is (dropout_p, seed, offset)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, scale, causal, dropout, batch):
        b = math.prod(batch)
        q3 = reshape_array(contiguous(q), (b, *q.shape[-2:]))
        k3 = reshape_array(contiguous(k), (b, *k.shape[-2:]))
        v3 = reshape_array(contiguous(v), (b, *v.shape[-2:]))
        out = empty((b, q3.shape[1], v3.shape[2]), q.dtype)
        lse = empty((b, q3.shape[1]), q.dtype)
        ctx.backend.attention_forward(q3, k3, v3, mask, scale, causal, *dropout, out, lse)
        ctx.save_for_backward(q3, k3, v3, mask, out, lse)
        ctx.options = (scale, causal, *dropout)
        ctx.shapes = (q.shape, k.shape, v.shape)
        return reshape_array(out, (*batch, q3.shape[1], v3.shape[2]))

    @staticmethod
    def backward(ctx, grad):
        q, k, v, mask, out, lse = ctx.saved
        grads = tuple(empty(a.shape, a.dtype) for a in (q, k, v))
        grad = reshape_array(contiguous(grad), out.shape)
        ctx.backend.attention_backward(q, k, v, mask, *ctx.options, out, lse, grad, *grads)
        shaped = tuple(
            ctx.give(reshape_array(g, shape)) if need else None
            for g, shape, need in zip(grads, ctx.shapes, ctx.needs_input_grad[:3], strict=True)
        )
        return (*shaped, None, None, None, None, None)

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        from fastdl.autograd import grad as autograd_grad

        q, k, v, mask, scale, causal, dropout, batch = inputs
        if mask is not None:
            mask = mask.reshape(*batch, *mask.shape[1:]) if mask.shape[0] > 1 else mask[0]
        wanted = [t for t, need in zip((q, k, v), ctx.needs_input_grad[:3], strict=True) if need]
        weights = attention_weights(q, k, mask, scale, causal)
        if dropout[0] > 0:
            weights = weights * _dropout_factors(ctx.backend, weights.shape, q.dtype, *dropout)
        out = weights @ v
        found = iter(autograd_grad(out, wanted, grad, create_graph=True, allow_unused=True))
        grads = [next(found) if need else None for need in ctx.needs_input_grad[:3]]
        return (*grads, None, None, None, None, None)


def _dropout_factors(backend: Any, shape: tuple, dtype: Any, p: float, seed: int, offset: int):
    """The kernels' dropout factors z (keep / (1 - p)) as a Tensor of ``shape``: the same
    Philox words, (b * L + i) * S + j past ``offset``, as philox_bernoulli draws."""
    keep = empty((math.prod(shape),), dtype)
    backend.philox_bernoulli(seed, offset, 1.0 - p, keep)
    z = Tensor._wrap(reshape_array(keep, tuple(shape)))
    return z * (0.0 if p == 1.0 else 1.0 / (1.0 - p))


class _ArgumentError(ValueError, RuntimeError):
    """A bad argument combination (PyTorch raises RuntimeError for these)."""


def attention_weights(query: Tensor, key: Tensor, mask: Any, scale: float, causal: bool) -> Tensor:
    """softmax(query key^T * scale + mask) with the causal keys excluded, as a Tensor of
    shape (..., L, S); ``mask`` is None or an additive float array or Tensor broadcast
    against the scores. A query with every key excluded gets weights 0 (as PyTorch)."""
    import fastdl

    scores = (query @ key.transpose(-2, -1)) * scale
    if mask is not None:
        scores = scores + (mask if isinstance(mask, Tensor) else Tensor._wrap(mask))
    if causal:
        lq, s = scores.shape[-2:]
        later = fastdl.ones(lq, s, dtype=scores.dtype, device=query.device).triu(1) > 0
        scores = scores.masked_fill(later, float("-inf"))
    top = scores.amax(dim=-1, keepdim=True).detach()
    dead = top == float("-inf")
    weights = (scores - fastdl.where(dead, 0.0, top)).exp()
    total = weights.sum(dim=-1, keepdim=True)
    return weights / fastdl.where(dead, 1.0, total)


def _check(query: Any, key: Any, value: Any, attn_mask: Any, dropout_p: Any) -> None:
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"scaled_dot_product_attention: {name} must be a Tensor, got {type(t).__name__}"
            )
        if not dtypes.is_floating(t.dtype) or t.dtype != query.dtype:
            raise TypeError(
                f"scaled_dot_product_attention: query, key and value must share one floating "
                f"dtype, got {query.dtype}, {key.dtype} and {value.dtype}"
            )
        if t.ndim < 2:
            raise ShapeError(
                f"scaled_dot_product_attention: {name} must have at least 2 dims (..., L, E), "
                f"got shape {tuple(t.shape)}"
            )
    if key.shape[-1] != query.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(
            "scaled_dot_product_attention: expected query (..., L, E), key (..., S, E) and "
            f"value (..., S, Ev), got {tuple(query.shape)}, {tuple(key.shape)} and "
            f"{tuple(value.shape)}"
        )
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise TypeError(
                "scaled_dot_product_attention: attn_mask must be a Tensor or None, got "
                f"{type(attn_mask).__name__}"
            )
        if attn_mask.dtype != dtypes.bool and attn_mask.dtype != query.dtype:
            raise TypeError(
                "scaled_dot_product_attention: attn_mask must be bool or of query's dtype "
                f"{query.dtype}, got {attn_mask.dtype}"
            )
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, int | float):
        raise TypeError(
            f"scaled_dot_product_attention: dropout_p must be a float, got {dropout_p!r}"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(
            f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}"
        )


def _broadcast(shapes: list[tuple], what: str) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            f"scaled_dot_product_attention: {what} do not broadcast: {shapes}"
        ) from None


def _additive_mask(attn_mask: Tensor, batch: tuple, lq: int, s: int, dtype: Any) -> Tensor:
    """attn_mask as a float (MB, L, S) Tensor, MB 1 when it is the same for the whole
    batch: 0 where a key takes part, -inf (bool False) or the mask's value elsewhere."""
    shape = tuple(attn_mask.shape)
    full = _broadcast([shape, (*batch, lq, s)], "attn_mask and the scores (..., L, S)")
    if full != (*batch, lq, s):
        raise ShapeError(
            f"scaled_dot_product_attention: attn_mask of shape {shape} does not broadcast "
            f"to the scores' shape {(*batch, lq, s)}"
        )
    mask = attn_mask
    if mask.dtype == dtypes.bool:
        import fastdl

        zeros = fastdl.zeros(shape, dtype=dtype, device=mask.device)
        mask = zeros.masked_fill(mask.logical_not(), float("-inf"))
    lead = shape[:-2] if len(shape) >= 2 else ()
    if math.prod(lead) == 1:
        mask = mask.reshape(shape[-2:] if len(shape) >= 2 else shape).expand(lq, s)
        return mask.reshape(1, lq, s)
    return mask.expand(*batch, lq, s).reshape(math.prod(batch), lq, s)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(query key^T * scale + attn_mask) value, as PyTorch's.

    ``attn_mask``: bool (True: the key takes part) or float (added to the scores),
    broadcastable to (..., L, S). ``is_causal``: query i sees keys 0..i (top-left
    aligned); not together with ``attn_mask``. ``scale`` defaults to 1/sqrt(E).
    ``enable_gqa``: key and value may have fewer heads (dim -3) than query, a divisor
    of its heads. Dropout is applied whenever ``dropout_p > 0`` (pass
    ``dropout_p if training else 0.0``, as with PyTorch); its mask comes from the
    default generator (``fastdl.manual_seed``). The fused kernels never form the
    (L, S) score matrix.

    Example::

        q = fastdl.randn(2, 4, 128, 64)  # (batch, heads, L, E)
        out = F.scaled_dot_product_attention(q, q, q, is_causal=True)  # (2, 4, 128, 64)
    """
    _check(query, key, value, attn_mask, dropout_p)
    if is_causal and attn_mask is not None:
        raise _ArgumentError(
            "scaled_dot_product_attention: explicit attn_mask should not be set when is_causal=True"
        )
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        heads, kv_heads = query.shape[-3], key.shape[-3]
        if kv_heads == 0 or heads % kv_heads or value.shape[-3] != kv_heads:
            raise ShapeError(
                f"scaled_dot_product_attention: with enable_gqa, query's heads ({heads}) must "
                f"be a multiple of key's and value's ({kv_heads}, {value.shape[-3]})"
            )
        key = key.repeat_interleave(heads // kv_heads, dim=-3)
        value = value.repeat_interleave(heads // kv_heads, dim=-3)
    lq, s = query.shape[-2], key.shape[-2]
    batch = _broadcast(
        [tuple(t.shape[:-2]) for t in (query, key, value)], "the batch dims of query, key, value"
    )
    mask = None if attn_mask is None else _additive_mask(attn_mask, batch, lq, s, query.dtype)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    query, key, value = (
        t if tuple(t.shape[:-2]) == batch else t.expand(*batch, *t.shape[-2:])
        for t in (query, key, value)
    )
    dropout: tuple = (0.0, 0, 0)
    if dropout_p > 0.0:
        words = math.prod(batch) * lq * s
        dropout = (float(dropout_p), *_random.default_generator._reserve(words))
    if mask is not None:
        mask = mask.detach().contiguous()
    return _Attention.apply(query, key, value, mask, scale, bool(is_causal), dropout, batch)
