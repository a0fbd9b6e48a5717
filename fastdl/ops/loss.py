"""Losses: MSE, L1, binary cross-entropy (on probabilities and on logits), NLL, and
cross-entropy on logits with class-index (sparse) or class-probability targets.

Each kernel computes per-element losses; the reduction ("mean", "sum", "none") and
its gradient are applied here, inside one autograd node.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.autograd.function import Function
from fastdl.errors import DeviceError, ShapeError
from fastdl.ops._util import contiguous, empty
from fastdl.ops.activation import softmax
from fastdl.ops.reduce import broadcast_to
from fastdl.tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses: Any, reduction: str) -> Any:
    """The per-element losses reduced: summed in float64, averaged for "mean"."""
    if reduction == "none":
        return losses
    be = backends.allocator()
    total, out = be.empty((), np.float64), be.empty((), losses.dtype)
    be.sum(losses, tuple(range(losses.ndim)), False, total)
    count = max(losses.size, 1) if reduction == "mean" else 1
    be.div(total, np.asarray(count, np.float64), out)
    return out


def _spread(grad: Any, shape: tuple, reduction: str) -> Any:
    """The gradient of the reduction w.r.t. each per-element loss."""
    if reduction == "none":
        return contiguous(grad)
    size = int(np.prod(shape, dtype=np.int64))
    be = backends.allocator()
    out = be.empty(shape, grad.dtype)
    be.div(grad, np.asarray(size if reduction == "mean" else 1, grad.dtype), out)
    return out


def _spread_graph(grad: Tensor, shape: tuple, reduction: str) -> Tensor:
    """``_spread`` from differentiable ops (double backward)."""
    if reduction == "none":
        return grad
    size = int(np.prod(shape, dtype=np.int64))
    return broadcast_to(grad * (1.0 / size) if reduction == "mean" else grad, shape)


def _one_hot(target: Any, shape: tuple, dtype: np.dtype) -> Tensor:
    """One-hot rows of class indices, where the indices live (double backward only: on a
    GPU the indices make a round trip through the host)."""
    on_host = isinstance(target, np.ndarray)
    hot = np.zeros(shape, dtype)
    hot[np.arange(shape[0]), target if on_host else Tensor._wrap(target).cpu()._data] = 1
    return Tensor._wrap(hot) if on_host else Tensor._wrap(hot).to(Tensor._wrap(target).device)


class _PairLoss(Function):
    """A loss kernel ``forward(input, target, losses)`` with its backward twin."""

    forward_kernel = backward_kernel = ""

    @classmethod
    def forward(cls, ctx, inp, target, reduction):
        losses = empty(inp.shape, inp.dtype)
        getattr(ctx.backend, cls.forward_kernel)(inp, target, losses)
        ctx.save_for_backward(inp, target)
        ctx.reduction = reduction
        return _reduce(losses, reduction)

    @classmethod
    def backward(cls, ctx, grad):
        inp, target = ctx.saved
        grad_in = empty(inp.shape, inp.dtype)
        g = _spread(grad, inp.shape, ctx.reduction)
        getattr(ctx.backend, cls.backward_kernel)(inp, target, g, grad_in)
        return grad_in, None, None


class BCE(_PairLoss):
    forward_kernel, backward_kernel = "bce", "bce_backward"

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        p, target, reduction = inputs
        g = _spread_graph(grad, p.shape, reduction)
        return g * (p - target.detach()) / (p * (1.0 - p)).clamp(min=1e-12), None, None


class BCEWithLogits(_PairLoss):
    forward_kernel, backward_kernel = "bce_with_logits", "bce_with_logits_backward"

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        z, target, reduction = inputs
        g = _spread_graph(grad, z.shape, reduction)
        return g * (z.sigmoid() - target.detach()), None, None


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, target, reduction):
        n = logits.shape[0]
        losses = empty((n,), logits.dtype)
        saved = empty(logits.shape, logits.dtype)
        soft = target.dtype != np.int64
        if soft:
            ctx.backend.soft_cross_entropy(logits, target, losses, saved)
        else:
            ctx.backend.cross_entropy(logits, target, losses, saved)
        ctx.save_for_backward(saved, target)
        ctx.reduction, ctx.soft = reduction, soft
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad):
        saved, target = ctx.saved
        g = _spread(grad, saved.shape[:1], ctx.reduction)
        grad_logits = empty(saved.shape, saved.dtype)
        if ctx.soft:
            ctx.backend.soft_cross_entropy_backward(saved, target, g, grad_logits)
        else:
            ctx.backend.cross_entropy_backward(saved, target, g, grad_logits)
        return grad_logits, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        logits, target, reduction = inputs
        g = _spread_graph(grad, logits.shape[:1], reduction).reshape(-1, 1)
        probs = softmax(logits, dim=1)
        if ctx.soft:
            t = Tensor._wrap(target)
            return (probs * t.sum(1, keepdim=True) - t) * g, None, None
        return (probs - _one_hot(target, logits.shape, logits.dtype)) * g, None, None


class NLL(Function):
    @staticmethod
    def forward(ctx, log_probs, target, reduction):
        losses = empty(target.shape, log_probs.dtype)
        ctx.backend.nll_loss(log_probs, target, losses)
        ctx.save_for_backward(target)
        ctx.shape, ctx.reduction = log_probs.shape, reduction
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad):
        (target,) = ctx.saved
        g = _spread(grad, target.shape, ctx.reduction)
        grad_in = empty(ctx.shape, grad.dtype)
        ctx.backend.nll_loss_backward(target, g, grad_in)
        return grad_in, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        log_probs, target, reduction = inputs
        g = _spread_graph(grad, target.shape, reduction).reshape(-1, 1)
        return -_one_hot(target, log_probs.shape, log_probs.dtype) * g, None, None


# -- validation ------------------------------------------------------------------------


def _check_reduction(reduction: Any) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _check_input(x: Any, name: str, fn: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{fn}: {name} must be float32 or float64, got {x.dtype}")
    return x


def _same_shape_target(inp: Tensor, target: Any, fn: str, differentiable: bool) -> Tensor:
    """Check the target against the input; kernel-backed losses take no target grad."""
    if not isinstance(target, Tensor):
        raise TypeError(f"{fn}: target must be a Tensor, got {type(target).__name__}")
    if target.shape != inp.shape:
        raise ShapeError(f"{fn}: target shape {target.shape} must match input shape {inp.shape}")
    if not dtypes.is_floating(target.dtype):
        raise TypeError(f"{fn}: target must be a floating tensor, got {target.dtype}")
    if not differentiable and target.requires_grad:
        raise ValueError(f"{fn}: gradients with respect to target are not supported; detach it")
    return target.to(inp.dtype)


def _same_device(input: Tensor, target: Tensor, fn: str) -> None:  # noqa: A002
    if input.device != target.device:
        raise DeviceError(
            f"{fn}: Expected all tensors to be on the same device, but found at least two "
            f"devices, {input.device} (input) and {target.device} (target)!"
        )


def _class_targets(logits: Tensor, target: Any, fn: str) -> np.ndarray:
    """Validate int64 class indices of shape (N,) against logits (N, C)."""
    n, c = logits.shape
    _same_device(logits, target, fn)
    raw = target._data
    if raw.shape != (n,):
        raise ShapeError(
            f"{fn}: class-index target must have shape ({n},) for input of shape "
            f"{logits.shape}, got {raw.shape}"
        )
    # On a GPU the kernels give a NaN loss for a target outside [0, C): checking here
    # would copy the targets to the host every step.
    if isinstance(raw, np.ndarray) and raw.size and (raw.min() < 0 or raw.max() >= c):
        bad = raw[(raw < 0) | (raw >= c)][0]
        raise ValueError(f"{fn}: target {bad} is out of bounds for {c} classes")
    return contiguous(raw)


# -- public functions ---------------------------------------------------------------------


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error. Example: ``F.mse_loss(pred, y)``."""
    _check_reduction(reduction)
    _check_input(input, "input", "mse_loss")
    target = _same_shape_target(input, target, "mse_loss", differentiable=True)
    diff = input - target
    return _apply_reduction(diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error."""
    _check_reduction(reduction)
    _check_input(input, "input", "l1_loss")
    target = _same_shape_target(input, target, "l1_loss", differentiable=True)
    return _apply_reduction((input - target).abs(), reduction)


def _apply_reduction(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def binary_cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """BCE on probabilities in [0, 1]; the logs are clamped at -100 as in PyTorch."""
    _check_reduction(reduction)
    _check_input(input, "input", "binary_cross_entropy")
    target = _same_shape_target(input, target, "binary_cross_entropy", False)
    raw = input._data  # checked on the host only: on a GPU it would cost a copy per step
    if isinstance(raw, np.ndarray) and raw.size and (np.nanmin(raw) < 0 or np.nanmax(raw) > 1):
        raise ValueError("binary_cross_entropy: input values must be between 0 and 1")
    return BCE.apply(input.contiguous(), target.contiguous(), reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,  # noqa: A002
    target: Tensor,
    reduction: str = "mean",
) -> Tensor:
    """BCE on logits, computed stably (finite for logits up to +-1e4 and beyond)."""
    _check_reduction(reduction)
    _check_input(input, "input", "binary_cross_entropy_with_logits")
    target = _same_shape_target(input, target, "binary_cross_entropy_with_logits", False)
    return BCEWithLogits.apply(input.contiguous(), target.contiguous(), reduction)


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Cross-entropy on logits ``(N, C)`` (or ``(C,)``).

    An int64 target of shape ``(N,)`` holds class indices (sparse categorical
    cross-entropy); a float target of shape ``(N, C)`` holds class probabilities
    (categorical cross-entropy). A float target of shape ``(N,)`` is a TypeError.

    Example::

        loss = F.cross_entropy(model(x), y)      # y: int64 class indices
    """
    _check_reduction(reduction)
    _check_input(input, "input", "cross_entropy")
    if not isinstance(target, Tensor):
        raise TypeError(f"cross_entropy: target must be a Tensor, got {type(target).__name__}")
    if input.ndim == 1:  # one sample: (C,) logits with a () index or (C,) probabilities
        target = target.reshape(1, -1) if dtypes.is_floating(target.dtype) else target.reshape(1)
        loss = cross_entropy(input.reshape(1, -1), target, reduction)
        return loss.reshape(()) if reduction == "none" else loss
    if input.ndim != 2:
        raise ShapeError(f"cross_entropy: input must be (N, C) logits, got shape {input.shape}")
    if target.dtype == dtypes.int64:
        raw = _class_targets(input, target, "cross_entropy")
    elif dtypes.is_floating(target.dtype):
        if target.shape != input.shape:
            raise TypeError(
                f"cross_entropy: a float target must hold class probabilities of shape "
                f"{input.shape}; got shape {target.shape} (class indices must be int64)"
            )
        _same_device(input, target, "cross_entropy")
        raw = target.detach().to(input.dtype).contiguous()._data
    else:
        raise TypeError(f"cross_entropy: target must be int64 or floating, got {target.dtype}")
    return CrossEntropy.apply(input.contiguous(), raw, reduction)


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Negative log-likelihood on log-probabilities ``(N, C)`` with int64 targets ``(N,)``."""
    _check_reduction(reduction)
    _check_input(input, "input", "nll_loss")
    if not isinstance(target, Tensor) or target.dtype != dtypes.int64:
        raise TypeError("nll_loss: target must be an int64 Tensor of class indices")
    if input.ndim != 2:
        raise ShapeError(f"nll_loss: input must be (N, C), got shape {input.shape}")
    raw = _class_targets(input, target, "nll_loss")
    return NLL.apply(input.contiguous(), raw, reduction)
