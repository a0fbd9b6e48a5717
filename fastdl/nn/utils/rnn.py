"""``torch.nn.utils.rnn``: batch sequences of different lengths, padded or packed.

A :class:`PackedSequence` holds the steps of a batch of sequences sorted by length
(longest first), time step by time step: ``data`` is ``(sum of lengths, *)``,
``batch_sizes[t]`` how many sequences are longer than ``t``, ``sorted_indices`` the
batch order used (None when the input was already sorted) and ``unsorted_indices`` its
inverse. Packing and unpacking are one ``index_select`` each, so both are
differentiable.

Example::

    >>> import fastdl
    >>> from fastdl.nn.utils.rnn import pad_sequence, pack_padded_sequence
    >>> padded = pad_sequence([fastdl.ones(3), fastdl.ones(1)], batch_first=True)
    >>> padded.shape
    (2, 3)
    >>> pack_padded_sequence(padded, [3, 1], batch_first=True).batch_sizes.tolist()
    [2, 1, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from fastdl.ops.indexing import index_select
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


class PackedSequence(NamedTuple):
    """Sequences of different lengths packed step by step (see the module docstring);
    what :func:`pack_padded_sequence` returns and recurrent layers accept."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` moved or cast as ``Tensor.to``; the index tensors stay on the CPU
        (``batch_sizes``) or follow ``data``'s device."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(data.device)

        return PackedSequence(
            data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices)
        )

    def cpu(self) -> PackedSequence:
        return self.to("cpu")

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def _lengths(lengths: Any) -> np.ndarray:
    """``lengths`` (a list, array or Tensor of whole numbers) as a 1-D int64 array."""
    values = lengths.tolist() if isinstance(lengths, Tensor) else lengths
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        array = None
    whole = array is not None and array.ndim == 1 and array.dtype.kind in "iuf"
    if whole and array.dtype.kind == "f":
        whole = bool(np.all(array == np.round(array)))
    if not whole:
        raise TypeError(f"lengths must be a 1-D sequence of ints, got {lengths!r}")
    return array.astype(np.int64)


def _step_rows(batch_sizes: np.ndarray, batch: int) -> np.ndarray:
    """The rows ``t * batch + b`` (b < batch_sizes[t]) of a time-major ``(T, B)`` block
    that a packed ``data`` holds, in packed order."""
    return np.concatenate([t * batch + np.arange(n) for t, n in enumerate(batch_sizes)])


def _index(values: np.ndarray, like: Tensor) -> Tensor:
    return Tensor._wrap(values.astype(np.int64)).to(like.device)


