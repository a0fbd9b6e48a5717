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
from fastdl.autograd import Function, no_grad
from fastdl.ops._util import contiguous, empty
from fastdl.tensor import Tensor


class _Normalize(Function):
    """out, mean, rstd = kernel(x, weight, bias, eps); x (N,D) or (N,C,L)."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps, batch):
        x = contiguous(x)
        stats = x.shape[1] if batch else x.shape[0]
        out = empty(x.shape, x.dtype)
        mean = empty((stats,), dtypes.float64)
        rstd = empty((stats,), dtypes.float64)
        kernel = ctx.backend.batch_norm if batch else ctx.backend.layer_norm
        kernel(x, weight, bias, eps, out, mean, rstd)
        ctx.save_for_backward(x, weight, mean, rstd)
        ctx.batch, ctx.has_bias = batch, bias is not None
        return out, mean, rstd

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
        kernel(x, weight, mean, rstd, contiguous(grad), grad_x, grad_w, grad_b)
        return grad_x, grad_w, grad_b, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        x, weight, bias, eps, batch = inputs
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
            grad_x = rstd * (g - mean_g - xhat * mean_gx)
        sum_axes = (0, 2) if batch else (0,)
        grad_w = (grad * xhat).sum(dim=sum_axes) if need_w and weight is not None else None
        grad_b = grad.sum(dim=sum_axes) if need_b and bias is not None else None
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
        raise ValueError(
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
        raise ValueError(
            f"layer_norm: input of shape {tuple(x.shape)} does not end in normalized_shape {shape}"
        )
    _check_param(weight, shape, x.dtype, "layer_norm", "weight")
    _check_param(bias, shape, x.dtype, "layer_norm", "bias")
    d = math.prod(shape)
    rows = x.reshape(-1, d)
    w = weight.reshape(d) if weight is not None else None
    b = bias.reshape(d) if bias is not None else None
    out, _, _ = _Normalize.apply(rows, w, b, float(eps), False)
    return out.reshape(x.shape)


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
        raise ValueError(
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
    x3 = x.reshape(n, c, length)
    if not training:
        return _affine_eval(x3, running_mean, running_var, weight, bias, eps).reshape(x.shape)
    out, mean, rstd = _Normalize.apply(x3, weight, bias, float(eps), True)
    if running_mean is not None:
        count = n * length
        with no_grad():
            unbiased = (1.0 / (rstd * rstd) - float(eps)) * (count / (count - 1))
            running_mean.copy_(running_mean * (1.0 - momentum) + mean * momentum)
            running_var.copy_(running_var * (1.0 - momentum) + unbiased * momentum)
    return out.reshape(x.shape)


def _affine_eval(x3, running_mean, running_var, weight, bias, eps) -> Tensor:
    """(x - running_mean) / sqrt(running_var + eps) * weight + bias on (N, C, L)."""
    with no_grad():
        inv_std = 1.0 / (running_var + float(eps)).sqrt()
    scale = inv_std if weight is None else weight * inv_std
    out = (x3 - running_mean.detach().reshape(-1, 1)) * scale.reshape(-1, 1)
    return out if bias is None else out + bias.reshape(-1, 1)
