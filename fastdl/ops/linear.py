"""Dense layer op: y = act(x @ W.T + b), the bias and activation fused into the matmul epilogue."""

from __future__ import annotations

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.errors import ShapeError
from fastdl.ops._util import contiguous, empty
from fastdl.ops.activation import activation_grad_graph, leaky_relu
from fastdl.tensor import Tensor


class Linear(Function):
    writes_leaf_grads = True

    @staticmethod
    def forward(ctx, x, weight, bias, act, negative_slope):
        lead = x.shape[:-1]
        x2 = contiguous(x.reshape(-1, x.shape[-1]))
        out = empty((x2.shape[0], weight.shape[0]), x.dtype)
        if act is None:
            ctx.backend.linear(x2, weight, bias, out)
        else:
            ctx.backend.linear_act(x2, weight, bias, act, negative_slope, out)
        ctx.save_for_backward(x2, weight, out if act is not None else None)
        ctx.act, ctx.negative_slope, ctx.lead = act, negative_slope, lead
        ctx.has_bias = bias is not None
        return out.reshape(lead + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        be = ctx.backend
        x2, weight, y = ctx.saved
        grad = contiguous(grad.reshape(-1, weight.shape[0]))
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        # Stale leaf gradients (weight, bias) are computed into directly.
        _, buffer_w, buffer_b = ctx.grad_buffers[:3] or (None, None, None)
        grad_x = empty(x2.shape, x2.dtype) if need_x else None
        grad_w = None
        if need_w:
            grad_w = buffer_w if buffer_w is not None else empty(weight.shape, weight.dtype)
        grad_b = None
        if need_b and ctx.has_bias:
            grad_b = buffer_b if buffer_b is not None else empty(weight.shape[:1], weight.dtype)
        if ctx.act is None:
            be.linear_backward(x2, weight, grad, grad_x, grad_w, grad_b)
        else:  # the activation's backward fused in (see the linear_act_backward kernel)
            be.linear_act_backward(
                x2, weight, y, grad, ctx.act, ctx.negative_slope, grad_x, grad_w, grad_b
            )
        if grad_x is not None:
            grad_x = grad_x.reshape(ctx.lead + (x2.shape[1],))
        return grad_x, grad_w, grad_b, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        x, weight, bias, act, negative_slope = inputs
        x2 = x.reshape(-1, x.shape[-1])
        g = grad.reshape(-1, weight.shape[0])
        if act is not None:
            pre = Linear.apply(x2, weight, bias, None, 0.0)
            g = activation_grad_graph(ctx.backend, pre, g, act, negative_slope)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        return (
            (g @ weight).reshape(x.shape) if need_x else None,
            g.transpose(0, 1) @ x2 if need_w else None,
            g.sum(0) if need_b and bias is not None else None,
            None,
            None,
        )


def linear(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    activation: str | None = None,
    negative_slope: float = 0.01,
) -> Tensor:
    """``x @ weight.T + bias``, optionally followed by a fused activation.

    ``activation`` is None or one of "relu", "leaky_relu", "sigmoid", "tanh"
    (fastdl's extension; PyTorch's ``F.linear`` has none).

    Example::

        y = fastdl.nn.functional.linear(x, w, b, activation="relu")
    """
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor):
        raise TypeError("linear: input and weight must be Tensors")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"linear: bias must be a Tensor or None, got {type(bias).__name__}")
    if weight.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out, in), got shape {weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(
            f"linear: input has shape {x.shape} but weight expects {weight.shape[1]} input "
            f"features (weight shape {weight.shape})"
        )
    if x.dtype != weight.dtype or not dtypes.is_floating(x.dtype):
        raise TypeError(
            f"linear: input dtype {x.dtype} must match weight dtype {weight.dtype} (float32 "
            "or float64)"
        )
    if bias is not None and (bias.shape != weight.shape[:1] or bias.dtype != weight.dtype):
        raise ShapeError(
            f"linear: bias must have shape {weight.shape[:1]} and dtype {weight.dtype}, got "
            f"{bias.shape} {bias.dtype}"
        )
    if activation == "leaky_relu" and negative_slope <= 0:
        return leaky_relu(Linear.apply(x, weight, bias, None, 0.0), negative_slope)
    return Linear.apply(x, weight, bias, activation, float(negative_slope))