def pack_padded_sequence(
    input: Tensor,  # noqa: A002
    lengths: Any,
    batch_first: bool = False,
    enforce_sorted: bool = True,
) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) whose
    sequence ``b`` has ``lengths[b]`` valid steps, as ``torch.nn.utils.rnn``'s.

    With ``enforce_sorted`` the lengths must be non-increasing; otherwise the batch is
    sorted (stably) and the order kept in ``sorted_indices``. Differentiable.

    Example::

        packed = pack_padded_sequence(fastdl.randn(5, 3, 2), [5, 3, 2])
        packed.data.shape    # (10, 2)
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"pack_padded_sequence: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(
            f"pack_padded_sequence: input must be at least 2-D (T, B, *), got shape {input.shape}"
        )
    lengths = _lengths(lengths)
    batch_dim = 0 if batch_first else 1
    steps, batch = input.shape[1 - batch_dim], input.shape[batch_dim]
    if len(lengths) != batch:
        raise ValueError(
            f"pack_padded_sequence: expected {batch} lengths (the batch size of input of "
            f"shape {input.shape}), got {len(lengths)}"
        )
    if batch and (lengths.min() <= 0 or lengths.max() > steps):
        raise ValueError(
            f"pack_padded_sequence: every length must be in [1, {steps}] for input of shape "
            f"{input.shape}, got {lengths.tolist()}"
        )
    x = input
    sorted_indices = unsorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(
                "pack_padded_sequence: `lengths` array must be sorted in decreasing order when "
                "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                "pack_padded_sequence and/or pack_sequence to sidestep this requirement if you "
                "do not need ONNX exportability."
            )
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        x = index_select(x, batch_dim, _index(order, x))
        sorted_indices = _index(order, x)
        unsorted_indices = _index(np.argsort(order, kind="stable"), x)
    if batch_first:
        x = x.transpose(0, 1)
    batch_sizes = (lengths[None, :] > np.arange(lengths.max())[:, None]).sum(1)
    rows = x.reshape(steps * batch, *x.shape[2:])
    data = index_select(rows, 0, _index(_step_rows(batch_sizes, batch), x))
    return PackedSequence(data, Tensor._wrap(batch_sizes), sorted_indices, unsorted_indices)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Undo :func:`pack_padded_sequence`: ``(padded, lengths)`` with ``padded`` of shape
    ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) in the original batch order,
    ``T = total_length`` or the longest length, and ``lengths`` an int64 Tensor.
    Differentiable.

    Example::

        padded, lengths = pad_packed_sequence(packed, batch_first=True)
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(
            f"pad_packed_sequence: sequence must be a PackedSequence, got {type(sequence).__name__}"
        )
    data = sequence.data
    batch_sizes = np.asarray(sequence.batch_sizes.tolist(), dtype=np.int64)
    steps, batch = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "pad_packed_sequence: Expected total_length to be at least the length of the "
                f"longest sequence ({steps}), but got total_length={total_length}"
            )
        steps = total_length
    # Each (t, b) cell reads its packed row, or the padding row appended after the data.
    source = np.full(steps * batch, data.shape[0], dtype=np.int64)
    source[_step_rows(batch_sizes, batch)] = np.arange(data.shape[0])
    pad = data.new_full((1, *data.shape[1:]), padding_value)
    padded = index_select(cat([data, pad]), 0, _index(source, data))
    padded = padded.reshape(steps, batch, *data.shape[1:])
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1)
    if sequence.unsorted_indices is not None:
        padded = index_select(padded, 1, sequence.unsorted_indices)
        lengths = lengths[np.asarray(sequence.unsorted_indices.tolist())]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, Tensor._wrap(lengths.astype(np.int64))


def pack_like(padded: Tensor, like: PackedSequence) -> PackedSequence:
    """Pack a time-major ``(T, B, *)`` batch in the original batch order with the batch
    sizes and order of ``like`` (a recurrent layer's output for a packed input)."""
    batch_sizes = np.asarray(like.batch_sizes.tolist(), dtype=np.int64)
    if like.sorted_indices is not None:
        padded = index_select(padded, 1, like.sorted_indices)
    steps, batch = padded.shape[0], padded.shape[1]
    rows = padded.reshape(steps * batch, *padded.shape[2:])
    data = index_select(rows, 0, _index(_step_rows(batch_sizes, batch), padded))
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of ``(L_i, *)`` tensors (longest first unless ``enforce_sorted`` is
    False), as ``torch.nn.utils.rnn.pack_sequence``.

    Example::

        packed = pack_sequence([fastdl.ones(3, 2), fastdl.ones(2, 2)])
    """
    sequences = list(sequences)
    lengths = [s.shape[0] if isinstance(s, Tensor) and s.ndim else 0 for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(
    padded_sequences: Tensor, lengths: Any, batch_first: bool = False
) -> list[Tensor]:
    """The list of ``(L_i, *)`` tensors a padded batch holds (inverse of
    :func:`pad_sequence`).

    Example::

        seqs = unpad_sequence(fastdl.zeros(4, 2, 3), [4, 2])   # shapes (4, 3), (2, 3)
    """
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, : int(n)] for i, n in enumerate(_lengths(lengths))]


__all__ = [
    "PackedSequence",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
]
