"""Reference normalization kernels.  N rows/batch, D normalized features, C channels, L positions.

Statistics and gradients are computed in float64 and rounded once to the arrays' dtype;
the saved statistics ``mean`` and ``rstd`` are float64 arrays whatever the dtype of x.
Variance is the biased one (divide by the count), as PyTorch's normalization layers use.
"""

from __future__ import annotations

import numpy as np


def layer_norm(x, weight, bias, eps, out, mean, rstd):
    """Rows of x (N,D) normalised over D: out = (x - mean) * rstd * weight + bias."""
    x64 = x.astype(np.float64)
    mu = x64.mean(axis=1)
    var = ((x64 - mu[:, None]) ** 2).mean(axis=1)
    r = 1.0 / np.sqrt(var + eps)
    y = (x64 - mu[:, None]) * r[:, None]
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    out[...] = y
    mean[...] = mu
    rstd[...] = r


def layer_norm_backward(x, weight, mean, rstd, grad_out, grad_x, grad_weight, grad_bias):
    """grad_x = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = grad_out * weight."""
    xhat = (x.astype(np.float64) - mean[:, None]) * rstd[:, None]
    dy = grad_out.astype(np.float64)
    g = dy * weight if weight is not None else dy
    if grad_x is not None:
        mean_g = g.mean(axis=1, keepdims=True)
        mean_gx = (g * xhat).mean(axis=1, keepdims=True)
        grad_x[...] = rstd[:, None] * (g - mean_g - xhat * mean_gx)
    if grad_weight is not None:
        grad_weight[...] = (dy * xhat).sum(axis=0)
    if grad_bias is not None:
        grad_bias[...] = dy.sum(axis=0)


def batch_norm(x, weight, bias, eps, out, mean, rstd):
    """x (N,C,L) normalised per channel over N and L with batch statistics."""
    x64 = x.astype(np.float64)
    mu = x64.mean(axis=(0, 2))
    var = ((x64 - mu[None, :, None]) ** 2).mean(axis=(0, 2))
    r = 1.0 / np.sqrt(var + eps)
    y = (x64 - mu[None, :, None]) * r[None, :, None]
    if weight is not None:
        y = y * weight[None, :, None]
    if bias is not None:
        y = y + bias[None, :, None]
    out[...] = y
    mean[...] = mu
    rstd[...] = r


def batch_norm_backward(x, weight, mean, rstd, grad_out, grad_x, grad_weight, grad_bias):
    """As layer_norm_backward, the means taken per channel over N and L."""
    xhat = (x.astype(np.float64) - mean[None, :, None]) * rstd[None, :, None]
    dy = grad_out.astype(np.float64)
    g = dy * weight[None, :, None] if weight is not None else dy
    if grad_x is not None:
        mean_g = g.mean(axis=(0, 2), keepdims=True)
        mean_gx = (g * xhat).mean(axis=(0, 2), keepdims=True)
        grad_x[...] = rstd[None, :, None] * (g - mean_g - xhat * mean_gx)
    if grad_weight is not None:
        grad_weight[...] = (dy * xhat).sum(axis=(0, 2))
    if grad_bias is not None:
        grad_bias[...] = dy.sum(axis=(0, 2))
