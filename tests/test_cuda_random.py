"""The CUDA Philox 4x32-10 kernels against the NumPy reference: the same raw words,
uniforms and Bernoulli masks bit for bit, at any seed, offset (aligned or not, up to
and past 2**64 words) and length, across tile boundaries; normals to a few ulp.

Under the CUDA simulator the kernels run with 32-thread blocks (128-word windows), so
the lengths here cross several tiles with few threads.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from numba import cuda

from fastdl.backends import reference, spec
from fastdl.backends.cuda import _launch
from fastdl.backends.cuda import random as cuda_random
from fastdl.backends.reference import random as ref_random

REF = reference.kernels()
NAMES = ("philox_uint32", "philox_uniform", "philox_normal", "philox_bernoulli")
NORMAL_TOL = {np.float32: dict(rtol=2e-7, atol=2e-7), np.float64: dict(rtol=1e-13, atol=1e-13)}

SEEDS = (0, 0xFFFFFFFF, 2**32, 0x299F31D0_A4093822, 2**63 + 12345, 2**64 - 1)
OFFSETS = (0, 1, 2, 3, 5, 127, 2**32 - 3, 2**62 + 3, 2**64 - 4096)
LENGTHS = (1, 2, 3, 4, 5, 7, 129, 130, 257, 515)


def _cases():
    rng = np.random.default_rng(5)
    return [(seed, offset, int(rng.choice(LENGTHS))) for seed in SEEDS for offset in OFFSETS]


def _on_device(kernel, *args, n, dtype):
    out = cuda.to_device(np.full(n, 7, dtype))
    kernel(*args, out)
    return out.copy_to_host()


def _reference(name, *args, n, dtype):
    out = np.full(n, 7, dtype)
    REF[name](*args, out)
    return out


def test_words_match_reference():
    for seed, offset, n in _cases():
        got = _on_device(cuda_random.philox_uint32, seed, offset, n=n, dtype=np.uint32)
        want = ref_random.philox_words(seed, offset, n)
        np.testing.assert_array_equal(got, want, err_msg=f"seed={seed} offset={offset} n={n}")


def test_known_answer_block():
    # Word 0..3 of seed 0 is the Philox 4x32-10 block of counter 0, key 0.
    got = _on_device(cuda_random.philox_uint32, 0, 0, n=4, dtype=np.uint32)
    assert [hex(w) for w in got] == ["0x6627e8d5", "0xe169c58d", "0xbc57ac4c", "0x9b00dbd8"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniforms_match_reference(dtype):
    for seed, offset, n in _cases()[::2]:
        got = _on_device(cuda_random.philox_uniform, seed, offset, n=n, dtype=dtype)
        want = _reference("philox_uniform", seed, offset, n=n, dtype=dtype)
        np.testing.assert_array_equal(got, want, err_msg=f"seed={seed} offset={offset} n={n}")
        assert got.min() >= 0 and got.max() < 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_matches_reference(dtype):
    for (seed, offset, n), p in zip(_cases()[1::3], (0.0, 0.3, 1.0, 0.5, 0.999), strict=False):
        got = _on_device(cuda_random.philox_bernoulli, seed, offset, p, n=n, dtype=dtype)
        want = _reference("philox_bernoulli", seed, offset, p, n=n, dtype=dtype)
        np.testing.assert_array_equal(got, want, err_msg=f"seed={seed} offset={offset} p={p}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_compares_in_float64(dtype):
    # p just above some word's uniform u: u < p in float64, but float32(p) == u.
    seed, offset, n = 2**63 + 5, 3, 200
    u = (ref_random.philox_words(seed, offset, n) >> 8).astype(np.float64) * 2.0**-24
    p = float(np.sort(u)[n // 2]) + 2.0**-40
    assert np.float32(p) == np.sort(u)[n // 2]
    got = _on_device(cuda_random.philox_bernoulli, seed, offset, p, n=n, dtype=dtype)
    np.testing.assert_array_equal(got, (u < p).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normals_match_reference(dtype):
    for seed, offset, n in _cases()[::3]:
        got = _on_device(cuda_random.philox_normal, seed, offset, 0.5, 2.0, n=n, dtype=dtype)
        want = _reference("philox_normal", seed, offset, 0.5, 2.0, n=n, dtype=dtype)
        np.testing.assert_allclose(got, want, **NORMAL_TOL[dtype], err_msg=f"offset={offset}")


def test_words_past_2_to_the_64_continue_the_counter():
    seed, offset, n = 9, 2**64 - 6, 300
    got = _on_device(cuda_random.philox_uint32, seed, offset, n=n, dtype=np.uint32)
    np.testing.assert_array_equal(got, ref_random.philox_words(seed, offset, n))
    got = _on_device(cuda_random.philox_uniform, seed, offset, n=n, dtype=np.float64)
    np.testing.assert_array_equal(got, _reference("philox_uniform", seed, offset, n=n, dtype=float))


@pytest.mark.parametrize("name", NAMES)
def test_sampled_arguments(name):
    kernel = spec.BY_NAME[name]
    rng = np.random.default_rng(11)
    for dtype in kernel.dtypes:
        args = kernel.sample(rng, dtype)
        want = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
        out = cuda.to_device(args["out"])
        getattr(cuda_random, name)(*[out if k == "out" else args[k] for k in kernel.args])
        REF[name](*[want[k] for k in kernel.args])
        if name == "philox_normal":
            np.testing.assert_allclose(out.copy_to_host(), want["out"], **NORMAL_TOL[dtype])
        else:
            np.testing.assert_array_equal(out.copy_to_host(), want["out"])


@pytest.mark.parametrize("name", NAMES)
def test_one_launch_per_call_and_none_for_nothing(name):
    kernel = getattr(cuda_random, name)
    extra = {"philox_normal": (0.0, 1.0), "philox_bernoulli": (0.5,)}.get(name, ())
    dtype = np.uint32 if name == "philox_uint32" else np.float64
    before = _launch.launches()
    kernel(3, 1, *extra, cuda.to_device(np.zeros(9, dtype)))
    assert _launch.launches() == before + 1
    kernel(3, 1, *extra, cuda.to_device(np.zeros(0, dtype)))
    assert _launch.launches() == before + 1


@pytest.mark.parametrize("offset", [-1, 2**64])
def test_offset_out_of_range_fails_and_writes_nothing(offset):
    out = cuda.to_device(np.zeros(3, np.uint32))
    with pytest.raises(OverflowError):
        cuda_random.philox_uint32(1, offset, out)
    assert not out.copy_to_host().any()
