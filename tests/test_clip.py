"""Gradient clipping: clip_grad_norm_ and clip_grad_value_ against NumPy formulas
(PyTorch's rules), the flat-buffer path against the per-gradient path, the
grad_norm kernel's NaN/inf semantics, and the vector helpers."""

import math

import numpy as np
import pytest
from _tolerance import VALUE, assert_close

import fastdl
from fastdl import backends, nn, optim
from fastdl.backends import cpu, reference
from fastdl.nn import utils

FLOATS = [np.float32, np.float64]
BACKENDS = ["numba", "reference"]
NORMS = [1.0, 2.0, 3.0, math.inf]
SHAPES = [(5, 3), (3,), (4, 2, 2), (1,)]


@pytest.fixture(params=BACKENDS)
def backend(request):
    with fastdl.use_backend(request.param):
        yield request.param


def _params(dtype, seed=0, shapes=SHAPES, scale=1.0):
    rng = np.random.default_rng(seed)
    params = []
    for shape in shapes:
        p = nn.Parameter(fastdl.tensor(rng.standard_normal(shape).astype(dtype)))
        p.grad = fastdl.tensor((scale * rng.standard_normal(shape)).astype(dtype))
        params.append(p)
    return params


# Optimizers built by _flat, kept alive until the test ends: the flat buffer's registry
# entry (fastdl.flat._REGISTRY) is weak and goes when its optimizer does.
_ALIVE = []


@pytest.fixture(autouse=True)
def _keep_optimizers_alive():
    yield
    _ALIVE.clear()


def _flat(params):
    """Lay the parameters out in one flat buffer, as an optimizer does."""
    _ALIVE.append(optim.SGD(params, lr=0.1))
    base = params[0].grad.numpy().base
    assert all(p.grad.numpy().base is base for p in params)
    assert len(utils._runs([p.grad for p in params])) == 1  # clipping will see one buffer
    return params


def _grads(params):
    return [None if p.grad is None else p.grad.numpy().copy() for p in params]


def _norm(arrays, norm_type):
    flat = np.abs(np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in arrays]))
    if flat.size == 0:
        return 0.0
    if norm_type == math.inf:
        return float(flat.max())
    return float(np.sum(flat**norm_type) ** (1 / norm_type))


def _clipped(arrays, max_norm, norm_type):
    total = _norm(arrays, norm_type)
    coef = min(max_norm / (total + 1e-6), 1.0)
    return total, [np.asarray(a, np.float64) * coef for a in arrays]


class _Counting:
    """A backend whose kernel calls are counted by name."""

    def __init__(self, inner):
        self.inner, self.calls = inner, {}

    def __getattr__(self, name):
        kernel = getattr(self.inner, name)

        def counted(*args):
            self.calls[name] = self.calls.get(name, 0) + 1
            return kernel(*args)

        return counted


@pytest.fixture
def counting(monkeypatch):
    counters = []
    real = backends.for_device

    def for_device(device="cpu"):
        counter = _Counting(real(device))
        counters.append(counter)
        return counter

    monkeypatch.setattr(backends, "for_device", for_device)

    def calls(name):
        return sum(c.calls.get(name, 0) for c in counters)

    return calls


# -- clip_grad_norm_ -----------------------------------------------------------------------


@pytest.mark.parametrize("flat", [False, True], ids=["per-grad", "flat"])
@pytest.mark.parametrize("norm_type", NORMS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_clip_grad_norm_matches_numpy(backend, dtype, norm_type, flat):
    params = _params(dtype, seed=NORMS.index(norm_type))
    if flat:
        _flat(params)
    before = _grads(params)
    max_norm = 0.3 * _norm(before, norm_type)  # clipping happens
    total, expected = _clipped(before, max_norm, norm_type)

    returned = utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)

    assert isinstance(returned, fastdl.Tensor) and returned.shape == ()
    assert returned.dtype == dtype
    assert_close(returned.numpy(), total, dtype=dtype, where="total norm")
    for p, e in zip(params, expected):
        assert_close(p.grad.numpy(), e, dtype=dtype, where="clipped gradient")
    # The clipped norm is max_norm * total / (total + 1e-6), PyTorch's epsilon.
    assert_close(_norm(_grads(params), norm_type), max_norm * total / (total + 1e-6), dtype=dtype)


