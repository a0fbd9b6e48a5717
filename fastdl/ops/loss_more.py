"""More losses, PyTorch's functional forms: smooth L1 and Huber, KL divergence,
Poisson and Gaussian negative log-likelihoods, and the margin losses (cosine
embedding, margin ranking, triplet, multi-class margin).

Each is a composition of differentiable ops (every backend, double backward
included); the arguments are checked, naming them and their shapes, before any work.

Example::

    >>> import fastdl
    >>> import fastdl.nn.functional as F
    >>> F.smooth_l1_loss(fastdl.tensor([0.5, 3.0]), fastdl.tensor([0.0, 0.0]))
    tensor(1.3125)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.errors import ShapeError
from fastdl.ops import elementwise
from fastdl.ops.distance import pairwise_distance
from fastdl.ops.embedding import embedding
from fastdl.ops.loss import (
    ClassIndexError,
    _apply_reduction,
    _check_input,
    _same_device,
    class_weight,
    legacy_reduction,
)
from fastdl.tensor import Tensor


def _target(input: Tensor, target: Any, fn: str, name: str = "target") -> Tensor:  # noqa: A002
    """A floating tensor of ``input``'s shape, in its dtype (differentiable)."""
    if not isinstance(target, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(target).__name__}")
    if not dtypes.is_floating(target.dtype):
        raise TypeError(f"{fn}: {name} must be a floating tensor, got {target.dtype}")
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(
            f"{fn}: {name} shape {tuple(target.shape)} must match input shape {tuple(input.shape)}"
        )
    _same_device(input, target, fn)
    return target.to(input.dtype)


