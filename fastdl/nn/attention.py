"""nn.MultiheadAttention, as PyTorch's: parameters, state_dict keys, masks and outputs.

Shape legend: L target (query) length, S source (key) length, N batch, E embed_dim,
H heads, hd = E / H. Inputs are (L, N, E) (``batch_first``: (N, L, E); unbatched:
(L, E)). Without attention weights to return the heads go through the fused
``scaled_dot_product_attention`` kernel; with them the weights are formed explicitly,
as PyTorch does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import fastdl
from fastdl import dtypes
from fastdl.errors import ShapeError
from fastdl.nn import init
from fastdl.nn._checks import factory_kwargs, place, positive_int
from fastdl.nn.layers import Linear
from fastdl.nn.module import Module
from fastdl.nn.parameter import Parameter
from fastdl.ops.attention import attention_weights, scaled_dot_product_attention
from fastdl.ops.dropout import dropout as _dropout
from fastdl.tensor import Tensor

NonDynamicallyQuantizableLinear = Linear  # PyTorch's name for out_proj's class


def _float_mask(mask: Tensor | None, name: str, dtype: Any) -> Tensor | None:
    """A bool mask (True: excluded) as an additive float mask; a float mask as it is."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"MultiheadAttention: {name} must be a Tensor or None, got {type(mask)}")
    if mask.dtype == dtypes.bool:
        zeros = fastdl.zeros(tuple(mask.shape), dtype=dtype, device=mask.device)
        return zeros.masked_fill(mask, float("-inf"))
    if not dtypes.is_floating(mask.dtype):
        raise TypeError(f"MultiheadAttention: {name} must be bool or floating, got {mask.dtype}")
    return mask.to(dtype=dtype)


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of ``embed_dim / num_heads`` features, with
    input and output projections (Vaswani et al., 2017), as ``torch.nn.MultiheadAttention``.

    ``forward`` returns ``(output, weights)``: weights (N, L, S) averaged over the
    heads (``average_attn_weights=False``: (N, H, L, S)), or None when
    ``need_weights=False``. ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or
    (N*H, L, S): bool with True meaning *excluded* (the opposite of
    ``scaled_dot_product_attention``'s bool mask, as in PyTorch) or float, added to
    the scores. A query whose keys are all excluded gets weights 0 (PyTorch gives NaN).

    Example::

        mha = nn.MultiheadAttention(64, 4, batch_first=True)
        x = fastdl.randn(2, 10, 64)
        out, weights = mha(x, x, x)  # (2, 10, 64), (2, 10, 10)
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        positive_int("MultiheadAttention", "embed_dim", embed_dim)
        positive_int("MultiheadAttention", "num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                f"num_heads ({num_heads})"
            )
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise TypeError(f"MultiheadAttention: dropout must be a float, got {dropout!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        kdim = embed_dim if kdim is None else positive_int("MultiheadAttention", "kdim", kdim)
        vdim = embed_dim if vdim is None else positive_int("MultiheadAttention", "vdim", vdim)
        device, dtype = factory_kwargs("MultiheadAttention", device, dtype)
        self.embed_dim, self.kdim, self.vdim = embed_dim, kdim, vdim
        self._qkv_same_embed_dim = kdim == embed_dim and vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, float(dropout), batch_first
        self.head_dim = embed_dim // num_heads
        self.add_zero_attn = bool(add_zero_attn)

        def param(*shape: int) -> Parameter:
            return Parameter(np.empty(shape, dtype))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = param(3 * embed_dim, embed_dim)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = param(embed_dim, embed_dim)
            self.k_proj_weight = param(embed_dim, kdim)
            self.v_proj_weight = param(embed_dim, vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = param(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(
            embed_dim, embed_dim, bias=bias, dtype=dtype
        )
        if add_bias_kv:
            self.bias_k, self.bias_v = param(1, 1, embed_dim), param(1, 1, embed_dim)
        else:
            self.register_parameter("bias_k", None)
            self.register_parameter("bias_v", None)
        self._reset_parameters()
        place(self, device)

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _projections(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        e = self.embed_dim
        b = self.in_proj_bias
        biases = (None, None, None) if b is None else (b[:e], b[e : 2 * e], b[2 * e :])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            weights = (w[:e], w[e : 2 * e], w[2 * e :])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return tuple(
            fastdl.nn.functional.linear(x, w, bb)
            for x, w, bb in zip((query, key, value), weights, biases, strict=True)
        )

    def _check(self, query, key, value, key_padding_mask, attn_mask) -> bool:
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"MultiheadAttention: {name} must be a Tensor, got {type(t)}")
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ShapeError(
                "MultiheadAttention: query, key and value must all be 3-D (batched) or 2-D "
                f"(unbatched), got {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        dims = ((query, self.embed_dim, "query", "embed_dim"), (key, self.kdim, "key", "kdim"))
        for t, size, name, what in (*dims, (value, self.vdim, "value", "vdim")):
            if t.shape[-1] != size:
                raise ShapeError(
                    f"MultiheadAttention: {name} must have {size} features ({what}), got "
                    f"shape {tuple(t.shape)}"
                )
        if key.shape[:-1] != value.shape[:-1]:
            raise ShapeError(
                f"MultiheadAttention: key {tuple(key.shape)} and value {tuple(value.shape)} "
                "must agree in all but the last dim"
            )
        seq, batch = (0, 1) if not self.batch_first or not batched else (1, 0)
        lq, s = query.shape[seq], key.shape[seq]
        n = query.shape[batch] if batched else 1
        if batched and key.shape[batch] != n:
            raise ShapeError(
                f"MultiheadAttention: query and key batch sizes differ: {tuple(query.shape)} "
                f"and {tuple(key.shape)}"
            )
        for name, mask in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
            if mask is not None and not isinstance(mask, Tensor):
                raise TypeError(f"MultiheadAttention: {name} must be a Tensor or None")
            if mask is not None and not (
                mask.dtype == dtypes.bool or dtypes.is_floating(mask.dtype)
            ):
                raise TypeError(
                    f"MultiheadAttention: {name} must be bool or floating, got {mask.dtype}"
                )
        if key_padding_mask is not None:
            expected = (n, s) if batched else (s,)
            if tuple(key_padding_mask.shape) != expected:
                raise ShapeError(
                    f"MultiheadAttention: key_padding_mask must have shape {expected}, got "
                    f"{tuple(key_padding_mask.shape)}"
                )
        if attn_mask is not None:
            allowed = ((lq, s), (n * self.num_heads, lq, s))
            if tuple(attn_mask.shape) not in allowed:
                raise ShapeError(
                    f"MultiheadAttention: attn_mask must have shape {allowed[0]} or "
                    f"{allowed[1]}, got {tuple(attn_mask.shape)}"
                )
        return batched

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        batched = self._check(query, key, value, key_padding_mask, attn_mask)
        if is_causal and attn_mask is None:
            raise ValueError(
                "MultiheadAttention: is_causal is a hint that attn_mask is the causal mask; "
                "pass attn_mask too (e.g. nn.Transformer.generate_square_subsequent_mask)"
            )
        if not batched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1).contiguous() for t in (query, key, value))
        out, weights = self._attend(
            query, key, value, key_padding_mask, need_weights, attn_mask, is_causal
        )
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            return out.squeeze(1), None if weights is None else weights.squeeze(0)
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _attend(self, query, key, value, key_padding_mask, need_weights, attn_mask, is_causal):
        """(out (L, N, E), weights (N, H, L, S) or None) of (L|S, N, E) inputs."""
        lq, n, e = query.shape
        h, hd = self.num_heads, self.head_dim
        dtype = query.dtype
        q, k, v = self._projections(query, key, value)
        attn_mask = _float_mask(attn_mask, "attn_mask", dtype)
        key_padding_mask = _float_mask(key_padding_mask, "key_padding_mask", dtype)
        if self.bias_k is not None:
            k = fastdl.cat([k, self.bias_k.expand(1, n, e)])
            v = fastdl.cat([v, self.bias_v.expand(1, n, e)])
            attn_mask = _pad_last(attn_mask)
            key_padding_mask = _pad_last(key_padding_mask)
        # (S, N, E) -> (N*H, S, hd): head h of sample i is row i*H + h, as PyTorch's
        q, k, v = (t.reshape(t.shape[0], n * h, hd).transpose(0, 1) for t in (q, k, v))
        if self.add_zero_attn:
            zeros = fastdl.zeros(n * h, 1, hd, dtype=dtype, device=k.device)
            k, v = fastdl.cat([k, zeros], dim=1), fastdl.cat([v, zeros], dim=1)
            attn_mask = _pad_last(attn_mask)
            key_padding_mask = _pad_last(key_padding_mask)
        s = k.shape[1]
        if key_padding_mask is not None:
            padding = key_padding_mask.reshape(n, 1, 1, s).expand(n, h, 1, s).reshape(n * h, 1, s)
            attn_mask = padding if attn_mask is None else attn_mask + padding
            is_causal = False
        elif is_causal and not need_weights:
            attn_mask = None  # the hint: the fused kernel's causal mask
        p = self.dropout if self.training else 0.0
        if attn_mask is not None and attn_mask.ndim == 3:
            attn_mask = attn_mask.reshape(n, h, *attn_mask.shape[-2:])
        q4, k4, v4 = (t.reshape(n, h, t.shape[1], hd) for t in (q, k, v))
        if need_weights:
            weights = attention_weights(q4, k4, attn_mask, 1.0 / math.sqrt(hd), False)
            dropped = _dropout(weights, p, training=True) if p > 0 else weights
            heads = dropped @ v4
        else:
            weights = None
            heads = scaled_dot_product_attention(
                q4, k4, v4, attn_mask, p, is_causal and attn_mask is None
            )
        out = heads.permute(2, 0, 1, 3).reshape(lq * n, e)
        out = self.out_proj(out).reshape(lq, n, e)
        return out, weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """A zero column appended to the last dim of an additive mask."""
    if mask is None:
        return None
    zeros = fastdl.zeros(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)
    return fastdl.cat([mask, zeros], dim=-1)


__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear"]
