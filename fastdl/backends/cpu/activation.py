"""Numba activation kernels: elementwise, any shape.  x, y, out, grad_* all the same shape.

relu and leaky_relu are one ``@njit`` loop (LLVM vectorises it). sigmoid and tanh
use NumPy's SIMD ``exp``/``tanh`` ufuncs instead: without SVML, Numba calls the
scalar libm routine per element, 10-50x slower on the development machine
(32x512 float32: np.tanh 3 us, Numba tanh 160 us). Comparisons are written so
NaN propagates as in PyTorch (relu(NaN) is NaN).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastdl.backends import _jit_cache
from fastdl.backends import activation_rules as rules

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too

RELU, LEAKY_RELU, SIGMOID, TANH = 0, 1, 2, 3
ACT_CODES = {"relu": RELU, "leaky_relu": LEAKY_RELU, "sigmoid": SIGMOID, "tanh": TANH}


def act_code(act: str) -> int:
    """The int code of an activation name; ValueError for an unknown one."""
    try:
        return ACT_CODES[act]
    except KeyError:
        raise ValueError(
            f"unknown activation {act!r}; expected one of {tuple(ACT_CODES)}"
        ) from None


def flat(out: np.ndarray) -> np.ndarray:
    """A 1-D view of an output; raises rather than write into a silent copy."""
    if not out.flags.c_contiguous:
        raise ValueError(f"output must be C-contiguous, got strides {out.strides}")
    return out.ravel()


@njit(cache=True, error_model="numpy")
def sigmoid_scalar(v):
    # exp(-|v|) cannot overflow; for v < 0, e / (1 + e). NaN takes the second branch.
    e = np.exp(-abs(v))
    s = 1.0 / (1.0 + e)
    if v >= 0:
        return s
    return e * s


@njit(cache=True, error_model="numpy")
def _one_over_one_plus(e):
    for i in range(e.shape[0]):
        e[i] = 1.0 / (1.0 + e[i])


# Up to this many elements sigmoid takes the overflow-free form: NumPy's errstate block
# (microseconds to enter) would cost more than the arithmetic.
SMALL = 4096


@njit(cache=True, error_model="numpy")
def _sigmoid_from_exp(x, e, out):
    # e = exp(-|x|): s = 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0. NaN: the second.
    for i in range(x.shape[0]):
        s = 1.0 / (1.0 + e[i])
        out[i] = s if x[i] >= 0 else e[i] * s


def sigmoid_into(x, out):
    """out = 1 / (1 + exp(-x)); x may be out. exp(-x) = inf gives 0, as it should."""
    if x.size <= SMALL:
        e = np.abs(x)
        np.negative(e, out=e)
        np.exp(e, out=e)
        _sigmoid_from_exp(x.ravel(), e.ravel(), flat(out))
        return
    np.negative(x, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    _one_over_one_plus(flat(out))


@njit(cache=True)
def _relu(x, out):
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = 0.0 if v < 0 else v


@njit(cache=True)
def _leaky_relu(x, slope, out):
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v if v > 0 else v * slope


@njit(cache=True)
def bias_relu_rows(out, bias, has_bias, code, slope):
    """out[i, j] = act(out[i, j] + bias[j]) for relu / leaky_relu, in place."""
    n, m = out.shape
    for i in range(n):
        row = out[i]
        for j in range(m):
            v = row[j]
            if has_bias:
                v += bias[j]
            if code == RELU:
                row[j] = 0.0 if v < 0 else v
            else:
                row[j] = v if v > 0 else v * slope


@njit(cache=True)
def _act_backward(y, g, code, slope, grad_x):
    n = y.shape[0]
    if code == RELU:
        for i in range(n):
            grad_x[i] = g[i] if y[i] > 0 else 0.0
    elif code == LEAKY_RELU:
        for i in range(n):
            grad_x[i] = g[i] if y[i] > 0 else g[i] * slope
    elif code == SIGMOID:
        for i in range(n):
            v = y[i]
            grad_x[i] = g[i] * v * (1.0 - v)
    else:
        for i in range(n):
            v = y[i]
            grad_x[i] = g[i] * (1.0 - v * v)


def act_forward(x, act, negative_slope, out):
    """out = act(x) elementwise."""
    code = act_code(act)
    if code == RELU:
        _relu(x.ravel(), flat(out))
    elif code == LEAKY_RELU:
        _leaky_relu(x.ravel(), negative_slope, flat(out))
    elif code == SIGMOID:
        sigmoid_into(x, out)
    else:
        np.tanh(x, out=out)


def act_backward(y, grad_out, act, negative_slope, grad_x):
    """grad_x = grad_out * act'(x), written in terms of the output y = act(x)."""
    _act_backward(y.ravel(), grad_out.ravel(), act_code(act), negative_slope, flat(grad_x))


# -- activations differentiated from their input x (see fastdl.backends.activation_rules) --

_value, _grad = rules.build(njit(inline="always", error_model="numpy"))


@njit(cache=True, error_model="numpy")
def _act_x_forward(x, code, alpha, beta, out):
    for i in range(x.shape[0]):
        out[i] = _value(code, x[i], alpha, beta)


@njit(cache=True, error_model="numpy")
def _act_x_backward(x, g, code, alpha, beta, grad_x):
    for i in range(x.shape[0]):
        grad_x[i] = _grad(code, x[i], g[i], alpha, beta)


def act_x_forward(x, act, alpha, beta, out):
    """out = act(x) elementwise, for the activations differentiated from x."""
    _act_x_forward(x.ravel(), rules.code_of(act), float(alpha), float(beta), flat(out))


def act_x_backward(x, grad_out, act, alpha, beta, grad_x):
    """grad_x = grad_out * act'(x), from the input x."""
    code = rules.code_of(act)
    _act_x_backward(x.ravel(), grad_out.ravel(), code, float(alpha), float(beta), flat(grad_x))
