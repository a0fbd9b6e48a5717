"""Embedding: lookup forward, dense backward with repeated indices, padding_idx, errors."""

import numpy as np
import pytest

import fastdl
import fastdl.nn.functional as F
from fastdl import nn
from fastdl.autograd import gradcheck

BACKENDS = ["reference", "numba"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_backward_with_repeated_indices(backend):
    fastdl.manual_seed(0)
    emb = nn.Embedding(6, 4)
    table = emb.weight.detach().numpy().copy()
    idx = np.array([[1, 3, 1], [5, 1, 0]])
    grad = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    with fastdl.use_backend(backend):
        out = emb(fastdl.tensor(idx))
        out.backward(fastdl.tensor(grad))
    assert out.shape == (2, 3, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out.detach().numpy(), table[idx])
    expected = np.zeros((6, 4), np.float32)
    np.add.at(expected, idx, grad)  # row 1 appears three times and accumulates
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_idx_row_is_zero_and_gets_no_gradient(backend):
    emb = nn.Embedding(5, 3, padding_idx=2)
    np.testing.assert_array_equal(emb.weight.detach().numpy()[2], np.zeros(3))
    idx = np.array([2, 0, 2, 4])
    with fastdl.use_backend(backend):
        out = emb(fastdl.tensor(idx))
        (out * 3.0).sum().backward()
    np.testing.assert_array_equal(out.detach().numpy()[[0, 2]], np.zeros((2, 3)))
    expected = np.zeros((5, 3), np.float32)
    expected[[0, 4]] = 3.0
    np.testing.assert_array_equal(emb.weight.grad.numpy(), expected)
    assert nn.Embedding(5, 3, padding_idx=-1).padding_idx == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_embedding_gradcheck(backend):
    rng = np.random.default_rng(1)
    weight = fastdl.tensor(rng.standard_normal((5, 3)), dtype=fastdl.float64, requires_grad=True)
    idx = np.array([[0, 4], [4, 2]])
    with fastdl.use_backend(backend):
        assert gradcheck(lambda w: F.embedding(idx, w) ** 2, [weight], atol=1e-6, rtol=1e-5)


def test_init_is_standard_normal_and_seeded():
    fastdl.manual_seed(3)
    a = nn.Embedding(200, 50).weight.detach().numpy()
    fastdl.manual_seed(3)
    b = nn.Embedding(200, 50).weight.detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean()) < 0.05 and abs(a.std() - 1.0) < 0.05


def test_bad_indices_and_repr():
    emb = nn.Embedding(4, 2)
    with pytest.raises(ValueError, match=r"Embedding: indices must lie in \[0, 4\)"):
        emb(fastdl.tensor([0, 4]))
    with pytest.raises(ValueError, match="Embedding"):
        emb(fastdl.tensor([-1]))
    with pytest.raises(TypeError, match="integers"):
        emb(fastdl.tensor([0.5]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)
    assert emb.weight.grad is None
    assert repr(emb) == "Embedding(4, 2)"
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"
    assert set(emb.state_dict()) == {"weight"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_double_backward_keeps_padding_row_zero(backend):
    rng = np.random.default_rng(2)
    w = fastdl.tensor(rng.standard_normal((4, 2)), dtype=fastdl.float64, requires_grad=True)
    idx = np.array([0, 3, 3, 1])
    direction = fastdl.tensor(rng.standard_normal((4, 2)))

    def grad_dot(w):
        with fastdl.autograd.enable_grad():
            (g,) = fastdl.autograd.grad(
                (F.embedding(idx, w, padding_idx=1) ** 3).sum(), [w], create_graph=True
            )
            assert np.all(g.detach().numpy()[1] == 0.0)
            return (g * direction).sum()

    with fastdl.use_backend(backend):
        assert gradcheck(grad_dot, [w], atol=1e-6, rtol=1e-5)
