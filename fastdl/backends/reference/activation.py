"""Reference activation kernels: elementwise, any shape.  x, y, out, grad_* all the same shape."""

from __future__ import annotations

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
