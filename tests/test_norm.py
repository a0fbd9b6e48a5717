"""LayerNorm and BatchNorm: gradients, values against NumPy, running statistics, modes."""

import numpy as np
import pytest

import fastdl
import fastdl.nn.functional as F
from fastdl import nn
from fastdl.autograd import gradcheck

BACKENDS = ["reference", "numba"]


def _leaf(rng, *shape, scale=1.0, shift=0.0):
    data = scale * rng.standard_normal(shape) + shift
    return fastdl.tensor(data, dtype=fastdl.float64, requires_grad=True)


def _np_layer_norm(x, d_axes, w=None, b=None, eps=1e-5):
    mean = x.mean(axis=d_axes, keepdims=True)
    var = x.var(axis=d_axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def _np_batch_norm(x, mean, var, w, b, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return y * np.reshape(w, shape) + np.reshape(b, shape)


# -- gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_gradcheck(backend, affine):
    rng = np.random.default_rng(1)
    with fastdl.use_backend(backend):
        x = _leaf(rng, 3, 2, 4, 5, scale=2.0, shift=1.0)
        params = [_leaf(rng, 4, 5, shift=1.0), _leaf(rng, 4, 5)] if affine else []

        def fn(x, *wb):
            return F.layer_norm(x, (4, 5), *wb)

        assert gradcheck(fn, [x, *params], eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 2, 3)])
def test_batch_norm_train_gradcheck(backend, shape):
    rng = np.random.default_rng(2)
    with fastdl.use_backend(backend):
        x = _leaf(rng, *shape, scale=2.0, shift=-1.0)
        w, b = _leaf(rng, 3, shift=1.0), _leaf(rng, 3)
        rm = fastdl.zeros(3, dtype=fastdl.float64)
        rv = fastdl.ones(3, dtype=fastdl.float64)

        def fn(x, w, b):
            return F.batch_norm(x, rm, rv, w, b, training=True)

        assert gradcheck(fn, [x, w, b], eps=1e-6, atol=1e-6, rtol=1e-5)
        assert gradcheck(
            lambda x: F.batch_norm(x, None, None, training=True), [x], atol=1e-6, rtol=1e-5
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_norm_eval_gradcheck(backend):
    rng = np.random.default_rng(3)
    with fastdl.use_backend(backend):
        x = _leaf(rng, 4, 3, 2)
        w, b = _leaf(rng, 3), _leaf(rng, 3)
        rm = fastdl.tensor(rng.standard_normal(3))
        rv = fastdl.tensor(rng.uniform(0.5, 2.0, 3))
        fn = lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False)  # noqa: E731
        assert gradcheck(fn, [x, w, b], eps=1e-6, atol=1e-6, rtol=1e-5)


# -- values -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_values(backend, dtype):
    rng = np.random.default_rng(4)
    x = (3 * rng.standard_normal((5, 7, 8)) + 10).astype(dtype)
    w, b = rng.standard_normal(8).astype(dtype), rng.standard_normal(8).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    with fastdl.use_backend(backend):
        out = F.layer_norm(fastdl.tensor(x), 8, fastdl.tensor(w), fastdl.tensor(b))
        bare = nn.LayerNorm((7, 8), eps=1e-3, elementwise_affine=False)(fastdl.tensor(x))
    assert out.dtype == dtype and out.shape == x.shape
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(
        out.detach().numpy(), _np_layer_norm(x64, -1, w, b), rtol=tol, atol=tol
    )
    expected = _np_layer_norm(x64, (1, 2), eps=1e-3)
    np.testing.assert_allclose(bare.numpy(), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_norm_train_values_and_running_stats(backend):
    rng = np.random.default_rng(5)
    x = 2 * rng.standard_normal((6, 4, 3, 5)) + 3
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    rm0, rv0 = rng.standard_normal(4), rng.uniform(0.5, 2.0, 4)
    rm, rv = fastdl.tensor(rm0.copy()), fastdl.tensor(rv0.copy())
    with fastdl.use_backend(backend):
        out = F.batch_norm(
            fastdl.tensor(x), rm, rv, fastdl.tensor(w), fastdl.tensor(b), True, 0.3, 1e-5
        )
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(out.detach().numpy(), _np_batch_norm(x, mean, var, w, b), atol=1e-12)
    n = 6 * 3 * 5
    # PyTorch's rule: the running variance takes the unbiased batch variance.
    np.testing.assert_allclose(rm.numpy(), 0.7 * rm0 + 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.7 * rv0 + 0.3 * var * n / (n - 1), rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_norm_eval_uses_running_stats(backend):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    rm0, rv0 = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    rm = fastdl.tensor(rm0.astype(np.float32))
    rv = fastdl.tensor(rv0.astype(np.float32))
    with fastdl.use_backend(backend):
        out = F.batch_norm(fastdl.tensor(x), rm, rv, training=False)
    expected = (x - rm0.astype(np.float32)) / np.sqrt(rv0.astype(np.float32) + 1e-5)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rm.numpy(), rm0.astype(np.float32))  # untouched


# -- modules ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_batchnorm2d_module_train_then_eval(backend):
    rng = np.random.default_rng(7)
    bn = nn.BatchNorm2d(3).double()
    assert bn.training
    np.testing.assert_array_equal(bn.weight.detach().numpy(), np.ones(3))
    np.testing.assert_array_equal(bn.bias.detach().numpy(), np.zeros(3))
    rm, rv = np.zeros(3), np.ones(3)
    with fastdl.use_backend(backend):
        for _ in range(3):
            x = 1.5 * rng.standard_normal((4, 3, 2, 2)) + 0.5
            out = bn(fastdl.tensor(x))
            n = 4 * 2 * 2
            mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
            rm = 0.9 * rm + 0.1 * mean
            rv = 0.9 * rv + 0.1 * var * n / (n - 1)
            np.testing.assert_allclose(
                out.detach().numpy(),
                _np_batch_norm(x, mean, var, np.ones(3), np.zeros(3)),
                atol=1e-12,
            )
        assert int(bn.num_batches_tracked.item()) == 3
        np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-12)
        bn.eval()
        x = rng.standard_normal((2, 3, 2, 2))
        out = bn(fastdl.tensor(x))
    np.testing.assert_allclose(
        out.detach().numpy(), _np_batch_norm(x, rm, rv, np.ones(3), np.zeros(3)), atol=1e-12
    )
    assert int(bn.num_batches_tracked.item()) == 3


