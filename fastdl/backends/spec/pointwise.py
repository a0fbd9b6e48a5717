"""Pointwise maths kernels: unary functions of floating arrays (expm1 ... rint,
tan ... atan, lgamma, digamma, trigamma, erfinv).

Shape legend: ``x`` and ``out`` of one shape (any), one floating dtype; ``fmod``'s
``b`` broadcasts to ``a`` and ``out``. Integer
rounding (floor, ceil, trunc, rint) keeps the dtype; rint rounds halves to even.
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, each, empty, randn, size
from fastdl.backends.spec.generic import BROADCASTS

# name -> (doc, domain of the sampled x: "any", "positive", "above_minus_one" or "unit")
FUNCTIONS = {
    "expm1": ("out = exp(x) - 1, accurate near 0.", "any"),
    "log1p": ("out = log(1 + x), accurate near 0.", "above_minus_one"),
    "log2": ("out = log2(x).", "positive"),
    "sin": ("out = sin(x).", "any"),
    "cos": ("out = cos(x).", "any"),
    "erf": ("out = erf(x), the error function.", "any"),
    "floor": ("out = floor(x).", "any"),
    "ceil": ("out = ceil(x).", "any"),
    "trunc": ("out = x rounded toward zero.", "any"),
    "rint": ("out = x rounded to the nearest integer, halves to even.", "any"),
    "tan": ("out = tan(x).", "any"),
    "sinh": ("out = sinh(x).", "any"),
    "cosh": ("out = cosh(x).", "any"),
    "asin": ("out = asin(x), in [-pi/2, pi/2].", "unit"),
    "acos": ("out = acos(x), in [0, pi].", "unit"),
    "atan": ("out = atan(x), in (-pi/2, pi/2).", "any"),
    "lgamma": ("out = log(|Gamma(x)|).", "positive"),
    "digamma": ("out = digamma(x), the derivative of lgamma.", "positive"),
    "trigamma": ("out = trigamma(x), the derivative of digamma.", "positive"),
    "erfinv": ("out = erfinv(x), the inverse of erf on [-1, 1].", "unit"),
}
# Kernels NumPy has no ufunc for: each backend compiles its own (see special_math.py).
NOT_NUMPY = ("erf", "lgamma", "digamma", "trigamma", "erfinv")


def _sampler(domain: str):
    def sample(rng, dtype):
        shape = (size(rng), size(rng))
        x = randn(rng, shape, dtype) * 3
        if domain == "positive":
            x = np.abs(x) + 0.1
        elif domain == "above_minus_one":
            x = np.abs(x) - 0.9
        elif domain == "unit":
            x = np.tanh(x) * 0.95
        x[0, 0] = 0.5  # a half, where rint's tie rule shows
        return {"x": x.astype(dtype), "out": empty(shape, dtype)}

    return sample


def _fmod_sample(rng, dtype, b_shape="same"):
    """a (n, m) and a divisor b away from 0 of a shape that broadcasts to it."""
    n, m = size(rng), size(rng)
    shape = {"same": (n, m), "row": (m,), "column": (n, 1), "scalar": ()}[b_shape]
    b = randn(rng, shape, dtype)
    b = (np.sign(b) * (np.abs(b) + 0.5)).astype(dtype)
    return {"a": (randn(rng, (n, m), dtype) * 5).astype(dtype), "b": b, "out": empty((n, m), dtype)}


KERNELS: tuple[Kernel, ...] = tuple(
    Kernel(name, "pointwise", ("x", "out"), ("out",), doc, _sampler(domain))
    for name, (doc, domain) in FUNCTIONS.items()
) + (
    Kernel(
        "fmod",
        "pointwise",
        ("a", "b", "out"),
        ("out",),
        "out = fmod(a, b) (broadcast): a - trunc(a / b) * b, computed exactly.",
        _fmod_sample,
        options=each(b_shape=BROADCASTS),
    ),
)