@pytest.mark.parametrize("norm_type", NORMS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_flat_and_per_grad_paths_agree(backend, dtype, norm_type):
    loose, flat = _params(dtype, seed=3), _flat(_params(dtype, seed=3))
    a = utils.clip_grad_norm_(loose, 0.5, norm_type)
    b = utils.clip_grad_norm_(flat, 0.5, norm_type)
    tight = dict(rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(a.numpy(), b.numpy(), **tight)
    for p, q in zip(loose, flat):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **tight)


def test_flat_buffer_is_one_kernel_call(counting):
    params = _flat(_params(np.float32))
    utils.clip_grad_norm_(params, 0.1)
    assert counting("grad_norm") == 1 and counting("mul") == 1
    clamps = counting("clamp")  # clip_grad_norm_ clamps its (1,) coefficient
    utils.clip_grad_value_(params, 0.01)
    assert counting("clamp") == clamps + 1


def test_per_grad_path_without_flat_buffer(counting):
    params = _params(np.float32)
    utils.clip_grad_norm_(params, 0.1)
    assert counting("grad_norm") == len(params) and counting("mul") == len(params)


def test_partial_flat_buffer_takes_per_grad_path(counting):
    params = _flat(_params(np.float32))
    expected_total, expected = _clipped(_grads(params[:2]), 0.2, 2.0)
    untouched = _grads(params[2:])
    total = utils.clip_grad_norm_(params[:2], 0.2)  # two of the buffer's four views
    assert counting("grad_norm") == 2
    assert_close(total.numpy(), expected_total, dtype=np.float32)
    for p, e in zip(params[:2], expected):
        assert_close(p.grad.numpy(), e, dtype=np.float32)
    for p, u in zip(params[2:], untouched):
        np.testing.assert_array_equal(p.grad.numpy(), u)


def test_flat_buffer_and_loose_gradient_together(backend):
    flat = _flat(_params(np.float32, seed=4))
    loose = _params(np.float32, seed=5, shapes=[(6,), (2, 3)])
    params = [flat[0], loose[0], *flat[1:], loose[1]]
    total, expected = _clipped(_grads(params), 0.7, 2.0)
    returned = utils.clip_grad_norm_(params, 0.7)
    assert_close(returned.numpy(), total, dtype=np.float32)
    for p, e in zip(params, expected):
        assert_close(p.grad.numpy(), e, dtype=np.float32)


@pytest.mark.parametrize("flat", [False, True], ids=["per-grad", "flat"])
@pytest.mark.parametrize("norm_type", NORMS)
def test_below_max_norm_changes_nothing(backend, norm_type, flat):
    params = _params(np.float32, seed=6)
    if flat:
        _flat(params)
    before = _grads(params)
    total = utils.clip_grad_norm_(params, 10 * _norm(before, norm_type), norm_type)
    assert_close(total.numpy(), _norm(before, norm_type), dtype=np.float32)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad.numpy(), b)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("flat", [False, True], ids=["per-grad", "flat"])
@pytest.mark.parametrize("norm_type", NORMS)
def test_error_if_nonfinite_raises_and_changes_nothing(backend, norm_type, flat, bad):
    params = _params(np.float32, seed=7)
    if flat:
        _flat(params)
    params[2].grad.numpy()[1, 0, 1] = bad
    before = _grads(params)
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_(params, 1.0, norm_type, error_if_nonfinite=True)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad.numpy(), b)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf * 0
@pytest.mark.parametrize("flat", [False, True], ids=["per-grad", "flat"])
def test_nonfinite_norm_without_error_scales_as_pytorch(backend, flat):
    nan_params, inf_params = _params(np.float32, seed=8), _params(np.float32, seed=8)
    if flat:
        _flat(nan_params), _flat(inf_params)
    nan_params[0].grad.numpy()[0, 0] = np.nan
    inf_params[0].grad.numpy()[0, 0] = np.inf
    assert math.isnan(utils.clip_grad_norm_(nan_params, 1.0).item())
    assert all(np.isnan(p.grad.numpy()).all() for p in nan_params)  # coef = NaN
    assert utils.clip_grad_norm_(inf_params, 1.0).item() == math.inf
    grads = np.concatenate([p.grad.numpy().reshape(-1) for p in inf_params])
    assert np.isnan(grads[0]) and (grads[1:] == 0).all()  # coef = 0, inf * 0 = NaN


