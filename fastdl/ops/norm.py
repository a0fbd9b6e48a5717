"""Normalization ops: layer_norm and batch_norm, as ``torch.nn.functional``.

Both reduce to one fused kernel pair on a 2-D or 3-D view: layer_norm normalises
the rows of ``(N, D)`` (D the product of ``normalized_shape``), batch_norm the
channels of ``(N, C, L)`` (L the product of the spatial dims, 1 for ``(N, C)``).
The kernels keep float64 ``mean``/``rstd`` for the backward pass. Evaluation-mode
batch_norm is an affine map with the running statistics, composed of elementwise ops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastdl import dtypes
from fastdl.autograd import no_grad
from fastdl.autograd.function import Function
from fastdl.errors import ShapeError
from fastdl.ops._util import contiguous, empty
from fastdl.tensor import Tensor


class _Normalize(Function):
    """out, mean, rstd = kernel(x, weight, bias, eps) on ``x`` viewed as ``view``:
    (N, D) for layer_norm, (N, C, L) for batch_norm. ``x``, ``out`` and the gradients
    keep the caller's shapes, so no reshape op sits between ``x`` and this one (its
    gradient can become a leaf's ``.grad`` without a copy)."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps, view):
        batch = len(view) == 3
        x3 = contiguous(x).reshape(view)
        w = None if weight is None else weight.reshape(-1)
        b = None if bias is None else bias.reshape(-1)
        out = empty(view, x.dtype)
        mean = empty((view[1] if batch else view[0],), dtypes.float64)
        rstd = empty(mean.shape, dtypes.float64)
        kernel = ctx.backend.batch_norm if batch else ctx.backend.layer_norm
        kernel(x3, w, b, eps, out, mean, rstd)
        ctx.save_for_backward(x3, w, mean, rstd)
        ctx.batch, ctx.has_bias, ctx.x_shape = batch, bias is not None, x.shape
        ctx.param_shape = next((p.shape for p in (weight, bias) if p is not None), None)
        return out.reshape(x.shape), mean, rstd

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, rstd = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        features = x.shape[1] if ctx.batch else x.shape[-1]
        grad_x = empty(x.shape, x.dtype) if need_x else None
        grad_w = empty((features,), x.dtype) if need_w and weight is not None else None
        grad_b = empty((features,), x.dtype) if need_b and ctx.has_bias else None
        be = ctx.backend
        kernel = be.batch_norm_backward if ctx.batch else be.layer_norm_backward
        kernel(x, weight, mean, rstd, contiguous(grad).reshape(x.shape), grad_x, grad_w, grad_b)
        if grad_x is not None:
            grad_x = ctx.give(grad_x.reshape(ctx.x_shape))
        if grad_w is not None:
            grad_w = grad_w.reshape(ctx.param_shape)
        if grad_b is not None:
            grad_b = grad_b.reshape(ctx.param_shape)
        return grad_x, grad_w, grad_b, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        x_in, weight, bias, eps, view = inputs
        batch = len(view) == 3
        x, grad = x_in.reshape(view), grad.reshape(view)
        axes, keep = ((0, 2), (1, -1, 1)) if batch else ((1,), (-1,))
        centered = x - x.mean(dim=axes, keepdim=True)
        var = (centered * centered).mean(dim=axes, keepdim=True)
        rstd = 1.0 / (var + eps).sqrt()
        xhat = centered * rstd
        g = grad if weight is None else grad * weight.reshape(keep)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = None
        if need_x:
            mean_g = g.mean(dim=axes, keepdim=True)
            mean_gx = (g * xhat).mean(dim=axes, keepdim=True)
            grad_x = (rstd * (g - mean_g - xhat * mean_gx)).reshape(x_in.shape)
        sum_axes = (0, 2) if batch else (0,)
        grad_w = grad_b = None
        if need_w and weight is not None:
            grad_w = (grad * xhat).sum(dim=sum_axes).reshape(weight.shape)
        if need_b and bias is not None:
            grad_b = grad.sum(dim=sum_axes).reshape(bias.shape)
        return grad_x, grad_w, grad_b, None, None


