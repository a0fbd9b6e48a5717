"""Activations: ReLU, LeakyReLU, sigmoid, tanh, softmax and log-softmax along any dim.

Pointwise activations differentiate from their output, so the fused
``linear_act`` kernel (see :mod:`fastdl.ops.linear`) needs to keep only ``y``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.ops import elementwise
from fastdl.ops import inplace as _inplace
from fastdl.ops._util import contiguous, empty, normalize_dim
from fastdl.tensor import Tensor


class Activation(Function):
    @staticmethod
    def forward(ctx, x, act, negative_slope):
        x = contiguous(x)
        out = empty(x.shape, x.dtype)
        ctx.backend.act_forward(x, act, negative_slope, out)
        ctx.save_for_backward(out)
        ctx.act, ctx.negative_slope = act, negative_slope
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        grad_x = empty(y.shape, y.dtype)
        ctx.backend.act_backward(y, contiguous(grad), ctx.act, ctx.negative_slope, grad_x)
        return grad_x, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        x, act, negative_slope = inputs
        return activation_grad_graph(ctx.backend, x, grad, act, negative_slope), None, None


def activation_grad_graph(be, x: Tensor, grad: Tensor, act: str, negative_slope: float) -> Tensor:
    """grad * act'(x) from differentiable ops (double backward of any activation)."""
    if act in ("relu", "leaky_relu"):
        positive = empty(x.shape, dtypes.bool_)
        be.compare(x._data, np.zeros((), x.dtype), "gt", positive)
        slope = empty(x.shape, x.dtype)
        low = negative_slope if act == "leaky_relu" else 0.0
        be.where(positive, np.ones((), x.dtype), np.asarray(low, x.dtype), slope)
        return grad * Tensor._wrap(slope)
    y = Activation.apply(x, act, negative_slope)
    if act == "sigmoid":
        return grad * y * (1.0 - y)
    return grad * (1.0 - y * y)  # tanh


def _floating(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{name}: input must be float32 or float64, got {x.dtype}")
    return x


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); with ``inplace`` written into ``x`` (see :mod:`fastdl.ops.inplace`).

    Example: ``fastdl.nn.functional.relu(fastdl.tensor([-1.0, 2.0]))``."""
    _floating(x, "relu")
    if inplace:
        return _inplace.apply(x, "relu_", relu, needs_old=False)  # differentiates from y
    return Activation.apply(x, "relu", 0.0)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise; with ``inplace`` written into ``x``."""
    _floating(x, "leaky_relu")
    if inplace:
        return _inplace.apply(
            x, "leaky_relu_", lambda s: leaky_relu(s, negative_slope), needs_old=negative_slope < 0
        )
    if negative_slope > 0:
        return Activation.apply(x, "leaky_relu", float(negative_slope))
    if negative_slope == 0:
        return relu(x)
    # A negative slope makes y > 0 on both sides: differentiate from x instead.
    return elementwise.where((x > 0)._data, x, x * float(negative_slope))


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), finite for any input."""
    return Activation.apply(_floating(x, "sigmoid"), "sigmoid", 0.0)


def tanh(x: Tensor) -> Tensor:
    return Activation.apply(_floating(x, "tanh"), "tanh", 0.0)


class _RowSoftmax(Function):
    """Softmax or log-softmax over the last axis of a 2-D array."""

    @staticmethod
    def forward(ctx, x, log):
        out = empty(x.shape, x.dtype)
        (ctx.backend.log_softmax if log else ctx.backend.softmax)(x, out)
        ctx.save_for_backward(out)
        ctx.log = log
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        grad_x = empty(y.shape, y.dtype)
        kernel = ctx.backend.log_softmax_backward if ctx.log else ctx.backend.softmax_backward
        kernel(y, contiguous(grad), grad_x)
        return grad_x, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        y = _RowSoftmax.apply(inputs[0], ctx.log)
        if ctx.log:
            return grad - y.exp() * grad.sum(-1, keepdim=True), None
        return y * (grad - (grad * y).sum(-1, keepdim=True)), None


def _along(x: Tensor, dim: Any, log: bool, name: str) -> Tensor:
    _floating(x, name)
    if dim is None:
        raise TypeError(f"{name}: dim is required (as in torch.nn.functional.{name})")
    if x.ndim == 0:
        return _RowSoftmax.apply(x.reshape(1, 1), log).reshape(())
    dim = normalize_dim(dim, x.ndim)
    if x.numel() == 0:  # nothing to normalise: an empty result still in the graph
        return x * 0
    moved = x if dim == x.ndim - 1 else x.transpose(dim, -1)
    count = math.prod(moved.shape[:-1])  # not -1: an empty tensor has none to infer
    rows = moved.contiguous().reshape(count, moved.shape[-1])
    out = _RowSoftmax.apply(rows, log).reshape(moved.shape)
    return out if dim == x.ndim - 1 else out.transpose(dim, -1)


def softmax(x: Tensor, dim: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed max-subtracted (stable)."""
    return _along(x, dim, False, "softmax")


def log_softmax(x: Tensor, dim: Any = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed without forming softmax (stable)."""
    return _along(x, dim, True, "log_softmax")
