"""Philox 4x32-10 kernels and fastdl.random.Generator.

Known-answer vectors are Random123's (kat_vectors, philox4x32_10). Raw words,
uniforms and Bernoulli masks must match the reference bit for bit on every
backend; normals to a few ulp.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastdl import backends
from fastdl import random as frandom
from fastdl.backends import spec
from fastdl.backends.reference import random as ref_random

BACKENDS = ("reference", "numba")
FAST_BACKENDS = ("numba",)
EXACT = ("philox_uint32", "philox_uniform", "philox_bernoulli")
# Normals: float64 to a few ulp of the reference (libm differs); float32 values are
# float64 values rounded once, so at most one float32 ulp apart.
NORMAL_TOL = {np.float32: (2e-7, 2e-7), np.float64: (1e-13, 1e-13)}

# (counter, key) -> output; Random123 kat_vectors, philox4x32_10.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


def kernel(backend, name):
    return getattr(backends.get(backend), name)


def words(backend, seed, offset, n):
    out = np.zeros(n, np.uint32)
    kernel(backend, "philox_uint32")(seed, offset, out)
    return out


# -- the Philox block and the stream layout -------------------------------------


@pytest.mark.parametrize("counter, key, expected", KAT)
def test_philox_block_known_answers(counter, key, expected):
    assert ref_random.philox4x32_10(counter, key) == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_starts_with_the_zero_block(backend):
    # seed 0 is key (0, 0); words 0..3 are the block with counter 0.
    assert tuple(int(w) for w in words(backend, 0, 0, 4)) == KAT[0][2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_layout_counter_and_key(backend):
    # Word w is lane w % 4 of the block with counter (c lo, c hi, 0, 0), c = w // 4,
    # under key (seed lo, seed hi); check a block with a counter above 2**32.
    seed = 0x299F31D0_A4093822
    c = 0x00000001_00000005
    got = words(backend, seed, 4 * c, 4)
    want = ref_random.philox4x32_10((5, 1, 0, 0), (0xA4093822, 0x299F31D0))
    assert tuple(int(w) for w in got) == want


@pytest.mark.parametrize("backend", BACKENDS)
def test_any_slice_of_the_stream_is_the_same_words(backend):
    seed = 123456789012345
    long = words(backend, seed, 0, 64)
    # Aligned draws: 10 words, then 5 from the next fresh block.
    np.testing.assert_array_equal(words(backend, seed, 0, 10), long[:10])
    np.testing.assert_array_equal(words(backend, seed, 12, 5), long[12:17])
    # And any offset, any length, unaligned included.
    for offset in range(9):
        for n in (0, 1, 2, 3, 4, 5, 7, 8, 13):
            np.testing.assert_array_equal(
                words(backend, seed, offset, n), long[offset : offset + n], err_msg=f"{offset} {n}"
            )


def test_uniforms_and_masks_are_the_documented_functions_of_words():
    seed, offset, n = 99, 6, 37
    w = words("reference", seed, offset, 2 * n).astype(np.uint64)
    f32 = np.empty(n, np.float32)
    kernel("reference", "philox_uniform")(seed, offset, f32)
    np.testing.assert_array_equal(f32, (w[:n] >> np.uint64(8)) * 2.0**-24)
    f64 = np.empty(n, np.float64)
    kernel("reference", "philox_uniform")(seed, offset, f64)
    hi, lo = w[0::2] >> np.uint64(5), w[1::2] >> np.uint64(6)
    np.testing.assert_array_equal(f64, (hi * 2.0**26 + lo) * 2.0**-53)
    mask = np.empty(n, np.float32)
    kernel("reference", "philox_bernoulli")(seed, offset, 0.3, mask)
    np.testing.assert_array_equal(mask, (f32 < 0.3).astype(np.float32))


def test_normals_are_box_muller_on_the_documented_words():
    seed, offset, n = 5, 3, 7
    w = words("reference", seed, offset, 4 * 4)
    out = np.empty(n, np.float64)
    kernel("reference", "philox_normal")(seed, offset, 0.5, 2.0, out)
    for j in range(4):
        a, b, c, d = (int(x) for x in w[4 * j : 4 * j + 4])
        u1 = 1.0 - ((a >> 5) * 2**26 + (b >> 6)) * 2.0**-53
        u2 = ((c >> 5) * 2**26 + (d >> 6)) * 2.0**-53
        r = math.sqrt(-2.0 * math.log(u1))
        assert out[2 * j] == pytest.approx(0.5 + 2.0 * r * math.cos(2 * math.pi * u2), rel=1e-14)
        if 2 * j + 1 < n:
            assert out[2 * j + 1] == pytest.approx(
                0.5 + 2.0 * r * math.sin(2 * math.pi * u2), rel=1e-14
            )


# -- backends against the reference ----------------------------------------------


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("name", [k.name for k in spec.KERNELS if k.family == "random"])
def test_backend_matches_reference_on_spec_samples(name, backend):
    contract = spec.BY_NAME[name]
    for dtype in contract.dtypes:
        for seed in range(60):
            args = contract.sample(np.random.default_rng(seed), dtype)
            expected = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
            kernel("reference", name)(*(expected[a] for a in contract.args))
            kernel(backend, name)(*(args[a] for a in contract.args))
            if name in EXACT:
                np.testing.assert_array_equal(args["out"], expected["out"], err_msg=f"seed {seed}")
            else:
                rtol, atol = NORMAL_TOL[dtype]
                np.testing.assert_allclose(
                    args["out"], expected["out"], rtol=rtol, atol=atol, err_msg=f"seed {seed}"
                )


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_backend_matches_reference_on_a_large_unaligned_draw(backend):
    # Long enough to cross several of a backend's internal chunks.
    seed, offset, n = 2**64 - 1, 2**62 + 1, 10_007
    np.testing.assert_array_equal(
        words(backend, seed, offset, n), words("reference", seed, offset, n)
    )
    for dtype in (np.float32, np.float64):
        got, want = np.empty(n, dtype), np.empty(n, dtype)
        kernel(backend, "philox_uniform")(seed, offset, got)
        kernel("reference", "philox_uniform")(seed, offset, want)
        np.testing.assert_array_equal(got, want)
        kernel(backend, "philox_bernoulli")(seed, offset, 0.5, got)
        kernel("reference", "philox_bernoulli")(seed, offset, 0.5, want)
        np.testing.assert_array_equal(got, want)
        kernel(backend, "philox_normal")(seed, offset, 0.0, 1.0, got)
        kernel("reference", "philox_normal")(seed, offset, 0.0, 1.0, want)
        np.testing.assert_allclose(got, want, rtol=NORMAL_TOL[dtype][0], atol=NORMAL_TOL[dtype][1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_bernoulli_edges(backend):
    out = np.empty(1000, np.float32)
    kernel(backend, "philox_bernoulli")(1, 0, 0.0, out)
    assert not out.any()
    kernel(backend, "philox_bernoulli")(1, 0, 1.0, out)
    assert out.all()


# -- statistics, with generous bounds (about 6 standard errors) -------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_uniform_statistics(backend, dtype):
    n = 200_000
    u = np.empty(n, dtype)
    kernel(backend, "philox_uniform")(2024, 0, u)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 6 * math.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 6 * math.sqrt(1 / 180 / n)
    counts = np.bincount((u * 10).astype(np.int64), minlength=10)
    assert np.all(np.abs(counts - n / 10) < 6 * math.sqrt(n * 0.1 * 0.9))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_normal_statistics(backend, dtype):
    n = 200_001  # odd: the last pair's sine is dropped
    z = np.empty(n, dtype)
    kernel(backend, "philox_normal")(7, 0, 1.5, 2.0, z)
    assert np.isfinite(z).all()
    assert abs(z.mean() - 1.5) < 6 * 2.0 / math.sqrt(n)
    assert abs(z.std() - 2.0) < 6 * 2.0 / math.sqrt(2 * n)
    standard = (z - 1.5) / 2.0
    assert abs(np.mean(standard > 1.0) - 0.158655) < 6 * math.sqrt(0.16 * 0.84 / n)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bernoulli_frequency(backend):
    n = 200_000
    out = np.empty(n, np.float64)
    kernel(backend, "philox_bernoulli")(3, 4, 0.3, out)
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert abs(out.mean() - 0.3) < 6 * math.sqrt(0.3 * 0.7 / n)


# -- Generator -------------------------------------------------------------------


@pytest.fixture
def keep_default_generator():
    state = frandom.get_rng_state()
    yield
    frandom.set_rng_state(state)


def test_generator_is_deterministic_and_seed_dependent():
    a = frandom.Generator().manual_seed(11)
    b = frandom.Generator().manual_seed(11)
    for draw in (
        lambda g: g.uniform((3, 5)),
        lambda g: g.normal(7, dtype=np.float64),
        lambda g: g.bernoulli((4, 4), 0.5),
        lambda g: g.randint(-3, 9, (20,)),
        lambda g: g.randperm(50),
    ):
        np.testing.assert_array_equal(draw(a), draw(b))
    c = frandom.Generator().manual_seed(12)
    assert not np.array_equal(frandom.Generator().manual_seed(11).uniform(16), c.uniform(16))


def test_generator_draws_are_aligned_slices_of_the_stream():
    g = frandom.Generator().manual_seed(77)
    first = g.uniform(10)  # words 0..9; the offset moves to 12
    assert int(g._state_words()[1]) == 12
    second = g.uniform(5)  # words 12..16; offset 20
    assert int(g._state_words()[1]) == 20
    whole = np.empty(17, np.float32)
    kernel("reference", "philox_uniform")(77, 0, whole)
    np.testing.assert_array_equal(first, whole[:10])
    np.testing.assert_array_equal(second, whole[12:17])


@pytest.mark.parametrize(
    "draw, words_used",
    [
        (lambda g: g.uniform(3, dtype=np.float32), 4),
        (lambda g: g.uniform(3, dtype=np.float64), 8),
        (lambda g: g.normal(3), 8),
        (lambda g: g.normal(4), 8),
        (lambda g: g.bernoulli(9, 0.5), 12),
        (lambda g: g.randint(0, 5, 3), 8),
        (lambda g: g.randperm(2), 4),
        (lambda g: g.uniform(0), 0),
    ],
)
def test_generator_offset_advances_by_whole_blocks(draw, words_used):
    g = frandom.Generator().manual_seed(1)
    draw(g)
    assert g._state_words().tolist() == [1, words_used]


def test_generator_same_numbers_on_every_backend():
    results = {}
    for name in BACKENDS:
        with backends.use_backend(name):
            g = frandom.Generator().manual_seed(2**63 + 5)
            results[name] = (
                g.uniform(33),
                g.uniform(9, dtype=np.float64, low=-2.0, high=3.0),
                g.bernoulli((5, 7), 0.25),
                g.randint(-(2**40), 2**40, 17),
                g.randperm(100),
                g.normal(11, dtype=np.float64),
            )
    for got, want in zip(results["numba"][:-1], results["reference"][:-1]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(results["numba"][-1], results["reference"][-1], rtol=1e-13)


def test_generator_state_round_trip():
    g = frandom.Generator().manual_seed(5)
    g.uniform(3)
    state = g.get_state()
    assert state.dtype == np.uint8 and state.shape == (16,)
    after = g.normal((2, 3))
    state[0] = 0  # a copy: changing it leaves the generator alone
    g.set_state(np.array([5, 4], np.uint64))
    np.testing.assert_array_equal(g.normal((2, 3)), after)
    other = frandom.Generator().set_state(g.get_state())
    np.testing.assert_array_equal(other.uniform(8), g.uniform(8))
    assert other.initial_seed() == 5


@pytest.mark.parametrize(
    "state, error",
    [
        ([5, 0], TypeError),
        (np.array([5, 0], np.int64), TypeError),
        (np.array([5, 0, 0], np.uint64), ValueError),
        (np.array([[5, 0]], np.uint64), ValueError),
    ],
)
def test_set_state_validates(state, error):
    with pytest.raises(error, match="state"):
        frandom.Generator().set_state(state)


@pytest.mark.parametrize("seed", [0, 1, 2**32, 2**64 - 1, np.uint64(2**64 - 1), np.int32(7)])
def test_seed_accepts_uint64_range(seed):
    g = frandom.Generator().manual_seed(seed)
    assert g.initial_seed() == int(seed)
    assert g._state_words().tolist() == [int(seed), 0]


@pytest.mark.parametrize(
    "seed, error",
    [(-1, ValueError), (2**64, ValueError), (1.0, TypeError), ("3", TypeError), (True, TypeError)],
)
def test_seed_validates(seed, error):
    with pytest.raises(error, match="seed"):
        frandom.Generator().manual_seed(seed)
    with pytest.raises(error, match="seed"):
        frandom.manual_seed(seed)


def test_manual_seed_restarts_the_stream():
    g = frandom.Generator().manual_seed(9)
    first = g.uniform(6)
    g.uniform(100)
    np.testing.assert_array_equal(g.manual_seed(9).uniform(6), first)


def test_nondeterministic_seed():
    g = frandom.Generator()
    s = g.seed()
    assert 0 <= s < 2**64
    assert g.initial_seed() == s
    assert g._state_words().tolist() == [s, 0]


def test_default_generator_functions(keep_default_generator):
    assert frandom.manual_seed(31) is frandom.default_generator
    assert frandom.initial_seed() == 31
    state = frandom.get_rng_state()
    a = frandom.default_generator.uniform(4)
    frandom.set_rng_state(state)
    np.testing.assert_array_equal(frandom.default_generator.uniform(4), a)


def test_uniform_respects_bounds_and_dtype():
    g = frandom.Generator().manual_seed(0)
    for dtype in (np.float32, np.float64):
        x = g.uniform((100, 50), dtype=dtype, low=-0.25, high=0.75)
        assert x.shape == (100, 50) and x.dtype == dtype
        assert x.min() >= -0.25 and x.max() < 0.75
    assert g.uniform((), dtype=np.float64).shape == ()
    with pytest.raises(ValueError, match="low"):
        g.uniform(3, low=1.0, high=0.0)
    with pytest.raises(TypeError, match="dtype"):
        g.uniform(3, dtype=np.int32)
    with pytest.raises(ValueError, match="shape"):
        g.uniform((2, -1))


def test_normal_and_bernoulli_arguments():
    g = frandom.Generator().manual_seed(0)
    x = g.normal((10, 3), dtype=np.float64, mean=5.0, std=0.0)
    assert x.shape == (10, 3) and x.dtype == np.float64
    np.testing.assert_array_equal(x, 5.0)
    with pytest.raises(ValueError, match="std"):
        g.normal(3, std=-1.0)
    m = g.bernoulli((4, 6), 0.5, dtype=np.float64)
    assert m.shape == (4, 6) and m.dtype == np.float64
    with pytest.raises(ValueError, match="p"):
        g.bernoulli(3, 1.5)


def test_randint():
    g = frandom.Generator().manual_seed(4)
    x = g.randint(-5, 5, (1000,))
    assert x.dtype == np.int64 and x.shape == (1000,)
    assert x.min() == -5 and x.max() == 4
    assert np.all(np.bincount(x + 5, minlength=10) > 50)
    extreme = g.randint(-(2**63), 2**63 - 1, (1000,))
    assert extreme.dtype == np.int64
    assert (extreme < 0).any() and (extreme > 0).any()
    assert (g.randint(7, 8, 5) == 7).all()
    with pytest.raises(ValueError, match="low"):
        g.randint(3, 3, 2)
    with pytest.raises(TypeError, match="high"):
        g.randint(0, 2.5, 2)


def test_randperm():
    g = frandom.Generator().manual_seed(8)
    p = g.randperm(1000)
    assert p.dtype == np.int64
    np.testing.assert_array_equal(np.sort(p), np.arange(1000))
    assert not np.array_equal(p, np.arange(1000))
    np.testing.assert_array_equal(frandom.Generator().manual_seed(8).randperm(1000), p)
    assert g.randperm(0).shape == (0,)
    with pytest.raises(ValueError, match="n"):
        g.randperm(-1)
