"""Numerical edge cases held to PyTorch's results on every backend: an infinite logit in
binary_cross_entropy_with_logits, batch and layer norm of values whose squares overflow."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastdl
from fastdl.backends import get as get_backend
from fastdl.ops.loss import binary_cross_entropy_with_logits

BACKENDS = ["reference", "numba"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_of_infinite_logit(backend, dtype):
    z = fastdl.tensor(np.array([math.inf, -math.inf, 3.0, -math.inf], dtype))
    t = fastdl.tensor(np.array([0.0, 1.0, 0.0, 0.0], dtype))
    with fastdl.use_backend(backend):
        loss = binary_cross_entropy_with_logits(z, t, reduction="none").numpy()
    assert loss[0] == math.inf  # torch: inf
    assert loss[1] == math.inf
    np.testing.assert_allclose(loss[2], 3.0 + math.log1p(math.exp(-3.0)), rtol=1e-6)
    assert loss[3] == 0.0


def _run_norm(backend, kernel, x, shape_stats):
    be = get_backend(backend)
    out = np.empty_like(x)
    mean = np.empty(shape_stats)
    rstd = np.empty(shape_stats)
    getattr(be, kernel)(x, None, None, 1e-5, out, mean, rstd)
    return out, mean, rstd


@pytest.mark.parametrize("magnitude", [1e200, 1e160, 1e100])
def test_batch_norm_of_huge_values_matches_reference(magnitude):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5))
    x[:, 1, :] = magnitude * np.sign(rng.standard_normal((4, 5)))
    ref = _run_norm("reference", "batch_norm", x, 3)
    fast = _run_norm("numba", "batch_norm", x, 3)
    for a, b in zip(fast, ref):
        assert not np.isnan(a).any()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("magnitude", [1e200, 1e100])
def test_layer_norm_of_huge_values_matches_reference(magnitude):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 8))
    x[1] = magnitude * np.sign(rng.standard_normal(8))
    ref = _run_norm("reference", "layer_norm", x, 3)
    fast = _run_norm("numba", "layer_norm", x, 3)
    for a, b in zip(fast, ref):
        assert not np.isnan(a).any()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_bce_with_logits_of_infinite_logit_on_cuda():
    pytest.importorskip("numba.cuda")
    from numba import cuda

    from fastdl.backends.cuda import loss as cuda_loss

    z = np.array([math.inf, -math.inf, 3.0, -math.inf])
    t = np.array([0.0, 1.0, 0.0, 0.0])
    expected = np.empty(4)
    get_backend("reference").bce_with_logits(z, t, expected)
    losses = cuda.to_device(np.empty(4))
    cuda_loss.bce_with_logits(cuda.to_device(z), cuda.to_device(t), losses)
    np.testing.assert_array_equal(losses.copy_to_host(), expected)
    assert expected[0] == math.inf
