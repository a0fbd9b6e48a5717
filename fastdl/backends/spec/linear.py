"""Dense layers: ``linear`` and its fused bias + activation forms, forward and backward.

Shape legend: ``N`` batch rows, ``K`` input features, ``M`` output features; the
``gemm_bias_act`` pair names its operands ``a`` (M,K) and ``b`` (K,N).
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import (
    ACTIVATIONS,
    Kernel,
    activated,
    each,
    empty,
    randn,
    size,
    transposed_or_not,
)

# The gradient outputs a backward kernel may be asked for: all of them, each one left
# None in turn, and the bias gradient alone (its own code path in the C GEMM).
_GRADS_LINEAR = (
    ("grad_x", "grad_weight", "grad_bias"),
    ("grad_weight", "grad_bias"),
    ("grad_x", "grad_bias"),
    ("grad_x", "grad_weight"),
    ("grad_bias",),
)
_GRADS_GEMM = tuple(
    tuple(name.replace("grad_x", "grad_a").replace("grad_weight", "grad_b") for name in grads)
    for grads in _GRADS_LINEAR
)


def _linear_sample(with_act: bool):
    def sample(rng, dtype, bias=True, act="relu"):
        n, k, m = size(rng), size(rng), size(rng)
        args = {
            "x": randn(rng, (n, k), dtype),
            "weight": randn(rng, (m, k), dtype),
            "bias": randn(rng, (m,), dtype) if bias else None,
        }
        if with_act:
            args["act"] = act
            args["negative_slope"] = 0.01
        args["out"] = empty((n, m), dtype)
        return args

    return sample


def _linear_backward_sample(rng, dtype, grads=_GRADS_LINEAR[0]):
    n, k, m = size(rng), size(rng), size(rng)
    return {
        "x": randn(rng, (n, k), dtype),
        "weight": randn(rng, (m, k), dtype),
        "grad_out": randn(rng, (n, m), dtype),
        "grad_x": empty((n, k), dtype) if "grad_x" in grads else None,
        "grad_weight": empty((m, k), dtype) if "grad_weight" in grads else None,
        "grad_bias": empty((m,), dtype) if "grad_bias" in grads else None,
    }


def _linear_act_backward_sample(rng, dtype, act="relu", grads=_GRADS_LINEAR[0]):
    args = _linear_backward_sample(rng, dtype, grads)
    pre = args["x"].astype(np.float64) @ args["weight"].T.astype(np.float64)
    args["out"] = activated(pre, act).astype(dtype)
    args["act"], args["negative_slope"] = act, 0.01
    return args  # callers pass the arguments in the Kernel's order


def _gemm_problem(rng, dtype, bias, transposed):
    m, k, n = size(rng), size(rng), size(rng)
    a = transposed_or_not(rng, (m, k), dtype, "a" in transposed)
    b = transposed_or_not(rng, (k, n), dtype, "b" in transposed)
    bias = randn(rng, (n,), dtype) if bias else None
    return m, k, n, a, b, bias


def _gemm_sample(rng, dtype, act="relu", bias=True, transposed=""):
    m, _, n, a, b, bias = _gemm_problem(rng, dtype, bias, transposed)
    return {
        "a": a,
        "b": b,
        "bias": bias,
        "act": act,
        "negative_slope": 0.01,
        "out": empty((m, n), dtype),
    }


def _gemm_backward_sample(rng, dtype, act="relu", transposed="", grads=_GRADS_GEMM[0]):
    m, k, n, a, b, bias = _gemm_problem(rng, dtype, True, transposed)
    pre = a.astype(np.float64) @ b + bias
    return {
        "a": a,
        "b": b,
        "out": activated(pre, act).astype(dtype),
        "grad_out": randn(rng, (m, n), dtype),
        "act": act,
        "negative_slope": 0.01,
        "grad_a": empty((m, k), dtype) if "grad_a" in grads else None,
        "grad_b": empty((k, n), dtype) if "grad_b" in grads else None,
        "grad_bias": empty((n,), dtype) if "grad_bias" in grads else None,
    }


# Operand layouts of gemm_bias_act: which of a and b are transposed views.
_LAYOUTS = ("", "a", "b", "ab")
_GEMM_ACTS = (None, *ACTIVATIONS)

KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "linear",
        "linear",
        ("x", "weight", "bias", "out"),
        ("out",),
        "out = x @ weight.T + bias.  x (N,K), weight (M,K), bias (M,) or None, out (N,M).",
        _linear_sample(with_act=False),
        options=each(bias=(True, False)),
    ),
    Kernel(
        "linear_act",
        "linear",
        ("x", "weight", "bias", "act", "negative_slope", "out"),
        ("out",),
        "out = act(x @ weight.T + bias), the activation fused into the matmul epilogue. "
        "act in ACTIVATIONS; negative_slope > 0 is used by leaky_relu.",
        _linear_sample(with_act=True),
        options=each(act=ACTIVATIONS, bias=(True, False)),
    ),
    Kernel(
        "linear_backward",
        "linear",
        ("x", "weight", "grad_out", "grad_x", "grad_weight", "grad_bias"),
        ("grad_x", "grad_weight", "grad_bias"),
        "grad_x = grad_out @ weight (N,K); grad_weight = grad_out.T @ x (M,K); "
        "grad_bias = grad_out.sum(0) (M,). Each grad_* may be None: not computed. Overwrites.",
        _linear_backward_sample,
        options=each(grads=_GRADS_LINEAR),
    ),
    Kernel(
        "linear_act_backward",
        "linear",
        (
            "x",
            "weight",
            "out",
            "grad_out",
            "act",
            "negative_slope",
            "grad_x",
            "grad_weight",
            "grad_bias",
        ),
        ("grad_x", "grad_weight", "grad_bias"),
        "The backward of linear_act, out being its output: with g = grad_out * act'(out) "
        "(act_backward's rule), grad_x = g @ weight, grad_weight = g.T @ x, grad_bias = "
        "g.sum(0). Each grad_* may be None: not computed. Overwrites.",
        _linear_act_backward_sample,
        options=each(act=ACTIVATIONS, grads=_GRADS_LINEAR),
    ),
    Kernel(
        "gemm_bias_act",
        "linear",
        ("a", "b", "bias", "act", "negative_slope", "out"),
        ("out",),
        "out = act(a @ b + bias): a (M,K), b (K,N), either C-contiguous or a transposed "
        "view of a C-contiguous array; bias (N,) or None; act None or in ACTIVATIONS; "
        "out (M,N) C-contiguous.",
        _gemm_sample,
        options=each(act=_GEMM_ACTS, bias=(True, False), transposed=_LAYOUTS),
    ),
    Kernel(
        "gemm_bias_act_backward",
        "linear",
        (
            "a",
            "b",
            "out",
            "grad_out",
            "act",
            "negative_slope",
            "grad_a",
            "grad_b",
            "grad_bias",
        ),
        ("grad_a", "grad_b", "grad_bias"),
        "The backward of gemm_bias_act, out being its output: with g = grad_out * act'(out) "
        "(grad_out itself when act is None), grad_a = g @ b.T (M,K), grad_b = a.T @ g (K,N), "
        "grad_bias = g.sum(0) (N,). Each grad_* may be None: not computed. Overwrites.",
        _gemm_backward_sample,
        options=each(act=_GEMM_ACTS, transposed=_LAYOUTS, grads=_GRADS_GEMM),
    ),
)
