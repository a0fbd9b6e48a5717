"""Matrix product with PyTorch's ``@`` semantics (1-D operands, batching, broadcasting)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.errors import ShapeError
from fastdl.ops._util import (
    contiguous,
    empty,
    expand_dims,
    reshape_array,
    transpose_array,
    unbroadcast,
)
from fastdl.ops.reduce import sum_to
from fastdl.tensor import Tensor


def _swap_last(a: Any) -> Any:
    dims = list(range(a.ndim))
    dims[-1], dims[-2] = dims[-2], dims[-1]
    return transpose_array(a, tuple(dims))


def _product_shape(a: tuple, b: tuple) -> tuple:
    return np.broadcast_shapes(a[:-2], b[:-2]) + (a[-2], b[-1])


class Matmul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        out = empty(_product_shape(a2.shape, b2.shape), a.dtype)
        ctx.backend.matmul(contiguous(a2), contiguous(b2), out)
        if a.ndim == 1:
            out = out[..., 0, :]
        if b.ndim == 1:
            out = out[..., 0]
        return out

    @staticmethod
    def backward(ctx, grad):
        be, (a, b) = ctx.backend, ctx.saved
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad
        if a.ndim == 1:
            g = expand_dims(g, g.ndim - 1)
        if b.ndim == 1:
            g = expand_dims(g, g.ndim)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            b_t = _swap_last(b2)
            ga = empty(_product_shape(g.shape, b_t.shape), g.dtype)
            be.matmul(g, b_t, ga)
            grad_a = reshape_array(unbroadcast(be, ga, a2.shape), a.shape)
        if ctx.needs_input_grad[1]:
            a_t = _swap_last(a2)
            gb = empty(_product_shape(a_t.shape, g.shape), g.dtype)
            be.matmul(a_t, g, gb)
            grad_b = reshape_array(unbroadcast(be, gb, b2.shape), b.shape)
        return grad_a, grad_b

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        a, b = inputs
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        g = grad
        if a.ndim == 1:
            g = g.reshape(g.shape[:-1] + (1,) + g.shape[-1:]) if g.ndim else g.reshape(1)
        if b.ndim == 1:
            g = g.reshape(g.shape + (1,))
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = sum_to(g @ b2.transpose(-1, -2), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = sum_to(a2.transpose(-1, -2) @ g, b2.shape).reshape(b.shape)
        return grad_a, grad_b


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b``. Example: ``fastdl.randn(2, 3) @ fastdl.randn(3, 4)`` has shape (2, 4)."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both operands must be Tensors")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: both operands must have at least one dimension")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied ({k_a} != {k_b})"
        )
    dtype = dtypes.promote(a.dtype, b.dtype)
    if dtype == dtypes.bool_:
        raise TypeError("matmul: bool tensors are not supported")
    return Matmul.apply(a.to(dtype), b.to(dtype))
