"""Pooling ops: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d.

Shaped as ``torch.nn.functional``: input ``(N, C, H, W)`` or ``(C, H, W)`` (a batch
of one, added and removed here), the window arguments an int or a pair. Every check
PyTorch makes (positive kernel, stride and dilation; padding at most half the kernel;
an output of at least one element) raises before any kernel runs, naming the layer.

Max pooling saves the flat argmax of each window; its backward scatters the gradient
there (``max_pool2d_backward``, also used by adaptive max pooling). Average pooling is
linear, so its backward is the adjoint kernel and the adjoint's backward is the
forward kernel again, which makes gradients of any order cheap.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.backends.spec import pool_output_size
from fastdl.errors import ShapeError
from fastdl.ops._util import contiguous, empty
from fastdl.ops.shape import scatter
from fastdl.tensor import Tensor


class Window(NamedTuple):
    """A checked 2-D pooling window: kernel, stride, padding and dilation per axis."""

    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int = 1
    dw: int = 1


# -- argument checks ------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _pair(value: Any, name: str, argument: str) -> tuple[int, int]:
    """An int or a sequence of one or two ints -> (a, b)."""
    if _is_int(value):
        return int(value), int(value)
    if isinstance(value, tuple | list) and all(map(_is_int, value)):
        if len(value) in (1, 2):
            return int(value[0]), int(value[-1])
        raise ValueError(f"{name}: {argument} must be an int or a pair of ints, got {value!r}")
    raise TypeError(f"{name}: {argument} must be an int or a pair of ints, got {value!r}")


def check_window(
    name: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1
) -> Window:
    """The window of a pooling layer, checked as PyTorch does (``stride=None`` or ``()``
    means ``stride=kernel_size``)."""
    kernel = _pair(kernel_size, name, "kernel_size")
    empty_stride = stride is None or (isinstance(stride, tuple | list) and not stride)
    step = kernel if empty_stride else _pair(stride, name, "stride")
    pad = _pair(padding, name, "padding")
    dil = _pair(dilation, name, "dilation")
    for argument, pair, low in (
        ("kernel_size", kernel, 1),
        ("stride", step, 1),
        ("padding", pad, 0),
        ("dilation", dil, 1),
    ):
        if min(pair) < low:
            bound = "positive" if low else "non-negative"
            raise ValueError(f"{name}: {argument} must be {bound}, got {pair}")
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ShapeError(
            f"{name}: padding must be at most half of kernel_size, got padding={pad} "
            f"and kernel_size={kernel}"
        )
    return Window(kernel[0], kernel[1], step[0], step[1], pad[0], pad[1], dil[0], dil[1])


def _check_input(x: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{name}: input must be float32 or float64, got {x.dtype}")
    if x.ndim not in (3, 4) or 0 in x.shape[-3:]:
        raise ValueError(
            f"{name}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input with non-zero C, H "
            f"and W, got shape {tuple(x.shape)}"
        )
    return x


def _output_hw(name: str, shape: tuple, window: Window, ceil_mode: bool) -> tuple[int, int]:
    h, w = shape[-2:]
    ho = pool_output_size(h, window.kh, window.sh, window.ph, window.dh, ceil_mode)
    wo = pool_output_size(w, window.kw, window.sw, window.pw, window.dw, ceil_mode)
    if ho < 1 or wo < 1:
        raise ShapeError(
            f"{name}: input of shape {tuple(shape)} is too small for kernel_size="
            f"{(window.kh, window.kw)}, stride={(window.sh, window.sw)}, padding="
            f"{(window.ph, window.pw)}, dilation={(window.dh, window.dw)}: the output would "
            f"be {ho}x{wo}"
        )
    return ho, wo


def check_output_size(name: str, output_size: Any) -> tuple[int | None, int | None]:
    """An adaptive pool's output_size: an int, or a pair of ints or None (keep that size)."""

    def ok(v: Any) -> bool:
        return v is None or _is_int(v)

    if _is_int(output_size):
        pair = (int(output_size), int(output_size))
    elif (
        isinstance(output_size, tuple | list)
        and len(output_size) == 2
        and all(map(ok, output_size))
    ):
        pair = tuple(None if v is None else int(v) for v in output_size)
    else:
        raise TypeError(
            f"{name}: output_size must be an int or a pair of ints or None, got {output_size!r}"
        )
    if any(v is not None and v < 0 for v in pair):
        raise ValueError(f"{name}: output_size must be non-negative, got {output_size!r}")
    return pair


