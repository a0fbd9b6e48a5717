"""Layer and batch normalisation, forward and backward; statistics in float64."""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, Sampler, each, empty, randn, size

# The affine parameters present, and an offset mean (it exercises the variance's accuracy
# when mean >> spread).
_NORM_OPTIONS = each(weight=(True, False), bias=(True, False), offset=(0.0, 5.0))
# The gradients asked for besides grad_weight (which follows weight).
_NORM_GRADS = (("grad_x", "grad_bias"), ("grad_bias",), ("grad_x",))
_NORM_BACKWARD_OPTIONS = each(weight=(True, False), grads=_NORM_GRADS)


def _norm_shapes(rng, batch: bool):
    """(x shape, statistics shape): (N, D) and (N,) for layer_norm, (N, C, L) and (C,)."""
    if batch:
        n, c, length = size(rng), size(rng), int(rng.choice((1, 2, 5, 16)))
        return (n, c, length), (c,)
    n, d = size(rng), size(rng)
    return (n, d), (n,)


def _norm_sample(batch: bool) -> Sampler:
    def sample(rng, dtype, weight=True, bias=True, offset=0.0):
        shape, stats = _norm_shapes(rng, batch)
        features = shape[1] if batch else shape[-1]
        x = (3 * rng.standard_normal(shape) + offset).astype(dtype)
        return {
            "x": x,
            "weight": randn(rng, (features,), dtype) if weight else None,
            "bias": randn(rng, (features,), dtype) if bias else None,
            "eps": 1e-5,
            "out": empty(shape, dtype),
            "mean": empty(stats, np.float64),
            "rstd": empty(stats, np.float64),
        }

    return sample


def _norm_backward_sample(batch: bool) -> Sampler:
    def sample(rng, dtype, weight=True, grads=_NORM_GRADS[0]):
        shape, stats = _norm_shapes(rng, batch)
        features = shape[1] if batch else shape[-1]
        axes = (0, 2) if batch else (1,)
        x = (3 * rng.standard_normal(shape)).astype(dtype)
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=axes)
        rstd = 1.0 / np.sqrt(x64.var(axis=axes) + 1e-5)
        return {
            "x": x,
            "weight": randn(rng, (features,), dtype) if weight else None,
            "mean": mean,
            "rstd": rstd,
            "grad_out": randn(rng, shape, dtype),
            "grad_x": empty(shape, dtype) if "grad_x" in grads else None,
            # The op asks for grad_weight exactly when there is a weight.
            "grad_weight": empty((features,), dtype) if weight else None,
            "grad_bias": empty((features,), dtype) if "grad_bias" in grads else None,
        }

    return sample


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "layer_norm",
        "norm",
        ("x", "weight", "bias", "eps", "out", "mean", "rstd"),
        ("out", "mean", "rstd"),
        "Rows of x (N,D) normalised over D: out = (x - mean) * rstd * weight + bias with "
        "rstd = 1 / sqrt(biased var + eps); weight, bias (D,) or None. mean, rstd (N,) are "
        "float64 (statistics accumulated in float64), saved for the backward pass.",
        _norm_sample(batch=False),
        options=_NORM_OPTIONS,
    ),
    Kernel(
        "layer_norm_backward",
        "norm",
        ("x", "weight", "mean", "rstd", "grad_out", "grad_x", "grad_weight", "grad_bias"),
        ("grad_x", "grad_weight", "grad_bias"),
        "xhat = (x - mean) * rstd, g = grad_out * weight (grad_out if weight is None): "
        "grad_x = rstd * (g - mean_D(g) - xhat * mean_D(g * xhat)); grad_weight = "
        "sum_N(grad_out * xhat); grad_bias = sum_N(grad_out). Each grad_* may be None: "
        "not computed. Overwrites.",
        _norm_backward_sample(batch=False),
        options=_NORM_BACKWARD_OPTIONS,
    ),
    Kernel(
        "batch_norm",
        "norm",
        ("x", "weight", "bias", "eps", "out", "mean", "rstd"),
        ("out", "mean", "rstd"),
        "x (N,C,L) normalised per channel over N and L with batch statistics (biased "
        "variance): out = (x - mean[c]) * rstd[c] * weight[c] + bias[c]; weight, bias (C,) "
        "or None; mean, rstd (C,) float64. BatchNorm2d passes (N, C, H*W).",
        _norm_sample(batch=True),
        options=_NORM_OPTIONS,
    ),
    Kernel(
        "batch_norm_backward",
        "norm",
        ("x", "weight", "mean", "rstd", "grad_out", "grad_x", "grad_weight", "grad_bias"),
        ("grad_x", "grad_weight", "grad_bias"),
        "As layer_norm_backward with the means and sums taken per channel over N and L: "
        "grad_x = rstd * (g - mean(g) - xhat * mean(g * xhat)); grad_weight, grad_bias (C,). "
        "Each grad_* may be None: not computed. Overwrites.",
        _norm_backward_sample(batch=True),
        options=_NORM_BACKWARD_OPTIONS,
    ),
)
