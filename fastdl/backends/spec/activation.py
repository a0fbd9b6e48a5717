"""Elementwise activations, forward and backward: relu, leaky_relu, sigmoid, tanh
(differentiated from their output y) and the smooth ones of ``act_x_*`` (GELU, SiLU,
ELU, SELU, CELU, Softplus, Mish, Hardswish, Hardsigmoid, LogSigmoid; differentiated from
their input x)."""

from __future__ import annotations

from fastdl.backends.activation_rules import CODES
from fastdl.backends.spec.base import ACTIVATIONS, Kernel, activated, each, empty, randn, size

X_ACTIVATIONS = tuple(CODES)
# (alpha, beta) per activation: ELU/CELU alpha, Softplus (beta, threshold).
_X_PARAMS = {"elu": (0.7, 0.0), "celu": (1.3, 0.0), "softplus": (2.0, 5.0)}


def _act_forward_sample(rng, dtype, act="relu"):
    shape = (size(rng), size(rng))
    return {
        "x": (4 * rng.standard_normal(shape)).astype(dtype),
        "act": act,
        "negative_slope": 0.01,
        "out": empty(shape, dtype),
    }


def _act_backward_sample(rng, dtype, act="relu"):
    shape = (size(rng), size(rng))
    y = activated(4 * rng.standard_normal(shape), act)
    return {
        "y": y.astype(dtype),
        "grad_out": randn(rng, shape, dtype),
        "act": act,
        "negative_slope": 0.01,
        "grad_x": empty(shape, dtype),
    }


def _x(rng, shape, dtype):
    """Normal values, with both signs of 1e4 and the hard activations' kinks at +-3."""
    x = 4 * rng.standard_normal(shape)
    flat = x.reshape(-1)
    flat[: min(4, flat.size)] = (1e4, -1e4, 3.0, -3.0)[: min(4, flat.size)]
    return x.astype(dtype)


def _act_x_forward_sample(rng, dtype, act="gelu"):
    shape = (size(rng), size(rng))
    alpha, beta = _X_PARAMS.get(act, (1.0, 20.0))
    return {"x": _x(rng, shape, dtype), "act": act, "alpha": alpha, "beta": beta,
            "out": empty(shape, dtype)}  # fmt: skip


def _act_x_backward_sample(rng, dtype, act="gelu"):
    shape = (size(rng), size(rng))
    alpha, beta = _X_PARAMS.get(act, (1.0, 20.0))
    return {"x": _x(rng, shape, dtype), "grad_out": randn(rng, shape, dtype), "act": act,
            "alpha": alpha, "beta": beta, "grad_x": empty(shape, dtype)}  # fmt: skip


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "act_forward",
        "activation",
        ("x", "act", "negative_slope", "out"),
        ("out",),
        "out = act(x) elementwise; sigmoid and tanh are stable for |x| up to 1e4.",
        _act_forward_sample,
        options=each(act=ACTIVATIONS),
    ),
    Kernel(
        "act_backward",
        "activation",
        ("y", "grad_out", "act", "negative_slope", "grad_x"),
        ("grad_x",),
        "grad_x = grad_out * act'(x) computed from the output y = act(x) "
        "(relu/leaky_relu: y > 0; sigmoid: y(1-y); tanh: 1-y^2). Needs negative_slope > 0.",
        _act_backward_sample,
        options=each(act=ACTIVATIONS),
    ),
    Kernel(
        "act_x_forward",
        "activation",
        ("x", "act", "alpha", "beta", "out"),
        ("out",),
        "out = act(x) elementwise for the activations differentiated from x; alpha is "
        "ELU/CELU's alpha and Softplus's beta, beta Softplus's threshold. Finite at |x| = 1e4.",
        _act_x_forward_sample,
        options=each(act=X_ACTIVATIONS),
    ),
    Kernel(
        "act_x_backward",
        "activation",
        ("x", "grad_out", "act", "alpha", "beta", "grad_x"),
        ("grad_x",),
        "grad_x = grad_out * act'(x), from the input x (PyTorch's derivative at the kinks).",
        _act_x_backward_sample,
        options=each(act=X_ACTIVATIONS),
    ),
)
