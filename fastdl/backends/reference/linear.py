"""Reference dense-layer kernels.  x (N,K), weight (M,K), bias (M,), out and grad_out (N,M)."""

from __future__ import annotations

import numpy as np

from fastdl.backends.reference.activation import act_forward


def linear(x, weight, bias, out):
    """out = x @ weight.T + bias (bias may be None)."""
    np.matmul(x, weight.T, out=out)
    if bias is not None:
        out += bias


def linear_act(x, weight, bias, act, negative_slope, out):
    """out = act(x @ weight.T + bias): the unfused twin of the CPU epilogue."""
    linear(x, weight, bias, out)
    act_forward(out, act, negative_slope, out)


def linear_backward(x, weight, grad_out, grad_x, grad_weight, grad_bias):
    """Gradients of linear; a grad_* that is None is not computed."""
    if grad_x is not None:
        np.matmul(grad_out, weight, out=grad_x)
    if grad_weight is not None:
        np.matmul(grad_out.T, x, out=grad_weight)
    if grad_bias is not None:
        np.sum(grad_out, axis=0, out=grad_bias)
