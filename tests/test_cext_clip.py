"""The C extension's gradient norm and clipping's scaling (cext/clip.py): against the
NumPy reference over several blocks, the NaN/inf rules of the spec, results that do not
depend on the thread count, and the generic ``mul`` whose large in-place scalar case
runs on the pool, bit for bit as NumPy's."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from fastdl import threads
from fastdl.backends.cpu import cext
from fastdl.backends.reference import clip as reference

# A C extension that is not built fails these tests, as in test_cext.py, unless
# FASTDL_EXPECT_NO_CEXT=1 says this install goes without it.
pytestmark = pytest.mark.skipif(
    os.environ.get("FASTDL_EXPECT_NO_CEXT") == "1", reason="C extension not built, as expected"
)

FLOATS = [np.float32, np.float64]
NORMS = [1.0, 2.0, 3.0, math.inf]
# More than one 65536-element block (csrc/clip.c), with an odd tail.
N = 3 * 65536 + 4099


def _c():
    from fastdl.backends.cpu.cext import clip

    return clip


def _norm(kernel, x, norm_type):
    out = np.full(1, np.nan)
    kernel(x, norm_type, out)
    return out[0]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("norm_type", NORMS)
@pytest.mark.parametrize("n", [0, 1, 17, N])
def test_grad_norm_matches_reference(dtype, norm_type, n):
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    got = _norm(_c().grad_norm, x, norm_type)
    expected = _norm(reference.grad_norm, x, norm_type)
    # float64 sums in another order: a few ulp of float64 per block
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("norm_type", NORMS)
def test_grad_norm_nan_and_inf(dtype, norm_type):
    x = np.ones(N, dtype)
    x[N - 3] = np.inf
    assert _norm(_c().grad_norm, x, norm_type) == math.inf
    x[5] = np.nan  # a NaN in another block than the inf wins
    assert math.isnan(_norm(_c().grad_norm, x, norm_type))
    x[:] = -2.0
    assert _norm(_c().grad_norm, x, math.inf) == 2.0


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("norm_type", NORMS)
def test_grad_norm_thread_count_changes_no_bit(monkeypatch, dtype, norm_type):
    x = np.random.default_rng(1).standard_normal(N).astype(dtype)
    monkeypatch.setattr(cext, "PARALLEL_MIN_PER_THREAD", 10**9)
    single = _norm(_c().grad_norm, x, norm_type)
    for count in (2, 3):
        monkeypatch.setattr(cext, "PARALLEL_MIN_PER_THREAD", 64)
        monkeypatch.setitem(threads._state, "threads", count)
        assert cext._num_threads(N) == count
        assert _norm(_c().grad_norm, x, norm_type) == single


def test_grad_norm_rejects_bad_arrays():
    with pytest.raises(TypeError, match="float32 or float64"):
        _c().grad_norm(np.ones(3, np.int32), 2.0, np.zeros(1))
    with pytest.raises(ValueError, match="C-contiguous"):
        _c().grad_norm(np.ones(6)[::2], 2.0, np.zeros(1))
    with pytest.raises(TypeError, match="float64"):
        _c().grad_norm(np.ones(3), 2.0, np.zeros(1, np.float32))


@pytest.mark.parametrize("dtype", FLOATS)
def test_mul_in_place_scaling_on_the_pool_is_numpys(monkeypatch, dtype):
    monkeypatch.setattr(cext, "PARALLEL_MIN_PER_THREAD", 64)  # the pool path at size N
    monkeypatch.setitem(threads._state, "threads", 2)
    x = np.random.default_rng(2).standard_normal(N).astype(dtype)
    coef = np.array([0.3711], dtype)
    expected = x * coef
    _c().mul(x, coef, x)
    np.testing.assert_array_equal(x, expected)


def test_mul_other_calls_are_numpys(monkeypatch):
    monkeypatch.setattr(cext, "PARALLEL_MIN_PER_THREAD", 64)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((N // 7, 7)), rng.standard_normal(7)
    out = np.empty_like(a)
    _c().mul(a, b, out)  # broadcast, out not a
    np.testing.assert_array_equal(out, a * b)
    strided = rng.standard_normal(2 * N)[::2]
    expected = strided * 0.5
    _c().mul(strided, np.array([0.5]), strided)  # not contiguous
    np.testing.assert_array_equal(strided, expected)
    small = np.ones(3, np.float32)
    _c().mul(small, 2.0, small)  # a Python scalar
    np.testing.assert_array_equal(small, np.full(3, 2.0, np.float32))


@pytest.mark.parametrize("norm_type", NORMS)
def test_backend_grad_norm_takes_the_pool_from_the_split_size(monkeypatch, norm_type):
    from fastdl.backends.cpu import clip as cpu_clip

    calls = []
    monkeypatch.setattr(_c(), "grad_norm", lambda *args: calls.append(args))
    monkeypatch.setattr(cext, "PARALLEL_MIN_PER_THREAD", N)
    x = np.ones(2 * N - 1, np.float32)
    out = np.zeros(1)
    cpu_clip.grad_norm_cext(x, norm_type, out)  # below the split: the Numba kernel
    assert not calls and out[0] == _norm(reference.grad_norm, x, norm_type)
    cpu_clip.grad_norm_cext(np.ones(2 * N, np.float32), norm_type, out)
    assert len(calls) == 1
