"""A small decoder-only Transformer language model (GPT-style, pre-norm) over characters."""

from __future__ import annotations

import math

import fastdl
from fastdl import nn
from fastdl.models._checks import positive_int
from fastdl.nn import functional as F
from fastdl.tensor import Tensor


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position ``t`` sees positions ``<= t``: one
    ``(d_model -> 3 d_model)`` projection for queries, keys and values, the fused
    :func:`fastdl.nn.functional.scaled_dot_product_attention`, an output projection."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % nhead:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        self.nhead, self.dropout = nhead, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor) -> Tensor:
        n, length, d = x.shape
        heads = self.qkv(x).reshape(n, length, 3, self.nhead, d // self.nhead)
        q, k, v = heads.permute(2, 0, 3, 1, 4).unbind(0)  # each (n, nhead, length, head_dim)
        dropout = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(n, length, d))


class Block(nn.Module):
    """``x + attention(norm(x))``, then ``x + mlp(norm(x))`` with a GELU MLP of width
    ``dim_feedforward``."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = CausalSelfAttention(d_model, nhead, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, dim_feedforward),
            nn.GELU(),
            nn.Linear(dim_feedforward, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TransformerLM(nn.Module):
    """Token and learned position embeddings, ``num_layers`` pre-norm blocks, a final
    LayerNorm and a linear read-out: ids ``(N, L)`` with ``L <= context`` -> logits
    ``(N, L, vocab_size)``, where position ``t`` predicts token ``t + 1`` from tokens
    ``<= t``.

    Example::

        model = TransformerLM(vocab_size=65, context=128)
        logits = model(fastdl.randint(0, 65, (8, 128)))   # (8, 128, 65)
    """

    def __init__(
        self,
        vocab_size: int,
        context: int = 128,
        d_model: int = 128,
        nhead: int = 4,
        num_layers: int = 4,
        dim_feedforward: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in (
            ("vocab_size", vocab_size),
            ("context", context),
            ("d_model", d_model),
            ("nhead", nhead),
            ("num_layers", num_layers),
        ):
            positive_int("TransformerLM", name, value)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"TransformerLM: dropout must be in [0, 1), got {dropout}")
        self.context = context
        self.token = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(context, d_model)
        self.drop = nn.Dropout(dropout)
        width = 4 * d_model if dim_feedforward is None else dim_feedforward
        self.blocks = nn.ModuleList(
            Block(d_model, nhead, width, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self._init_weights(num_layers)

    def _init_weights(self, num_layers: int) -> None:
        # GPT-2's: N(0, 0.02) weights, zero biases, residual projections scaled by
        # 1/sqrt(2 * num_layers) so the residual stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.ndim == 2:
                std = 0.02
                if name.endswith(("attention.proj.weight", "mlp.2.weight")):
                    std /= math.sqrt(2 * num_layers)
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.ndim != 2:
            raise ValueError(f"TransformerLM: ids must be (batch, length), got {tuple(ids.shape)}")
        length = ids.shape[1]
        if length > self.context:
            raise ValueError(
                f"TransformerLM: sequence length {length} exceeds the context {self.context}"
            )
        positions = fastdl.arange(length, device=ids.device)
        x = self.drop(self.token(ids) + self.position(positions))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))

    @fastdl.no_grad()
    def generate(
        self,
        ids: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        generator: fastdl.Generator | None = None,
    ) -> Tensor:
        """``ids`` (N, L) followed by ``max_new_tokens`` tokens sampled one at a time from
        the softmax of the last position's logits divided by ``temperature`` (the
        window the model reads is the last ``context`` tokens).

        Example::

            out = model.generate(fastdl.tensor([vocab.encode("ROMEO:")]), 200)
        """
        if temperature <= 0:
            raise ValueError(f"generate: temperature must be positive, got {temperature}")
        was_training = self.training
        self.eval()
        try:
            for _ in range(max_new_tokens):
                logits = self(ids[:, -self.context :])[:, -1, :] / temperature
                probs = F.softmax(logits, dim=-1)
                nxt = fastdl.multinomial(probs, 1, generator=generator)
                ids = fastdl.cat([ids, nxt], dim=1)
        finally:
            self.train(was_training)
        return ids


def transformer_lm(
    vocab_size: int,
    context: int = 128,
    d_model: int = 128,
    nhead: int = 4,
    num_layers: int = 4,
    dropout: float = 0.0,
) -> TransformerLM:
    """A :class:`TransformerLM`; the defaults (0.8M parameters) reach a validation loss
    under 2.1 nats per character on the bundled Shakespeare in minutes on two cores.

    Example::

        model = transformer_lm(vocab_size=len(vocab))
    """
    return TransformerLM(vocab_size, context, d_model, nhead, num_layers, dropout=dropout)
