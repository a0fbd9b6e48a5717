"""More activations, PyTorch's functional forms: GELU, SiLU, ELU, SELU, CELU, Softplus,
Mish, Hardswish, Hardsigmoid and LogSigmoid run the ``act_x_forward``/``act_x_backward``
kernels (differentiated from the input x); Hardtanh, ReLU6, PReLU, Softsign, Tanhshrink
and GLU are compositions of differentiable ops (double backward for free).

Example::

    >>> import fastdl
    >>> import fastdl.nn.functional as F
    >>> F.gelu(fastdl.tensor([0.0, 1.0]), approximate="tanh")
    tensor([0.      , 0.841192])
"""

from __future__ import annotations

import math

from fastdl.autograd.function import Function
from fastdl.backends import activation_rules as rules
from fastdl.errors import ShapeError
from fastdl.ops import elementwise
from fastdl.ops import inplace as _inplace
from fastdl.ops._util import contiguous, empty, normalize_dim
from fastdl.ops.activation import _floating, sigmoid, tanh
from fastdl.tensor import Tensor


class ActivationX(Function):
    """act(x) for the activations whose derivative is taken from x."""

    @staticmethod
    def forward(ctx, x, act, alpha, beta):
        x = contiguous(x)
        out = empty(x.shape, x.dtype)
        ctx.backend.act_x_forward(x, act, alpha, beta, out)
        ctx.save_for_backward(x)
        ctx.act, ctx.alpha, ctx.beta = act, alpha, beta
        return out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        grad_x = empty(x.shape, x.dtype)
        ctx.backend.act_x_backward(x, contiguous(grad), ctx.act, ctx.alpha, ctx.beta, grad_x)
        return grad_x, None, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        x, act, alpha, beta = inputs
        return grad * _slope(x, act, alpha, beta), None, None, None


def _slope(x: Tensor, act: str, alpha: float, beta: float) -> Tensor:
    """act'(x) from differentiable ops (double backward; see activation_rules for the
    same formulas one element at a time)."""
    one = x * 0.0 + 1.0
    if act == "gelu":
        cdf = 0.5 * (1.0 + (x * rules.SQRT_HALF).erf())
        return cdf + x * (x * x * -0.5).exp() * rules.INV_SQRT_2PI
    if act == "gelu_tanh":
        t = tanh((x + x * x * x * rules.KAPPA) * rules.SQRT_2_OVER_PI)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * rules.SQRT_2_OVER_PI * (
            1.0 + 3.0 * rules.KAPPA * x * x
        )
    if act == "silu":
        s = sigmoid(x)
        return s * (1.0 + x * (1.0 - s))
    if act in ("elu", "selu", "celu"):
        negative = x.clamp(max=0.0)
        if act == "elu":
            low = alpha * negative.exp()
        elif act == "celu":
            low = (negative / alpha).exp()
        else:
            low = rules.SELU_ALPHA * negative.exp()
        slope = elementwise.where(x > 0, one, low)
        return slope * rules.SELU_SCALE if act == "selu" else slope
    if act == "softplus":
        return elementwise.where(x * alpha > beta, one, sigmoid(x * alpha))
    if act == "mish":
        t = tanh(ActivationX.apply(x, "softplus", 1.0, math.inf))
        return t + x * sigmoid(x) * (1.0 - t * t)
    if act == "hardswish":
        return elementwise.where(
            x <= -3.0, one * 0.0, elementwise.where(x < 3.0, x / 3.0 + 0.5, one)
        )
    if act == "hardsigmoid":
        return elementwise.where((x > -3.0) & (x < 3.0), one / 6.0, one * 0.0)
    return sigmoid(-x)  # logsigmoid


