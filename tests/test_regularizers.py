"""L1 / L2 penalty terms: values and gradients against NumPy, float64 gradcheck, which
parameters a Module contributes, and l2(wd / 2) against SGD's weight_decay=wd."""

import numpy as np
import pytest
from _tolerance import GRAD, assert_close

import fastdl
from fastdl import nn, optim
from fastdl.autograd import gradcheck
from fastdl.nn import regularizers

FLOATS = [np.float32, np.float64]
BACKENDS = ["numba", "reference"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    with fastdl.use_backend(request.param):
        yield request.param


def _model(dtype, seed=0):
    fastdl.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).to(dtype)


def _np(t):
    return np.asarray(t.detach().numpy(), np.float64)


def _weights_and_biases(model):
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    assert len(weights) == 2 and len(biases) == 2
    return weights, biases


@pytest.mark.parametrize("include_bias", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_l1_value_and_gradient(backend, dtype, include_bias):
    model = _model(dtype)
    weights, biases = _weights_and_biases(model)
    penalised = weights + biases if include_bias else weights
    strength = 0.03

    loss = regularizers.l1(model, strength, include_bias=include_bias)
    assert loss.shape == () and loss.dtype == dtype
    expected = strength * sum(np.abs(_np(p)).sum() for p in penalised)
    assert_close(loss.detach().numpy(), expected, dtype=dtype)
    loss.backward()
    for p in penalised:
        assert_close(p.grad.numpy(), strength * np.sign(_np(p)), dtype=dtype, kind="grad")
    if not include_bias:
        assert all(b.grad is None for b in biases)


@pytest.mark.parametrize("include_bias", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_l2_value_and_gradient(backend, dtype, include_bias):
    model = _model(dtype, seed=1)
    weights, biases = _weights_and_biases(model)
    penalised = weights + biases if include_bias else weights
    strength = 0.2

    loss = regularizers.l2(model, strength, include_bias=include_bias)
    assert loss.shape == () and loss.dtype == dtype
    expected = strength * sum((_np(p) ** 2).sum() for p in penalised)
    assert_close(loss.detach().numpy(), expected, dtype=dtype)
    loss.backward()
    for p in penalised:
        assert_close(p.grad.numpy(), 2 * strength * _np(p), dtype=dtype, kind="grad")
    if not include_bias:
        assert all(b.grad is None for b in biases)


def test_l1_gradient_is_zero_at_zero():
    w = fastdl.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    regularizers.l1(w, 0.5).backward()
    np.testing.assert_array_equal(w.grad.numpy(), [-0.5, 0.0, 0.5])


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_gradcheck_float64(backend, penalty):
    rng = np.random.default_rng(2)
    a = fastdl.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = fastdl.tensor(rng.standard_normal(5) + np.sign(rng.standard_normal(5)), requires_grad=True)
    fn = getattr(regularizers, penalty)
    assert gradcheck(lambda x, y: fn([x, y], 0.7), [a, b])


def test_added_to_a_loss_differentiates_through_both(backend):
    model = _model(np.float64, seed=3)
    x = fastdl.tensor(np.random.default_rng(4).standard_normal((6, 4)))
    data_loss = lambda: (model(x) ** 2).mean()  # noqa: E731
    data_loss().backward()
    data_grads = [_np(p.grad) for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    (data_loss() + regularizers.l1(model, 0.1) + regularizers.l2(model, 0.05)).backward()
    for (name, p), g in zip(model.named_parameters(), data_grads):
        extra = 0 if name.endswith("bias") else 0.1 * np.sign(_np(p)) + 0.1 * _np(p)
        assert_close(p.grad.numpy(), g + extra, kind="grad", where=name)


@pytest.mark.parametrize("dtype", FLOATS)
def test_l2_of_half_weight_decay_is_sgd_weight_decay(backend, dtype):
    """The documented convention: SGD(weight_decay=wd) == loss + l2(model, wd / 2)."""
    wd, lr = 0.1, 0.5
    x = fastdl.tensor(np.random.default_rng(5).standard_normal((8, 4)).astype(dtype))
    decayed, penalised = _model(dtype, seed=6), _model(dtype, seed=6)
    opt_decay = optim.SGD(decayed.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    opt_pen = optim.SGD(penalised.parameters(), lr=lr, momentum=0.9)
    for _ in range(3):
        for model, opt, extra in (
            (decayed, opt_decay, None),
            (penalised, opt_pen, lambda m: regularizers.l2(m, wd / 2, include_bias=True)),
        ):
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            if extra is not None:
                loss = loss + extra(model)
            loss.backward()
            opt.step()
    for p, q in zip(decayed.parameters(), penalised.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), **GRAD[np.dtype(dtype)])


def test_targets_tensor_iterable_and_nested_module():
    w = fastdl.tensor([1.0, -2.0], requires_grad=True)
    assert regularizers.l1(w, 2.0).item() == 6.0
    assert regularizers.l2((t for t in [w, w]), 1.0).item() == 10.0
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 2)), nn.Linear(2, 1, bias=False))
    named = dict(model.named_parameters())
    expected = sum(np.abs(_np(named[k])).sum() for k in ("0.0.weight", "1.weight"))
    assert_close(regularizers.l1(model, 1.0).detach().numpy(), expected, dtype=np.float32)


def test_empty_and_zero_strength():
    assert regularizers.l1([], 1.0).item() == 0.0
    model = _model(np.float32)
    assert regularizers.l2(model, 0.0).item() == 0.0


@pytest.mark.parametrize("strength", [-0.1, float("nan")])
def test_bad_strength_raises(strength):
    with pytest.raises(ValueError, match="strength"):
        regularizers.l1(_model(np.float32), strength)
    with pytest.raises(TypeError, match="strength"):
        regularizers.l2(_model(np.float32), "0.1x")
    with pytest.raises(TypeError, match="params"):
        regularizers.l2([fastdl.zeros(2), 3.0], 0.1)
