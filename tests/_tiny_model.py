"""A tiny MLP whose gradients NumPy computes independently, shared by optimizer tests."""

import numpy as np

import fastdl
from fastdl import nn


def np_of(t):
    return t.detach().numpy()


def tiny_model(dtype=np.float32, seed=0):
    fastdl.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).to(dtype)


def tiny_data(dtype, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((8, 4)).astype(dtype), rng.standard_normal((8, 2)).astype(dtype)


def numpy_grads(params, x, y):
    """Gradients of mean((tanh(x W1^T + b1) W2^T + b2 - y)^2), in float64."""
    w1, b1, w2, b2 = params
    h = np.tanh(x @ w1.T + b1)
    out = h @ w2.T + b2
    d_out = 2 * (out - y) / out.size
    d_z = (d_out @ w2) * (1 - h * h)
    return [d_z.T @ x, d_z.sum(axis=0), d_out.T @ h, d_out.sum(axis=0)]
