"""Kernel benchmarks: fastdl's kernels through the registry, with caller-allocated
outputs, next to the reference (NumPy) twin and the PyTorch equivalent.

Each benchmark group compares implementations side by side:

* ``matmul-NxK@KxM``     ``matmul(a, b, out)``; torch ``torch.matmul(a, b, out=out)``.
  The numba backend shares this kernel with the reference (``SHARED_WITH_REFERENCE``):
  both are ``np.matmul`` into OpenBLAS, so their rows differ only by noise.
* ``linear_relu-NxK@KxM`` ``linear_act(x, W, b, "relu", 0.01, out)``, W (M,K);
  torch ``torch.addmm(b, x, W.T, out=out).relu_()``.
* ``cross_entropy-NxC``  forward + backward kernels (``cross_entropy`` then
  ``cross_entropy_backward`` with the mean's gradient 1/N); torch runs the aten
  kernels its autograd runs for ``F.cross_entropy``: ``_log_softmax``,
  ``nll_loss_forward``, ``nll_loss_backward``, ``_log_softmax_backward_data``.
* ``adam_step-P``        one Adam step over flat float32 buffers of P parameters:
  the registry's numba backend (which the C extension serves when built), the Numba
  kernel itself (``fastdl.backends.cpu.optim.adam_step``), the C extension itself
  (``cext.kernels()["adam_step"]``), the reference, and ``torch._fused_adam_`` (what
  ``torch.optim.Adam(fused=True)`` runs per step).
* ``philox_<kind>-N``     N float32 random numbers from the Philox stream (uniform,
  Bernoulli(0.5) mask, normal): the registry's numba backend (the C extension when
  built), the Numba kernel itself, the C extension itself, and torch's in-place
  ``uniform_`` / ``bernoulli_`` / ``normal_`` (its CPU generator, mt19937).

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_kernels.py
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import record_work, warm_then_time

DTYPE = np.float32
FASTDL = ("numba", "reference")

MATMUL_SHAPES = [(32, 784, 512), (128, 784, 512), (1024, 784, 512), (1024, 512, 256)]
CE_SHAPES = [(32, 10), (1024, 10), (1024, 1000)]
ADAM_SIZES = [535_818, 10_000_000]  # the MLP 784-512-256-10; a 10M-parameter model

ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
ADAM_STEP = 10  # a fixed step count: each call does the same work


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def _shape_id(shape) -> str:
    n, k, m = shape
    return f"{n}x{k}@{k}x{m}"


# -- matmul ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", MATMUL_SHAPES, ids=_shape_id)
@pytest.mark.parametrize("impl", [f"fastdl-{b}" for b in FASTDL] + ["torch"])
def test_matmul(benchmark, request, impl, shape):
    n, k, m = shape
    rng = _rng(n, k, m)
    a = rng.standard_normal((n, k)).astype(DTYPE)
    b = rng.standard_normal((k, m)).astype(DTYPE)
    out = np.empty((n, m), DTYPE)
    benchmark.group = f"matmul-{_shape_id(shape)}"
    record_work(benchmark, flops=2 * n * k * m)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
        warm_then_time(benchmark, lambda: torch.matmul(ta, tb, out=tout))
        expected = a @ b
    else:
        kernel = request.getfixturevalue("backend_by_name")[impl.split("-")[1]].matmul
        warm_then_time(benchmark, lambda: kernel(a, b, out))
        expected = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3)


# -- linear + bias + relu (fused epilogue) ----------------------------------------------


@pytest.mark.parametrize("shape", MATMUL_SHAPES, ids=_shape_id)
@pytest.mark.parametrize("impl", [f"fastdl-{b}" for b in FASTDL] + ["torch"])
def test_linear_relu(benchmark, request, impl, shape):
    n, k, m = shape
    rng = _rng(n, k, m, 1)
    x = rng.standard_normal((n, k)).astype(DTYPE)
    weight = (rng.standard_normal((m, k)) / np.sqrt(k)).astype(DTYPE)
    bias = rng.standard_normal(m).astype(DTYPE)
    out = np.empty((n, m), DTYPE)
    benchmark.group = f"linear_relu-{_shape_id(shape)}"
    record_work(benchmark, flops=2 * n * k * m)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        tx, tw, tb, tout = (torch.from_numpy(t) for t in (x, weight, bias, out))

        def run():
            torch.addmm(tb, tx, tw.T, out=tout)
            tout.relu_()

        warm_then_time(benchmark, run)
    else:
        kernel = request.getfixturevalue("backend_by_name")[impl.split("-")[1]].linear_act
        warm_then_time(benchmark, lambda: kernel(x, weight, bias, "relu", 0.01, out))
    expected = np.maximum(x.astype(np.float64) @ weight.T.astype(np.float64) + bias, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3)


# -- softmax cross-entropy, forward + backward -------------------------------------------


@pytest.mark.parametrize("shape", CE_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("impl", [f"fastdl-{b}" for b in FASTDL] + ["torch"])
def test_cross_entropy(benchmark, request, impl, shape):
    n, c = shape
    rng = _rng(n, c, 2)
    logits = (3 * rng.standard_normal((n, c))).astype(DTYPE)
    target = rng.integers(0, c, n).astype(np.int64)
    grad_losses = np.full(n, 1.0 / n, DTYPE)  # the gradient of reduction="mean"
    benchmark.group = f"cross_entropy-{n}x{c}"
    record_work(benchmark, nbytes=2 * 4 * n * c)  # read the logits, write their gradient
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        aten = torch.ops.aten
        tl, tt = torch.from_numpy(logits), torch.from_numpy(target)
        tg = torch.tensor(1.0, dtype=torch.float32)  # d(mean loss)
        mean = 1  # at::Reduction::Mean
        result = {}

        def run():
            log_p = aten._log_softmax(tl, 1, False)
            loss, total_weight = aten.nll_loss_forward(log_p, tt, None, mean, -100)
            grad_log_p = aten.nll_loss_backward(tg, log_p, tt, None, mean, -100, total_weight)
            result["grad"] = aten._log_softmax_backward_data(grad_log_p, log_p, 1, torch.float32)

        warm_then_time(benchmark, run)
        grad_logits = result["grad"].numpy()
    else:
        backend = request.getfixturevalue("backend_by_name")[impl.split("-")[1]]
        losses = np.empty(n, DTYPE)
        probs = np.empty((n, c), DTYPE)
        grad_logits = np.empty((n, c), DTYPE)

        def run():
            backend.cross_entropy(logits, target, losses, probs)
            backend.cross_entropy_backward(probs, target, grad_losses, grad_logits)

        warm_then_time(benchmark, run)
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(n), target] -= 1
    np.testing.assert_allclose(grad_logits, p / n, rtol=1e-4, atol=1e-6)


# -- Adam over a flat buffer ---------------------------------------------------------------


def _adam_impls():
    from fastdl.backends.cpu import cext
    from fastdl.backends.cpu import optim as cpu_optim

    impls = {
        "fastdl-numba": ("registry", "numba"),
        "fastdl-numba-njit": ("function", cpu_optim.adam_step),
        "fastdl-reference": ("registry", "reference"),
    }
    c_kernel = cext.kernels().get("adam_step")
    if c_kernel is not None:
        impls["fastdl-cext"] = ("function", c_kernel)
    return impls


ADAM_IMPLS = ["fastdl-numba", "fastdl-numba-njit", "fastdl-cext", "fastdl-reference", "torch"]


@pytest.mark.parametrize("size", ADAM_SIZES, ids=lambda p: f"{p}")
@pytest.mark.parametrize("impl", ADAM_IMPLS)
def test_adam_step(benchmark, request, impl, size):
    rng = _rng(size, 3)
    param = rng.standard_normal(size, dtype=DTYPE)
    grad = rng.standard_normal(size, dtype=DTYPE)
    exp_avg = (0.1 * rng.standard_normal(size, dtype=DTYPE)).astype(DTYPE)
    exp_avg_sq = (0.1 * rng.random(size, dtype=DTYPE)).astype(DTYPE)
    benchmark.group = f"adam_step-{size}"
    record_work(benchmark, nbytes=7 * 4 * size)  # read p, g, m, v; write p, m, v
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        tensors = [[torch.from_numpy(a)] for a in (param, grad, exp_avg, exp_avg_sq)]
        steps = [torch.tensor(float(ADAM_STEP))]

        def run():
            torch._fused_adam_(*tensors, [], steps, amsgrad=False, maximize=False, **ADAM)

        warm_then_time(benchmark, run)
        return
    impls = _adam_impls()
    if impl not in impls:
        pytest.skip(f"{impl}: the C extension is not built or FASTDL_CEXT=0")
    kind, what = impls[impl]
    kernel = (
        request.getfixturevalue("backend_by_name")[what].adam_step if kind == "registry" else what
    )
    if impl == "fastdl-numba":
        from fastdl.backends.cpu import cext

        benchmark.extra_info["served_by"] = (
            "C extension" if "adam_step" in cext.kernels() else "Numba"
        )
    empty = np.empty(0, DTYPE)
    args = (
        param,
        grad,
        exp_avg,
        exp_avg_sq,
        empty,
        ADAM_STEP,
        ADAM["lr"],
        ADAM["beta1"],
        ADAM["beta2"],
        ADAM["eps"],
        ADAM["weight_decay"],
        False,
        False,
    )
    warm_then_time(benchmark, lambda: kernel(*args))
    assert np.isfinite(param[:1000]).all()


# -- Philox random numbers ---------------------------------------------------------------

RANDOM_SIZES = [10_000_000]
RANDOM_KINDS = {"uniform": (), "bernoulli": (0.5,), "normal": (0.0, 1.0)}
RANDOM_IMPLS = ["fastdl-numba", "fastdl-numba-njit", "fastdl-cext", "torch"]


@pytest.mark.parametrize("size", RANDOM_SIZES, ids=lambda n: f"{n}")
@pytest.mark.parametrize("kind", list(RANDOM_KINDS))
@pytest.mark.parametrize("impl", RANDOM_IMPLS)
def test_philox(benchmark, request, impl, kind, size):
    from fastdl.backends.cpu import cext
    from fastdl.backends.cpu import random as cpu_random

    out = np.empty(size, DTYPE)
    name = f"philox_{kind}"
    benchmark.group = f"{name}-{size}"
    record_work(benchmark, nbytes=4 * size)  # write the numbers
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        tout = torch.from_numpy(out)
        run = {
            "uniform": tout.uniform_,
            "bernoulli": lambda: tout.bernoulli_(0.5),
            "normal": tout.normal_,
        }[kind]
        warm_then_time(benchmark, run)
    else:
        if impl == "fastdl-numba":
            kernel = getattr(request.getfixturevalue("numba_backend"), name)
            benchmark.extra_info["served_by"] = "C extension" if name in cext.kernels() else "Numba"
        elif impl == "fastdl-numba-njit":
            kernel = getattr(cpu_random, name)
        else:
            kernel = cext.kernels().get(name)
            if kernel is None:
                pytest.skip(f"{impl}: the C extension is not built or FASTDL_CEXT=0")
        args = (2**63 + 5, 12, *RANDOM_KINDS[kind], out)
        warm_then_time(benchmark, lambda: kernel(*args))
    if kind == "normal":
        assert abs(float(out.mean())) < 0.01 and abs(float(out.std()) - 1) < 0.01
    else:
        assert abs(float(out.mean()) - 0.5) < 0.01