# -- autograd functions ---------------------------------------------------------------------


class MaxPool2d(Function):
    """(out, indices) = max pool of x (N,C,H,W); window None means adaptive bins."""

    @staticmethod
    def forward(ctx, x, window, out_hw):
        x = contiguous(x)
        shape = x.shape[:2] + tuple(out_hw)
        out = empty(shape, x.dtype)
        indices = empty(shape, np.int64)
        if window is None:
            ctx.backend.adaptive_max_pool2d(x, out, indices)
        else:
            ctx.backend.max_pool2d(x, *window, out, indices)
        ctx.in_shape = x.shape
        ctx.save_for_backward(indices)
        return out, indices

    @staticmethod
    def backward(ctx, grad):
        (indices,) = ctx.saved
        grad_x = empty(ctx.in_shape, grad.dtype)
        ctx.backend.max_pool2d_backward(contiguous(grad), indices, grad_x)
        return grad_x, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        n, c, h, w = ctx.in_shape
        plane_index = ctx.saved[0].reshape(n * c, -1)
        flat = (plane_index + (h * w) * np.arange(n * c)[:, None]).reshape(-1)
        values = grad.reshape(-1)
        inside = ((plane_index >= 0) & (plane_index < h * w)).reshape(-1)
        if not inside.all():  # windows with no input element (dilation) get no gradient
            keep = np.flatnonzero(inside)
            values, flat = values[(keep,)], flat[keep]
        grad_x = scatter(values, (n * c * h * w,), (flat,)).reshape(ctx.in_shape)
        return grad_x, None, None


def _avg(backend: Any, x: np.ndarray, params: tuple | None, out: np.ndarray) -> None:
    """out = the average pool of x; params (kh, kw, sh, sw, ph, pw, count_include_pad,
    divisor) or None for adaptive bins."""
    if params is None:
        backend.adaptive_avg_pool2d(x, out)
    else:
        backend.avg_pool2d(x, *params, out)


def _avg_adjoint(backend: Any, grad: np.ndarray, params: tuple | None, grad_x: np.ndarray):
    if params is None:
        backend.adaptive_avg_pool2d_backward(grad, grad_x)
    else:
        backend.avg_pool2d_backward(grad, *params, grad_x)


class AvgPool2d(Function):
    """out = average pool of x (N,C,H,W) into out_hw."""

    @staticmethod
    def forward(ctx, x, params, out_hw):
        x = contiguous(x)
        out = empty(x.shape[:2] + tuple(out_hw), x.dtype)
        _avg(ctx.backend, x, params, out)
        ctx.in_shape, ctx.params = x.shape, params
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_x = empty(ctx.in_shape, grad.dtype)
        _avg_adjoint(ctx.backend, contiguous(grad), ctx.params, grad_x)
        return grad_x, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return AvgPool2dAdjoint.apply(grad, ctx.params, ctx.in_shape[2:]), None, None


class AvgPool2dAdjoint(Function):
    """grad_x (N,C,H,W) = the adjoint of the average pool applied to grad (N,C,Ho,Wo)."""

    @staticmethod
    def forward(ctx, grad, params, in_hw):
        grad = contiguous(grad)
        grad_x = empty(grad.shape[:2] + tuple(in_hw), grad.dtype)
        _avg_adjoint(ctx.backend, grad, params, grad_x)
        ctx.out_hw, ctx.params = grad.shape[2:], params
        return grad_x

    @staticmethod
    def backward(ctx, gg):
        gg = contiguous(gg)
        out = empty(gg.shape[:2] + tuple(ctx.out_hw), gg.dtype)
        _avg(ctx.backend, gg, ctx.params, out)
        return out, None, None

    @classmethod
    def backward_graph(cls, ctx, gg, inputs):
        return AvgPool2d.apply(gg, ctx.params, ctx.out_hw), None, None


# -- the functions --------------------------------------------------------------------------


def _batched(x: Tensor) -> Tensor:
    return x if x.ndim == 4 else x.reshape((1,) + tuple(x.shape))


def _unbatched(t: Tensor, like: Tensor) -> Tensor:
    return t if like.ndim == 4 else t.reshape(tuple(t.shape[1:]))


