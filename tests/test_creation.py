"""The torch namespace's factories: sizes and keywords, the default dtype and device,
dtype aliases, the ``*_like`` family, ``linspace``/``logspace``/``eye``, ``as_tensor``,
``meshgrid`` (with its gradient), legacy constructors, and the random factories
(``randint``, ``randperm``, ``multinomial``...) against the Philox stream they draw from.
"""

import math

import numpy as np
import pytest

import fastdl
from fastdl import random as frandom

BACKENDS = ["numba", "reference"]


@pytest.fixture
def default_dtype():
    before = fastdl.get_default_dtype()
    yield
    fastdl.set_default_dtype(before)


@pytest.fixture
def default_device():
    before = fastdl.get_default_device()
    yield
    fastdl.set_default_device(before)


# -- sizes, keywords, dtypes --------------------------------------------------------------


@pytest.mark.parametrize("factory", [fastdl.zeros, fastdl.ones, fastdl.empty, fastdl.rand])
def test_size_as_varargs_sequence_or_keyword(factory):
    for got in (factory(2, 3), factory((2, 3)), factory([2, 3]), factory(size=(2, 3))):
        assert got.shape == (2, 3) and got.dtype == fastdl.float32
    assert factory().shape == ()
    t = factory(4, dtype=fastdl.float64, requires_grad=True)
    assert t.dtype == fastdl.float64 and t.requires_grad and t.is_leaf
    with pytest.raises(ValueError, match="size"):
        factory(2, -1)
    with pytest.raises(TypeError, match="size"):
        factory(2, size=(2,))