@pytest.mark.parametrize("flat", [False, True], ids=["per-grad", "flat"])
def test_none_gradients_are_skipped(backend, flat):
    params = _params(np.float32, seed=9)
    if flat:
        _flat(params)
    hidden = params[1].grad.numpy().copy()
    params[1].grad = None
    others = [p for p in params if p.grad is not None]
    total, expected = _clipped(_grads(others), 0.1, 2.0)
    returned = utils.clip_grad_norm_(params, 0.1)
    assert params[1].grad is None
    assert_close(returned.numpy(), total, dtype=np.float32)
    for p, e in zip(others, expected):
        assert_close(p.grad.numpy(), e, dtype=np.float32)
    if flat:  # the dropped gradient's slice of the buffer is left alone
        flat_buffer = params[0].grad.numpy().base
        start = params[0].numel()
        np.testing.assert_array_equal(flat_buffer[start : start + hidden.size], hidden.ravel())


def test_all_none_or_empty_returns_zero():
    p = nn.Parameter(fastdl.zeros(3))
    for given in ([], [p], p):
        total = utils.clip_grad_norm_(given, 1.0)
        assert total.shape == () and total.item() == 0.0
        utils.clip_grad_value_(given, 1.0)
    assert p.grad is None


@pytest.mark.parametrize("flat", [False, True], ids=["per-grad", "flat"])
def test_stale_gradients_count_as_zero(backend, flat):
    params = _params(np.float32, seed=10)
    if flat:
        _flat(params)
        _ALIVE[-1].zero_grad(set_to_none=False)  # marks stale; old values stay in the buffer
    else:
        for p in params:
            p._mark_grad_stale()
    assert all(p._grad_stale for p in params)
    # A backward that reaches only params[0] overwrites its stale gradient.
    c = np.random.default_rng(11).standard_normal(params[0].shape).astype(np.float32)
    (params[0] * fastdl.tensor(c)).sum().backward()
    assert not params[0]._grad_stale and params[1]._grad_stale

    total, expected = _clipped([c], 0.5, 2.0)
    returned = utils.clip_grad_norm_(params, 0.5)
    assert_close(returned.numpy(), total, dtype=np.float32)
    assert_close(params[0].grad.numpy(), expected[0], dtype=np.float32)
    for p in params[1:]:
        np.testing.assert_array_equal(p.grad.numpy(), 0)


def test_single_tensor_and_generator_accepted(backend):
    params = _params(np.float64, seed=12)
    total, expected = _clipped(_grads(params[:1]), 0.2, 2.0)
    assert_close(utils.clip_grad_norm_(params[0], 0.2).numpy(), total)
    assert_close(params[0].grad.numpy(), expected[0])
    total, expected = _clipped(_grads(params[1:]), 0.2, 3.0)
    assert_close(utils.clip_grad_norm_((p for p in params[1:]), 0.2, 3).numpy(), total)
    for p, e in zip(params[1:], expected):
        assert_close(p.grad.numpy(), e)


def test_non_contiguous_gradient(backend):
    p = nn.Parameter(fastdl.zeros(4, 3))
    g = np.random.default_rng(13).standard_normal((3, 4)).astype(np.float32).T
    p.grad = fastdl.from_numpy(g)  # (4, 3), Fortran-ordered
    assert not p.grad.numpy().flags.c_contiguous
    before = p.grad.numpy().copy()
    total, expected = _clipped([before], 0.5, 2.0)
    assert_close(utils.clip_grad_norm_([p], 0.5).numpy(), total, dtype=np.float32)
    assert_close(p.grad.numpy(), expected[0], dtype=np.float32)


def test_mixed_dtypes_return_the_promoted_dtype(backend):
    params = _params(np.float32, seed=14, shapes=[(3,)]) + _params(np.float64, seed=15)
    total, expected = _clipped(_grads(params), 0.1, 2.0)
    returned = utils.clip_grad_norm_(params, 0.1)
    assert returned.dtype == np.float64
    assert_close(returned.numpy(), total, dtype=np.float32)
    for p, e in zip(params, expected):
        assert_close(p.grad.numpy(), e, dtype=p.dtype)


@pytest.mark.parametrize("norm_type", [0, -1.0, -math.inf, math.nan])
def test_bad_norm_type_raises_before_writing(norm_type):
    params = _params(np.float32)
    before = _grads(params)
    with pytest.raises(ValueError, match="norm_type"):
        utils.clip_grad_norm_(params, 0.01, norm_type)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad.numpy(), b)
    with pytest.raises(TypeError, match="max_norm"):
        utils.clip_grad_norm_(params, "one")


