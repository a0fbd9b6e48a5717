"""``torch.nn.utils.rnn``'s padding helper: batch sequences of different lengths.

Example::

    >>> import fastdl
    >>> from fastdl.nn.utils.rnn import pad_sequence
    >>> pad_sequence([fastdl.ones(3), fastdl.ones(1)], batch_first=True).shape
    (2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence

from fastdl.ops.shape import cat, stack
from fastdl.tensor import Tensor


def pad_sequence(
    sequences: Sequence[Tensor] | Tensor,
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack tensors of shape ``(L_i, *)`` into ``(L_max, B, *)`` (``(B, L_max, *)`` with
    ``batch_first``), filling with ``padding_value`` on ``padding_side`` ("right" or
    "left"), as ``torch.nn.utils.rnn.pad_sequence``. Differentiable in every sequence."""
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: sequences must hold at least one tensor")
    if padding_side not in ("right", "left"):
        raise ValueError(
            f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}"
        )
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence: sequences[{i}] is a {type(s).__name__}, not a Tensor")
        if s.ndim == 0 or s.shape[1:] != sequences[0].shape[1:]:
            raise ValueError(
                f"pad_sequence: every sequence must have shape (L, *{sequences[0].shape[1:]}), "
                f"got sequences[{i}] of shape {s.shape}"
            )
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            fill = s.new_full((missing, *s.shape[1:]), padding_value)
            s = cat([s, fill]) if padding_side == "right" else cat([fill, s])
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


__all__ = ["pad_sequence"]
