"""More elementwise maths, reductions and fastdl.special: values against NumPy,
gradients against finite differences (float64, numba and reference backends), the
Tensor-method and operator twins, one CUDA run on tiny shapes against the CPU, and
bad input."""

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


def _t(shape, seed=0, requires_grad=True, low=None, high=None):
    rng = np.random.default_rng(seed)
    if low is None:
        values = rng.standard_normal(shape)
    else:
        values = rng.uniform(low, high, shape)
    return fastdl.tensor(values, dtype=fastdl.float64, requires_grad=requires_grad)


def _np(t):
    return t.detach().numpy()


# -- unary functions (the new pointwise kernels and compositions) ----------------------

UNARY = {
    "tan": (np.tan, (-1.2, 1.2)),
    "sinh": (np.sinh, (-2, 2)),
    "cosh": (np.cosh, (-2, 2)),
    "asin": (np.arcsin, (-0.9, 0.9)),
    "acos": (np.arccos, (-0.9, 0.9)),
    "atan": (np.arctan, (-3, 3)),
    "square": (np.square, (-2, 2)),
    "reciprocal": (np.reciprocal, (0.5, 2)),
    "neg": (np.negative, (-2, 2)),
    "deg2rad": (np.deg2rad, (-90, 90)),
    "rad2deg": (np.rad2deg, (-2, 2)),
    "logit": (lambda p: np.log(p / (1 - p)), (0.1, 0.9)),
    "sgn": (np.sign, (-2, 2)),
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_values_gradients_and_methods(backend, name):
    reference, (low, high) = UNARY[name]
    x = _t((3, 4), low=low, high=high)
    assert_close(_np(getattr(fastdl, name)(x)), reference(_np(x)))
    assert_close(_np(getattr(x, name)()), reference(_np(x)))
    if name != "sgn":
        assert gradcheck(getattr(fastdl, name), [x])
    y = x.detach().clone()
    assert getattr(y, name + "_")() is y
    assert_close(_np(y), reference(_np(x)))


def test_aliases_and_frac():
    x = _t((5,), low=-3, high=3, requires_grad=False)
    assert fastdl.arcsin is fastdl.asin and fastdl.arctan2 is fastdl.atan2
    assert fastdl.negative is fastdl.neg
    assert_close(_np(fastdl.frac(x)), _np(x) - np.trunc(_np(x)))
    assert_close(_np(x.arctan()), np.arctan(_np(x)))


def test_trig_kernels_in_float32_and_integer_input():
    x = fastdl.tensor([0.25, -0.5], dtype=fastdl.float32)
    assert fastdl.tan(x).dtype == fastdl.float32
    assert_close(_np(fastdl.asin(x)), np.arcsin(_np(x)))
    assert fastdl.atan(fastdl.tensor([1, 2])).dtype == fastdl.float32


def test_gamma_family_and_erfinv(backend):
    x = _t((2, 4), low=0.2, high=6.0)
    lgamma = np.vectorize(math.lgamma)
    assert_close(_np(fastdl.lgamma(x)), lgamma(_np(x)))
    # digamma: the recurrence psi(x + 1) = psi(x) + 1 / x, psi(1) = -Euler's gamma, and
    # the slope of lgamma (central differences)
    psi = _np(fastdl.digamma(x))
    assert_close(_np(fastdl.digamma(x + 1.0)), psi + 1 / _np(x))
    assert_close(_np(fastdl.special.psi(fastdl.ones(1, dtype=fastdl.float64))), [-np.euler_gamma])
    h = 1e-5
    slope = (lgamma(_np(x) + h) - lgamma(_np(x) - h)) / (2 * h)
    np.testing.assert_allclose(psi, slope, rtol=1e-8)
    trigamma = _np(fastdl.polygamma(1, x))
    slope = (_np(fastdl.digamma(x + h)) - _np(fastdl.digamma(x - h))) / (2 * h)
    np.testing.assert_allclose(trigamma, slope, rtol=1e-8)
    assert_close(_np(fastdl.polygamma(1, fastdl.ones(1, dtype=fastdl.float64))), [np.pi**2 / 6])
    y = _t((2, 4), seed=1, low=-0.999, high=0.999)
    inverse = _np(fastdl.erfinv(y))
    assert_close(np.vectorize(math.erf)(inverse), _np(y))
    edges = fastdl.erfinv(fastdl.tensor([1.0, -1.0, 1.5, 0.0], dtype=fastdl.float64)).tolist()
    assert edges[:2] == [math.inf, -math.inf] and math.isnan(edges[2]) and edges[3] == 0.0
    reflected = fastdl.digamma(fastdl.tensor([0.0, -2.0, -0.5], dtype=fastdl.float64)).tolist()
    assert reflected[0] == -math.inf and math.isnan(reflected[1])
    assert_close(reflected[2], 2 - np.euler_gamma - 2 * math.log(2))  # psi(-1/2)
    for name, t in (("lgamma", x), ("digamma", x), ("erfinv", y)):
        assert_close(_np(getattr(x if t is x else y, name)()), _np(getattr(fastdl, name)(t)))
        assert gradcheck(getattr(fastdl, name), [t])
    with pytest.raises(RuntimeError, match="derivative of trigamma"):
        fastdl.polygamma(1, x).sum().backward()
    with pytest.raises(ValueError, match="polygamma: fastdl supports n = 0 and n = 1"):
        fastdl.polygamma(2, x)


def test_gamma_family_and_erfinv_against_scipy():
    special = pytest.importorskip("scipy.special")
    x = np.concatenate([np.linspace(-4.5, 30, 57), [1e-3, 0.5]])
    t = fastdl.tensor(x, dtype=fastdl.float64)
    np.testing.assert_allclose(_np(fastdl.digamma(t)), special.digamma(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(fastdl.polygamma(1, t)), special.polygamma(1, x), rtol=1e-10)
    np.testing.assert_allclose(_np(fastdl.special.gammaln(t)), special.gammaln(x), rtol=1e-12)
    y = np.concatenate([np.linspace(-0.9999, 0.9999, 41), [1 - 1e-12, -1 + 1e-15]])
    got = _np(fastdl.special.erfinv(fastdl.tensor(y, dtype=fastdl.float64)))
    np.testing.assert_allclose(got, special.erfinv(y), rtol=1e-13)


# -- binary functions ------------------------------------------------------------------

BINARY = {
    "atan2": (np.arctan2, None),
    "hypot": (np.hypot, None),
    "logaddexp": (np.logaddexp, None),
    "xlogy": (lambda a, b: a * np.log(b), "positive_other"),
    "remainder": (np.mod, "away_from_edges"),
    "fmod": (np.fmod, "away_from_edges"),
}


@pytest.mark.parametrize("name", BINARY)
def test_binary_values_and_gradients(backend, name):
    reference, kind = BINARY[name]
    a = _t((2, 3), seed=1)
    b = _t((3,), seed=2)
    if kind == "positive_other":
        b = _t((3,), seed=2, low=0.5, high=2)
    if kind == "away_from_edges":  # quotients far from integers: finite differences hold
        a = fastdl.tensor([[2.3, -2.3, 4.6], [-0.7, 0.7, 5.2]], dtype=fastdl.float64)
        a.requires_grad_()
        b = fastdl.tensor([1.5, 2.0, -2.5], dtype=fastdl.float64, requires_grad=True)
    assert_close(_np(getattr(fastdl, name)(a, b)), reference(_np(a), _np(b)))
    assert_close(_np(getattr(a, name)(b)), reference(_np(a), _np(b)))
    assert gradcheck(getattr(fastdl, name), [a, b])


def test_fmod_and_remainder_are_exact_and_twice_differentiable(backend):
    a = np.array([1e17 + 4.0, -7.5, 7.5, 1e-300, 2.0**60 + 1024])
    b = np.array([3.0, 2.0, -2.0, -1.0, 7.0])
    t, u = fastdl.tensor(a, dtype=fastdl.float64), fastdl.tensor(b, dtype=fastdl.float64)
    assert fastdl.fmod(t, u).tolist() == np.fmod(a, b).tolist()
    assert fastdl.remainder(t, u).tolist() == np.mod(a, b).tolist()
    x = fastdl.tensor([2.3, -2.3, 4.6], dtype=fastdl.float64, requires_grad=True)
    y = fastdl.tensor([1.5, 2.0, -2.5], dtype=fastdl.float64, requires_grad=True)
    for fn in (fastdl.fmod, fastdl.remainder):

        def grad_sum(p, q, fn=fn):
            with fastdl.enable_grad():
                gp, gq = fastdl.autograd.grad((fn(p, q) * p).sum(), [p, q], create_graph=True)
            return (gp * gp).sum() + (gq * q).sum()

        assert gradcheck(grad_sum, [x, y])


def test_atan2_on_the_axes_and_every_quadrant():
    y = fastdl.tensor([1.0, -1.0, 0.0, 0.0, 1.0, -1.0, 0.0], dtype=fastdl.float64)
    x = fastdl.tensor([0.0, 0.0, 0.0, -1.0, -1.0, -1.0, 2.0], dtype=fastdl.float64)
    assert_close(_np(fastdl.atan2(y, x)), np.arctan2(_np(y), _np(x)))


def test_xlogy_is_zero_where_x_is_zero_unless_y_is_nan():
    x = fastdl.tensor([0.0, 0.0, 2.0])
    y = fastdl.tensor([0.0, math.nan, 1.0])
    got = _np(fastdl.xlogy(x, y))
    assert got[0] == 0.0 and math.isnan(got[1]) and got[2] == 0.0
    a = fastdl.tensor([0.0, 0.0, 2.0], dtype=fastdl.float64, requires_grad=True)
    fastdl.xlogy(a, fastdl.tensor([3.0, 0.0, 0.5], dtype=fastdl.float64)).sum().backward()
    assert_close(_np(a.grad), [np.log(3.0), 0.0, np.log(0.5)])  # log(y), 0 where both are 0
    got = fastdl.special.xlog1py(x, fastdl.tensor([-1.0, 0.5, 1.0]))
    assert_close(_np(got), np.array([0, 0, 2 * np.log(2)], np.float32))


def test_integer_remainders_floor_division_and_operators():
    a = fastdl.tensor([-7, 7, -8, 9])
    b = fastdl.tensor([3, -3, 3, 4])
    assert (a % b).tolist() == (np.array([-7, 7, -8, 9]) % np.array([3, -3, 3, 4])).tolist()
    assert (a // b).tolist() == (np.array([-7, 7, -8, 9]) // np.array([3, -3, 3, 4])).tolist()
    assert fastdl.fmod(a, 3).tolist() == np.fmod([-7, 7, -8, 9], 3).tolist()
    assert (a % b).dtype == fastdl.int64
    assert (10 % b).tolist() == (10 % np.array([3, -3, 3, 4])).tolist()
    assert (10 // b).tolist() == (10 // np.array([3, -3, 3, 4])).tolist()
    q, r = divmod(a, 3)
    assert q.tolist() == [-3, 2, -3, 3] and r.tolist() == [2, 1, 1, 0]
    assert fastdl.floor_divide(a, 2).tolist() == [-4, 3, -4, 4]
    assert fastdl.true_divide(a, 2).tolist() == [-3.5, 3.5, -4.0, 4.5]


def test_interpolation_and_clamps(backend):
    x, y, w = _t((2, 3), seed=1), _t((2, 3), seed=2), _t((3,), seed=3, low=0, high=1)
    assert_close(_np(fastdl.lerp(x, y, w)), _np(x) + _np(w) * (_np(y) - _np(x)))
    assert_close(_np(x.lerp(y, 0.3)), _np(x) + 0.3 * (_np(y) - _np(x)))
    assert gradcheck(lambda a, b, c: fastdl.lerp(a, b, c), [x, y, w])
    z = _t((2, 3), seed=4, low=1, high=2)
    assert_close(_np(fastdl.addcmul(x, y, z, value=0.5)), _np(x) + 0.5 * _np(y) * _np(z))
    assert_close(_np(fastdl.addcdiv(x, y, z, value=2)), _np(x) + 2 * _np(y) / _np(z))
    assert gradcheck(lambda a, b, c: fastdl.addcdiv(a, b, c, value=-1.5), [x, y, z])
    assert_close(_np(fastdl.clamp_min(x, 0.1)), np.maximum(_np(x), 0.1))
    assert_close(_np(x.clamp_max(0.1)), np.minimum(_np(x), 0.1))
    assert_close(_np(fastdl.float_power(x, 2)), _np(x) ** 2)
    assert fastdl.float_power(fastdl.tensor([2]), 3).dtype == fastdl.float64


def test_in_place_forms_write_into_the_storage():
    x = fastdl.tensor([1.0, 2.0, 3.0])
    alias = x.data
    x.addcmul_(fastdl.ones(3), fastdl.ones(3), value=2)
    x.clamp_min_(4.0)
    x.lerp_(fastdl.zeros(3), 0.5)
    assert alias.tolist() == [2.0, 2.0, 2.5]
    w = fastdl.ones(2, requires_grad=True)
    h = w * 1
    h.atan_()
    h.sum().backward()
    assert_close(_np(w.grad), [0.5, 0.5], dtype=np.float32)
    with pytest.raises(RuntimeError, match="float64"):
        fastdl.ones(2).float_power_(2)


def test_math_bad_input_is_named():
    x = fastdl.ones(2)
    with pytest.raises(TypeError, match="lerp: expected input"):
        fastdl.lerp(x, fastdl.ones(2, dtype=fastdl.float64), 0.5)
    with pytest.raises(TypeError, match="addcdiv: integer division"):
        fastdl.addcdiv(x, fastdl.tensor([1]), fastdl.tensor([2]))
    with pytest.raises(TypeError, match="frac: expected a floating"):
        fastdl.frac(fastdl.tensor([1]))
    with pytest.raises(TypeError, match="neg: negation of a bool"):
        fastdl.neg(fastdl.tensor([True]))
    with pytest.raises(TypeError, match="remainder: other must be a Tensor or a number"):
        fastdl.remainder(x, "2")
    with pytest.raises(TypeError, match="atan2: other must be a Tensor"):
        fastdl.atan2(x, 1.0)


# -- reductions ------------------------------------------------------------------------


def test_any_all_count_nonzero():
    a = np.array([[0, 1, 2], [0, 0, 0]])
    x = fastdl.tensor(a)
    assert fastdl.any(x).item() is True and fastdl.all(x).item() is False
    assert fastdl.any(x, dim=1).tolist() == a.any(1).tolist()
    assert x.all(0, keepdim=True).tolist() == a.all(0, keepdims=True).tolist()
    assert fastdl.count_nonzero(x, 0).tolist() == np.count_nonzero(a, 0).tolist()
    assert fastdl.all(fastdl.tensor([0.5, math.nan])).item() is True  # NaN is non-zero


def test_nan_skipping_sum_and_mean(backend):
    a = np.array([[1.0, 4.0, np.nan], [np.nan, np.nan, 2.0]])
    x = fastdl.tensor(a, requires_grad=True)
    assert_close(_np(fastdl.nansum(x, 1)), np.nansum(a, 1))
    assert_close(_np(x.nanmean(0)), np.nanmean(a, 0))
    fastdl.nanmean(x).backward()
    assert_close(_np(x.grad), np.where(np.isnan(a), 0.0, 1 / 3))


def test_median_mode_and_quantile(backend):
    a = np.array([[3.0, 1.0, 2.0, 2.0], [5.0, 4.0, 0.0, 9.0]])
    x = fastdl.tensor(a, dtype=fastdl.float64, requires_grad=True)
    values, indices = fastdl.median(x, 1)
    assert_close(_np(values), np.sort(a, 1)[:, 1])
    assert_close(_np(x)[np.arange(2), indices.numpy()], _np(values))
    assert fastdl.median(x).item() == 2.0  # the lower median of 8
    m = fastdl.mode(fastdl.tensor([[1, 3, 3, 2, 1], [4, 4, 5, 5, 6]]))
    assert m.values.tolist() == [1, 4] and m.indices.tolist() == [4, 1]
    for q in (0.0, 0.3, 0.5, 1.0):
        assert_close(_np(fastdl.quantile(x, q, dim=1)), np.quantile(a, q, axis=1))
    levels = fastdl.tensor([0.25, 0.8], dtype=fastdl.float64)
    for how in ("linear", "lower", "higher", "midpoint", "nearest"):
        got = fastdl.quantile(x, levels, dim=0, keepdim=True, interpolation=how)
        assert_close(_np(got), np.quantile(a, [0.25, 0.8], axis=0, keepdims=True, method=how))
    holes = fastdl.tensor([[1.0, math.nan, 0.0, math.nan], [3.0, 1.0, 2.0, 0.0]])
    values, indices = fastdl.median(holes, 1)
    assert math.isnan(values[0].item()) and indices.tolist() == [1, 1]  # the first NaN
    assert math.isnan(fastdl.median(holes).item())
    assert_close(_np(fastdl.quantile(holes, 0.5, 1))[1], np.float32(1.5))
    assert math.isnan(fastdl.quantile(holes, 0.5, 1)[0].item())
    distinct = _t((3, 4), seed=5)  # no ties: a point where the order statistics are smooth
    assert gradcheck(lambda t: fastdl.quantile(t, 0.3, dim=1), [distinct])
    assert gradcheck(lambda t: fastdl.median(t, 0).values + fastdl.median(t), [distinct])


def test_aminmax_std_mean_var_mean(backend):
    x = _t((3, 4))
    low, high = fastdl.aminmax(x, dim=1)
    assert_close(_np(low), _np(x).min(1))
    assert_close(_np(high), _np(x).max(1))
    s, m = fastdl.std_mean(x, 1, correction=0)
    assert_close(_np(s), _np(x).std(1))
    assert_close(_np(m), _np(x).mean(1))
    v, m = fastdl.var_mean(x)
    assert_close(_np(v), _np(x).var(ddof=1))
    assert gradcheck(lambda t: fastdl.std_mean(t, 0)[0], [x])


def test_cummax_cummin_logcumsumexp(backend):
    a = np.array([[1.0, 3.0, 3.0, 2.0, 5.0], [4.0, 2.0, 2.0, 6.0, 1.0]])
    x = fastdl.tensor(a, requires_grad=True)
    values, indices = fastdl.cummax(x, 1)
    assert_close(_np(values), np.maximum.accumulate(a, 1))
    assert indices.tolist() == [[0, 1, 2, 2, 4], [0, 0, 0, 3, 3]]  # ties: the later index
    values, indices = x.cummin(1)
    assert_close(_np(values), np.minimum.accumulate(a, 1))
    assert indices.tolist() == [[0, 0, 0, 0, 0], [0, 1, 2, 2, 4]]
    y = _t((3, 4))
    assert_close(_np(fastdl.logcumsumexp(y, 1)), np.logaddexp.accumulate(_np(y), 1))
    assert gradcheck(lambda t: fastdl.logcumsumexp(t, 0), [y])
    assert gradcheck(lambda t: fastdl.cummax(t, 1).values, [y])


def test_diff_and_trapezoid(backend):
    y = _t((3, 5))
    assert_close(_np(fastdl.diff(y)), np.diff(_np(y)))
    p = _t((3, 1), seed=2)
    got = fastdl.diff(y, n=2, dim=1, prepend=p, append=p)
    assert_close(_np(got), np.diff(_np(y), n=2, axis=1, prepend=_np(p), append=_np(p)))
    assert fastdl.diff(fastdl.tensor([True, True, False])).tolist() == [False, True]
    assert_close(_np(fastdl.trapezoid(y)), np.trapezoid(_np(y)))
    assert_close(_np(fastdl.trapezoid(y, dx=0.5, dim=0)), np.trapezoid(_np(y), dx=0.5, axis=0))
    xs = fastdl.tensor([0.0, 0.5, 1.5, 2.0, 4.0], dtype=fastdl.float64)
    assert_close(_np(fastdl.trapezoid(y, xs)), np.trapezoid(_np(y), _np(xs)))
    assert gradcheck(lambda t: fastdl.trapezoid(t, xs) + fastdl.diff(t).sum(1), [y])


def test_reduction_bad_input_is_named():
    with pytest.raises(ValueError, match="quantile: q must be in"):
        fastdl.quantile(fastdl.ones(3), 1.5)
    with pytest.raises(ValueError, match="quantile: interpolation"):
        fastdl.quantile(fastdl.ones(3), 0.5, interpolation="cubic")
    with pytest.raises(TypeError, match="nanmean: expected a floating"):
        fastdl.nanmean(fastdl.tensor([1, 2]))
    with pytest.raises(ValueError, match="median: cannot reduce an empty"):
        fastdl.median(fastdl.ones(0))
    with pytest.raises(ValueError, match="diff: prepend"):
        fastdl.diff(fastdl.ones(3), prepend=fastdl.ones(1, 1))
    with pytest.raises(TypeError, match="trapezoid: pass either x or dx"):
        fastdl.trapezoid(fastdl.ones(3), fastdl.ones(3), dx=1.0)


# -- fastdl.special --------------------------------------------------------------------


def test_special_functions(backend):
    x = _t((2, 3))
    erf = np.vectorize(math.erf)
    assert_close(_np(fastdl.special.expit(x)), 1 / (1 + np.exp(-_np(x))))
    assert_close(_np(fastdl.special.erfc(x)), 1 - erf(_np(x)))
    assert_close(_np(fastdl.special.ndtr(x)), 0.5 * (1 + erf(_np(x) / math.sqrt(2))))
    assert_close(_np(fastdl.special.exp2(x)), np.exp2(_np(x)))
    assert_close(_np(fastdl.special.sinc(x)), np.sinc(_np(x)))
    p = _t((2, 3), low=0.1, high=0.9)
    assert_close(_np(fastdl.special.entr(p)), -_np(p) * np.log(_np(p)))
    assert_close(_np(fastdl.special.logsumexp(x, 1)), np.log(np.exp(_np(x)).sum(1)))
    assert_close(_np(fastdl.special.log_softmax(x, 1)).sum(), _np(fastdl.log_softmax(x, 1)).sum())
    assert fastdl.special.entr(fastdl.tensor([0.0, -1.0])).tolist() == [0.0, -math.inf]
    assert fastdl.special.sinc(fastdl.tensor([0.0])).tolist() == [1.0]
    assert gradcheck(lambda t: fastdl.special.ndtr(t) + fastdl.special.sinc(t), [x])


# -- CUDA (simulator without a GPU): the new kernels and compositions on tiny shapes ---


def test_on_cuda_matches_cpu():
    pytest.importorskip("numba.cuda")

    def fn(a, b):
        trig = fastdl.tan(a) + fastdl.sinh(a) * fastdl.cosh(b) + fastdl.atan2(a, b)
        inverse = fastdl.asin(a * 0.5) + fastdl.acos(b * 0.5) + fastdl.atan(a)
        gamma = fastdl.lgamma(a + 2.0) + fastdl.digamma(b + 2.0) + fastdl.erfinv(a * 0.9)
        more = fastdl.logaddexp(a, b) + fastdl.lerp(a, b, 0.25) + fastdl.remainder(a, 0.75)
        return (
            trig
            + inverse
            + gamma
            + more
            + fastdl.logcumsumexp(a, 1)
            + fastdl.quantile(a, 0.5, 1, True)
        )

    host = [_t((2, 3), seed=s, low=-0.9, high=0.9) for s in (0, 1)]
    device = [t.detach().to("cuda").requires_grad_() for t in host]
    want, got = fn(*host), fn(*device)
    assert got.device.type == "cuda"
    assert_close(got.cpu().detach().numpy(), _np(want))
    want.sum().backward()
    got.sum().backward()
    for h, d in zip(host, device, strict=True):
        assert_close(d.grad.cpu().numpy(), h.grad.numpy(), kind="grad")
