"""Gradient clipping: the norm of a flat (P,) buffer."""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, each, randn


def _grad_norm_sample(rng, dtype, norm_type=2.0):
    p = int(rng.choice((1, 5, 1000, 4099)))
    return {
        "x": randn(rng, (p,), dtype),
        "norm_type": norm_type,
        "out": np.full(1, np.nan),
    }


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "grad_norm",
        "clip",
        ("x", "norm_type", "out"),
        ("out",),
        "out[0] (float64) = (sum |x|^norm_type)^(1/norm_type), or max |x| for "
        "norm_type = inf, accumulated in float64 over a flat (P,) buffer (P may be 0: 0). "
        "norm_type is > 0 or inf; a NaN anywhere gives NaN, else an inf gives inf.",
        _grad_norm_sample,
        options=each(norm_type=(2.0, 1.0, 3.0, np.inf)),
    ),
)
