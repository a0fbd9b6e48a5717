"""Reference activation kernels: elementwise, any shape.  x, y, out, grad_* all the same shape."""

from __future__ import annotations

import math

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-|x|) never overflows: 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _apply(x: np.ndarray, act: str, negative_slope: float) -> np.ndarray:
    if act == "relu":
        return np.maximum(x, 0)  # np.maximum keeps NaN, as torch.relu does
    if act == "leaky_relu":
        return np.where(x > 0, x, negative_slope * x)
    if act == "sigmoid":
        return _sigmoid(x)
    if act == "tanh":
        return np.tanh(x)
    raise ValueError(f"unknown activation {act!r}")


def act_forward(x, act, negative_slope, out):
    """out = act(x) elementwise."""
    out[...] = _apply(x, act, negative_slope)


def act_backward(y, grad_out, act, negative_slope, grad_x):
    """grad_x = grad_out * act'(x), written in terms of the output y = act(x)."""
    if act == "relu":
        grad_x[...] = np.where(y > 0, grad_out, 0)
    elif act == "leaky_relu":
        grad_x[...] = np.where(y > 0, grad_out, negative_slope * grad_out)
    elif act == "sigmoid":
        grad_x[...] = grad_out * y * (1 - y)
    elif act == "tanh":
        grad_x[...] = grad_out * (1 - y * y)
    else:
        raise ValueError(f"unknown activation {act!r}")


# -- activations differentiated from their input x -----------------------------------------
# alpha: ELU/CELU alpha, Softplus beta; beta: Softplus threshold.

_erf = np.vectorize(math.erf, otypes=[np.float64])
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _act_x(x: np.ndarray, act: str, alpha: float, beta: float) -> np.ndarray:
    x = x.astype(np.float64)
    negative = np.minimum(x, 0)  # the exponential branches see no positive x
    if act == "gelu":
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    if act == "gelu_tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    if act == "silu":
        return x * _sigmoid(x)
    if act == "elu":
        return np.where(x > 0, x, alpha * np.expm1(negative))
    if act == "selu":
        return _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(negative))
    if act == "celu":
        return np.where(x > 0, x, alpha * np.expm1(negative / alpha))
    if act == "softplus":
        return np.where(x * alpha > beta, x, _softplus(x * alpha) / alpha)
    if act == "mish":
        return x * np.tanh(_softplus(x))
    if act == "hardswish":
        return x * np.clip(x + 3, 0, 6) / 6
    if act == "hardsigmoid":
        return np.clip(x / 6 + 0.5, 0, 1)
    if act == "logsigmoid":
        return -_softplus(-x)
    raise ValueError(f"unknown activation {act!r}")


def _act_x_slope(x: np.ndarray, act: str, alpha: float, beta: float) -> np.ndarray:
    x = x.astype(np.float64)
    negative = np.minimum(x, 0)
    if act == "gelu":
        return 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(
            2 * math.pi
        )
    if act == "gelu_tanh":
        k = math.sqrt(2 / math.pi)
        t = np.tanh(k * (x + 0.044715 * x**3))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
    if act == "silu":
        s = _sigmoid(x)
        return s * (1 + x * (1 - s))
    if act == "elu":
        return np.where(x > 0, 1.0, alpha * np.exp(negative))
    if act == "selu":
        return _SELU_SCALE * np.where(x > 0, 1.0, _SELU_ALPHA * np.exp(negative))
    if act == "celu":
        return np.where(x > 0, 1.0, np.exp(negative / alpha))
    if act == "softplus":
        return np.where(x * alpha > beta, 1.0, _sigmoid(x * alpha))
    if act == "mish":
        t = np.tanh(_softplus(x))
        return t + x * _sigmoid(x) * (1 - t * t)
    if act == "hardswish":
        return np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0))
    if act == "hardsigmoid":
        return np.where((x > -3) & (x < 3), 1 / 6, 0.0)
    if act == "logsigmoid":
        return _sigmoid(-x)
    raise ValueError(f"unknown activation {act!r}")


def act_x_forward(x, act, alpha, beta, out):
    """out = act(x) elementwise, for the activations differentiated from x."""
    with np.errstate(over="ignore", invalid="ignore"):
        out[...] = _act_x(x, act, alpha, beta)


def act_x_backward(x, grad_out, act, alpha, beta, grad_x):
    """grad_x = grad_out * act'(x), from the input x."""
    with np.errstate(over="ignore", invalid="ignore"):
        grad_x[...] = grad_out * _act_x_slope(x, act, alpha, beta)
