"""The CUDA recurrent kernels (a GEMM and a fused pointwise kernel per step) against the
reference backend, under the CUDA simulator or on a GPU.

Small shapes (L <= 4, N <= 3, H <= 8, I <= 5), both directions, h0/c0 given and None,
biases given and None, gradients wanted or not; the launch count per call is checked
against the design (2L + 1 forward, 2L + 3 backward at most).
"""

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from _cuda_check import check_against_reference

from fastdl.backends import reference, spec
from fastdl.backends.cuda import rnn as cuda_rnn

REF = reference.kernels()
KERNELS = {k.name: k for k in spec.KERNELS}
DTYPES = (np.float32, np.float64)


def _check(name, args):
    return check_against_reference(cuda_rnn, name, args)


def _randn(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def _nan(shape, dtype):
    return np.full(shape, np.nan, dtype=dtype)


def _forward_args(rng, dtype, dims, lstm, given, reverse, nonlinearity="tanh"):
    """``given``: (h0, c0, bias_ih, bias_hh) present or None."""
    length, n, features, h = dims
    rows = 4 * h if lstm else h
    args = {
        "x": _randn(rng, (length, n, features), dtype),
        "h0": _randn(rng, (n, h), dtype) if given[0] else None,
        "c0": _randn(rng, (n, h), dtype) if given[1] else None,
        "weight_ih": _randn(rng, (rows, features), dtype, 2 / np.sqrt(h)),
        "weight_hh": _randn(rng, (rows, h), dtype, 2 / np.sqrt(h)),
        "bias_ih": _randn(rng, rows, dtype) if given[2] else None,
        "bias_hh": _randn(rng, rows, dtype) if given[3] else None,
        "nonlinearity": nonlinearity,
        "reverse": reverse,
        "hidden": _nan((length + 1, n, h), dtype),
        "c_n": _nan((n, h), dtype),
        "gates": _nan((length, 4 * h, n), dtype),
        "cells": _nan((length + 1, h, n), dtype),
    }
    for name in ("nonlinearity",) if lstm else ("c0", "c_n", "gates", "cells"):
        del args[name]
    return args


def _backward_args(rng, dtype, dims, lstm, wanted, reverse, nonlinearity="tanh"):
    """Saved state from a real forward pass; ``wanted``: (grad_out, grad_h_n, grad_c_n
    given; grad_x, grad_h0, grad_c0, grad_weight_ih, grad_weight_hh, grad_bias asked)."""
    length, n, features, h = dims
    rows = 4 * h if lstm else h
    given = (True, True, True, True)
    forward = _forward_args(rng, dtype, dims, lstm, given, reverse, nonlinearity)
    name = "lstm_forward" if lstm else "rnn_forward"
    REF[name](*(forward[a] for a in KERNELS[name].args))
    shapes = {
        "grad_out": (length, n, h),
        "grad_h_n": (n, h),
        "grad_c_n": (n, h),
        "grad_x": (length, n, features),
        "grad_h0": (n, h),
        "grad_c0": (n, h),
        "grad_weight_ih": (rows, features),
        "grad_weight_hh": (rows, h),
        "grad_bias": (rows,),
    }
    args = {a: forward[a] for a in ("x", "weight_ih", "weight_hh", "reverse", "hidden")}
    if lstm:
        args["cells"], args["gates"] = forward["cells"], forward["gates"]
    else:
        args["nonlinearity"] = nonlinearity
    for (arg, shape), want in zip(shapes.items(), wanted, strict=True):
        if not lstm and arg in ("grad_c_n", "grad_c0"):
            continue
        given_grad = arg in ("grad_out", "grad_h_n", "grad_c_n")
        if not want:
            args[arg] = None
        else:
            args[arg] = _randn(rng, shape, dtype) if given_grad else _nan(shape, dtype)
    return args


# given: grad_out, grad_h_n, grad_c_n; asked: grad_x, grad_h0, grad_c0, grad_weight_ih,
# grad_weight_hh, grad_bias
ALL = (True,) * 9
SOME = (True, False, False, False, True, False, False, True, True)
FEW = (False, True, True, True, False, True, False, False, True)


# -- LSTM ------------------------------------------------------------------------------


# (h0, c0, bias_ih, bias_hh given, reverse): each state given and None in each direction
FORWARD_CASES = [
    ((True, True, True, True), False),
    ((False, False, False, False), True),
    ((True, False, False, True), True),
    ((False, True, True, False), False),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("given", "reverse"), FORWARD_CASES)
def test_lstm_forward(dtype, reverse, given):
    rng = np.random.default_rng([reverse, *given])
    dims = (3, 2, 3, 5)
    args = _forward_args(rng, dtype, dims, True, given, reverse)
    assert _check("lstm_forward", args) == 2 * dims[0] + given[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("wanted", "reverse"), [(ALL, False), (SOME, True), (FEW, True)])
def test_lstm_backward(dtype, reverse, wanted):
    rng = np.random.default_rng([reverse, *wanted])
    dims = (3, 3, 4, 4)
    args = _backward_args(rng, dtype, dims, True, wanted, reverse)
    launched = _check("lstm_backward", args)
    assert launched <= 2 * dims[0] + 3


def test_lstm_larger():
    """L = 4, H = 8: several GEMM tiles and pointwise blocks, float32."""
    rng = np.random.default_rng(3)
    dims = (4, 3, 5, 8)
    _check("lstm_forward", _forward_args(rng, np.float32, dims, True, (True,) * 4, False))
    _check("lstm_backward", _backward_args(rng, np.float32, dims, True, ALL, True))


# -- Elman RNN -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("given", "reverse"), FORWARD_CASES)
def test_rnn_forward(dtype, given, reverse):
    nonlinearity = "relu" if given[2] else "tanh"
    rng = np.random.default_rng([reverse, *given])
    dims = (4, 3, 5, 7)
    args = _forward_args(rng, dtype, dims, False, given, reverse, nonlinearity)
    assert _check("rnn_forward", args) == 2 * dims[0] + given[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("wanted", "reverse", "nonlinearity"),
    [(ALL, True, "tanh"), (SOME, False, "relu"), (FEW, True, "relu")],
)
def test_rnn_backward(dtype, wanted, reverse, nonlinearity):
    rng = np.random.default_rng([reverse, *wanted, len(nonlinearity)])
    dims = (4, 3, 5, 7)
    args = _backward_args(rng, dtype, dims, False, wanted, reverse, nonlinearity)
    launched = _check("rnn_backward", args)
    assert launched <= 2 * dims[0] + 3


def test_backward_launch_count():
    """Per step a pointwise kernel and a GEMM; then three GEMMs (bias fused)."""
    rng = np.random.default_rng(5)
    dims = (4, 2, 3, 3)
    args = _backward_args(rng, np.float64, dims, True, ALL, False)
    assert _check("lstm_backward", args) == 2 * dims[0] + 3
    args = _backward_args(rng, np.float64, dims, False, SOME, False)
    # grad_h0 asked, grad_weight_hh carries grad_bias, no grad_x or grad_weight_ih
    assert _check("rnn_backward", args) == 2 * dims[0] + 1


@pytest.mark.parametrize("name", ["lstm_forward", "lstm_backward", "rnn_forward", "rnn_backward"])
def test_sampled_args(name):
    """The spec's own sampler, on the draws the simulator runs quickly."""
    kernel = KERNELS[name]
    checked = 0
    for seed in range(60):
        dtype = DTYPES[seed % 2]
        args = kernel.sample(np.random.default_rng([seed, 9]), np.dtype(dtype))
        if args["x"].shape[2] <= 7 and args["weight_hh"].shape[1] <= 5 and checked < 2:
            _check(name, args)
            checked += 1
    assert checked == 2
