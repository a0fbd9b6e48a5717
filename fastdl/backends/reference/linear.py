"""Reference dense-layer kernels.  x (N,K), weight (M,K), bias (M,), out and grad_out (N,M)."""

from __future__ import annotations

import numpy as np

from fastdl.backends.reference.activation import act_backward, act_forward


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


def _act_grad(out, grad_out, act, negative_slope):
    """grad_out * act'(out); grad_out itself when act is None."""
    if act is None:
        return grad_out
    g = np.empty_like(grad_out)
    act_backward(out, grad_out, act, negative_slope, g)
    return g


def linear_act_backward(
    x, weight, out, grad_out, act, negative_slope, grad_x, grad_weight, grad_bias
):
    """Gradients of linear_act given its output: the activation's backward, then linear's."""
    g = _act_grad(out, grad_out, act, negative_slope)
    linear_backward(x, weight, g, grad_x, grad_weight, grad_bias)


def gemm_bias_act(a, b, bias, act, negative_slope, out):
    """out = act(a @ b + bias)."""
    np.matmul(a, b, out=out)
    if bias is not None:
        out += bias
    if act is not None:
        act_forward(out, act, negative_slope, out)


def gemm_bias_act_backward(a, b, out, grad_out, act, negative_slope, grad_a, grad_b, grad_bias):
    """Gradients of gemm_bias_act given its output; a grad_* that is None is not computed."""
    g = _act_grad(out, grad_out, act, negative_slope)
    if grad_a is not None:
        np.matmul(g, b.T, out=grad_a)
    if grad_b is not None:
        np.matmul(a.T, g, out=grad_b)
    if grad_bias is not None:
        np.sum(g, axis=0, out=grad_bias)
