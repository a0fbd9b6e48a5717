"""GELU ... GLU: values against NumPy formulas (finite at +-1e4), gradients by float64
finite differences on the CPU backends, double backward, one CUDA
(simulator) run against the CPU, the modules and bad input."""

import math

import numpy as np
import pytest
from _tolerance import assert_close
from test_double_backward import _grad_dot

import fastdl
import fastdl.nn.functional as F
from fastdl import nn
from fastdl.autograd import gradcheck

_erf = np.vectorize(math.erf)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _softplus(x):
    return np.logaddexp(0, x)


def _sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))


# name -> (function, keyword arguments, NumPy formula of the value)
CASES = {
    "gelu": (F.gelu, {}, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2)))),
    "gelu_tanh": (
        F.gelu,
        {"approximate": "tanh"},
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
    ),
    "silu": (F.silu, {}, lambda x: x * _sigmoid(x)),
    "elu": (F.elu, {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0)))),
    "selu": (
        F.selu,
        {},
        lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    ),
    "celu": (
        F.celu,
        {"alpha": 2.0},
        lambda x: np.maximum(x, 0) + np.minimum(0, 2.0 * np.expm1(np.minimum(x, 0) / 2.0)),
    ),
    "softplus": (
        F.softplus,
        {"beta": 2.0, "threshold": 10.0},
        lambda x: np.where(2 * x > 10, x, _softplus(2 * x) / 2),
    ),
    "mish": (F.mish, {}, lambda x: x * np.tanh(_softplus(x))),
    "hardswish": (F.hardswish, {}, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "hardsigmoid": (F.hardsigmoid, {}, lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    "logsigmoid": (F.logsigmoid, {}, lambda x: -_softplus(-x)),
    "hardtanh": (F.hardtanh, {"min_val": -2.0, "max_val": 1.5}, lambda x: np.clip(x, -2, 1.5)),
    "relu6": (F.relu6, {}, lambda x: np.clip(x, 0, 6)),
    "softsign": (F.softsign, {}, lambda x: x / (1 + np.abs(x))),
    "tanhshrink": (F.tanhshrink, {}, lambda x: x - np.tanh(x)),
}


def _points(dtype):
    """Normal values plus both signs of 1e4 (where PyTorch's results are finite)."""
    x = np.random.default_rng(0).standard_normal((3, 7)) * 4
    x.reshape(-1)[:4] = (1e4, -1e4, 30.0, -30.0)
    return x.astype(dtype)


def _smooth_points():
    """float64 points at least 0.1 from every kink (0, +-3, min/max of hardtanh, 6)."""
    x = np.random.default_rng(1).uniform(-5, 7, 40)
    kinks = np.array([0.0, -3.0, 3.0, -2.0, 1.5, 6.0])
    return x[np.min(np.abs(x[:, None] - kinks), axis=1) > 0.1][:12]


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_numpy_and_stay_finite(name, dtype, backend):
    fn, kwargs, formula = CASES[name]
    x = _points(dtype)
    with fastdl.use_backend(backend):
        got = fn(fastdl.tensor(x), **kwargs).numpy()
    with np.errstate(over="ignore"):
        expected = formula(x.astype(np.float64))
    assert np.isfinite(got).all()
    assert got.dtype == dtype
    assert_close(got, expected.astype(dtype), dtype)


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name, backend):
    fn, kwargs, _ = CASES[name]
    x = fastdl.tensor(_smooth_points(), requires_grad=True)
    with fastdl.use_backend(backend):
        assert gradcheck(lambda t: fn(t, **kwargs), [x])


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_finite_at_extremes(name):
    fn, kwargs, _ = CASES[name]
    x = fastdl.tensor(_points(np.float32), requires_grad=True)
    fn(x, **kwargs).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_double_backward(name, backend):
    fn, kwargs, _ = CASES[name]
    x = fastdl.tensor(_smooth_points(), requires_grad=True)
    v = fastdl.tensor(np.random.default_rng(2).standard_normal(x.shape))
    with fastdl.use_backend(backend):
        assert gradcheck(_grad_dot(lambda t: fn(t, **kwargs), 1, [v]), [x])


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_prelu_and_glu_gradients(backend):
    rng = np.random.default_rng(3)
    x = fastdl.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    w = fastdl.tensor([0.1, -0.3, 0.7], dtype=fastdl.float64, requires_grad=True)
    with fastdl.use_backend(backend):
        assert gradcheck(F.prelu, [x, w])
        halves = fastdl.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
        assert gradcheck(lambda t: F.glu(t, dim=1), [halves])
    raw, slopes = x.detach().numpy(), w.detach().numpy()[None, :, None]
    assert_close(F.prelu(x, w).detach().numpy(), np.where(raw > 0, raw, slopes * raw))
    a, b = raw[:, :, :2], raw[:, :, 2:]
    assert_close(F.glu(x, dim=-1).detach().numpy(), a * _sigmoid(b))


