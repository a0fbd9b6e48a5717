"""Dropout (inverted, Philox masks) and residual connections."""

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.nn import functional as F


@pytest.mark.parametrize("dtype", [fastdl.float32, fastdl.float64])
def test_dropout_mask_scaling_and_gradient(dtype):
    fastdl.manual_seed(0)
    x = fastdl.randn(200, 300, dtype=dtype, requires_grad=True)
    y = F.dropout(x, p=0.3)
    kept = y.detach().numpy() != 0
    # survivors are scaled by 1/(1-p); the dropped fraction is close to p
    np.testing.assert_allclose(y.detach().numpy()[kept], x.detach().numpy()[kept] / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.01
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)


def test_dropout_same_seed_same_mask_on_every_backend():
    masks = []
    for backend in ("numba", "reference"):
        with fastdl.use_backend(backend):
            fastdl.manual_seed(42)
            masks.append(F.dropout(fastdl.ones(64, 33), p=0.5).numpy() != 0)
    np.testing.assert_array_equal(masks[0], masks[1])
    fastdl.manual_seed(43)
    assert (F.dropout(fastdl.ones(64, 33), p=0.5).numpy() != 0).tolist() != masks[0].tolist()


def test_dropout_module_eval_is_identity_and_edge_probabilities():
    layer = nn.Dropout(0.5)
    x = fastdl.randn(4, 5)
    layer.eval()
    assert layer(x) is x
    layer.train()
    assert np.all(nn.Dropout(1.0)(x).numpy() == 0)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    assert repr(layer) == "Dropout(p=0.5)"
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(bad)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.dropout(fastdl.tensor([1, 2]), 0.5)


def test_residual_adds_the_shortcut_and_backpropagates_through_both():
    fastdl.manual_seed(0)
    block = nn.Sequential(nn.Linear(3, 3, dtype=fastdl.float64), nn.Tanh())
    res = nn.Residual(block)
    x = fastdl.randn(5, 3, dtype=fastdl.float64, requires_grad=True)
    np.testing.assert_allclose(res(x).detach().numpy(), (block(x) + x).detach().numpy())
    assert fastdl.autograd.gradcheck(lambda t: res(t), [x])
    assert [name for name, _ in res.named_parameters()] == ["block.0.weight", "block.0.bias"]


def test_residual_shape_mismatch_is_a_clear_error_and_projection_works():
    x = fastdl.randn(2, 3)
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(2, 3\)"):
        nn.Residual(nn.Linear(3, 4))(x)
    projected = nn.Residual(nn.Linear(3, 4), shortcut=nn.Linear(3, 4, bias=False))
    assert projected(x).shape == (2, 4)
    assert len(list(projected.parameters())) == 3
