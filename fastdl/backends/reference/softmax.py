"""Reference row-wise softmax kernels.  x, y, out, grad_out, grad_x all (N,C); rows are reduced."""

from __future__ import annotations

import numpy as np


def softmax(x, out):
    """out = exp(x - max) / sum(exp(x - max)), row by row."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    out[...] = e / e.sum(axis=1, keepdims=True)


def softmax_backward(y, grad_out, grad_x):
    """grad_x = y * (grad_out - sum(grad_out * y)), y the softmax output."""
    dot = (grad_out * y).sum(axis=1, keepdims=True)
    grad_x[...] = y * (grad_out - dot)


def log_softmax(x, out):
    """out = x - max - log(sum(exp(x - max))), row by row."""
    z = x - x.max(axis=1, keepdims=True)
    out[...] = z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def log_softmax_backward(y, grad_out, grad_x):
    """grad_x = grad_out - exp(y) * sum(grad_out), y the log-softmax output."""
    grad_x[...] = grad_out - np.exp(y) * grad_out.sum(axis=1, keepdims=True)
