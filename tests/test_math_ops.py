"""The torch-namespace math ops: values against NumPy, gradients against finite
differences (float64, numba and reference backends), one CUDA run per family on tiny
shapes against the CPU, out=, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
from fastdl.autograd import gradcheck

BACKENDS = ("numba", "reference")


@pytest.fixture(params=BACKENDS)
def backend(request):
    with fastdl.use_backend(request.param):
        yield request.param


def _t(shape, seed=0, positive=False, requires_grad=True, shift=0.0):
    values = np.random.default_rng(seed).standard_normal(shape) + shift
    if positive:
        values = np.abs(values) + 0.2
    return fastdl.tensor(values, dtype=fastdl.float64, requires_grad=requires_grad)


def _np(t):
    return t.detach().numpy()


# -- elementwise -----------------------------------------------------------------------

UNARY = {
    "expm1": (np.expm1, False),
    "log1p": (np.log1p, True),
    "log2": (np.log2, True),
    "sin": (np.sin, False),
    "cos": (np.cos, False),
    "erf": (np.vectorize(math.erf), False),
    "sqrt": (np.sqrt, True),
    "rsqrt": (lambda a: 1 / np.sqrt(a), True),
    "exp": (np.exp, False),
    "log": (np.log, True),
    "abs": (np.abs, False),
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_values_and_gradients(backend, name):
    reference, positive = UNARY[name]
    x = _t((3, 4), positive=positive)
    assert_close(_np(getattr(fastdl, name)(x)), reference(_np(x)))
    assert_close(_np(getattr(x, name)()), reference(_np(x)))
    assert gradcheck(getattr(fastdl, name), [x])


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round", "sign"])
def test_rounding_values_and_zero_gradient(backend, name):
    x = fastdl.tensor([-2.5, -1.5, -0.4, 0.5, 1.5, 2.5, 3.7], dtype=fastdl.float64)
    want = {
        "floor": np.floor,
        "ceil": np.ceil,
        "trunc": np.trunc,
        "round": np.round,
        "sign": np.sign,
    }[name](x.numpy())
    np.testing.assert_array_equal(getattr(fastdl, name)(x).numpy(), want)
    x.requires_grad_()
    getattr(x, name)().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(7))


def test_round_decimals():
    x = fastdl.tensor([1.2345, -2.675, 1234.5], dtype=fastdl.float64)
    assert_close(fastdl.round(x, decimals=2).numpy(), np.round(x.numpy() * 100) / 100)
    assert_close(fastdl.round(x, decimals=-2).numpy(), np.round(x.numpy() / 100) * 100)


@pytest.mark.parametrize("base_is_tensor", [True, False])
def test_pow_either_side(backend, base_is_tensor):
    x = _t((2, 3), positive=True)
    if base_is_tensor:
        assert_close(_np(fastdl.pow(x, 2.5)), _np(x) ** 2.5)
        assert gradcheck(lambda t: fastdl.pow(t, 2.5), [x])
    else:
        assert_close(_np(fastdl.pow(2.0, x)), 2.0 ** _np(x))
        assert gradcheck(lambda t: fastdl.pow(2.0, t), [x])
    y = _t((2, 3), seed=1)
    assert gradcheck(lambda a, b: x.pow(b) * a, [x, y])


def test_add_sub_alpha_and_div_rounding(backend):
    a, b = _t((2, 3)), _t((3,), seed=1)
    assert_close(_np(fastdl.add(a, b, alpha=2)), _np(a) + 2 * _np(b))
    assert_close(_np(a.sub(b, alpha=0.5)), _np(a) - 0.5 * _np(b))
    assert gradcheck(lambda p, q: fastdl.sub(p, q, alpha=3), [a, b])
    num = fastdl.tensor([-7, 7, -8, 9])
    assert fastdl.div(num, 2, rounding_mode="floor").tolist() == [-4, 3, -4, 4]
    assert num.div(2, rounding_mode="trunc").tolist() == [-3, 3, -4, 4]
    assert fastdl.div(num, 2).dtype == fastdl.float32
    f = fastdl.tensor([-7.5, 7.5], dtype=fastdl.float64)
    np.testing.assert_array_equal(fastdl.div(f, 2, rounding_mode="floor").numpy(), [-4.0, 3.0])
    with pytest.raises(ValueError, match="rounding_mode"):
        fastdl.div(f, 2, rounding_mode="round")


def test_clamp_scalar_and_tensor_bounds(backend):
    x = _t((3, 4))
    lo, hi = _t((4,), seed=1, shift=-0.5), _t((3, 1), seed=2, shift=0.5)
    assert_close(_np(fastdl.clamp(x, lo, hi)), np.minimum(np.maximum(_np(x), _np(lo)), _np(hi)))
    assert_close(_np(fastdl.clip(x, max=0.1)), np.minimum(_np(x), 0.1))
    assert_close(_np(x.clip(min=lo)), np.maximum(_np(x), _np(lo)))
    assert gradcheck(lambda a, b, c: fastdl.clamp(a, b, c), [x, lo, hi])
    with pytest.raises(ValueError, match="min and max"):
        fastdl.clamp(x)
    y = fastdl.tensor([-2.0, 0.5, 3.0])
    assert y.clamp_(-1, 1) is y and y.tolist() == [-1.0, 0.5, 1.0]


def test_nan_inf_tests_and_nan_to_num(backend):
    x = fastdl.tensor([math.nan, math.inf, -math.inf, 1.5], dtype=fastdl.float64)
    assert fastdl.isnan(x).tolist() == [True, False, False, False]
    assert x.isinf().tolist() == [False, True, True, False]
    assert fastdl.isfinite(x).tolist() == [False, False, False, True]
    big = np.finfo(np.float64).max
    np.testing.assert_array_equal(fastdl.nan_to_num(x).numpy(), [0.0, big, -big, 1.5])
    assert x.nan_to_num(1.0, 2.0, -2.0).tolist() == [1.0, 2.0, -2.0, 1.5]
    assert fastdl.isfinite(fastdl.tensor([1, 2])).tolist() == [True, True]
    x.requires_grad_()
    fastdl.nan_to_num(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0, 1.0])


def test_maximum_minimum_and_binary_max(backend):
    a, b = _t((3, 4)), _t((3, 4), seed=1)
    assert_close(_np(fastdl.max(a, b)), np.maximum(_np(a), _np(b)))
    assert_close(_np(a.min(b)), np.minimum(_np(a), _np(b)))
    assert gradcheck(fastdl.maximum, [a, b])
    nan = fastdl.tensor([math.nan, 1.0])
    assert fastdl.maximum(nan, fastdl.tensor([0.0, 2.0])).isnan().tolist() == [True, False]


def test_out_argument(backend):
    a, b = _t((2, 3), requires_grad=False), _t((3, 4), seed=1, requires_grad=False)
    out = fastdl.zeros(2, 4, dtype=fastdl.float64)
    assert fastdl.matmul(a, b, out=out) is out
    assert_close(out.numpy(), a.numpy() @ b.numpy())
    resized = fastdl.zeros(0, dtype=fastdl.float64)
    fastdl.mm(a, b, out=resized)
    assert resized.shape == (2, 4)
    out = fastdl.zeros(2, 3, dtype=fastdl.float64)
    fastdl.exp(a, out=out)
    assert_close(out.numpy(), np.exp(a.numpy()))
    fastdl.add(a, 1.0, out=out)
    assert_close(out.numpy(), a.numpy() + 1)
    fastdl.sin(a, out=out)
    assert_close(out.numpy(), np.sin(a.numpy()))
    with pytest.raises(ValueError, match="out has shape"):
        fastdl.exp(a, out=fastdl.zeros(5, dtype=fastdl.float64))
    with pytest.raises(RuntimeError, match="can't be cast"):
        fastdl.exp(a, out=fastdl.zeros(2, 3, dtype=fastdl.int64))
    with pytest.raises(RuntimeError, match="automatic differentiation"):
        fastdl.exp(a, out=fastdl.zeros(2, 3, dtype=fastdl.float64, requires_grad=True))


# -- reductions ------------------------------------------------------------------------


def test_min_max_with_dim_are_named_tuples(backend):
    x = _t((3, 4, 5))
    values, indices = fastdl.max(x, dim=1)
    assert_close(_np(values), _np(x).max(1))
    np.testing.assert_array_equal(indices.numpy(), _np(x).argmax(1))
    result = x.min(dim=-1, keepdim=True)
    assert_close(_np(result.values), _np(x).min(-1, keepdims=True))
    np.testing.assert_array_equal(result.indices.numpy(), _np(x).argmin(-1)[..., None])
    assert gradcheck(lambda t: fastdl.min(t, 0).values, [x])
    assert_close(_np(fastdl.min(x)), _np(x).min())
    assert_close(_np(x.max()), _np(x).max())


def test_amax_amin_argmin_and_ties(backend):
    x = _t((3, 4, 5))
    assert_close(_np(fastdl.amax(x, (0, 2))), _np(x).max((0, 2)))
    assert_close(_np(x.amin(1, keepdim=True)), _np(x).min(1, keepdims=True))
    np.testing.assert_array_equal(fastdl.argmin(x, 2).numpy(), _np(x).argmin(2))
    assert x.argmin().item() == _np(x).argmin()
    assert gradcheck(lambda t: fastdl.amax(t, (0, 2)), [x])
    tied = fastdl.tensor([1.0, 3.0, 3.0], requires_grad=True)
    tied.amax().backward()
    assert tied.grad.tolist() == [0.0, 0.5, 0.5]
    assert fastdl.argmin(fastdl.tensor([2, 0, 0])).item() == 1


@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
def test_sum_mean_var_std_norm_logsumexp(backend, dim):
    x = _t((3, 4, 5))
    a = _np(x)
    axis = dim if dim is not None else None
    assert_close(_np(fastdl.sum(x, dim)), a.sum(axis))
    assert_close(_np(fastdl.mean(x, dim)), a.mean(axis))
    assert_close(_np(fastdl.var(x, dim)), a.var(axis, ddof=1))
    assert_close(_np(x.std(dim, correction=0)), a.std(axis))
    assert_close(_np(x.var(dim, unbiased=False, keepdim=True)), a.var(axis, keepdims=True))
    assert_close(_np(fastdl.norm(x, dim=dim)), np.sqrt((a * a).sum(axis)))
    assert_close(_np(fastdl.norm(x, 1, dim)), np.abs(a).sum(axis))
    assert_close(_np(x.norm(math.inf, dim)), np.abs(a).max(axis))
    assert_close(_np(fastdl.norm(x, 3, dim)), (np.abs(a) ** 3).sum(axis) ** (1 / 3))
    lse_dim = dim if dim is not None else (0, 1, 2)
    assert_close(_np(fastdl.logsumexp(x, lse_dim)), np.log(np.exp(a).sum(axis)))
    for fn in (
        lambda t: fastdl.var(t, dim),
        lambda t: fastdl.std(t, dim),
        lambda t: fastdl.norm(t, dim=dim),
        lambda t: fastdl.norm(t, 1.5, dim),
        lambda t: fastdl.logsumexp(t, lse_dim),
    ):
        assert gradcheck(fn, [x])


def test_logsumexp_is_stable():
    x = fastdl.tensor([1000.0, 1000.0, -math.inf])
    assert_close(fastdl.logsumexp(x, 0).numpy(), np.float32(1000 + math.log(2)))


def test_prod_with_zeros(backend):
    x = fastdl.tensor(
        [[1.5, 0.0, 3.0], [2.0, 0.5, -1.0], [0.0, 0.0, 2.0]],
        dtype=fastdl.float64,
        requires_grad=True,
    )
    assert_close(_np(fastdl.prod(x, 1)), _np(x).prod(1))
    assert_close(_np(x.prod(0, keepdim=True)), _np(x).prod(0, keepdims=True))
    assert_close(_np(fastdl.prod(x)), _np(x).prod())
    assert gradcheck(lambda t: fastdl.prod(t, 1), [x])
    assert gradcheck(lambda t: fastdl.prod(t, 0), [x])


def test_cumsum_cumprod(backend):
    x = _t((3, 4))
    for dim in (0, 1, -1):
        assert_close(_np(fastdl.cumsum(x, dim)), np.cumsum(_np(x), dim))
        assert_close(_np(x.cumprod(dim)), np.cumprod(_np(x), dim))
        assert gradcheck(lambda t, d=dim: fastdl.cumsum(t, d), [x])
        assert gradcheck(lambda t, d=dim: fastdl.cumprod(t, d), [x])
    assert fastdl.cumsum(fastdl.tensor([True, False, True]), 0).tolist() == [1, 1, 2]


def _grad_dot(fn):
    """x -> <d sum(w * fn(x)) / dx, v>: differentiable when fn's gradient is."""

    def wrapped(x):
        with fastdl.enable_grad():
            out = fn(x)
            weights = _t(out.shape, seed=7, requires_grad=False)
            (g,) = fastdl.autograd.grad((out * weights).sum(), [x], create_graph=True)
            return (g * _t(x.shape, seed=8, requires_grad=False)).sum()

    return wrapped


