"""Numba dense-layer kernels.  x (N,K), weight (M,K), bias (M,), out and grad_out (N,M).

Matmuls go to OpenBLAS through ``np.matmul(..., out=...)`` (``weight.T`` is a free
transposed view); the bias and relu / leaky_relu run afterwards as one in-place
``@njit`` pass over the output while it is still in cache; sigmoid and tanh use
NumPy's SIMD ufuncs after the bias (see ``activation.py`` for why).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastdl.backends.cpu.activation import (
    LEAKY_RELU,
    RELU,
    SIGMOID,
    act_code,
    bias_relu_rows,
    sigmoid_into,
)


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
    code = act_code(act)
    np.matmul(x, weight.T, out=out)
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