def _check_tensor(x: Any, name: str, argument: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {argument} must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{name}: {argument} must be float32 or float64, got {x.dtype}")
    return x


def _check_param(p: Tensor | None, shape: tuple, dtype: Any, name: str, argument: str) -> None:
    if p is None:
        return
    _check_tensor(p, name, argument)
    if tuple(p.shape) != tuple(shape) or p.dtype != dtype:
        raise ShapeError(
            f"{name}: {argument} must have shape {tuple(shape)} and dtype {dtype}, got "
            f"shape {tuple(p.shape)} and dtype {p.dtype}"
        )


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift.

    ``out = (x - mean) / sqrt(var + eps) * weight + bias`` with the biased variance,
    the statistics taken per sample over the last ``len(normalized_shape)`` dims.

    Example::

        y = fastdl.nn.functional.layer_norm(x, (64,), weight, bias)   # x (..., 64)
    """
    _check_tensor(x, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or any(not isinstance(n, int) or n <= 0 for n in shape):
        raise ValueError(
            f"layer_norm: normalized_shape must be a non-empty tuple of positive ints, got "
            f"{normalized_shape!r}"
        )
    if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape) :]) != shape:
        raise ShapeError(
            f"layer_norm: input of shape {tuple(x.shape)} does not end in normalized_shape {shape}"
        )
    _check_param(weight, shape, x.dtype, "layer_norm", "weight")
    _check_param(bias, shape, x.dtype, "layer_norm", "bias")
    d = math.prod(shape)
    out, _, _ = _Normalize.apply(x, weight, bias, float(eps), (x.numel() // d, d))
    return out


def batch_norm(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (dim 1) of ``x`` (N, C, ...) then scale and shift.

    Training: batch statistics (biased variance) normalise, and ``running_mean`` /
    ``running_var`` (when given) are updated in place, as PyTorch does:
    ``running = (1 - momentum) * running + momentum * batch``, with the unbiased
    batch variance ``var * n / (n - 1)`` for ``running_var`` (n = N * prod(spatial)).
    Evaluation: the running statistics normalise.

    Example::

        y = fastdl.nn.functional.batch_norm(x, rm, rv, w, b, training=True)
    """
    _check_tensor(x, "batch_norm")
    if x.ndim < 2:
        raise ShapeError(
            f"batch_norm: input must have at least 2 dims (N, C, ...), got shape {tuple(x.shape)}"
        )
    c = x.shape[1]
    for argument, p in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        _check_param(p, (c,), x.dtype, "batch_norm", argument)
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError("batch_norm: running_mean and running_var are required when not training")
    n, length = x.shape[0], math.prod(x.shape[2:])
    if training and n * length <= 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, got input "
            f"of shape {tuple(x.shape)}"
        )
    if not training:
        x3 = x.reshape(n, c, length)
        return _affine_eval(x3, running_mean, running_var, weight, bias, eps).reshape(x.shape)
    out, mean, rstd = _Normalize.apply(x, weight, bias, float(eps), (n, c, length))
    if running_mean is not None:
        count = n * length
        with no_grad():
            unbiased = (1.0 / (rstd * rstd) - float(eps)) * (count / (count - 1))
            running_mean.copy_(running_mean * (1.0 - momentum) + mean * momentum)
            running_var.copy_(running_var * (1.0 - momentum) + unbiased * momentum)
    return out


def _affine_eval(x3, running_mean, running_var, weight, bias, eps) -> Tensor:
    """(x - running_mean) / sqrt(running_var + eps) * weight + bias on (N, C, L)."""
    with no_grad():
        inv_std = 1.0 / (running_var + float(eps)).sqrt()
    scale = inv_std if weight is None else weight * inv_std
    out = (x3 - running_mean.detach().reshape(-1, 1)) * scale.reshape(-1, 1)
    return out if bias is None else out + bias.reshape(-1, 1)
