"""conv1d, conv_transpose1d and conv_transpose2d, as ``torch.nn.functional``.

All three run on conv2d's kernels. A 1-D convolution is a 2-D one over a height-1
axis. A transposed convolution is the adjoint of conv2d in its input: its forward is
conv2d's input gradient ``Gx(x, w)`` (``x`` in the role of the upstream gradient, the
weight laid out (in_channels, out_channels / groups, kH, kW) exactly as conv2d's
(O, C / groups, kH, kW)), and its backward is conv2d itself (input gradient) and
conv2d's weight gradient with the roles of input and upstream gradient swapped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.errors import ShapeError
from fastdl.ops._util import contiguous, empty, is_contiguous
from fastdl.ops.conv import (
    _Conv2d,
    _conv2d,
    _Conv2dGradWeight,
    _grad_into,
    _stand_in,
    check_padding,
    pair,
)
from fastdl.tensor import Tensor


class _ConvTranspose2d(Function):
    """out = Gx(x, weight) + bias, for an output of shape ``out_shape``."""

    writes_leaf_grads = True

    @staticmethod
    def forward(ctx, x, weight, bias, geometry, out_shape):
        x, weight = contiguous(x), contiguous(weight)
        out = empty(tuple(out_shape), x.dtype)
        stand_in = _stand_in(tuple(out_shape), x.dtype)
        ctx.backend.conv2d_backward(stand_in, weight, x, *geometry, out, None, None)
        if bias is not None:
            ctx.backend.add(out, bias.reshape(1, -1, 1, 1), out)
        ctx.save_for_backward(x, weight)
        ctx.geometry, ctx.has_bias = geometry, bias is not None
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        _, buffer_w, buffer_b = ctx.grad_buffers[:3] or (None, None, None)
        grad = contiguous(grad)
        grad_x = grad_w = grad_b = None
        if need_x:
            grad_x = empty(x.shape, x.dtype)
            ctx.backend.conv2d(grad, weight, None, *ctx.geometry, grad_x)
        if need_w:
            grad_w = _grad_into(buffer_w, weight.shape, x.dtype)
            stand_in = _stand_in(weight.shape, weight.dtype)
            ctx.backend.conv2d_backward(grad, stand_in, x, *ctx.geometry, None, grad_w, None)
        if need_b and ctx.has_bias:
            grad_b = buffer_b if buffer_b is not None and is_contiguous(buffer_b) else None
            grad_b = grad_b if grad_b is not None else empty((grad.shape[1],), x.dtype)
            ctx.backend.sum(grad, (0, 2, 3), False, grad_b)
        return grad_x, grad_w, grad_b, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        x, weight, bias, geometry, _ = inputs
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        return (
            _Conv2d.apply(grad, weight, None, geometry, x.shape[2:]) if need_x else None,
            _Conv2dGradWeight.apply(grad, x, geometry, weight.shape) if need_w else None,
            grad.sum(dim=(0, 2, 3)) if need_b and bias is not None else None,
            None,
            None,
        )


# -- arguments --------------------------------------------------------------------------


def _one(value: Any, argument: str, name: str, minimum: int) -> int:
    """An int or a 1-tuple of ints, >= minimum, as an int."""
    items = value if isinstance(value, tuple | list) else (value,)
    ok = len(items) == 1 and isinstance(items[0], int | np.integer)
    if not ok or isinstance(items[0], bool):
        raise TypeError(f"{name}: {argument} must be an int or a 1-tuple of ints, got {value!r}")
    if items[0] < minimum:
        raise ValueError(f"{name}: {argument} must be >= {minimum}, got {value!r}")
    return int(items[0])


def _check_groups(groups: Any, name: str) -> int:
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    return int(groups)


def _check_operands(x: Any, weight: Any, bias: Any, rank: int, name: str) -> bool:
    """Types, ranks and dtypes; True when ``x`` is unbatched (one dim short)."""
    for argument, t in (("input", x), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {argument} must be a Tensor, got {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{name}: bias must be a Tensor or None, got {type(bias).__name__}")
    if x.ndim not in (rank, rank - 1):
        raise ShapeError(
            f"{name}: expected {rank - 1}-D (unbatched) or {rank}-D (batched) input, got "
            f"{x.ndim}-D input of shape {tuple(x.shape)}"
        )
    if weight.ndim != rank:
        raise ShapeError(
            f"{name}: weight must be {rank}-D, got weight of shape {tuple(weight.shape)}"
        )
    if not dtypes.is_floating(weight.dtype) or x.dtype != weight.dtype:
        raise ValueError(
            f"{name}: input dtype {x.dtype} must match weight dtype {weight.dtype} (float32 "
            "or float64)"
        )
    return x.ndim == rank - 1


def conv1d(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
) -> Tensor:
    """1-D cross-correlation of ``input`` (N, C, L) or (C, L) with ``weight`` (O, C/groups, k).

    As ``torch.nn.functional.conv1d``; ``padding`` is an int, a 1-tuple, "valid" or
    "same" (stride 1; the odd element of padding goes to the right).

    Example::

        y = fastdl.nn.functional.conv1d(x, w, padding=1)   # x (8, 4, 100), w (16, 4, 3)
        y.shape                                            # (8, 16, 100)
    """
    return _conv1d(input, weight, bias, stride, padding, dilation, groups, "conv1d")


def _conv1d(x, weight, bias, stride, padding, dilation, groups, name: str) -> Tensor:
    unbatched = _check_operands(x, weight, bias, 3, name)
    stride, dilation = _one(stride, "stride", name, 1), _one(dilation, "dilation", name, 1)
    if isinstance(padding, str):
        padding = check_padding(padding, (1, stride), name)
    else:
        padding = (0, _one(padding, "padding", name, 0))
    groups = _check_groups(groups, name)
    channels = x.shape[0 if unbatched else 1]
    if weight.shape[0] % groups or channels != weight.shape[1] * groups:
        raise ShapeError(
            f"{name}: input of shape {tuple(x.shape)} and weight of shape "
            f"{tuple(weight.shape)} do not fit groups={groups}: expected "
            f"{weight.shape[1] * groups} input channels and out_channels divisible by groups"
        )
    if not isinstance(padding, str):
        span = dilation * (weight.shape[2] - 1) + 1
        if x.shape[-1] + 2 * padding[1] < span:
            raise ShapeError(
                f"{name}: padded input length {x.shape[-1] + 2 * padding[1]} is shorter than "
                f"the dilated kernel ({span}); input shape {tuple(x.shape)}, weight shape "
                f"{tuple(weight.shape)}"
            )
    x4 = (x.unsqueeze(0) if unbatched else x).unsqueeze(2)
    out = _conv2d(
        x4, weight.unsqueeze(2), bias, (1, stride), padding, (1, dilation), groups, name
    ).squeeze(2)
    return out.squeeze(0) if unbatched else out


def transposed_size(size: int, stride: int, padding: int, dilation: int, kernel: int) -> int:
    """A transposed convolution's output length without output_padding."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1


