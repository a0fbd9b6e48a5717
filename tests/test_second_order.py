"""Hessians, Hessian-vector products and Newton's method."""

import numpy as np
import pytest

import fastdl
from fastdl import nn, optim
from fastdl.autograd import grad, hessian, hvp


def _numeric_hessian(f, x, eps=1e-5):
    """Central differences of the analytic gradient (float64)."""
    n = x.size
    rows = np.zeros((n, n))
    for i in range(n):
        step = np.zeros(n)
        step[i] = eps
        plus, minus = (
            fastdl.tensor(x + step, requires_grad=True),
            fastdl.tensor(x - step, requires_grad=True),
        )
        (gp,) = grad(f(plus), plus)
        (gm,) = grad(f(minus), minus)
        rows[i] = (gp.numpy() - gm.numpy()) / (2 * eps)
    return rows


def _mlp_loss(x_data, y_data):
    X = fastdl.tensor(x_data)
    y = fastdl.tensor(y_data)
    F = nn.functional

    def loss(theta):
        w1 = theta[:12].reshape(4, 3)
        b1 = theta[12:16]
        w2 = theta[16:24].reshape(2, 4)
        b2 = theta[24:26]
        hidden = F.linear(X, w1, b1, activation="tanh")
        return F.cross_entropy(F.linear(hidden, w2, b2), y)

    return loss


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_hessian_of_an_mlp_loss_matches_finite_differences(backend):
    rng = np.random.default_rng(0)
    f = _mlp_loss(rng.standard_normal((7, 3)), rng.integers(0, 2, 7))
    theta = 0.5 * rng.standard_normal(26)
    with fastdl.use_backend(backend):
        h = hessian(f, fastdl.tensor(theta)).numpy()
        numeric = _numeric_hessian(f, theta)
    assert h.shape == (26, 26)
    np.testing.assert_allclose(h, h.T, atol=1e-12)
    np.testing.assert_allclose(h, numeric, rtol=1e-5, atol=1e-7)


def test_hessian_of_several_inputs_has_blocks():
    a = fastdl.tensor([1.0, 2.0], dtype=fastdl.float64)
    b = fastdl.tensor([3.0], dtype=fastdl.float64)
    blocks = hessian(lambda x, y: (x * x * y).sum(), (a, b))
    np.testing.assert_allclose(blocks[0][0].numpy(), 2 * 3.0 * np.eye(2))
    np.testing.assert_allclose(blocks[0][1].numpy(), [[2.0], [4.0]])
    np.testing.assert_allclose(blocks[1][1].numpy(), [[0.0]])


def test_hvp_equals_hessian_times_vector():
    rng = np.random.default_rng(1)
    f = _mlp_loss(rng.standard_normal((5, 3)), rng.integers(0, 2, 5))
    theta = fastdl.tensor(0.5 * rng.standard_normal(26))
    v = fastdl.tensor(rng.standard_normal(26))
    value, hv = hvp(f, theta, v)
    np.testing.assert_allclose(value.item(), f(theta).item())
    np.testing.assert_allclose(hv.numpy(), hessian(f, theta).numpy() @ v.numpy(), rtol=1e-10)


def test_newton_converges_on_logistic_regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    true_w = np.array([1.5, -2.0, 0.5])
    y = (X @ true_w + 0.5 * rng.standard_normal(200) > 0).astype(np.float64)
    model = nn.Linear(3, 1, dtype=fastdl.float64)
    opt = optim.Newton(model.parameters(), damping=1e-6)
    Xt, yt = fastdl.tensor(X), fastdl.tensor(y.reshape(-1, 1))

    def closure():
        return nn.functional.binary_cross_entropy_with_logits(model(Xt), yt)

    losses = [opt.step(closure).item() for _ in range(10)]
    (g_w, g_b) = grad(closure(), [model.weight, model.bias])
    assert losses[-1] < losses[0]
    assert np.abs(g_w.numpy()).max() < 1e-8 and abs(g_b.item()) < 1e-8  # a stationary point
    # Newton converges quadratically: the last steps barely change the loss
    assert abs(losses[-1] - losses[-2]) < 1e-12


def test_newton_refuses_large_models_and_freed_graphs():
    with pytest.raises(ValueError, match="max_params"):
        optim.Newton(nn.Linear(100, 100).parameters())
    model = nn.Linear(2, 1)
    opt = optim.Newton(model.parameters())
    before = model.weight.detach().numpy().copy()

    def closure():
        loss = model(fastdl.ones(4, 2)).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="closure must not call backward"):
        opt.step(closure)
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)
    with pytest.raises(ValueError, match="closure"):
        opt.step()


def test_hessian_top_eigenvalue_matches_the_dense_spectrum():
    from fastdl.second_order import hessian_top_eigenvalue

    rng = np.random.default_rng(3)
    fastdl.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 4, dtype=fastdl.float64), nn.Tanh(), nn.Linear(4, 2, dtype=fastdl.float64)
    )
    x = fastdl.tensor(rng.standard_normal((16, 3)))
    y = fastdl.tensor(rng.integers(0, 2, 16))
    loss_fn = nn.CrossEntropyLoss()
    params = list(model.parameters())

    def loss_of(theta):
        start, tensors = 0, []
        for p in params:
            tensors.append(theta[start : start + p.numel()].reshape(p.shape))
            start += p.numel()
        w1, b1, w2, b2 = tensors
        hidden = nn.functional.linear(x, w1, b1, activation="tanh")
        return loss_fn(nn.functional.linear(hidden, w2, b2), y)

    theta = np.concatenate([p.detach().numpy().reshape(-1) for p in params])
    spectrum = np.linalg.eigvalsh(hessian(loss_of, fastdl.tensor(theta)).numpy())
    expected = spectrum[np.argmax(np.abs(spectrum))]
    estimate = hessian_top_eigenvalue(model, loss_fn, (x, y), iters=200)
    assert estimate == pytest.approx(expected, rel=1e-4)
