"""Elementwise activations, forward and backward (relu, leaky_relu, sigmoid, tanh)."""

from __future__ import annotations

from fastdl.backends.spec.base import ACTIVATIONS, Kernel, activated, each, empty, randn, size


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
)
