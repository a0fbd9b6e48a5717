"""Normalization benchmarks: BatchNorm2d forward + backward next to PyTorch.

* ``batchnorm2d-NxCxHxW`` one training step of ``nn.BatchNorm2d(C)`` on a float32
  input that requires grad: forward (batch statistics, running-stat update) then
  backward with a fixed upstream gradient (grad_x, grad_weight, grad_bias). fastdl's
  kernels are the fused ``batch_norm`` / ``batch_norm_backward`` (one statistics pass
  and one write pass each, single-threaded); torch runs its native CPU batch norm with
  BENCH_THREADS intra-op threads.

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_norm.py
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import record_work, warm_then_time

SHAPES = [(64, 64, 32, 32)]
FASTDL = ("numba", "reference")


def _shape_id(shape) -> str:
    return "x".join(str(s) for s in shape)


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@pytest.mark.parametrize("impl", [f"fastdl-{b}" for b in FASTDL] + ["torch"])
def test_batchnorm2d_forward_backward(benchmark, request, impl, shape):
    rng = np.random.default_rng(list(shape))
    x = (2 * rng.standard_normal(shape) + 1).astype(np.float32)
    grad = rng.standard_normal(shape).astype(np.float32)
    benchmark.group = f"batchnorm2d-{_shape_id(shape)}"
    # read x and write y; read x and the upstream gradient and write the input gradient
    record_work(benchmark, nbytes=5 * x.nbytes)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        layer = torch.nn.BatchNorm2d(shape[1])
        tx = torch.from_numpy(x).requires_grad_()
        tgrad = torch.from_numpy(grad)

        def step():
            tx.grad = None
            layer.zero_grad(set_to_none=True)
            layer(tx).backward(tgrad)
            return tx.grad.numpy()

    else:
        import fastdl

        backend = impl.split("-")[1]
        layer = fastdl.nn.BatchNorm2d(shape[1])
        fx = fastdl.tensor(x, requires_grad=True)
        fgrad = fastdl.tensor(grad)

        def step():
            fx.grad = None
            layer.zero_grad(set_to_none=True)
            with fastdl.use_backend(backend):
                layer(fx).backward(fgrad)
            return fx.grad.numpy()

    grad_x = warm_then_time(benchmark, step)
    # Check against the closed form in float64.
    x64, g64 = x.astype(np.float64), grad.astype(np.float64)
    axes = (0, 2, 3)
    mean, var = x64.mean(axis=axes, keepdims=True), x64.var(axis=axes, keepdims=True)
    rstd = 1 / np.sqrt(var + 1e-5)
    xhat = (x64 - mean) * rstd
    expected = rstd * (
        g64
        - g64.mean(axis=axes, keepdims=True)
        - xhat * (g64 * xhat).mean(axis=axes, keepdims=True)
    )
    np.testing.assert_allclose(grad_x, expected, rtol=1e-3, atol=1e-4)