def smooth_l1_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target);
    plain L1 for beta = 0.

    Example: ``F.smooth_l1_loss(boxes, target_boxes, beta=0.5)``."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(input, "input", "smooth_l1_loss")
    target = _target(input, target, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    d = (input - target).abs()
    if beta == 0:
        return _apply_reduction(d, reduction)
    losses = elementwise.where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return _apply_reduction(losses, reduction)


def huber_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """0.5 d^2 where |d| <= delta, delta (|d| - 0.5 delta) elsewhere (d = input - target):
    ``delta`` times smooth L1 with beta = delta. ``weight`` rescales each element.

    Example: ``F.huber_loss(pred, y, delta=2.0)``."""
    reduction = legacy_reduction(None, None, reduction)
    _check_input(input, "input", "huber_loss")
    target = _target(input, target, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    d = (input - target).abs()
    losses = elementwise.where(d <= delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    if weight is not None:
        losses = losses * _target(input, weight, "huber_loss", "weight").detach()
    return _apply_reduction(losses, reduction)


def kl_div(
    input: Tensor,  # noqa: A002
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """KL(target || exp(input)) pointwise: target * (log target - input), 0 where
    target = 0 (``log_target=True``: exp(target) * (target - input)). "batchmean" divides
    the sum by the batch size (the first dim), the mathematically correct KL.

    Example: ``F.kl_div(F.log_softmax(z, 1), probs, reduction="batchmean")``."""
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(
            f"kl_div: reduction must be one of ('mean', 'sum', 'none', 'batchmean'), "
            f"got {reduction!r}"
        )
    if reduction != "batchmean":
        reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(input, "input", "kl_div")
    target = _target(input, target, "kl_div")
    if log_target:
        losses = target.exp() * (target - input)
    else:
        positive = target > 0
        safe = elementwise.where(positive, target, 1.0)  # log(1) = 0 where target is 0
        losses = elementwise.where(positive, target * (safe.log() - input), target * 0.0)
    if reduction == "batchmean":
        return losses.sum() / (input.shape[0] if input.ndim else 1)
    return _apply_reduction(losses, reduction)


def poisson_nll_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Poisson negative log-likelihood: exp(input) - target * input (``log_input``), or
    input - target * log(input + eps); ``full`` adds Stirling's term for target > 1.

    Example: ``F.poisson_nll_loss(log_rate, counts)``."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(input, "input", "poisson_nll_loss")
    target = _target(input, target, "poisson_nll_loss").detach()
    if log_input:
        losses = input.exp() - target * input
    else:
        losses = input - target * (input + eps).log()
    if full:
        big = target > 1
        safe = elementwise.where(big, target, 2.0)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        losses = losses + elementwise.where(big, stirling, target * 0.0)
    return _apply_reduction(losses, reduction)


def gaussian_nll_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    var: Tensor | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """0.5 (log max(var, eps) + (input - target)^2 / max(var, eps)) [+ 0.5 log 2 pi].
    ``var`` has the input's shape, or lacks (or has size 1 in) its last dim
    (one variance per sample), or is a number.

    Example: ``F.gaussian_nll_loss(mean, y, variance)``."""
    fn = "gaussian_nll_loss"
    reduction = legacy_reduction(None, None, reduction)
    _check_input(input, "input", fn)
    target = _target(input, target, fn)
    if not isinstance(var, Tensor):
        var = Tensor._wrap(np.full(input.shape, float(var), input.dtype)).to(input.device)
    _check_input(var, "var", fn)
    shape = tuple(input.shape)
    if tuple(var.shape) != shape:
        if shape and tuple(var.shape) == shape[:-1]:
            var = var.unsqueeze(-1)
        elif not (shape and tuple(var.shape) == (*shape[:-1], 1)):
            raise ShapeError(f"{fn}: var of shape {tuple(var.shape)} does not fit input {shape}")
    raw = var._data
    if isinstance(raw, np.ndarray) and raw.size and np.nanmin(raw) < 0:
        raise ValueError(f"{fn}: var has negative entry/entries")
    # Clamped as PyTorch, without cutting the gradient to var where it is clamped.
    var = var + (var.detach().clamp(min=eps) - var.detach())
    losses = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        losses = losses + 0.5 * math.log(2 * math.pi)
    return _apply_reduction(losses, reduction)


def _signs(target: Any, like: tuple, fn: str, input: Tensor) -> Tensor:  # noqa: A002
    if not isinstance(target, Tensor):
        raise TypeError(f"{fn}: target must be a Tensor, got {type(target).__name__}")
    if tuple(target.shape) != like:
        raise ShapeError(f"{fn}: target shape {tuple(target.shape)} must be {like}")
    _same_device(input, target, fn)
    return target.detach().to(input.dtype)


def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1;
    inputs (N, D) with targets (N,), or (D,) with a 0-d target.

    Example: ``F.cosine_embedding_loss(a, b, fastdl.tensor([1.0, -1.0]))``."""
    fn = "cosine_embedding_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(input1, "input1", fn)
    input2 = _target(input1, input2, fn, "input2")
    if input1.ndim not in (1, 2):
        raise ShapeError(f"{fn}: inputs must be 1-D or 2-D, got shape {tuple(input1.shape)}")
    y = _signs(target, tuple(input1.shape[:-1]), fn, input1)
    dot = (input1 * input2).sum(-1)
    magnitude = ((input1 * input1).sum(-1) + 1e-12) * ((input2 * input2).sum(-1) + 1e-12)
    cos = dot / magnitude.sqrt()
    positive = elementwise.where(y == 1, 1.0 - cos, cos * 0.0)
    negative = elementwise.where(y == -1, (cos - margin).clamp(min=0.0), cos * 0.0)
    return _apply_reduction(positive + negative, reduction)


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """max(0, -target * (input1 - input2) + margin), targets of +-1.

    Example: ``F.margin_ranking_loss(s1, s2, fastdl.tensor([1.0, -1.0]))``."""
    fn = "margin_ranking_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(input1, "input1", fn)
    input2 = _target(input1, input2, fn, "input2")
    y = _signs(target, tuple(input1.shape), fn, input1)
    return _apply_reduction((-y * (input1 - input2) + margin).clamp(min=0.0), reduction)


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """max(0, margin + d(anchor, positive) - d(anchor, negative)) with the p-norm distance
    of :func:`pairwise_distance`; ``swap`` uses min(d(a, n), d(p, n)).

    Example: ``F.triplet_margin_loss(a, pos, neg, margin=0.5)``."""
    fn = "triplet_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(anchor, "anchor", fn)
    if anchor.ndim not in (1, 2):
        raise ShapeError(f"{fn}: anchor must be 1-D or 2-D, got shape {tuple(anchor.shape)}")
    positive = _target(anchor, positive, fn, "positive")
    negative = _target(anchor, negative, fn, "negative")
    if margin <= 0:
        raise ValueError(f"{fn}: margin must be greater than 0, got {margin}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = elementwise.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _apply_reduction((d_pos - d_neg + margin).clamp(min=0.0), reduction)


def multi_margin_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-class hinge loss: sum over i != y of max(0, margin - x[y] + x[i])^p / C,
    times weight[y]; input (N, C) or (C,), int64 targets (N,) or ().

    Example: ``F.multi_margin_loss(scores, labels, margin=0.5)``."""
    fn = "multi_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(input, "input", fn)
    if p not in (1, 2):
        raise ValueError(f"{fn}: only p == 1 and p == 2 supported, got {p}")
    if input.ndim not in (1, 2):
        raise ShapeError(f"{fn}: input must be 1-D or 2-D, got shape {tuple(input.shape)}")
    if not isinstance(target, Tensor) or target.dtype != dtypes.int64:
        got = target.dtype if isinstance(target, Tensor) else type(target).__name__
        raise TypeError(f"{fn}: target must be an int64 Tensor of class indices, got {got}")
    rows = input.reshape(1, -1) if input.ndim == 1 else input
    n, classes = rows.shape
    if tuple(target.shape) != tuple(input.shape[:-1]):
        raise ShapeError(
            f"{fn}: target shape {tuple(target.shape)} must be {tuple(input.shape[:-1])} for "
            f"input of shape {tuple(input.shape)}"
        )
    _same_device(input, target, fn)
    weight = class_weight(weight, classes, input, fn)
    labels = target.reshape(-1)
    raw = labels._data
    if isinstance(raw, np.ndarray) and raw.size and (raw.min() < 0 or raw.max() >= classes):
        bad = raw[(raw < 0) | (raw >= classes)][0]
        raise ClassIndexError(f"{fn}: target {bad} is out of bounds for {classes} classes.")
    hot = labels.reshape(-1, 1) == Tensor._wrap(np.arange(classes)).to(input.device)
    picked = (rows * hot.to(rows.dtype)).sum(1, keepdim=True)
    hinge = (rows - picked + margin).clamp(min=0.0)
    if p == 2:
        hinge = hinge * hinge
    hinge = elementwise.where(hot, hinge * 0.0, hinge)
    if weight is not None:
        hinge = hinge * embedding(labels, weight.reshape(-1, 1))
    losses = hinge.sum(1) / classes
    losses = losses.reshape(()) if input.ndim == 1 else losses
    return _apply_reduction(losses, reduction)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows of class indices: shape ``tensor.shape + (num_classes,)``;
    ``num_classes=-1`` takes the largest index + 1.

    Example: ``F.one_hot(fastdl.tensor([0, 2]), 3)``  # [[1, 0, 0], [0, 0, 1]]"""
    if not isinstance(tensor, Tensor) or tensor.dtype != dtypes.int64:
        got = tensor.dtype if isinstance(tensor, Tensor) else type(tensor).__name__
        raise TypeError(f"one_hot: tensor must be an int64 Tensor of class indices, got {got}")
    raw = tensor._data
    if not isinstance(raw, np.ndarray):  # the check and the count need the values
        return one_hot(tensor.cpu(), num_classes).to(tensor.device)
    if num_classes == -1:
        if raw.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor")
        num_classes = int(raw.max()) + 1
    if raw.size and raw.min() < 0:
        raise ValueError("one_hot: class values must be non-negative")
    if raw.size and raw.max() >= num_classes:
        raise ValueError(f"one_hot: class values must be smaller than num_classes={num_classes}")
    out = (raw[..., None] == np.arange(num_classes)).astype(np.int64)
    return Tensor._wrap(out)
