"""Similarities and distances between vectors along a dim: cosine similarity, p-norm
pairwise distance and p-norm normalisation, as compositions of differentiable ops
(every backend, double backward included).

Example::

    >>> import fastdl
    >>> import fastdl.nn.functional as F
    >>> F.cosine_similarity(fastdl.tensor([[1.0, 0.0]]), fastdl.tensor([[1.0, 1.0]]))
    tensor([0.70710677])
"""

from __future__ import annotations

import numpy as np

from fastdl import dtypes
from fastdl.errors import ShapeError
from fastdl.ops._util import normalize_dim
from fastdl.tensor import Tensor


def _floating(x: object, name: str, fn: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{fn}: {name} must be float32 or float64, got {x.dtype}")
    return x


def _broadcast(x1: Tensor, x2: Tensor, fn: str) -> tuple:
    try:
        return np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise ShapeError(
            f"{fn}: x1 of shape {tuple(x1.shape)} and x2 of shape {tuple(x2.shape)} do not "
            "broadcast"
        ) from None


def _norm(x: Tensor, p: float, dim: int, keepdim: bool) -> Tensor:
    return x.norm(p=float(p), dim=dim, keepdim=keepdim)


def _clamped_norm(x: Tensor, p: float, dim: int, eps: float) -> Tensor:
    """max(||x||_p, eps) along ``dim`` (kept); for p = 2 as sqrt(max(sum x^2, eps^2)),
    whose gradient stays finite at x = 0 (as PyTorch's)."""
    if p == 2:
        return (x * x).sum(dim, keepdim=True).clamp(min=eps * eps).sqrt()
    return _norm(x, p, dim, True).clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along ``dim`` (broadcast).

    Example: ``F.cosine_similarity(a, b, dim=1)`` for rows of a and b."""
    _floating(x1, "x1", "cosine_similarity")
    _floating(x2, "x2", "cosine_similarity")
    shape = _broadcast(x1, x2, "cosine_similarity")
    dim = normalize_dim(dim, max(len(shape), 1))
    x1, x2 = x1.expand(*shape), x2.expand(*shape)
    n1 = _clamped_norm(x1, 2, dim, eps)
    n2 = _clamped_norm(x2, 2, dim, eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """||x1 - x2 + eps||_p along the last dim (broadcast).

    Example: ``F.pairwise_distance(a, b)`` for rows of a and b."""
    _floating(x1, "x1", "pairwise_distance")
    _floating(x2, "x2", "pairwise_distance")
    shape = _broadcast(x1, x2, "pairwise_distance")
    if not shape:
        raise ShapeError("pairwise_distance: x1 and x2 must have at least one dimension")
    return _norm(x1 - x2 + eps, p, len(shape) - 1, keepdim)


def normalize(
    input: Tensor,  # noqa: A002
    p: float = 2.0,
    dim: int = 1,
    eps: float = 1e-12,
    out: Tensor | None = None,
) -> Tensor:
    """input / max(||input||_p, eps) along ``dim``.

    Example: ``F.normalize(embeddings, dim=-1)`` gives unit rows."""
    _floating(input, "input", "normalize")
    if out is not None:
        raise ValueError("normalize: out= is not supported; assign the result instead")
    dim = normalize_dim(dim, max(input.ndim, 1))
    return input / _clamped_norm(input, p, dim, eps)
