"""The C extension's Philox 4x32-10 kernels (csrc/random.c) against the NumPy reference
and the Numba kernels: the same raw words, uniforms and Bernoulli masks bit for bit,
on every batch code the CPU runs (portable C, SSE2, AVX2, AVX-512), any offset,
length and thread split; normals to a few ulp. And the fallback to Numba.

A C extension that is not built fails here, unless FASTDL_EXPECT_NO_CEXT=1.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from fastdl.backends import reference, spec
from fastdl.backends.cpu import cext
from fastdl.backends.cpu import random as numba_random
from fastdl.backends.cpu.cext import random as c_random
from fastdl.backends.reference import random as ref_random

EXPECT_NO_CEXT = os.environ.get("FASTDL_EXPECT_NO_CEXT") == "1"
NAMES = ("philox_uint32", "philox_uniform", "philox_normal", "philox_bernoulli")
NORMAL_TOL = {np.float32: (2e-7, 2e-7), np.float64: (1e-13, 1e-13)}
LEVELS = {0: "portable C", 1: "SSE2", 2: "AVX2", 3: "AVX-512F"}

SEEDS = (0, 1, 0xFFFFFFFF, 2**32, 0x299F31D0_A4093822, 2**63 + 12345, 2**64 - 1)
OFFSETS = (0, 1, 2, 3, 4, 5, 6, 7, 255, 257, 2**32 - 3, 2**34 + 1, 2**62 + 3, 2**64 - 4096)
LENGTHS = (0, 1, 2, 3, 4, 5, 7, 9, 255, 256, 257, 1023, 1025, 2053)


@pytest.fixture(autouse=True)
def _cext_enabled(monkeypatch):
    monkeypatch.delenv("FASTDL_CEXT", raising=False)


@pytest.fixture
def lib():
    """The compiled library; fails the test if the extension is not built."""
    status = cext.status()
    if not status["loaded"]:
        if EXPECT_NO_CEXT:
            pytest.skip("C extension not built, as FASTDL_EXPECT_NO_CEXT=1 expects")
        pytest.fail(f"the C extension is not built: {status['reason']}")
    return cext._require().lib


@pytest.fixture(params=sorted(LEVELS), ids=lambda level: LEVELS[level])
def level(request, lib):
    """Each batch code in turn (skipped where this CPU lacks it); the default after."""
    got = lib.fastdl_philox_select(request.param)
    if got < 0:
        pytest.skip(f"{LEVELS[request.param]} is not available on this CPU or build")
    yield got
    lib.fastdl_philox_select(-1)


def c_words(seed, offset, n):
    out = np.zeros(n, np.uint32)
    numba_random.philox_uint32_cext(seed, offset, out)
    return out


def _cases():
    rng = np.random.default_rng(3)
    for seed in SEEDS:
        for offset in OFFSETS:
            yield seed, offset, int(rng.choice(LENGTHS))


# -- raw words -----------------------------------------------------------------------


def test_default_level_is_the_widest(lib):
    assert lib.fastdl_philox_level() == lib.fastdl_philox_select(-1) >= 0
    assert all(lib.fastdl_philox_select(lv) == lv for lv in range(lib.fastdl_philox_level() + 1))
    lib.fastdl_philox_select(-1)
    assert lib.fastdl_philox_select(99) == -1


def test_known_answers_through_c(level):
    # Random123 kat_vectors philox4x32_10: counter 0, key 0 is words 0..3 of seed 0.
    np.testing.assert_array_equal(
        c_words(0, 0, 4), [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    )
    # Any block: counter (c lo, c hi, 0, 0), key (seed lo, seed hi); the reference's
    # block function is itself held to all three Random123 vectors in test_random.py.
    for seed in (0xFFFFFFFF_FFFFFFFF, 0x299F31D0_A4093822):
        for c in (5, 0x00000001_00000005, 2**62 - 1):
            want = ref_random.philox4x32_10(
                (c & 0xFFFFFFFF, c >> 32, 0, 0), (seed & 0xFFFFFFFF, seed >> 32)
            )
            assert tuple(int(w) for w in c_words(seed, 4 * c, 4)) == want


def test_words_match_reference_and_numba(level):
    for seed, offset, n in _cases():
        want = ref_random.philox_words(seed, offset, n)
        numba = np.zeros(n, np.uint32)
        numba_random.philox_uint32(seed, offset, numba)
        got = c_words(seed, offset, n)
        np.testing.assert_array_equal(got, want, err_msg=f"seed {seed} offset {offset} n {n}")
        np.testing.assert_array_equal(numba, want, err_msg=f"numba {seed} {offset} {n}")


def test_any_slice_is_the_same_words(level):
    seed = 2**63 + 77
    long = c_words(seed, 0, 1100)
    for offset in range(0, 600, 37):
        for n in (0, 1, 3, 4, 5, 256, 257, 499):
            np.testing.assert_array_equal(c_words(seed, offset, n), long[offset : offset + n])


def test_words_past_2_to_the_64_continue_the_counter(lib):
    # Word offset + k lies in block offset // 4 + (offset % 4 + k) // 4 with exact
    # integers, as in the reference (the generator never draws past 2**64).
    seed, offset, n = 9, 2**64 - 6, 1030
    np.testing.assert_array_equal(
        c_words(seed, offset, n), ref_random.philox_words(seed, offset, n)
    )
    uniform, want = np.empty(n), np.empty(n)
    numba_random.philox_uniform_cext(seed, offset, uniform)
    ref_random.philox_uniform(seed, offset, want)
    np.testing.assert_array_equal(uniform, want)


# -- uniforms, masks, normals ----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniforms_match_reference_and_numba(level, dtype):
    for seed, offset, n in _cases():
        outs = [np.full(n, np.nan, dtype) for _ in range(3)]
        for kernel, out in zip((c_random, numba_random, ref_random), outs):
            kernel.philox_uniform(seed, offset, out)
        np.testing.assert_array_equal(outs[0], outs[2], err_msg=f"C {seed} {offset} {n}")
        np.testing.assert_array_equal(outs[1], outs[2], err_msg=f"numba {seed} {offset} {n}")


# p on and next to the 2^-24 grid the uniforms live on, and out of [0, 1].
EDGE_P = (0.0, 2.0**-24, 3 * 2.0**-24, 0.3, 0.5, 1 - 2.0**-24, 1.0, 5e-324, -0.5, 1.5, np.nan)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_masks_match_reference_and_numba(level, dtype):
    ps = [*EDGE_P, *(np.nextafter(p, d) for p in (2.0**-24, 0.5, 1 - 2.0**-24) for d in (0, 2))]
    for i, (seed, offset, n) in enumerate(_cases()):
        p = float(ps[i % len(ps)])
        outs = [np.full(n, np.nan, dtype) for _ in range(3)]
        for kernel, out in zip((c_random, numba_random, ref_random), outs):
            kernel.philox_bernoulli(seed, offset, p, out)
        np.testing.assert_array_equal(outs[0], outs[2], err_msg=f"C p={p!r} {offset} {n}")
        np.testing.assert_array_equal(outs[1], outs[2], err_msg=f"numba p={p!r} {offset} {n}")


def test_bernoulli_threshold_on_the_grid(lib):
    # Word w is kept iff (w >> 8) * 2^-24 < p: a p on the grid at k = w >> 8 drops it,
    # the next double up keeps it.
    words = c_words(11, 0, 64)
    for idx in (0, 5, 63):
        k = int(words[idx] >> 8)
        for p, kept in ((k * 2.0**-24, False), (np.nextafter(k * 2.0**-24, 1), True)):
            out = np.empty(64, np.float32)
            numba_random.philox_bernoulli_cext(11, 0, float(p), out)
            assert bool(out[idx]) is kept, (idx, k, p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normals_close_to_reference(level, dtype):
    rtol, atol = NORMAL_TOL[dtype]
    for seed, offset, n in _cases():
        got, want = np.full(n, np.nan, dtype), np.full(n, np.nan, dtype)
        numba_random.philox_normal_cext(seed, offset, 0.5, 2.0, got)
        ref_random.philox_normal(seed, offset, 0.5, 2.0, want)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{offset} {n}")


@pytest.mark.parametrize("name", NAMES)
def test_spec_samples_match_reference(lib, name):
    contract = spec.BY_NAME[name]
    for dtype in contract.dtypes:
        for seed in range(30):
            args = contract.sample(np.random.default_rng([seed, 5]), np.dtype(dtype))
            want = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
            reference.kernels()[name](*(want[a] for a in contract.args))
            cext.kernels()[name](*(args[a] for a in contract.args))
            if name == "philox_normal":
                rtol, atol = NORMAL_TOL[dtype]
                np.testing.assert_allclose(args["out"], want["out"], rtol=rtol, atol=atol)
            else:
                np.testing.assert_array_equal(args["out"], want["out"], err_msg=f"seed {seed}")


# -- threads, odd arguments, fallback ----------------------------------------------------


def _draw(name, dtype, n, seed=2**64 - 3, offset=2**40 + 1):
    out = np.full(n, np.nan, dtype) if dtype != np.uint32 else np.zeros(n, np.uint32)
    extra = {"philox_normal": (0.25, 3.0), "philox_bernoulli": (0.4,)}.get(name, ())
    cext.kernels()[name](seed, offset, *extra, out)
    return out


@pytest.mark.parametrize(
    "name, dtype",
    [("philox_uint32", np.uint32)] + [(n, d) for n in NAMES[1:] for d in (np.float32, np.float64)],
)
def test_thread_count_changes_no_bit(lib, monkeypatch, name, dtype):
    from fastdl import threads

    n = 3 * 65536 + 4099  # several chunks of parallel.c, an odd tail
    monkeypatch.setattr(cext, "PARALLEL_MIN_PER_THREAD", 10**9)
    single = _draw(name, dtype, n)
    for count in (2, 3):
        monkeypatch.setattr(cext, "PARALLEL_MIN_PER_THREAD", 64)
        monkeypatch.setitem(threads._state, "threads", count)
        assert cext._num_threads(n) == count
        np.testing.assert_array_equal(_draw(name, dtype, n), single, err_msg=f"{count} threads")
    if name != "philox_normal":
        want = np.empty_like(single)
        args = {"philox_bernoulli": (0.4,)}.get(name, ())
        reference.kernels()[name](2**64 - 3, 2**40 + 1, *args, want)
        np.testing.assert_array_equal(single, want)


def test_normal_range_may_start_odd(lib):
    # parallel_for hands out even starts; the range code also takes an odd one.
    ffi = cext._require().ffi
    full = _draw("philox_normal", np.float64, 11, seed=4, offset=8)
    out = np.full(11, np.nan)
    lib.fastdl_philox_normal_f64(ffi.from_buffer("double[]", out, True), 11, 4, 8, 0.25, 3.0, 1)
    np.testing.assert_array_equal(out, full)


def test_strided_or_read_only_out_goes_to_numba(lib):
    out = np.full(20, np.nan)[::2]  # not contiguous: the Numba kernel serves it
    numba_random.philox_uniform_cext(7, 5, out)
    want = np.empty(10)
    ref_random.philox_uniform(7, 5, want)
    np.testing.assert_array_equal(out, want)
    frozen = np.zeros(4, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(Exception) as c_error:
        numba_random.philox_bernoulli_cext(1, 0, 0.5, frozen)
    with pytest.raises(Exception) as numba_error:
        numba_random.philox_bernoulli(1, 0, 0.5, frozen)
    assert type(c_error.value) is type(numba_error.value)
    assert not frozen.any()


@pytest.mark.parametrize("offset", [-1, 2**64])
def test_offset_out_of_range_fails_as_in_numba(lib, offset):
    with pytest.raises(OverflowError):
        numba_random.philox_uint32(1, offset, np.zeros(3, np.uint32))
    out = np.zeros(3, np.uint32)
    with pytest.raises(OverflowError):
        numba_random.philox_uint32_cext(1, offset, out)
    assert not out.any()


def test_fallback_serves_numba(lib, monkeypatch):
    from fastdl.backends import cpu

    served = cpu.kernels()
    for name in NAMES:
        assert served[name] is getattr(numba_random, f"{name}_cext")
    monkeypatch.setenv("FASTDL_CEXT", "0")
    assert cext.kernels() == {}
    served = cpu.kernels()
    for name in NAMES:
        assert served[name] is getattr(numba_random, name)
    out = np.empty(9, np.float32)
    served["philox_uniform"](3, 1, out)
    want = np.empty(9, np.float32)
    ref_random.philox_uniform(3, 1, want)
    np.testing.assert_array_equal(out, want)