def _act(x: Tensor, act: str, name: str, inplace: bool, alpha: float = 1.0, beta: float = 0.0):
    _floating(x, name)
    if inplace:
        return _inplace.apply(x, f"{name}_", lambda s: ActivationX.apply(s, act, alpha, beta))
    return ActivationX.apply(x, act, float(alpha), float(beta))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """x * Phi(x) (``approximate="none"``) or its tanh approximation (``"tanh"``).

    Example: ``F.gelu(x, approximate="tanh")``."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _act(input, "gelu" if approximate == "none" else "gelu_tanh", "gelu", False)


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * sigmoid(x) (swish). Example: ``F.silu(x)``."""
    return _act(input, "silu", "silu", inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """x for x > 0, alpha * (exp(x) - 1) otherwise. Example: ``F.elu(x, alpha=0.5)``."""
    return _act(input, "elu", "elu", inplace, alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """scale * elu(x, alpha) with the self-normalising constants. Example: ``F.selu(x)``."""
    return _act(input, "selu", "selu", inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)). Example: ``F.celu(x, 2.0)``."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be zero")
    return _act(input, "celu", "celu", inplace, alpha)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + exp(beta * x)) / beta, and x where beta * x > threshold.

    Example: ``F.softplus(x, beta=2.0)``."""
    if beta == 0:
        raise ValueError("softplus: beta must not be zero")
    return _act(input, "softplus", "softplus", False, beta, threshold)


def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * tanh(softplus(x)). Example: ``F.mish(x)``."""
    return _act(input, "mish", "mish", inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * relu6(x + 3) / 6. Example: ``F.hardswish(x)``."""
    return _act(input, "hardswish", "hardswish", inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """relu6(x + 3) / 6. Example: ``F.hardsigmoid(x)``."""
    return _act(input, "hardsigmoid", "hardsigmoid", inplace)


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log(sigmoid(x)), finite for any finite x. Example: ``F.logsigmoid(x)``."""
    return _act(input, "logsigmoid", "logsigmoid", False)


# -- compositions ------------------------------------------------------------------------


def _hardtanh(x: Tensor, min_val: float, max_val: float) -> Tensor:
    # Gradient 1 strictly inside (min_val, max_val), 0 at and beyond the edges, as PyTorch.
    inside = (x > min_val) & (x < max_val)
    return elementwise.where(inside, x, x.detach().clamp(min_val, max_val))


def hardtanh(
    input: Tensor,  # noqa: A002
    min_val: float = -1.0,
    max_val: float = 1.0,
    inplace: bool = False,
) -> Tensor:
    """x clamped to [min_val, max_val]. Example: ``F.hardtanh(x, -2.0, 2.0)``."""
    _floating(input, "hardtanh")
    if min_val > max_val:
        raise ValueError(
            f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})"
        )
    min_val, max_val = float(min_val), float(max_val)
    if inplace:
        return _inplace.apply(input, "hardtanh_", lambda s: _hardtanh(s, min_val, max_val))
    return _hardtanh(input, min_val, max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """min(max(x, 0), 6). Example: ``F.relu6(x)``."""
    return hardtanh(input, 0.0, 6.0, inplace)


def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """x / (1 + |x|). Example: ``F.softsign(x)``."""
    _floating(input, "softsign")
    return input / (input.abs() + 1.0)


def tanhshrink(input: Tensor) -> Tensor:  # noqa: A002
    """x - tanh(x). Example: ``F.tanhshrink(x)``."""
    _floating(input, "tanhshrink")
    return input - tanh(input)


def prelu(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    """x for x > 0, weight * x otherwise; ``weight`` has 1 element or one per channel
    (dim 1; an input of fewer than 2 dims has one channel).

    Example: ``F.prelu(x, fastdl.tensor([0.25]))``."""
    _floating(input, "prelu")
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu: weight must be a Tensor, got {type(weight).__name__}")
    count = weight.numel()
    channels = input.shape[1] if input.ndim >= 2 else 1
    if count != 1 and (weight.ndim != 1 or count != channels):
        raise ShapeError(
            f"prelu: weight of shape {tuple(weight.shape)} must have 1 element or {channels} "
            f"(the channels, dim 1, of input of shape {tuple(input.shape)})"
        )
    if count == 1:
        weight = weight.reshape(())
    else:
        weight = weight.reshape(count, *([1] * (input.ndim - 2)))
    return elementwise.where(input > 0, input, input * weight)


def glu(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """a * sigmoid(b), where a and b are the halves of ``input`` along ``dim``.

    Example: ``F.glu(fastdl.randn(4, 6)).shape  # (4, 3)``."""
    _floating(input, "glu")
    if input.ndim == 0:
        raise ShapeError("glu: does not support scalars because halving size must be even")
    dim = normalize_dim(dim, input.ndim)
    size = input.shape[dim]
    if size % 2:
        raise ShapeError(f"glu: halving dimension must be even, but dimension {dim} is size {size}")
    a, b = input.chunk(2, dim)
    return a * sigmoid(b)