def test_factory_values():
    np.testing.assert_array_equal(fastdl.zeros(2, 2).numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(fastdl.ones(3, dtype=fastdl.int64).numpy(), [1, 1, 1])
    assert fastdl.full((2,), 1.5).dtype == fastdl.float32
    assert fastdl.full((2,), 3).dtype == fastdl.int64
    assert fastdl.full((2,), True).dtype == fastdl.bool_
    assert fastdl.randn(5, 2).shape == (5, 2)


def test_dtype_aliases_are_dtype_objects():
    assert fastdl.float is fastdl.float32 and fastdl.double is fastdl.float64
    assert fastdl.long is fastdl.int64 and fastdl.bool is fastdl.bool_
    assert fastdl.half == np.float16 and fastdl.float16 == np.float16
    assert fastdl.int == np.int32 and fastdl.uint8 == np.uint8 and fastdl.short == np.int16
    assert fastdl.zeros(1, dtype=fastdl.double).dtype == np.float64
    assert fastdl.tensor([1], dtype=fastdl.long).dtype == np.int64
    assert fastdl.tensor([1], dtype=fastdl.bool).dtype == np.bool_
    assert repr(fastdl.bfloat16) == "fastdl.bfloat16"
    # a star import must not shadow Python's float, int and bool
    assert not {"float", "int", "bool"} & set(fastdl.__all__)


@pytest.mark.parametrize(
    "dtype, name", [("half", "half"), ("float16", "half"), ("bfloat16", "bfloat16")]
)
def test_half_precision_is_refused_clearly(dtype, name):
    d = getattr(fastdl, dtype)
    for make in (
        lambda: fastdl.tensor([1.0], dtype=d),
        lambda: fastdl.zeros(2, dtype=d),
        lambda: fastdl.ones(1).to(d),
    ):
        with pytest.raises(TypeError, match=name):
            make()


def test_default_dtype_drives_float_factories(default_dtype):
    assert fastdl.get_default_dtype() == fastdl.float32
    fastdl.set_default_dtype(fastdl.float64)
    assert fastdl.get_default_dtype() == fastdl.float64
    made = [
        fastdl.tensor([1.5]),
        fastdl.tensor(2.0),
        fastdl.zeros(2),
        fastdl.ones(2),
        fastdl.empty(2),
        fastdl.rand(2),
        fastdl.randn(2),
        fastdl.full((2,), 0.5),
        fastdl.arange(0.0, 1.0, 0.5),
        fastdl.linspace(0, 1, 3),
        fastdl.logspace(0, 1, 3),
        fastdl.eye(2),
        fastdl.tensor([1, 2]) * 0.5,
    ]
    assert all(t.dtype == fastdl.float64 for t in made), [t.dtype for t in made]
    assert fastdl.tensor([1, 2]).dtype == fastdl.int64
    assert fastdl.tensor(np.zeros(2, np.float32)).dtype == fastdl.float32  # arrays keep theirs
    fastdl.set_default_dtype(fastdl.float32)
    assert fastdl.tensor([1.5]).dtype == fastdl.float32


@pytest.mark.parametrize("bad, error", [(fastdl.int64, TypeError), (fastdl.half, TypeError)])
def test_set_default_dtype_refuses_non_float(bad, error, default_dtype):
    with pytest.raises(error, match="set_default_dtype"):
        fastdl.set_default_dtype(bad)
    assert fastdl.get_default_dtype() == fastdl.float32


# -- *_like, ranges, identity, as_tensor ---------------------------------------------------


def test_like_family_keeps_shape_dtype_and_takes_overrides():
    x = fastdl.tensor([[1, 2, 3], [4, 5, 6]])
    for fn, fill in ((fastdl.zeros_like, 0), (fastdl.ones_like, 1)):
        got = fn(x)
        assert got.dtype == fastdl.int64 and got.device == "cpu"
        np.testing.assert_array_equal(got.numpy(), np.full((2, 3), fill))
    assert fastdl.empty_like(x).shape == (2, 3)
    np.testing.assert_array_equal(fastdl.full_like(x, 7).numpy(), np.full((2, 3), 7))
    y = fastdl.zeros_like(x, dtype=fastdl.float64, requires_grad=True)
    assert y.dtype == fastdl.float64 and y.requires_grad
    z = fastdl.rand_like(y)
    assert z.dtype == fastdl.float64 and z.shape == (2, 3) and not z.requires_grad
    assert fastdl.randn_like(y, dtype=fastdl.float32).dtype == fastdl.float32
    with pytest.raises(TypeError, match="float32 or float64"):
        fastdl.rand_like(x)
    with pytest.raises(TypeError, match="input"):
        fastdl.zeros_like([1, 2])


def test_linspace_logspace_eye_against_numpy():
    np.testing.assert_allclose(fastdl.linspace(-1, 2, 7).numpy(), np.linspace(-1, 2, 7), rtol=1e-7)
    got = fastdl.linspace(0, 1, 5, dtype=fastdl.float64).numpy()
    np.testing.assert_array_equal(got, np.linspace(0, 1, 5))
    assert fastdl.linspace(0, 1, 0).shape == (0,)
    assert fastdl.linspace(fastdl.tensor(2.0), 3, 1).tolist() == [2.0]
    np.testing.assert_array_equal(
        fastdl.linspace(0, 10, 4, dtype=fastdl.int64).numpy(), [0, 3, 6, 10]
    )
    np.testing.assert_allclose(
        fastdl.logspace(-2, 2, 5, base=2.0, dtype=fastdl.float64).numpy(),
        np.logspace(-2, 2, 5, base=2.0),
        rtol=1e-15,
    )
    np.testing.assert_array_equal(fastdl.eye(3).numpy(), np.eye(3))
    np.testing.assert_array_equal(fastdl.eye(2, 4, dtype=fastdl.int64).numpy(), np.eye(2, 4))
    with pytest.raises(ValueError, match="steps"):
        fastdl.linspace(0, 1, -1)
    with pytest.raises(TypeError, match="steps"):
        fastdl.linspace(0, 1, 2.5)


def test_as_tensor_shares_where_it_can():
    a = np.arange(3.0)
    t = fastdl.as_tensor(a)
    a[0] = 9.0
    assert t[0].item() == 9.0  # shared with the array
    c = fastdl.as_tensor(a, dtype=fastdl.float32)
    a[1] = 7.0
    assert c.dtype == fastdl.float32 and c[1].item() == 1.0  # converted: a copy
    x = fastdl.ones(2, requires_grad=True)
    assert fastdl.as_tensor(x) is x
    y = fastdl.as_tensor(x, dtype=fastdl.float64)
    assert y.dtype == fastdl.float64 and y.grad_fn is not None  # through .to, in the graph
    assert fastdl.as_tensor([1, 2]).dtype == fastdl.int64
    assert fastdl.is_tensor(x) and not fastdl.is_tensor(a)
    assert fastdl.numel(fastdl.zeros(2, 5)) == 10


def test_legacy_constructors():
    assert fastdl.LongTensor([1, 2]).dtype == fastdl.int64
    assert fastdl.LongTensor([1, 2]).tolist() == [1, 2]
    assert fastdl.FloatTensor([1, 2]).dtype == fastdl.float32
    assert fastdl.FloatTensor(2, 3).shape == (2, 3)
    assert fastdl.DoubleTensor().shape == (0,)
    assert fastdl.BoolTensor([1, 0]).tolist() == [True, False]
    assert isinstance(fastdl.zeros(1), fastdl.FloatTensor)
    assert not isinstance(fastdl.zeros(1), fastdl.LongTensor)
    assert isinstance(fastdl.arange(2), fastdl.LongTensor)


# -- meshgrid ------------------------------------------------------------------------------


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_numpy(indexing):
    a, b, c = np.arange(3.0), np.arange(4.0) * 10, np.array([5.0, 6.0])
    got = fastdl.meshgrid(fastdl.tensor(a), fastdl.tensor(b), fastdl.tensor(c), indexing=indexing)
    want = np.meshgrid(a, b, c, indexing=indexing)
    assert len(got) == 3
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w)
    ints = fastdl.meshgrid([fastdl.arange(2), fastdl.arange(3)], indexing=indexing)
    for g, w in zip(ints, np.meshgrid(np.arange(2), np.arange(3), indexing=indexing)):
        assert g.dtype == fastdl.int64
        np.testing.assert_array_equal(g.numpy(), w)


