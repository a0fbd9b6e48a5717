"""Recurrent benchmarks: LSTM, GRU and RNN forward + backward next to PyTorch.

* ``lstm-LxNxIxH`` one training step of a one-layer ``nn.LSTM(I, H)`` on a float32
  sequence (L, N, I) that requires grad: forward, then backward of a fixed upstream
  gradient on the output sequence (grads of the input and of all four parameters).
  fastdl runs one autograd node per layer-direction: one batched GEMM call for the
  input projection of all steps, per step one OpenBLAS GEMM and one fused Numba
  pointwise kernel, and after the backward loop one GEMM per weight gradient. torch runs its
  native CPU LSTM (oneDNN) with BENCH_THREADS intra-op threads. Each side zeroes the
  gradients its library's default way (``zero_grad()``).
* ``gru-LxNxIxH`` the same for ``nn.GRU(I, H)``. torch has no fused CPU GRU for
  training: per step an addmm and the gate math as separate ops and autograd nodes
  (one training step here: 65 ``mm``, 33 ``addmm`` and 223 ``add_`` calls). fastdl runs
  the LSTM's structure with 3H gate rows; its GEMMs are most of the cost (the fused
  pointwise passes take about 1 ms of a training step, single-threaded).
* ``rnn-LxNxIxH`` the same for ``nn.RNN(I, H)`` (tanh).

Where the time goes: the LSTM step's 2.0 GFLOP of GEMMs are small per time step
(32 rows), and fastdl's fused pointwise kernels run single-threaded between them,
while torch runs oneDNN's fused RNN primitive (GEMMs and gate math) on every core.
torch has no fused CPU kernel for the tanh RNN. A busy neighbour hurts this loop of
64 small multi-threaded GEMMs badly: compare runs on an idle machine only.

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_rnn.py
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import record_work, warm_then_time

SHAPES = [(32, 32, 64, 256)]
FASTDL = ("numba", "reference")
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}  # weight rows per hidden unit


def _shape_id(shape) -> str:
    return "x".join(str(s) for s in shape)


def _step_torch(torch, kind, shape, x, grad):
    length, batch, features, hidden = shape
    layer = getattr(torch.nn, kind)(features, hidden)
    tx = torch.from_numpy(x).requires_grad_()
    tgrad = torch.from_numpy(grad)

    def step():
        tx.grad = None
        layer.zero_grad()  # torch's default: set_to_none=True
        out, _ = layer(tx)
        out.backward(tgrad)
        return tx.grad.numpy()

    return step


def _step_fastdl(backend, kind, shape, x, grad):
    import fastdl

    length, batch, features, hidden = shape
    layer = getattr(fastdl.nn, kind)(features, hidden)
    fx = fastdl.tensor(x, requires_grad=True)
    fgrad = fastdl.tensor(grad)

    def step():
        fx.grad = None
        layer.zero_grad()  # fastdl's default: stale buffers the kernels write into
        with fastdl.use_backend(backend):
            out, _ = layer(fx)
            out.backward(fgrad)
        return fx.grad.numpy()

    return step


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@pytest.mark.parametrize("impl", [f"fastdl-{b}" for b in FASTDL] + ["torch"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_recurrent_forward_backward(benchmark, request, kind, impl, shape):
    rng = np.random.default_rng(list(shape))
    length, batch, features, hidden = shape
    x = rng.standard_normal((length, batch, features)).astype(np.float32)
    grad = rng.standard_normal((length, batch, hidden)).astype(np.float32)
    benchmark.group = f"{kind.lower()}-{_shape_id(shape)}"
    # forward, input gradient and weight gradient GEMMs of the input and hidden projections
    macs = length * batch * (features + hidden) * GATES[kind] * hidden
    record_work(benchmark, flops=3 * 2 * macs)
    if impl == "torch":
        step = _step_torch(request.getfixturevalue("torch"), kind, shape, x, grad)
    else:
        step = _step_fastdl(impl.split("-")[1], kind, shape, x, grad)
    grad_x = warm_then_time(benchmark, step)
    assert grad_x.shape == x.shape and np.isfinite(grad_x).all()