@pytest.mark.parametrize(
    "name,fn",
    [
        ("cumsum", lambda t: fastdl.cumsum(t * t, 1)),
        ("cumprod", lambda t: fastdl.cumprod(t, 1)),
        ("prod", lambda t: fastdl.prod(t, 1)),
        ("amax", lambda t: fastdl.amax(t * t, 1)),
        ("pointwise", lambda t: fastdl.erf(t) * fastdl.sin(t) + fastdl.log1p(t) * fastdl.cos(t)),
        ("expm1_log2", lambda t: fastdl.expm1(t) * fastdl.log2(t)),
    ],
)
def test_double_backward(name, fn):
    x = _t((2, 3), positive=True)
    assert gradcheck(_grad_dot(fn), [x], atol=1e-5, rtol=1e-4)


# -- linear algebra --------------------------------------------------------------------


def test_mm_bmm_dot_outer_addmm(backend):
    a, b = _t((2, 3)), _t((3, 4), seed=1)
    u, v = _t((3,), seed=2), _t((3,), seed=3)
    assert_close(_np(fastdl.mm(a, b)), _np(a) @ _np(b))
    assert_close(_np(fastdl.dot(u, v)), _np(u) @ _np(v))
    assert_close(_np(u.outer(v)), np.outer(_np(u), _np(v)))
    c = _t((4,), seed=4)
    assert_close(_np(fastdl.addmm(c, a, b, beta=0.5, alpha=2)), 0.5 * _np(c) + 2 * _np(a) @ _np(b))
    p, q = _t((2, 3, 4), seed=5), _t((2, 4, 2), seed=6)
    assert_close(_np(p.bmm(q)), _np(p) @ _np(q))
    assert gradcheck(lambda i, m1, m2: fastdl.addmm(i, m1, m2, beta=0.5, alpha=2), [c, a, b])
    assert gradcheck(fastdl.bmm, [p, q])
    assert gradcheck(fastdl.outer, [u, v])
    with pytest.raises(ValueError, match="mm: input must be 2-D"):
        fastdl.mm(u, b)
    with pytest.raises(ValueError, match="batch sizes differ"):
        fastdl.bmm(p, _t((3, 4, 2)))
    with pytest.raises(ValueError, match="dot: lengths differ"):
        fastdl.dot(u, _t((4,)))


EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("ij,kj", [(2, 3), (4, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ii", [(3, 3)]),
    ("bii->bi", [(2, 3, 3)]),
    ("ijk->kji", [(2, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (1, 4, 2)]),
    ("ij,jk,k->i", [(2, 3), (3, 4), (4,)]),
    ("ij->", [(2, 3)]),
]


@pytest.mark.parametrize("equation,shapes", EINSUM, ids=[e for e, _ in EINSUM])
def test_einsum(backend, equation, shapes):
    operands = [_t(s, seed=i) for i, s in enumerate(shapes)]
    got = fastdl.einsum(equation, *operands)
    assert_close(_np(got), np.einsum(equation, *[_np(o) for o in operands]))
    assert gradcheck(lambda *ts: fastdl.einsum(equation, *ts), operands)


def test_einsum_bad_input():
    x = _t((2, 3))
    with pytest.raises(ValueError, match="do not match"):
        fastdl.einsum("ijk", x)
    with pytest.raises(ValueError, match="names 2 operands"):
        fastdl.einsum("ij,jk", x)
    with pytest.raises(ValueError, match="sizes"):
        fastdl.einsum("ij,ij->i", x, _t((2, 4)))
    assert fastdl.einsum("ij->ji", [x]).shape == (3, 2)


# -- comparisons -----------------------------------------------------------------------


def test_comparisons_and_closeness(backend):
    a = fastdl.tensor([1.0, 2.0, math.nan, math.inf])
    b = fastdl.tensor([1.0, 2.5, math.nan, math.inf])
    for name, op in (
        ("eq", np.equal),
        ("ne", np.not_equal),
        ("lt", np.less),
        ("ge", np.greater_equal),
    ):
        assert getattr(a, name)(b).tolist() == op(a.numpy(), b.numpy()).tolist()
        assert getattr(fastdl, name)(a, b).tolist() == op(a.numpy(), b.numpy()).tolist()
    assert a.le(2.0).tolist() == [True, True, False, False]
    assert fastdl.gt(a, 1.0).tolist() == [False, True, False, True]
    np.testing.assert_array_equal(fastdl.isclose(a, b).numpy(), np.isclose(a.numpy(), b.numpy()))
    np.testing.assert_array_equal(
        a.isclose(b, equal_nan=True).numpy(), np.isclose(a.numpy(), b.numpy(), equal_nan=True)
    )
    c = fastdl.tensor([1.0, 1.0 + 1e-7])
    assert fastdl.allclose(c, fastdl.ones(2)) and not fastdl.allclose(
        c, fastdl.ones(2), rtol=0, atol=0
    )
    assert fastdl.equal(c, c) and not fastdl.equal(c, fastdl.ones(2)) and not a.equal(a)
    assert not fastdl.equal(c, fastdl.ones(3))


# -- CUDA (simulator without a GPU): one run per family on tiny shapes -----------------


def _on_cuda_matches_cpu(fn, *shapes, positive=False):
    pytest.importorskip("numba.cuda")
    host = [_t(s, seed=i, positive=positive) for i, s in enumerate(shapes)]
    device = [t.detach().to("cuda").requires_grad_() for t in host]
    want, got = fn(*host), fn(*device)
    assert got.device.type == "cuda"
    assert_close(got.cpu().detach().numpy(), _np(want))
    want.sum().backward()
    got.sum().backward()
    for h, d in zip(host, device, strict=True):
        assert_close(d.grad.cpu().numpy(), h.grad.numpy(), kind="grad")


CUDA_FAMILIES = {
    "pointwise": (lambda x: fastdl.erf(x) + fastdl.log1p(x) * fastdl.round(x * 3), [(2, 3)], True),
    "elementwise": (
        lambda x, y: fastdl.clamp(x, y, 0.5) + fastdl.maximum(x, y),
        [(2, 3), (3,)],
        False,
    ),
    "reduce": (
        lambda x: fastdl.amax(x, (0, 2)).sum() + fastdl.min(x, 1).values,
        [(2, 3, 2)],
        False,
    ),
    "reduce_math": (
        lambda x: fastdl.std(x, 1) + fastdl.logsumexp(x, 1) + fastdl.norm(x, dim=1),
        [(2, 3)],
        False,
    ),
    "scan": (
        lambda x: fastdl.cumsum(x, 1) * fastdl.cumprod(x, 0) + fastdl.prod(x, 1, keepdim=True),
        [(2, 3)],
        False,
    ),
    "linalg": (
        lambda a, b: fastdl.einsum("ij,jk->ik", a, b) + fastdl.addmm(b[0], a, b),
        [(2, 3), (3, 2)],
        False,
    ),
}


@pytest.mark.parametrize("family", CUDA_FAMILIES)
def test_on_cuda(family):
    fn, shapes, positive = CUDA_FAMILIES[family]
    _on_cuda_matches_cpu(fn, *shapes, positive=positive)


def test_comparisons_on_cuda():
    pytest.importorskip("numba.cuda")
    a = fastdl.tensor([1.0, math.nan, math.inf]).to("cuda")
    assert fastdl.isnan(a).cpu().tolist() == [False, True, False]
    assert fastdl.isclose(a, a, equal_nan=True).cpu().tolist() == [True, True, True]
    assert fastdl.allclose(a, a, equal_nan=True)
