"""2-D convolution: ``conv2d``, as ``torch.nn.functional.conv2d``.

Three bilinear maps share one geometry (stride, padding, dilation, groups): the
convolution ``F(x, w)``, its input gradient ``Gx(g, w)`` and its weight gradient
``Gw(x, g)``. Each is the adjoint of the others (<u, Gx(g, w)> = <F(u, w), g> =
<Gw(u, g), w>), so every derivative of each is one of the three, and each is a
Function whose backward calls the ``conv2d`` / ``conv2d_backward`` kernels: that
gives double backward (Hessian-vector products through convolutions) for free.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.errors import ShapeError
from fastdl.ops._util import broadcast_view, contiguous, empty, is_contiguous, zeros
from fastdl.tensor import Tensor

# (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups): the kernels' geometry
# arguments; pad_h/pad_w are the zero rows/columns above/left of the input.
Geometry = tuple[int, int, int, int, int, int, int]


def _stand_in(shape: tuple, dtype: np.dtype) -> Any:
    """A zero array of ``shape`` that costs nothing: for a kernel argument whose values
    are not read (conv2d_backward reads x only for grad_weight, weight only for grad_x)."""
    return broadcast_view(zeros((), dtype), shape)


def _grad_into(buffer: Any, shape: tuple, dtype: np.dtype) -> Any:
    """A stale leaf-gradient buffer to compute into, or a new array."""
    if buffer is not None and is_contiguous(buffer):
        return buffer
    return empty(shape, dtype)


class _Conv2d(Function):
    """out = F(x, weight) + bias, output size (OH, OW) given."""

    writes_leaf_grads = True

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, out_hw):
        x, weight = contiguous(x), contiguous(weight)
        out = empty((x.shape[0], weight.shape[0], *out_hw), x.dtype)
        ctx.backend.conv2d(x, weight, bias, *geometry, out)
        ctx.save_for_backward(x, weight)
        ctx.geometry, ctx.has_bias = geometry, bias is not None
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        _, buffer_w, buffer_b = ctx.grad_buffers[:3] or (None, None, None)
        grad_x = empty(x.shape, x.dtype) if need_x else None
        grad_w = _grad_into(buffer_w, weight.shape, x.dtype) if need_w else None
        grad_b = None
        if need_b and ctx.has_bias:
            grad_b = _grad_into(buffer_b, weight.shape[:1], x.dtype)
        ctx.backend.conv2d_backward(
            x, weight, contiguous(grad), *ctx.geometry, grad_x, grad_w, grad_b
        )
        return grad_x, grad_w, grad_b, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        x, weight, bias, geometry, _ = inputs
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        return (
            _Conv2dGradInput.apply(grad, weight, geometry, x.shape) if need_x else None,
            _Conv2dGradWeight.apply(x, grad, geometry, weight.shape) if need_w else None,
            grad.sum(dim=(0, 2, 3)) if need_b and bias is not None else None,
            None,
            None,
        )


class _Conv2dGradInput(Function):
    """grad_x = Gx(grad_out, weight) for an input of shape ``x_shape``."""

    @staticmethod
    def forward(ctx, grad_out, weight, geometry, x_shape):
        grad_out, weight = contiguous(grad_out), contiguous(weight)
        grad_x = empty(tuple(x_shape), grad_out.dtype)
        stand_in = _stand_in(tuple(x_shape), grad_out.dtype)
        ctx.backend.conv2d_backward(stand_in, weight, grad_out, *geometry, grad_x, None, None)
        ctx.save_for_backward(grad_out, weight)
        ctx.geometry = geometry
        return grad_x

    @staticmethod
    def backward(ctx, u):
        grad_out, weight = ctx.saved
        need_g, need_w = ctx.needs_input_grad[:2]
        u = contiguous(u)
        d_grad = None
        if need_g:
            d_grad = empty(grad_out.shape, grad_out.dtype)
            ctx.backend.conv2d(u, weight, None, *ctx.geometry, d_grad)
        d_weight = empty(weight.shape, weight.dtype) if need_w else None
        if need_w:
            stand_in = _stand_in(weight.shape, weight.dtype)
            ctx.backend.conv2d_backward(u, stand_in, grad_out, *ctx.geometry, None, d_weight, None)
        return d_grad, d_weight, None, None

    @classmethod
    def backward_graph(cls, ctx, u, inputs):
        grad_out, weight, geometry, _ = inputs
        need_g, need_w = ctx.needs_input_grad[:2]
        return (
            _Conv2d.apply(u, weight, None, geometry, grad_out.shape[2:]) if need_g else None,
            _Conv2dGradWeight.apply(u, grad_out, geometry, weight.shape) if need_w else None,
            None,
            None,
        )


class _Conv2dGradWeight(Function):
    """grad_weight = Gw(x, grad_out) for a weight of shape ``w_shape``."""

    @staticmethod
    def forward(ctx, x, grad_out, geometry, w_shape):
        x, grad_out = contiguous(x), contiguous(grad_out)
        grad_w = empty(tuple(w_shape), x.dtype)
        stand_in = _stand_in(tuple(w_shape), x.dtype)
        ctx.backend.conv2d_backward(x, stand_in, grad_out, *geometry, None, grad_w, None)
        ctx.save_for_backward(x, grad_out)
        ctx.geometry = geometry
        return grad_w

    @staticmethod
    def backward(ctx, u):
        x, grad_out = ctx.saved
        need_x, need_g = ctx.needs_input_grad[:2]
        u = contiguous(u)
        d_x = empty(x.shape, x.dtype) if need_x else None
        if need_x:
            stand_in = _stand_in(x.shape, x.dtype)
            ctx.backend.conv2d_backward(stand_in, u, grad_out, *ctx.geometry, d_x, None, None)
        d_grad = None
        if need_g:
            d_grad = empty(grad_out.shape, grad_out.dtype)
            ctx.backend.conv2d(x, u, None, *ctx.geometry, d_grad)
        return d_x, d_grad, None, None

    @classmethod
    def backward_graph(cls, ctx, u, inputs):
        x, grad_out, geometry, _ = inputs
        need_x, need_g = ctx.needs_input_grad[:2]
        return (
            _Conv2dGradInput.apply(grad_out, u, geometry, x.shape) if need_x else None,
            _Conv2d.apply(x, u, None, geometry, grad_out.shape[2:]) if need_g else None,
            None,
            None,
        )


# -- arguments --------------------------------------------------------------------------


def pair(value: Any, argument: str, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum, as a pair (``kernel_size=3`` -> (3, 3))."""
    items = (value, value) if isinstance(value, int | np.integer) else value
    ok = isinstance(items, Sequence) and len(items) == 2
    ok = ok and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items)
    if not ok or isinstance(value, bool):
        raise TypeError(f"{name}: {argument} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name}: {argument} must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def check_padding(padding: Any, stride: tuple[int, int], name: str) -> str | tuple[int, int]:
    """ "valid", "same" (stride 1 only, as PyTorch) or a pair of non-negative ints."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(
                f"{name}: invalid padding string {padding!r}, should be one of ('valid', 'same')"
            )
        if padding == "same" and stride != (1, 1):
            raise ValueError(
                f"{name}: padding='same' is not supported for strided convolutions "
                f"(stride={stride})"
            )
        return padding
    return pair(padding, "padding", name, 0)


def _resolve_padding(padding, kernel, dilation) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, left), (bottom, right)) zero padding. "same" splits the total
    dilation * (kernel - 1) as PyTorch does: the odd one goes below / right."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        before = tuple(t // 2 for t in total)
        return before, tuple(t - b for t, b in zip(total, before))
    return padding, padding


def _check_tensors(x, weight, bias, name: str) -> None:
    for argument, t in (("input", x), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {argument} must be a Tensor, got {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{name}: bias must be a Tensor or None, got {type(bias).__name__}")
    if x.ndim != 4:
        raise ShapeError(
            f"{name}: expected 4-D (N, C, H, W) input, got {x.ndim}-D input of shape "
            f"{tuple(x.shape)}"
        )
    if weight.ndim != 4:
        raise ShapeError(
            f"{name}: weight must be 4-D (out_channels, in_channels / groups, kH, kW), got "
            f"shape {tuple(weight.shape)}"
        )
    if weight.shape[2] < 1 or weight.shape[3] < 1:
        raise ValueError(
            f"{name}: weight's kernel size must be greater than zero, got weight shape "
            f"{tuple(weight.shape)}"
        )
    if weight.shape[0] < 1 or weight.shape[1] < 1:
        raise ValueError(
            f"{name}: weight must have at least one output and one input channel, got "
            f"weight shape {tuple(weight.shape)}"
        )
    if not dtypes.is_floating(weight.dtype) or x.dtype != weight.dtype:
        raise ValueError(
            f"{name}: input dtype {x.dtype} must match weight dtype {weight.dtype} (float32 "
            "or float64)"
        )
    if bias is not None and (tuple(bias.shape) != tuple(weight.shape[:1]) or bias.dtype != x.dtype):
        raise ShapeError(
            f"{name}: bias must have shape {tuple(weight.shape[:1])} and dtype {x.dtype}, got "
            f"shape {tuple(bias.shape)} and dtype {bias.dtype}"
        )


def _conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    name: str,
) -> Tensor:
    """conv2d with every check done first, errors naming ``name``."""
    _check_tensors(x, weight, bias, name)
    stride, dilation = pair(stride, "stride", name, 1), pair(dilation, "dilation", name, 1)
    padding = check_padding(padding, stride, name)
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    o, cg, kh, kw = weight.shape
    if o % groups:
        raise ShapeError(
            f"{name}: out_channels {o} (weight shape {tuple(weight.shape)}) is not divisible "
            f"by groups={groups}"
        )
    if x.shape[1] != cg * groups:
        raise ShapeError(
            f"{name}: expected input with {cg * groups} channels (weight shape "
            f"{tuple(weight.shape)}, groups={groups}), got input of shape {tuple(x.shape)}"
        )
    (top, left), (bottom, right) = _resolve_padding(padding, (kh, kw), dilation)
    padded = (x.shape[2] + top + bottom, x.shape[3] + left + right)
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    if padded[0] < span[0] or padded[1] < span[1]:
        raise ShapeError(
            f"{name}: padded input size per channel ({padded[0]} x {padded[1]}) is smaller "
            f"than the dilated kernel ({span[0]} x {span[1]}); input shape {tuple(x.shape)}, "
            f"weight shape {tuple(weight.shape)}"
        )
    out_hw = ((padded[0] - span[0]) // stride[0] + 1, (padded[1] - span[1]) // stride[1] + 1)
    geometry = (stride[0], stride[1], top, left, dilation[0], dilation[1], int(groups))
    return _Conv2d.apply(x, weight, bias, geometry, out_hw)


def conv2d(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation of ``input`` (N, C, H, W) with ``weight`` (O, C/groups, kH, kW).

    As ``torch.nn.functional.conv2d``: ``padding`` is an int, a pair or "valid"/"same"
    ("same" needs stride 1 and puts the odd row/column of padding below/right). Unlike
    PyTorch, an unbatched 3-D input is refused (ValueError): add the batch dim.

    Example::

        y = fastdl.nn.functional.conv2d(x, w, b, padding=1)   # x (8, 3, 32, 32), w (16, 3, 3, 3)
        y.shape                                                # (8, 16, 32, 32)
    """
    return _conv2d(input, weight, bias, stride, padding, dilation, groups, "conv2d")