def test_batchnorm1d_momentum_none_is_cumulative_average():
    rng = np.random.default_rng(8)
    bn = nn.BatchNorm1d(2, momentum=None).double()
    batches = [rng.standard_normal((5, 2)) + k for k in range(3)]
    for x in batches:
        bn(fastdl.tensor(x))
    means = np.mean([x.mean(axis=0) for x in batches], axis=0)
    np.testing.assert_allclose(bn.running_mean.numpy(), means, rtol=1e-12)
    variances = np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0)
    # running_var starts at 1: with factor 1 / t the first update replaces it entirely.
    np.testing.assert_allclose(bn.running_var.numpy(), variances, rtol=1e-12)


def test_batchnorm_module_backward_and_float32():
    bn = nn.BatchNorm1d(4)
    x = fastdl.randn(8, 4, 3, requires_grad=True)
    bn(x).sum().backward()
    assert x.grad.shape == (8, 4, 3) and bn.weight.grad.shape == (4,)
    # d(sum of normalised values)/dx is 0; d/dbias is the count per channel.
    np.testing.assert_allclose(x.grad.numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(bn.bias.grad.numpy(), np.full(4, 24.0))
    assert bn.running_mean.dtype == np.float32


def test_batchnorm_without_affine_or_running_stats():
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bn.parameters()) == [] and bn.state_dict() == {}
    bn.eval()  # no running stats: batch statistics in eval mode too
    x = np.random.default_rng(9).standard_normal((6, 3)).astype(np.float32)
    out = bn(fastdl.tensor(x)).detach().numpy()
    expected = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_state_dict_keys_match_pytorch():
    keys = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    for layer in (nn.BatchNorm1d(5), nn.BatchNorm2d(5)):
        state = layer.state_dict()
        assert set(state) == keys
        assert state["num_batches_tracked"].shape == ()
        assert state["num_batches_tracked"].dtype == np.int64
        layer.load_state_dict(state)
    assert set(nn.LayerNorm(5).state_dict()) == {"weight", "bias"}
    model = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5))
    assert "1.num_batches_tracked" in model.state_dict()


def test_repr_matches_pytorch():
    assert repr(nn.BatchNorm2d(16)) == (
        "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    )
    assert repr(nn.LayerNorm(8)) == "LayerNorm((8,), eps=1e-05, elementwise_affine=True)"


# -- bad input ----------------------------------------------------------------------------


def test_bad_input_raises_before_any_kernel():
    bn1, bn2, ln = nn.BatchNorm1d(3), nn.BatchNorm2d(3), nn.LayerNorm((4, 5))
    with pytest.raises(ValueError, match="BatchNorm1d.*4D"):
        bn1(fastdl.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="BatchNorm2d.*3D"):
        bn2(fastdl.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 3 channels.*\(2, 5\)"):
        bn1(fastdl.randn(2, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn1(fastdl.randn(1, 3))
    assert int(bn1.num_batches_tracked.item()) == 0
    np.testing.assert_array_equal(bn1.running_mean.numpy(), np.zeros(3))
    with pytest.raises(ValueError, match=r"LayerNorm.*\(3, 5, 4\).*\(4, 5\)"):
        ln(fastdl.randn(3, 5, 4))
    with pytest.raises(ValueError, match="layer_norm.*normalized_shape"):
        F.layer_norm(fastdl.randn(3, 4), (5,))
    with pytest.raises(ValueError, match="layer_norm: weight"):
        F.layer_norm(fastdl.randn(3, 4), 4, fastdl.ones(3))
    with pytest.raises(ValueError, match="batch_norm: running_mean"):
        F.batch_norm(fastdl.randn(4, 3), fastdl.zeros(2), fastdl.ones(2))
    with pytest.raises(ValueError, match="batch_norm: input must have at least 2 dims"):
        F.batch_norm(fastdl.randn(4), None, None, training=True)
    with pytest.raises(ValueError, match="required when not training"):
        F.batch_norm(fastdl.randn(4, 3), None, None)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["layer", "batch"])
def test_double_backward(backend, kind):
    rng = np.random.default_rng(10)
    with fastdl.use_backend(backend):
        x = _leaf(rng, 4, 3, 2)
        if kind == "layer":
            w, b = _leaf(rng, 2), _leaf(rng, 2)
            fn = lambda x, w, b: F.layer_norm(x, 2, w, b)  # noqa: E731
        else:
            w, b = _leaf(rng, 3), _leaf(rng, 3)
            fn = lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)  # noqa: E731
        weights = fastdl.tensor(rng.standard_normal((4, 3, 2)))
        directions = [fastdl.tensor(rng.standard_normal(t.shape)) for t in (x, w, b)]

        def grad_dot(x, w, b):
            with fastdl.autograd.enable_grad():
                grads = fastdl.autograd.grad(
                    (fn(x, w, b) * weights).sum(), [x, w, b], create_graph=True
                )
                return sum((g * v).sum() for g, v in zip(grads, directions)) + (x * 0.0).sum()

        assert gradcheck(grad_dot, [x, w, b], atol=1e-5, rtol=1e-4)