def _conv_transpose2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
    name: str,
) -> Tensor:
    """conv_transpose2d with every check done first, errors naming ``name``."""
    unbatched = _check_operands(x, weight, bias, 4, name)
    stride = pair(stride, "stride", name, 1)
    padding = pair(padding, "padding", name, 0)
    output_padding = pair(output_padding, "output_padding", name, 0)
    dilation = pair(dilation, "dilation", name, 1)
    groups = _check_groups(groups, name)
    if unbatched:
        x = x.unsqueeze(0)
    cin, cg, kh, kw = weight.shape
    if min(weight.shape) < 1:
        raise ValueError(f"{name}: weight must have no empty dim, got shape {tuple(weight.shape)}")
    if cin % groups:
        raise ShapeError(
            f"{name}: weight's in_channels {cin} (weight shape {tuple(weight.shape)}) is not "
            f"divisible by groups={groups}"
        )
    if x.shape[1] != cin:
        raise ShapeError(
            f"{name}: expected input with {cin} channels (weight shape "
            f"{tuple(weight.shape)}), got input of shape {tuple(x.shape)}"
        )
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(
                f"{name}: output_padding {output_padding} must be smaller than either stride "
                f"{stride} or dilation {dilation}"
            )
    out_hw = tuple(
        transposed_size(n, s, p, d, k) + op
        for n, s, p, d, k, op in zip(
            x.shape[2:], stride, padding, dilation, (kh, kw), output_padding
        )
    )
    if min(out_hw) < 1:
        raise ShapeError(
            f"{name}: output size {out_hw} is too small for input of shape {tuple(x.shape)}, "
            f"weight shape {tuple(weight.shape)}, stride {stride}, padding {padding}"
        )
    cout = cg * groups
    if bias is not None and (tuple(bias.shape) != (cout,) or bias.dtype != x.dtype):
        raise ShapeError(
            f"{name}: bias must have shape {(cout,)} and dtype {x.dtype}, got shape "
            f"{tuple(bias.shape)} and dtype {bias.dtype}"
        )
    geometry = (stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], groups)
    out = _ConvTranspose2d.apply(x, weight, bias, geometry, (x.shape[0], cout, *out_hw))
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """2-D transposed convolution ("deconvolution") of ``input`` (N, C_in, H, W) or
    (C_in, H, W) with ``weight`` (C_in, C_out / groups, kH, kW).

    As ``torch.nn.functional.conv_transpose2d``: the output is
    ``(H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1`` high
    (the same across), the gradient of ``conv2d`` with the same arguments.

    Example::

        y = fastdl.nn.functional.conv_transpose2d(x, w, stride=2, padding=1)
        # x (8, 64, 16, 16), w (64, 32, 4, 4) -> y (8, 32, 32, 32)
    """
    return _conv_transpose2d(
        input, weight, bias, stride, padding, output_padding, groups, dilation,
        "conv_transpose2d",
    )  # fmt: skip


