"""Numba dense-layer kernels.  x (N,K), weight (M,K), bias (M,), out and grad_out (N,M).

Matmuls go to OpenBLAS through ``np.matmul(..., out=...)`` (``weight.T`` is a free
transposed view); the bias and relu / leaky_relu run afterwards as one in-place
``@njit`` pass over the output while it is still in cache; sigmoid and tanh use
NumPy's SIMD ufuncs after the bias (see ``activation.py`` for why).

With the C extension, :func:`cext_kernels` serves the dense layers on its GEMM
(``cext/linear.py``) up to ``C_MAX_BATCH`` rows, and these kernels above.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit

from fastdl.backends import _jit_cache
from fastdl.backends.cpu import cext
from fastdl.backends.cpu.activation import (
    LEAKY_RELU,
    RELU,
    SIGMOID,
    act_backward,
    act_code,
    bias_relu_rows,
    sigmoid_into,
)
from fastdl.backends.cpu.cext import linear as c_linear
from fastdl.backends.cpu.contention import crowded

# With the C extension, dense layers of at most this many rows (a batch) run on its
# GEMM (cext/linear.py); larger ones stay on the Numba kernels (OpenBLAS's
# GEMMs plus an epilogue pass), forward and backward alike. Measured in whole MLP
# training steps on the development machine (see benchmarks/README.md, "C GEMM"): at
# batch 32 the C kernels make the step 15% faster; at 64 and 128 the two are even; at
# 256 OpenBLAS's backward GEMMs win by 15%. Switching pools within a step (C forward,
# OpenBLAS backward) was slower than either: each pool's waiting threads take cycles
# from the other's. While the machine is oversubscribed every batch goes to the C
# GEMM (see _small_batch).
C_MAX_BATCH = 64

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
    g = np.empty(grad_out.shape, grad_out.dtype)  # C order, whatever grad_out's layout
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


# -- the C extension's path (cext/linear.py) up to C_MAX_BATCH rows ------------------


def _small_batch(x) -> bool:
    """Whether the C GEMM serves x: up to C_MAX_BATCH rows, or any size while this
    thread waits for a core (contention.py): a neighbour then stalls OpenBLAS's
    statically split GEMMs for whole time slices, the C pool's by one block at most."""
    return not (getattr(x, "ndim", 0) == 2 and x.shape[0] > C_MAX_BATCH) or crowded()


def linear_cext(x, weight, bias, out):
    (c_linear.linear if _small_batch(x) else linear)(x, weight, bias, out)


def linear_act_cext(x, weight, bias, act, negative_slope, out):
    kernel = c_linear.linear_act if _small_batch(x) else linear_act
    kernel(x, weight, bias, act, negative_slope, out)


def linear_backward_cext(x, weight, grad_out, grad_x, grad_weight, grad_bias):
    kernel = c_linear.linear_backward if _small_batch(x) else linear_backward
    kernel(x, weight, grad_out, grad_x, grad_weight, grad_bias)


def linear_act_backward_cext(
    x, weight, out, grad_out, act, negative_slope, grad_x, grad_weight, grad_bias
):
    kernel = c_linear.linear_act_backward if _small_batch(x) else linear_act_backward
    kernel(x, weight, out, grad_out, act, negative_slope, grad_x, grad_weight, grad_bias)


def cext_kernels() -> dict:
    """This family's kernels served through the C extension, by spec name: the C GEMM
    for the dense layers (up to ``C_MAX_BATCH`` rows) and gemm_bias_act. {} when
    ``cext.available()`` is False or ``FASTDL_CEXT_GEMM=0`` (OpenBLAS plus an epilogue
    pass alone, to compare the two)."""
    if not cext.available() or os.environ.get("FASTDL_CEXT_GEMM") == "0":
        return {}
    return {
        "linear": linear_cext,
        "linear_act": linear_act_cext,
        "linear_backward": linear_backward_cext,
        "linear_act_backward": linear_act_backward_cext,
        "gemm_bias_act": c_linear.gemm_bias_act,
        "gemm_bias_act_backward": c_linear.gemm_bias_act_backward,
    }
