"""Eager per-op overhead: code made of many small ops, next to PyTorch.

On tensors this small the arithmetic costs nanoseconds; what is timed is the path
from a Python operator to the kernel and back (argument checks, dtype promotion,
the autograd node, the backward walk). Groups:

* ``eager-pointwise-16``  ``a * b + c`` on three 16-element float32 tensors with
  recording off (``no_grad``, entered once outside the timed call): two ops.
* ``eager-5op-16``        forward and backward of ``((a * b + c).sigmoid() * a).sum()``
  on 16-element float32 leaves (five ops), gradients reset to None before each call.
* ``eager-lstmcell-4x20`` an ``LSTMCell(16, 32)`` unrolled over 20 steps on a batch of
  4, the loss the sum of every step's h, forward and backward, after ``zero_grad()``.

Implementations: ``fastdl-numba`` (the default backend) and ``torch`` (its intra-op
threads set to fastdl's, BENCH_THREADS).

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_eager.py
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import warm_then_time

IMPLS = ["fastdl-numba", "torch"]
STEPS, BATCH, INPUT, HIDDEN = 20, 4, 16, 32


def _library(request, impl):
    if impl == "torch":
        return request.getfixturevalue("torch")
    import fastdl

    fastdl.use_backend(impl.split("-")[1])
    return fastdl


def _leaves(lib, seed: int, count: int, requires_grad: bool) -> list:
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(16).astype(np.float32) for _ in range(count)]
    return [lib.tensor(v, requires_grad=requires_grad) for v in values]


@pytest.mark.parametrize("impl", IMPLS)
def test_pointwise_no_grad(benchmark, request, impl):
    lib = _library(request, impl)
    a, b, c = _leaves(lib, 0, 3, requires_grad=False)
    benchmark.group = "eager-pointwise-16"
    with lib.no_grad():
        out = warm_then_time(benchmark, lambda: a * b + c)
    np.testing.assert_allclose(out.numpy(), a.numpy() * b.numpy() + c.numpy(), rtol=1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_five_ops_forward_backward(benchmark, request, impl):
    lib = _library(request, impl)
    a, b, c = _leaves(lib, 1, 3, requires_grad=True)
    benchmark.group = "eager-5op-16"

    def step():
        a.grad = b.grad = c.grad = None
        loss = ((a * b + c).sigmoid() * a).sum()
        loss.backward()
        return a.grad

    grad = warm_then_time(benchmark, step)
    assert grad.shape == (16,) and np.isfinite(grad.numpy()).all()


@pytest.mark.parametrize("impl", IMPLS)
def test_lstmcell_loop(benchmark, request, impl):
    lib = _library(request, impl)
    lib.manual_seed(0)
    cell = lib.nn.LSTMCell(INPUT, HIDDEN)
    rng = np.random.default_rng(2)
    xs = [lib.tensor(rng.standard_normal((BATCH, INPUT)).astype(np.float32)) for _ in range(STEPS)]
    benchmark.group = f"eager-lstmcell-{BATCH}x{STEPS}"

    def step():
        cell.zero_grad()
        h, c = lib.zeros(BATCH, HIDDEN), lib.zeros(BATCH, HIDDEN)
        total = 0
        for x in xs:
            h, c = cell(x, (h, c))
            total = total + h.sum()
        total.backward()
        return cell.weight_hh.grad

    grad = warm_then_time(benchmark, step)
    assert grad.shape == (4 * HIDDEN, HIDDEN) and np.isfinite(grad.numpy()).all()