def test_get_total_norm_and_clip_grads_with_norm(backend):
    a, b = _flat(_params(np.float32, seed=16)), _flat(_params(np.float32, seed=16))
    total = utils.get_total_norm([p.grad for p in a], 3.0)
    utils.clip_grads_with_norm_(a, 0.25, total)
    expected = utils.clip_grad_norm_(b, 0.25, 3.0)
    np.testing.assert_array_equal(total.numpy(), expected.numpy())
    for p, q in zip(a, b):  # total was rounded to float32 before its coefficient was formed
        assert_close(p.grad.numpy(), q.grad.numpy(), dtype=np.float32)
    with pytest.raises(RuntimeError):
        utils.get_total_norm([fastdl.tensor([np.nan])], error_if_nonfinite=True)


# -- clip_grad_value_ -----------------------------------------------------------------------


@pytest.mark.parametrize("flat", [False, True], ids=["per-grad", "flat"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_clip_grad_value_matches_numpy(backend, dtype, flat):
    params = _params(dtype, seed=17)
    if flat:
        _flat(params)
    params[0].grad.numpy()[0, 0] = np.nan  # NaN passes through, as torch.clamp
    before = _grads(params)
    assert utils.clip_grad_value_(params, 0.5) is None
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(b, dtype(-0.5), dtype(0.5)))


@pytest.mark.parametrize("flat", [False, True], ids=["per-grad", "flat"])
def test_clip_grad_value_skips_none_and_zeroes_stale(backend, flat):
    params = _params(np.float32, seed=18, scale=3.0)
    if flat:
        _flat(params)
    params[0].grad = None
    params[1]._mark_grad_stale()
    before = _grads(params[2:])
    utils.clip_grad_value_(params, 1.0)
    assert params[0].grad is None
    np.testing.assert_array_equal(params[1].grad.numpy(), 0)
    for p, b in zip(params[2:], before):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(b, -1, 1))


# -- the grad_norm kernel --------------------------------------------------------------------


@pytest.mark.parametrize("impl", ["reference", "numba"])
@pytest.mark.parametrize("norm_type", NORMS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_grad_norm_kernel_nan_and_inf(impl, dtype, norm_type):
    kernel = (reference if impl == "reference" else cpu).kernels()["grad_norm"]
    out = np.full(1, -1.0)
    base = np.random.default_rng(19).standard_normal(1001).astype(dtype)
    for where in (0, 500, 1000):  # first, middle (inside a SIMD block) and last
        for values, expected in (
            ({where: np.nan}, "nan"),
            ({where: np.inf}, "inf"),
            ({where: -np.inf}, "inf"),
            ({where: np.inf, (where + 7) % 1001: np.nan}, "nan"),
        ):
            x = base.copy()
            for i, v in values.items():
                x[i] = v
            kernel(x, norm_type, out)
            assert math.isnan(out[0]) if expected == "nan" else out[0] == math.inf, (
                where,
                values,
                out[0],
            )
    kernel(np.empty(0, dtype), norm_type, out)
    assert out[0] == 0.0


@pytest.mark.parametrize("impl", ["reference", "numba"])
@pytest.mark.parametrize("norm_type", NORMS)
def test_grad_norm_kernel_accumulates_in_float64(impl, norm_type):
    kernel = (reference if impl == "reference" else cpu).kernels()["grad_norm"]
    big = np.finfo(np.float32).max / 2
    x = np.full(9, -big, np.float32)  # |x|^p overflows float32 for p > 1
    out = np.zeros(1)
    kernel(x, norm_type, out)
    expected = float(big) if norm_type == math.inf else 9 ** (1 / norm_type) * float(big)
    np.testing.assert_allclose(out[0], expected, **VALUE[np.dtype(np.float64)])


# -- parameters_to_vector / vector_to_parameters ----------------------------------------------


def test_parameters_to_vector_and_back():
    params = _flat(_params(np.float32, seed=20))
    views = [p._data for p in params]
    vec = utils.parameters_to_vector(params)
    np.testing.assert_array_equal(
        vec.detach().numpy(), np.concatenate([p.detach().numpy().ravel() for p in params])
    )
    vec.sum().backward()  # differentiable, as in PyTorch
    new = fastdl.arange(vec.numel(), dtype=fastdl.float32)
    utils.vector_to_parameters(new, params)
    start = 0
    for p, view in zip(params, views):
        assert p._data is view  # copied in place: still the flat buffer's view
        expected = np.arange(start, start + p.numel(), dtype=np.float32).reshape(p.shape)
        np.testing.assert_array_equal(p.detach().numpy(), expected)
        start += p.numel()
    with pytest.raises(ValueError, match="1-D tensor of"):
        utils.vector_to_parameters(fastdl.zeros(3), params)
    with pytest.raises(TypeError):
        utils.vector_to_parameters(np.zeros(vec.numel()), params)