def max_pool2d_named(
    name: str,
    x: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """``max_pool2d`` with ``name`` in its error messages (the module's or the function's)."""
    _check_input(x, name)
    window = check_window(name, kernel_size, stride, padding, dilation)
    out_hw = _output_hw(name, x.shape, window, bool(ceil_mode))
    out, indices = MaxPool2d.apply(_batched(x), window, out_hw)
    out, indices = _unbatched(out, x), _unbatched(indices, x)
    return (out, indices) if return_indices else out


def avg_pool2d_named(
    name: str,
    x: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """``avg_pool2d`` with ``name`` in its error messages."""
    _check_input(x, name)
    window = check_window(name, kernel_size, stride, padding)
    divisor = check_divisor(name, divisor_override)
    out_hw = _output_hw(name, x.shape, window, bool(ceil_mode))
    params = window[:6] + (bool(count_include_pad), divisor)
    return _unbatched(AvgPool2d.apply(_batched(x), params, out_hw), x)


def check_divisor(name: str, divisor_override: Any) -> int:
    """divisor_override as the kernels take it: a nonzero int, or 0 for None."""
    if divisor_override is None:
        return 0
    if not _is_int(divisor_override):
        raise TypeError(
            f"{name}: divisor_override must be an int or None, got {divisor_override!r}"
        )
    if divisor_override == 0:
        raise ValueError(f"{name}: divisor_override must be nonzero, got 0")
    return int(divisor_override)


def _adaptive_hw(name: str, x: Tensor, output_size: Any) -> tuple[int, int]:
    _check_input(x, name)
    size = check_output_size(name, output_size)
    return tuple(x.shape[-2 + i] if v is None else v for i, v in enumerate(size))


def adaptive_avg_pool2d_named(name: str, x: Tensor, output_size: Any) -> Tensor:
    """``adaptive_avg_pool2d`` with ``name`` in its error messages."""
    out_hw = _adaptive_hw(name, x, output_size)
    return _unbatched(AvgPool2d.apply(_batched(x), None, out_hw), x)


def adaptive_max_pool2d_named(
    name: str, x: Tensor, output_size: Any, return_indices: bool = False
) -> Any:
    """``adaptive_max_pool2d`` with ``name`` in its error messages."""
    out_hw = _adaptive_hw(name, x, output_size)
    out, indices = MaxPool2d.apply(_batched(x), None, out_hw)
    out, indices = _unbatched(out, x), _unbatched(indices, x)
    return (out, indices) if return_indices else out


def max_pool2d(
    input: Tensor,  # noqa: A002
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """2-D max pooling over ``(N, C, H, W)`` or ``(C, H, W)``, as PyTorch.

    Padding counts as -inf; ties go to the first maximum in row-major order and a NaN
    in a window is its maximum. With ``return_indices`` also returns the int64 flat
    indices ``h * W + w`` of the maxima within each plane.

    Example::

        y = fastdl.nn.functional.max_pool2d(x, 2)          # (64, 6, 24, 24) -> (64, 6, 12, 12)
    """
    return max_pool2d_named(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices
    )


def avg_pool2d(
    input: Tensor,  # noqa: A002
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling over ``(N, C, H, W)`` or ``(C, H, W)``, as PyTorch.

    Each window's sum is divided by ``divisor_override`` if given, else by the window's
    area clipped to the padded input (``count_include_pad=True``) or to the input.

    Example::

        y = fastdl.nn.functional.avg_pool2d(x, 3, stride=2, padding=1)
    """
    return avg_pool2d_named(
        "avg_pool2d",
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
    )


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Average pooling to a fixed ``output_size`` (an int, or a pair whose None entries
    keep the input's size), with PyTorch's bins ``[floor(i H / Ho), ceil((i + 1) H / Ho))``.

    Example::

        y = fastdl.nn.functional.adaptive_avg_pool2d(x, 1)   # global average pool
    """
    return adaptive_avg_pool2d_named("adaptive_avg_pool2d", input, output_size)


def adaptive_max_pool2d(
    input: Tensor,  # noqa: A002
    output_size: Any,
    return_indices: bool = False,
) -> Any:
    """Max pooling to a fixed ``output_size`` over the bins of ``adaptive_avg_pool2d``,
    with ``max_pool2d``'s rules for ties, NaN and ``return_indices``.

    Example::

        y = fastdl.nn.functional.adaptive_max_pool2d(x, (7, 7))
    """
    return adaptive_max_pool2d_named("adaptive_max_pool2d", input, output_size, return_indices)
