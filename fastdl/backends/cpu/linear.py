"""Numba dense-layer kernels.  x (N,K), weight (M,K), bias (M,), out and grad_out (N,M).

Matmuls go to OpenBLAS through ``np.matmul(..., out=...)`` (``weight.T`` is a free
transposed view); the bias and relu / leaky_relu run afterwards as one in-place
``@njit`` pass over the output while it is still in cache; sigmoid and tanh use
NumPy's SIMD ufuncs after the bias (see ``activation.py`` for why).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastdl.backends import _jit_cache
from fastdl.backends.cpu.activation import (
    LEAKY_RELU,
    RELU,
    SIGMOID,
    act_backward,
    act_code,
    bias_relu_rows,
    sigmoid_into,
)

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too


@njit(cache=True)
def _add_bias(out, bias):
    n, m = out.shape
    for i in range(n):
        row = out[i]
        for j in range(m):
            row[j] += bias[j]


@njit(cache=True)
def _column_sum(g, total):
    n, m = g.shape
    for j in range(m):
        total[j] = 0.0
    for i in range(n):
        row = g[i]
        for j in range(m):
            total[j] += row[j]


def linear(x, weight, bias, out):
    """out = x @ weight.T + bias (bias may be None)."""
    np.matmul(x, weight.T, out=out)
    if bias is not None:
        _add_bias(out, bias)


def linear_act(x, weight, bias, act, negative_slope, out):
    """out = act(x @ weight.T + bias), the activation applied in place after the matmul."""
    _matmul_bias_act(x, weight.T, bias, act, negative_slope, out)


def _matmul_bias_act(a, b, bias, act, negative_slope, out):
    """out = act(a @ b + bias) in place after OpenBLAS's matmul; act may be None."""
    if act is None:
        np.matmul(a, b, out=out)
        if bias is not None:
            _add_bias(out, bias)
        return
    code = act_code(act)
    np.matmul(a, b, out=out)
    if code == RELU or code == LEAKY_RELU:
        # bias and activation in one pass; out[0] stands in for a missing bias
        has_bias = bias is not None
        bias_relu_rows(out, bias if has_bias else out[0], has_bias, code, negative_slope)
        return
    if bias is not None:
        _add_bias(out, bias)
    if code == SIGMOID:
        sigmoid_into(out, out)
    else:
        np.tanh(out, out=out)


def linear_backward(x, weight, grad_out, grad_x, grad_weight, grad_bias):
    """Gradients of linear; a grad_* that is None is not computed."""
    if grad_x is not None:
        np.matmul(grad_out, weight, out=grad_x)
    if grad_weight is not None:
        np.matmul(grad_out.T, x, out=grad_weight)
    if grad_bias is not None:
        _column_sum(grad_out, grad_bias)


def _act_grad(out, grad_out, act, negative_slope):
    """grad_out * act'(out) in a fresh array; grad_out itself when act is None."""
    if act is None:
        return grad_out
    g = np.empty_like(grad_out)
    act_backward(out, grad_out, act, negative_slope, g)
    return g


def linear_act_backward(
    x, weight, out, grad_out, act, negative_slope, grad_x, grad_weight, grad_bias
):
    """Gradients of linear_act: the activation's backward pass, then linear_backward."""
    g = _act_grad(out, grad_out, act, negative_slope)
    linear_backward(x, weight, g, grad_x, grad_weight, grad_bias)


def gemm_bias_act(a, b, bias, act, negative_slope, out):
    """out = act(a @ b + bias): OpenBLAS, then the epilogue pass of linear_act."""
    _matmul_bias_act(a, b, bias, act, negative_slope, out)


def gemm_bias_act_backward(a, b, out, grad_out, act, negative_slope, grad_a, grad_b, grad_bias):
    """Gradients of gemm_bias_act; a grad_* that is None is not computed."""
    g = _act_grad(out, grad_out, act, negative_slope)
    if grad_a is not None:
        np.matmul(g, b.T, out=grad_a)
    if grad_b is not None:
        np.matmul(a.T, g, out=grad_b)
    if grad_bias is not None:
        _column_sum(g, grad_bias)
