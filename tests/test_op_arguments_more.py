"""Edge-case op arguments: PyTorch's result or a clear TypeError/ValueError naming the
argument, the same on the reference, Numba and CUDA backends.

Expected values are PyTorch's (torch 2.x), written out so the test needs no torch.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastdl
import fastdl.nn.functional as F
from fastdl import nn

BACKENDS = ["reference", "numba", "cuda"]


def _on(backend: str, array: np.ndarray, requires_grad: bool = False) -> fastdl.Tensor:
    t = fastdl.tensor(array)
    if backend == "cuda":
        t = t.cuda()
    return t.requires_grad_(requires_grad)


def _run(backend: str, fn):
    if backend == "cuda":
        return fn()
    with fastdl.use_backend(backend):
        return fn()


def _host(t: fastdl.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", [(3, 0), (0, 2), (0, 0)])
def test_conv2d_zero_width_kernel_is_refused(backend, kernel):
    x = _on(backend, np.ones((1, 2, 5, 5), np.float32))
    w = _on(backend, np.ones((3, 2, *kernel), np.float32))
    with pytest.raises(ValueError, match="weight's kernel size must be greater than zero"):
        _run(backend, lambda: F.conv2d(x, w))


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_batch_conv_pool_lstm_give_empty_outputs_and_gradients(backend):
    x = _on(backend, np.ones((0, 2, 4, 4), np.float32), requires_grad=True)
    w = _on(backend, np.ones((3, 2, 3, 3), np.float32), requires_grad=True)

    def forward_backward():
        y = F.max_pool2d(F.conv2d(x, w, padding=1), 2)
        y.sum().backward()
        return y

    y = _run(backend, forward_backward)
    assert y.shape == (0, 3, 2, 2)
    assert x.grad.shape == (0, 2, 4, 4)
    np.testing.assert_array_equal(_host(w.grad), np.zeros((3, 2, 3, 3), np.float32))

    fastdl.manual_seed(0)
    lstm = nn.LSTM(3, 4, batch_first=True)
    if backend == "cuda":
        lstm = lstm.cuda()
    seq = _on(backend, np.ones((0, 5, 3), np.float32), requires_grad=True)

    def lstm_step():
        out, (h, c) = lstm(seq)
        (out.sum() + h.sum() + c.sum()).backward()
        return out, h

    out, h = _run(backend, lstm_step)
    assert out.shape == (0, 5, 4) and h.shape == (1, 0, 4)
    assert seq.grad.shape == (0, 5, 3)
    np.testing.assert_array_equal(_host(lstm.weight_ih_l0.grad), np.zeros((16, 3), np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("data", "bounds", "expected", "dtype"),
    [
        ([1, 2, 3], (0.5, 2.5), [1.0, 2.0, 2.5], np.float32),  # float bounds lift int
        ([1, 2, 3], (None, 1.5), [1.0, 1.5, 1.5], np.float32),
        ([1, 2, 3], (2, None), [2, 2, 3], np.int64),
        ([1, 2, 3], (float("nan"), None), [np.nan] * 3, np.float32),
        ([True, False], (0, 1), [1, 0], np.int64),  # int bounds lift bool
        ([0.25, 4.0], (1, 2), [1.0, 2.0], np.float64),  # int bounds keep float64
    ],
)
def test_clamp_promotes_like_pytorch(backend, data, bounds, expected, dtype):
    x = _on(backend, np.array(data))
    y = _run(backend, lambda: x.clamp(*bounds))
    assert y.dtype == dtype
    np.testing.assert_array_equal(_host(y), np.array(expected, dtype))


@pytest.mark.parametrize(
    ("bounds", "error", "match"),
    [
        ((2**70, None), ValueError, "min=.* does not fit"),
        ((None, -(2**64)), ValueError, "max=.* does not fit"),
        (("a", None), TypeError, "min must be a real number"),
        ((None, [1]), TypeError, "max must be a real number"),
    ],
)
def test_clamp_refuses_bounds_it_cannot_use(bounds, error, match):
    with pytest.raises(error, match=match):
        fastdl.tensor([1, 2, 3]).clamp(*bounds)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_and_argmax_over_dim_of_a_0d_tensor(backend, dim, keepdim):
    x = _on(backend, np.array(3.5, np.float32), requires_grad=True)

    def run():
        values, indices = x.max(dim=dim, keepdim=keepdim)
        values.backward()
        return values, indices, x.argmax(dim=dim, keepdim=keepdim)

    values, indices, argmax = _run(backend, run)
    assert values.shape == indices.shape == argmax.shape == ()
    assert _host(values) == np.float32(3.5) and _host(indices) == 0 and _host(argmax) == 0
    assert _host(x.grad) == np.float32(1.0)


@pytest.mark.parametrize("dim", [1, -2])
def test_max_over_a_missing_dim_of_a_0d_tensor_is_an_index_error(dim):
    with pytest.raises(IndexError, match=f"dim {dim} is out of range"):
        fastdl.tensor(3.0).max(dim=dim)


@pytest.mark.parametrize(
    "data",
    [[-(2**63) - 1], [[1, 2], [2**64, 3]], -(2**80), np.uint64(2**64 - 1)],
)
def test_integers_outside_int64_are_a_value_error(data):
    with pytest.raises(ValueError, match="int64"):
        fastdl.tensor(data)


def test_int64_minimum_still_converts():
    assert fastdl.tensor([-(2**63)]).numpy()[0] == -(2**63)
