"""The lean per-op path: what its shortcuts must keep equal to the general path.

Elementwise output shapes and dtypes without NumPy's broadcast helpers, the one-step
cell Functions against the layer over a length-1 sequence, the small-tensor sigmoid
against the reference, and the engine's iterative walk on a long chain.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.backends import get
from fastdl.ops._util import run

F64 = fastdl.float64


@pytest.mark.parametrize(
    "shapes",
    [((3,), (3,)), ((), (3,)), ((3,), ()), ((2, 1), (3,)), ((), ()), ((1, 3), (2, 1), (2, 3))],
)
def test_run_shape_and_dtype_match_numpy(shapes):
    arrays = [np.ones(s, np.float32) for s in shapes]
    out = run(lambda *a: np.add.reduce(np.broadcast_arrays(*a[:-1]), out=a[-1]), *arrays)
    assert out.shape == np.broadcast_shapes(*shapes) and out.dtype == np.float32
    mixed = run(get("reference").add, np.ones(3, np.float32), np.ones((), np.float64))
    assert mixed.dtype == np.result_type(np.ones(3, np.float32), np.ones((), np.float64))


def test_run_refuses_shapes_that_do_not_broadcast():
    with pytest.raises(fastdl.ShapeError):
        fastdl.tensor([1.0, 2.0]) * fastdl.tensor([1.0, 2.0, 3.0])


def test_mixed_dtype_operands_still_promote():
    a = fastdl.tensor([1.0, 2.0])
    assert (a * fastdl.tensor([2, 3])).dtype == np.float32
    assert (a.double() + a).dtype == np.float64
    assert (fastdl.tensor([3]) / fastdl.tensor([2])).tolist() == [1.5]


def _leaf(rng, *shape):
    return fastdl.tensor(rng.standard_normal(shape), dtype=F64, requires_grad=True)


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_cell_step_equals_the_layer_on_one_step(backend, kind):
    rng = np.random.default_rng(0)
    fastdl.manual_seed(3)
    cell = getattr(nn, f"{kind}Cell")(3, 4, dtype=F64)
    layer = getattr(nn, kind)(3, 4, dtype=F64)
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    # a strided (transposed) input takes the same path as a contiguous one
    x = fastdl.tensor(rng.standard_normal((3, 2)), dtype=F64).t().requires_grad_()
    x_seq = _leaf(rng, 1, 2, 3)
    with fastdl.no_grad():
        x_seq.copy_(x.detach().reshape(1, 2, 3))
    states = [_leaf(rng, 2, 4) for _ in range(2 if kind == "LSTM" else 1)]
    states_seq = [s.detach().reshape(1, 2, 4).requires_grad_() for s in states]
    with fastdl.use_backend(backend):
        if kind == "LSTM":
            h, c = cell(x, tuple(states))
            loss = (h * h).sum() + (c * 3.0).sum()
            _, (h1, c1) = layer(x_seq, tuple(states_seq))
            loss_seq = (h1 * h1).sum() + (c1 * 3.0).sum()
        else:
            loss = (cell(x, states[0]) ** 2).sum()
            _, h1 = layer(x_seq, states_seq[0])
            loss_seq = (h1**2).sum()
        loss.backward()
        loss_seq.backward()
    np.testing.assert_allclose(loss.item(), loss_seq.item(), rtol=1e-13)
    np.testing.assert_allclose(x.grad.numpy(), x_seq.grad.numpy()[0], rtol=1e-12, atol=1e-14)
    for s, s_seq in zip(states, states_seq):
        np.testing.assert_allclose(s.grad.numpy(), s_seq.grad.numpy()[0], rtol=1e-12, atol=1e-14)
    for p, q in zip(cell.parameters(), layer.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_cell_loop_writes_into_zeroed_buffers_and_accumulates():
    rng = np.random.default_rng(1)
    fastdl.manual_seed(4)
    cell = nn.LSTMCell(3, 2, dtype=F64)
    xs = [fastdl.tensor(rng.standard_normal((2, 3)), dtype=F64) for _ in range(4)]

    def loss():
        h = c = fastdl.zeros(2, 2, dtype=F64)
        total = 0
        for x in xs:
            h, c = cell(x, (h, c))
            total = total + h.sum()
        return total

    loss().backward()
    first = [p.grad.numpy().copy() for p in cell.parameters()]
    cell.zero_grad()
    loss().backward()
    loss().backward()
    for p, g in zip(cell.parameters(), first):
        np.testing.assert_allclose(p.grad.numpy(), 2 * g, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [5, 4096, 4097])
def test_sigmoid_small_and_large_paths_match_the_reference(dtype, size):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(size) * 40).astype(dtype)
    x[:5] = [np.nan, np.inf, -np.inf, 0.0, -200.0]
    numba, reference = get("numba"), get("reference")
    out, expected = np.empty_like(x), np.empty_like(x)
    numba.act_forward(x, "sigmoid", 0.0, out)
    reference.act_forward(x, "sigmoid", 0.0, expected)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=np.finfo(dtype).tiny)
    in_place = x.copy()
    numba.act_forward(in_place, "sigmoid", 0.0, in_place)
    np.testing.assert_array_equal(in_place, out)


def test_backward_through_a_long_chain():
    x = fastdl.tensor([1.0], dtype=F64, requires_grad=True)
    y = x
    for _ in range(3000):  # deeper than Python's recursion limit
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**3000], rtol=1e-10)


def test_grad_mode_defaults_hold_in_a_new_thread():
    import threading

    seen = {}

    def probe():
        seen["grad"] = fastdl.is_grad_enabled()
        seen["anomaly"] = fastdl.autograd.grad_mode.anomaly_enabled()

    with fastdl.no_grad(), fastdl.autograd.detect_anomaly():
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
    assert seen == {"grad": True, "anomaly": False}