def test_meshgrid_default_is_ij_and_checks_input():
    gx, gy = fastdl.meshgrid(fastdl.arange(2), fastdl.arange(3))
    assert gx.shape == gy.shape == (2, 3)
    with pytest.raises(ValueError, match="indexing"):
        fastdl.meshgrid(fastdl.arange(2), indexing="ji")
    with pytest.raises(ValueError, match="1-D"):
        fastdl.meshgrid(fastdl.zeros(2, 2))
    with pytest.raises(ValueError, match="dtype"):
        fastdl.meshgrid(fastdl.arange(2), fastdl.zeros(2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_meshgrid_gradcheck(backend):
    x = fastdl.tensor([0.5, -1.0, 2.0], dtype=fastdl.float64, requires_grad=True)
    y = fastdl.tensor([1.5, 0.25], dtype=fastdl.float64, requires_grad=True)
    with fastdl.use_backend(backend):
        assert fastdl.autograd.gradcheck(
            lambda a, b: fastdl.stack(fastdl.meshgrid(a, b, indexing="xy")), [x, y]
        )


# -- random factories ----------------------------------------------------------------------


def test_randint_forms_and_stream():
    g = fastdl.Generator().manual_seed(3)
    got = fastdl.randint(-4, 9, (5, 2), generator=g)
    want = frandom.Generator().manual_seed(3).randint(-4, 9, (5, 2))
    assert got.dtype == fastdl.int64
    np.testing.assert_array_equal(got.numpy(), want)
    assert fastdl.randint(10, (3,)).shape == (3,)
    assert fastdl.randint(10, size=(3,)).shape == (3,)
    assert fastdl.randint(low=2, high=4, size=(50,)).numpy().min() >= 2
    floats = fastdl.randint(0, 3, (20,), dtype=fastdl.float64)
    assert floats.dtype == fastdl.float64 and set(floats.tolist()) <= {0.0, 1.0, 2.0}
    like = fastdl.randint_like(fastdl.zeros(4, 4), 2, 5)
    assert like.dtype == fastdl.float32 and like.shape == (4, 4)
    assert set(like.numpy().ravel().tolist()) <= {2.0, 3.0, 4.0}
    assert fastdl.randint_like(fastdl.zeros(3, dtype=fastdl.int64), 4).numpy().max() < 4
    with pytest.raises(ValueError, match="low < high"):
        fastdl.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="size"):
        fastdl.randint(5)


def test_randperm_and_generators_reproduce():
    p = fastdl.randperm(20, generator=fastdl.Generator().manual_seed(1))
    assert sorted(p.tolist()) == list(range(20)) and p.dtype == fastdl.int64
    np.testing.assert_array_equal(
        p.numpy(), fastdl.randperm(20, generator=fastdl.Generator().manual_seed(1)).numpy()
    )
    assert fastdl.randperm(0).shape == (0,)
    fastdl.manual_seed(7)
    a = (fastdl.rand(3), fastdl.randn(3), fastdl.randint(0, 100, (3,)), fastdl.randperm(5))
    fastdl.manual_seed(7)
    b = (fastdl.rand(3), fastdl.randn(3), fastdl.randint(0, 100, (3,)), fastdl.randperm(5))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_factories_same_on_every_cpu_backend(backend):
    g = fastdl.Generator().manual_seed(11)
    with fastdl.use_backend(backend):
        got = fastdl.rand(7, generator=g).numpy()
    want = np.empty(8, np.float32)
    fastdl.backends.get("reference").philox_uniform(11, 0, want)
    np.testing.assert_array_equal(got, want[:7])


def test_multinomial_with_replacement_follows_the_weights():
    weights = fastdl.tensor([1.0, 0.0, 3.0, 4.0], dtype=fastdl.float64)
    n = 4000
    draws = fastdl.multinomial(weights, n, replacement=True, generator=fastdl.Generator())
    assert draws.shape == (n,) and draws.dtype == fastdl.int64
    counts = np.bincount(draws.numpy(), minlength=4)
    p = np.array([1, 0, 3, 4]) / 8
    assert counts[1] == 0
    assert np.all(np.abs(counts / n - p) <= 5 * np.sqrt(p * (1 - p) / n))


def test_multinomial_without_replacement():
    rows = fastdl.tensor([[1.0, 0.0, 2.0, 1.0]] * 3000)
    picks = fastdl.multinomial(rows, 3, generator=fastdl.Generator().manual_seed(5)).numpy()
    assert picks.shape == (3000, 3)
    assert all(sorted(row) == [0, 2, 3] for row in picks.tolist())  # distinct, never 1
    # the first pick follows the weights, as drawing one at a time does
    first = np.bincount(picks[:, 0], minlength=4) / 3000
    p = np.array([0.25, 0.0, 0.5, 0.25])
    assert np.all(np.abs(first - p) <= 5 * np.sqrt(p * (1 - p) / 3000))
    # the second pick, given the first was 2, is 0 or 3 evenly
    second = picks[picks[:, 0] == 2, 1]
    assert abs((second == 0).mean() - 0.5) <= 5 * math.sqrt(0.25 / len(second))
    g1, g2 = fastdl.Generator().manual_seed(9), fastdl.Generator().manual_seed(9)
    np.testing.assert_array_equal(
        fastdl.multinomial(rows[0], 2, generator=g1).numpy(),
        rows[0].multinomial(2, generator=g2).numpy(),
    )


@pytest.mark.parametrize(
    "weights, n, replacement, error, match",
    [
        ([1.0, 0.0], 2, False, ValueError, "without replacement"),
        ([1.0, -1.0], 1, True, ValueError, "non-negative"),
        ([0.0, 0.0], 1, True, ValueError, "positive sum"),
        ([1.0, 1.0], 0, True, ValueError, "num_samples"),
        ([[[1.0]]], 1, True, ValueError, "1-D or 2-D"),
        ([1, 2], 1, True, TypeError, "float"),
    ],
)
def test_multinomial_validates(weights, n, replacement, error, match):
    before = frandom.default_generator._state_words()
    with pytest.raises(error, match=match):
        fastdl.multinomial(fastdl.tensor(weights), n, replacement)
    np.testing.assert_array_equal(frandom.default_generator._state_words(), before)


# -- devices -------------------------------------------------------------------------------


def test_factories_on_cuda_match_the_cpu():
    def make(device):
        g = fastdl.Generator().manual_seed(21)
        return [
            fastdl.zeros(2, 3, device=device),
            fastdl.empty(2, device=device).zero_(),
            fastdl.full_like(fastdl.ones(2, device=device), 3.0),
            fastdl.linspace(0, 1, 4, device=device),
            fastdl.eye(3, device=device),
            fastdl.rand(5, generator=g, device=device),
            fastdl.randn(4, generator=g, device=device),
            fastdl.randint(0, 9, (6,), generator=g, device=device),
            fastdl.randperm(6, generator=g, device=device),
            fastdl.multinomial(fastdl.tensor([1.0, 2.0], device=device), 3, True, generator=g),
            *fastdl.meshgrid(fastdl.arange(2, device=device), fastdl.arange(3, device=device)),
        ]

    for i, (gpu, cpu) in enumerate(zip(make("cuda"), make("cpu"))):
        assert gpu.device == "cuda:0", i
        np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), rtol=1e-6, err_msg=str(i))


def test_set_default_device(default_device):
    fastdl.set_default_device("cuda")
    assert fastdl.get_default_device() == "cuda:0"
    for t in (fastdl.zeros(2), fastdl.tensor([1.0]), fastdl.rand(2), fastdl.arange(3)):
        assert t.device == "cuda:0"
    assert fastdl.zeros(2, device="cpu").device == "cpu"
    fastdl.set_default_device("cpu")
    assert fastdl.zeros(2).device == "cpu"
    with pytest.raises(ValueError, match="device"):
        fastdl.set_default_device("tpu")