def test_cuda_matches_cpu():
    pytest.importorskip("numba.cuda")
    x = _points(np.float32)[:2, :5]
    g = np.random.default_rng(4).standard_normal(x.shape).astype(np.float32)
    for name, (fn, kwargs, _) in sorted(CASES.items()):
        host = fastdl.tensor(x, requires_grad=True)
        fn(host, **kwargs).backward(fastdl.tensor(g))
        device = fastdl.tensor(x).to("cuda").requires_grad_()
        out = fn(device, **kwargs)
        out.backward(fastdl.tensor(g).to("cuda"))
        assert_close(out.detach().cpu().numpy(), fn(fastdl.tensor(x), **kwargs).numpy(), where=name)
        assert_close(device.grad.cpu().numpy(), host.grad.numpy(), kind="grad", where=name)


def test_inplace_writes_into_the_input_and_differentiates():
    base = fastdl.tensor([-1.0, 0.5, 2.0], dtype=fastdl.float64, requires_grad=True)
    x = base * 1.0
    y = F.elu(x, alpha=0.5, inplace=True)
    assert y is x
    y.sum().backward()
    assert_close(base.grad.numpy(), np.array([0.5 * np.exp(-1.0), 1.0, 1.0]))
    t = fastdl.tensor([-4.0, 7.0, 2.0])
    nn.ReLU6(inplace=True)(t)
    assert_close(t.numpy(), np.array([0.0, 6.0, 2.0], np.float32))


def test_modules_forward_their_arguments():
    x = fastdl.tensor(_points(np.float64))
    for module, name in [
        (nn.GELU("tanh"), "gelu_tanh"),
        (nn.ELU(alpha=0.5), "elu"),
        (nn.CELU(2.0), "celu"),
        (nn.Softplus(beta=2.0, threshold=10.0), "softplus"),
        (nn.Hardtanh(-2.0, 1.5), "hardtanh"),
        (nn.SiLU(), "silu"),
        (nn.SELU(), "selu"),
        (nn.Mish(), "mish"),
        (nn.Hardswish(), "hardswish"),
        (nn.Hardsigmoid(), "hardsigmoid"),
        (nn.LogSigmoid(), "logsigmoid"),
        (nn.ReLU6(), "relu6"),
        (nn.Softsign(), "softsign"),
        (nn.Tanhshrink(), "tanhshrink"),
    ]:
        fn, case_kwargs, _ = CASES[name]
        assert_close(module(x).numpy(), fn(x, **case_kwargs).numpy(), where=repr(module))
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Hardtanh(inplace=True)) == "Hardtanh(min_val=-1.0, max_val=1.0, inplace=True)"


def test_prelu_module_learns_its_slopes():
    layer = nn.PReLU(num_parameters=3, init=0.1)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert_close(layer.weight.detach().numpy(), np.full(3, 0.1, np.float32))
    x = fastdl.tensor(-np.ones((2, 3, 2), np.float32))
    layer(x).sum().backward()
    assert_close(layer.weight.grad.numpy(), np.full(3, -4.0, np.float32))


def test_bad_input_is_refused_by_name():
    x = fastdl.randn(2, 3)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("erf")
    with pytest.raises(TypeError, match="silu"):
        F.silu(fastdl.tensor([1, 2]))
    with pytest.raises(ValueError, match="dimension 1 is size 3"):
        F.glu(x, dim=1)
    with pytest.raises(ValueError, match=r"weight of shape \(2,\)"):
        F.prelu(x, fastdl.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="num_parameters"):
        nn.PReLU(0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    fn, kwargs, _ = CASES[name]
    x = _points(np.float64)
    ours = fastdl.tensor(x, requires_grad=True)
    fn(ours, **kwargs).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    torch_name = "gelu" if name == "gelu_tanh" else name
    getattr(torch.nn.functional, torch_name)(theirs, **kwargs).sum().backward()
    np.testing.assert_allclose(
        fn(fastdl.tensor(x), **kwargs).numpy(),
        getattr(torch.nn.functional, torch_name)(torch.tensor(x), **kwargs).numpy(),
        rtol=1e-10,
        atol=1e-12,
    )
    # PyTorch's hardsigmoid gradient uses 1/6 rounded to float32.
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-7, atol=1e-12)