def _conv_transpose1d(x, weight, bias, stride, padding, output_padding, groups, dilation, name):
    unbatched = _check_operands(x, weight, bias, 3, name)
    stride, dilation = _one(stride, "stride", name, 1), _one(dilation, "dilation", name, 1)
    padding = _one(padding, "padding", name, 0)
    output_padding = _one(output_padding, "output_padding", name, 0)
    groups = _check_groups(groups, name)
    if weight.shape[0] % groups or x.shape[0 if unbatched else 1] != weight.shape[0]:
        raise ShapeError(
            f"{name}: input of shape {tuple(x.shape)} and weight of shape "
            f"{tuple(weight.shape)} do not fit groups={groups}: expected {weight.shape[0]} "
            "input channels, divisible by groups"
        )
    x4 = (x.unsqueeze(0) if unbatched else x).unsqueeze(2)
    out = _conv_transpose2d(
        x4, weight.unsqueeze(2), bias, (1, stride), (0, padding), (0, output_padding),
        groups, (1, dilation), name,
    ).squeeze(2)  # fmt: skip
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] = 0,
    output_padding: int | tuple[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int] = 1,
) -> Tensor:
    """1-D transposed convolution of ``input`` (N, C_in, L) or (C_in, L) with ``weight``
    (C_in, C_out / groups, k), as ``torch.nn.functional.conv_transpose1d``.

    Example::

        y = fastdl.nn.functional.conv_transpose1d(x, w, stride=2)   # x (4, 8, 10), w (8, 3, 2)
        y.shape                                                      # (4, 3, 20)
    """
    return _conv_transpose1d(
        input, weight, bias, stride, padding, output_padding, groups, dilation,
        "conv_transpose1d",
    )  # fmt: skip


__all__ = ["conv1d", "conv_transpose1d", "conv_transpose2d"]
