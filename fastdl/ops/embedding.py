"""Embedding lookup: rows of a weight table gathered by integer indices.

Forward is the generic ``gather`` kernel, backward a dense ``index_add`` (repeated
indices accumulate), as ``GetItem``; the row at ``padding_idx`` gets no gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd import no_grad
from fastdl.autograd.function import Function
from fastdl.errors import DeviceError, ShapeError
from fastdl.ops._util import contiguous, empty, zeros
from fastdl.ops.elementwise import where
from fastdl.ops.shape import scatter
from fastdl.tensor import Tensor


class _Embedding(Function):
    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        out = empty(indices.shape + weight.shape[1:], weight.dtype)
        ctx.backend.gather(weight, (indices,), out)
        ctx.shape, ctx.indices, ctx.padding_idx = weight.shape, indices, padding_idx
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_weight = zeros(ctx.shape, grad.dtype)
        ctx.backend.index_add(grad_weight, (ctx.indices,), contiguous(grad))
        if ctx.padding_idx is not None:
            ctx.backend.fill(grad_weight[ctx.padding_idx], 0.0)
        return grad_weight, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        if ctx.padding_idx is not None:
            keep = (ctx.indices != ctx.padding_idx).astype(grad.dtype)[..., None]
            grad = grad * Tensor._wrap(keep)
        return scatter(grad, ctx.shape, (ctx.indices,)), None, None


def embedding(
    input: Tensor,  # noqa: A002
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by integer indices
    ``input`` of any shape; the result has shape ``input.shape + (embedding_dim,)``. The
    row at ``padding_idx`` receives no gradient. With ``max_norm``, the rows looked up
    whose ``norm_type``-norm exceeds it are first rescaled in place to that norm, as
    PyTorch does. Out-of-range indices raise ValueError.

    Example::

        vectors = fastdl.nn.functional.embedding(fastdl.tensor([[1, 2], [4, 1]]), table)
    """
    indices = input
    for name, value in (("scale_grad_by_freq", scale_grad_by_freq), ("sparse", sparse)):
        if value:
            raise ValueError(f"embedding: {name}=True is not implemented in fastdl; use False")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        shape = getattr(weight, "shape", None)
        raise ShapeError(f"embedding: weight must be a 2-D Tensor, got shape {shape}")
    raw = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    if raw.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers (int64), got dtype {raw.dtype}")
    num = weight.shape[0]
    if isinstance(indices, Tensor) and indices.device != weight.device:
        raise DeviceError(
            f"embedding: Expected all tensors to be on the same device, but found at least "
            f"two devices, {indices.device} (indices) and {weight.device} (weight)!"
        )
    # On a GPU an index outside the table gives NaN rows: checking here would copy the
    # indices to the host on every call.
    on_host = isinstance(raw, np.ndarray)
    if on_host and raw.size and (raw.min() < 0 or raw.max() >= num):
        raise ValueError(
            f"embedding: indices must lie in [0, {num}) for a weight of shape "
            f"{tuple(weight.shape)}, got values from {raw.min()} to {raw.max()}"
        )
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} must lie in [-{num}, {num})")
        padding_idx = int(padding_idx) % num
    if raw.dtype != dtypes.int64:
        raw = raw.astype(dtypes.int64) if on_host else indices.to(dtypes.int64)._data
    if max_norm is not None:
        _renorm_rows(weight, raw, float(max_norm), float(norm_type))
    return _Embedding.apply(weight, raw, padding_idx)


def _renorm_rows(weight: Tensor, raw: Any, max_norm: float, norm_type: float) -> None:
    """Rescale in place the rows of ``weight`` that ``raw`` looks up and whose norm
    exceeds ``max_norm`` (PyTorch's ``embedding_renorm_``)."""
    host = raw if isinstance(raw, np.ndarray) else Tensor._wrap(raw).cpu()._data
    rows = Tensor._wrap(np.unique(host)).to(weight.device)
    with no_grad():
        picked = weight[rows]
        norms = picked.norm(p=norm_type, dim=1, keepdim=True)
        scale = where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight[rows] = picked * scale
