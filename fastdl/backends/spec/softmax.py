"""Row-wise softmax and log-softmax of 2-D arrays (N,C), forward and backward."""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, Sampler, empty, randn, size


def _rows_sample(rng, dtype):
    shape = (size(rng), size(rng))
    return {"x": (3 * rng.standard_normal(shape)).astype(dtype), "out": empty(shape, dtype)}


def _softmax_backward_sample(log: bool) -> Sampler:
    def sample(rng, dtype):
        shape = (size(rng), size(rng))
        z = 3 * rng.standard_normal(shape)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        y = log_p if log else np.exp(log_p)
        return {
            "y": y.astype(dtype),
            "grad_out": randn(rng, shape, dtype),
            "grad_x": empty(shape, dtype),
        }

    return sample


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "softmax",
        "softmax",
        ("x", "out"),
        ("out",),
        "Row-wise softmax of a 2-D array (N,C), max-subtracted.",
        _rows_sample,
    ),
    Kernel(
        "softmax_backward",
        "softmax",
        ("y", "grad_out", "grad_x"),
        ("grad_x",),
        "grad_x = y * (grad_out - sum(grad_out * y, row)), y the softmax output.",
        _softmax_backward_sample(log=False),
    ),
    Kernel(
        "log_softmax",
        "softmax",
        ("x", "out"),
        ("out",),
        "Row-wise log-softmax of a 2-D array (N,C): x - max - log(sum(exp(x - max))).",
        _rows_sample,
    ),
    Kernel(
        "log_softmax_backward",
        "softmax",
        ("y", "grad_out", "grad_x"),
        ("grad_x",),
        "grad_x = grad_out - exp(y) * sum(grad_out, row), y the log-softmax output.",
        _softmax_backward_sample(log=True),
    ),
)
