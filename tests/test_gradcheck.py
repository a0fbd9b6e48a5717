"""Every differentiable op's backward against float64 central differences, on every
CPU backend."""

import zlib

import numpy as np
import pytest

import fastdl
import fastdl.nn.functional as F
from fastdl.autograd import gradcheck


def _leaf(rng, *shape, positive=False):
    data = rng.standard_normal(shape)
    if positive:
        data = np.abs(data) + 0.5
    return fastdl.tensor(data, dtype=fastdl.float64, requires_grad=True)


def _probs(rng, n, c):
    z = rng.standard_normal((n, c))
    return fastdl.tensor(np.exp(z) / np.exp(z).sum(1, keepdims=True), dtype=fastdl.float64)


def _labels(rng, n, c):
    return fastdl.tensor(rng.integers(0, c, n))


def _fused_linear(act):
    return lambda x, w, b: F.linear(x, w, b, activation=act)


# name -> (function, input builder)
CASES = {
    "add_broadcast": (lambda a, b: a + b, lambda r: [_leaf(r, 3, 4), _leaf(r, 4)]),
    "sub_broadcast": (lambda a, b: a - b, lambda r: [_leaf(r, 3, 1), _leaf(r, 3, 4)]),
    "mul_broadcast": (lambda a, b: a * b, lambda r: [_leaf(r, 2, 3, 4), _leaf(r, 3, 1)]),
    "div": (lambda a, b: a / b, lambda r: [_leaf(r, 3, 4), _leaf(r, 3, 4, positive=True)]),
    "pow_scalar": (lambda a: a**3, lambda r: [_leaf(r, 3, 4)]),
    "pow_tensor": (lambda a, b: a**b, lambda r: [_leaf(r, 3, 4, positive=True), _leaf(r, 4)]),
    "rsub_rdiv": (lambda a: (1.0 - a) / (2.0 + a * a), lambda r: [_leaf(r, 5)]),
    "neg": (lambda a: -a, lambda r: [_leaf(r, 3, 4)]),
    "exp": (lambda a: a.exp(), lambda r: [_leaf(r, 3, 4)]),
    "log": (lambda a: a.log(), lambda r: [_leaf(r, 3, 4, positive=True)]),
    "sqrt": (lambda a: a.sqrt(), lambda r: [_leaf(r, 3, 4, positive=True)]),
    "abs": (lambda a: a.abs(), lambda r: [_leaf(r, 3, 4)]),
    "clamp": (lambda a: a.clamp(min=-0.5, max=0.7), lambda r: [_leaf(r, 4, 5)]),
    "where": (
        lambda a, b: fastdl.where(a > b, a, b * 2.0),
        lambda r: [_leaf(r, 3, 4), _leaf(r, 4)],
    ),
    "sum_all": (lambda a: a.sum(), lambda r: [_leaf(r, 3, 4)]),
    "sum_dim_keepdim": (lambda a: a.sum(dim=1, keepdim=True), lambda r: [_leaf(r, 3, 4, 2)]),
    "sum_dims": (lambda a: a.sum(dim=(0, 2)), lambda r: [_leaf(r, 3, 4, 2)]),
    "mean_axis": (lambda a: a.mean(axis=0), lambda r: [_leaf(r, 3, 4)]),
    "max_all": (lambda a: a.max(), lambda r: [_leaf(r, 3, 4)]),
    "max_dim": (lambda a: a.max(dim=1)[0], lambda r: [_leaf(r, 3, 4)]),
    "max_dim_keepdim": (lambda a: a.max(0, keepdim=True)[0], lambda r: [_leaf(r, 3, 4)]),
    "matmul_2d": (lambda a, b: a @ b, lambda r: [_leaf(r, 3, 4), _leaf(r, 4, 2)]),
    "matmul_batched": (lambda a, b: a @ b, lambda r: [_leaf(r, 2, 3, 4), _leaf(r, 4, 2)]),
    "matmul_vector": (lambda a, b: a @ b, lambda r: [_leaf(r, 4), _leaf(r, 4, 3)]),
    "matmul_matvec": (lambda a, b: a @ b, lambda r: [_leaf(r, 3, 4), _leaf(r, 4)]),
    "reshape": (lambda a: a.reshape(2, -1) * 1.5, lambda r: [_leaf(r, 3, 4)]),
    "transpose": (lambda a: a.transpose(0, 1) @ a, lambda r: [_leaf(r, 3, 4)]),
    "permute_T": (lambda a: a.permute(2, 0, 1) + a.T.sum(), lambda r: [_leaf(r, 2, 3, 4)]),
    "getitem": (lambda a: a[1:, ::2] * a[0, 0], lambda r: [_leaf(r, 3, 4)]),
    "getitem_repeated": (lambda a: a[np.array([0, 2, 0, 0])], lambda r: [_leaf(r, 3, 4)]),
    "cat": (lambda a, b: fastdl.cat([a, b, a], dim=1), lambda r: [_leaf(r, 3, 2), _leaf(r, 3, 4)]),
    "stack": (lambda a, b: fastdl.stack([a, b], dim=1), lambda r: [_leaf(r, 3, 4), _leaf(r, 3, 4)]),
    "relu": (F.relu, lambda r: [_leaf(r, 4, 5)]),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.1), lambda r: [_leaf(r, 4, 5)]),
    "leaky_relu_negative_slope": (lambda a: F.leaky_relu(a, -0.3), lambda r: [_leaf(r, 4, 5)]),
    "sigmoid": (F.sigmoid, lambda r: [_leaf(r, 4, 5)]),
    "tanh": (F.tanh, lambda r: [_leaf(r, 4, 5)]),
    "softmax_dim1": (lambda a: F.softmax(a, dim=1), lambda r: [_leaf(r, 4, 5)]),
    "softmax_dim0": (lambda a: F.softmax(a, dim=0), lambda r: [_leaf(r, 4, 5, 2)]),
    "log_softmax": (lambda a: F.log_softmax(a, dim=-1), lambda r: [_leaf(r, 4, 5)]),
    "linear": (F.linear, lambda r: [_leaf(r, 5, 3), _leaf(r, 4, 3), _leaf(r, 4)]),
    "linear_no_bias_3d": (F.linear, lambda r: [_leaf(r, 2, 5, 3), _leaf(r, 4, 3)]),
    **{
        f"linear_{act}": (
            _fused_linear(act),
            lambda r: [_leaf(r, 5, 3), _leaf(r, 4, 3), _leaf(r, 4)],
        )
        for act in ("relu", "leaky_relu", "sigmoid", "tanh")
    },
    "mse_target_grad": (F.mse_loss, lambda r: [_leaf(r, 4, 3), _leaf(r, 4, 3)]),
    "l1_sum": (
        lambda a, b: F.l1_loss(a, b, reduction="sum"),
        lambda r: [_leaf(r, 4, 3), _leaf(r, 4, 3)],
    ),
    "bce": (
        lambda z: F.binary_cross_entropy(
            z.sigmoid(), fastdl.tensor([[0.0, 1.0, 0.3]] * 4, dtype=fastdl.float64)
        ),
        lambda r: [_leaf(r, 4, 3)],
    ),
    "bce_with_logits_none": (
        lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction="none"),
        lambda r: [_leaf(r, 4, 3), fastdl.tensor(r.uniform(size=(4, 3)))],
    ),
    "cross_entropy_sparse": (
        lambda z, y: F.cross_entropy(z, y),
        lambda r: [_leaf(r, 5, 4), _labels(r, 5, 4)],
    ),
    "cross_entropy_soft_sum": (
        lambda z, p: F.cross_entropy(z, p, reduction="sum"),
        lambda r: [_leaf(r, 5, 4), _probs(r, 5, 4)],
    ),
    "cross_entropy_none": (
        lambda z, y: F.cross_entropy(z, y, reduction="none"),
        lambda r: [_leaf(r, 5, 4), _labels(r, 5, 4)],
    ),
    "nll": (
        lambda z, y: F.nll_loss(F.log_softmax(z, dim=1), y),
        lambda r: [_leaf(r, 5, 4), _labels(r, 5, 4)],
    ),
}


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name, backend):
    fn, build = CASES[name]
    with fastdl.use_backend(backend):
        inputs = build(np.random.default_rng(zlib.crc32(name.encode())))
        assert gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_gradcheck_detects_a_wrong_gradient():
    class Wrong(fastdl.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.saved_tensors[0]  # missing the factor 2

    x = fastdl.randn(3, dtype=fastdl.float64, requires_grad=True)
    with pytest.raises(AssertionError, match="gradcheck failed"):
        gradcheck(Wrong.apply, [x])
