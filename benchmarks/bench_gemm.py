"""The C GEMM (``csrc/gemm.c``) against NumPy's OpenBLAS, and the threads of a mixed step.

Groups (float32, ``fastdl.get_num_threads()`` threads, 2 on the development machine):

* ``gemm_bias_act-128x784x512``  ``gemm_bias_act(x, W.T, b, "relu")``, the dense layer's
  forward (W stored (512, 784)), against ``x @ W.T`` alone in NumPy (the target:
  the fused GEMM no slower than OpenBLAS's product without its epilogue), NumPy's
  unfused ``np.maximum(x @ W.T + b, 0)``, and the Numba backend's ``linear_act``
  (OpenBLAS plus a fused epilogue pass).
* ``sgemm-1024``  a plain 1024^3 product, C against ``np.matmul``: throughput.
* ``linear_relu_backward-128x784x512``  the backward of that layer: the C kernel (ReLU
  mask and bias gradient fused into the packing) against the Numba backend's
  ``act_backward`` + two OpenBLAS GEMMs + a column sum.
* ``mixed-<gemm>+<parallel>`` one GEMM (128x784x512) followed by ten small parallel
  kernels (64K float32 elements each, a few microseconds of work), the pattern of a
  training step: ``openblas+numba_prange`` is the stall the threading rule of
  docs/ARCHITECTURE.md avoids (OpenBLAS's pthreads then Numba's own OpenMP/workqueue
  threads, which contend for the cores), ``openblas+cpool`` OpenBLAS then the C pool,
  ``cgemm+cpool`` the C GEMM and the C pool (one pool: fastdl's arrangement), ``cgemm+serial`` and
  ``openblas+serial`` with the small kernels on one thread, for scale.

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_gemm.py
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import record_work, warm_then_time

from fastdl.backends import cpu as cpu_backend
from fastdl.backends.cpu import cext
from fastdl.backends.cpu import linear as cpu_linear
from fastdl.backends.cpu.cext import linear as c_linear

pytestmark = pytest.mark.skipif(not cext.status()["loaded"], reason="C extension not built")

F32 = np.float32
SMALL = 1 << 16  # elements of each small parallel kernel
SMALL_CALLS = 10


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def _layer(batch=128, k=784, m=512):
    rng = _rng(batch, k, m)
    x = rng.standard_normal((batch, k)).astype(F32)
    w = (rng.standard_normal((m, k)) / np.sqrt(k)).astype(F32)
    b = rng.standard_normal(m).astype(F32)
    return x, w, b


def _numba_kernels() -> dict:
    import os

    saved = os.environ.get("FASTDL_CEXT")
    os.environ["FASTDL_CEXT"] = "0"
    try:
        return cpu_backend.kernels()
    finally:
        if saved is None:
            del os.environ["FASTDL_CEXT"]
        else:
            os.environ["FASTDL_CEXT"] = saved


@pytest.mark.parametrize("impl", ["fastdl-c", "numpy-matmul-only", "numpy-unfused", "fastdl-numba"])
def test_gemm_bias_act(benchmark, impl):
    benchmark.group = "gemm_bias_act-128x784x512"
    x, w, b = _layer()
    out = np.empty((x.shape[0], w.shape[0]), F32)
    if impl == "fastdl-c":
        fn = lambda: c_linear.gemm_bias_act(x, w.T, b, "relu", 0.0, out)  # noqa: E731
    elif impl == "numpy-matmul-only":
        fn = lambda: np.matmul(x, w.T, out=out)  # noqa: E731
    elif impl == "numpy-unfused":
        fn = lambda: np.maximum(x @ w.T + b, 0)  # noqa: E731
    else:
        linear_act = _numba_kernels()["linear_act"]
        fn = lambda: linear_act(x, w, b, "relu", 0.0, out)  # noqa: E731
    warm_then_time(benchmark, fn)
    benchmark.extra_info["gflops"] = 2 * x.shape[0] * x.shape[1] * w.shape[0] / 1e9
    record_work(benchmark, flops=2 * x.shape[0] * x.shape[1] * w.shape[0])


@pytest.mark.parametrize("impl", ["fastdl-c", "numpy"])
def test_sgemm_1024(benchmark, impl):
    benchmark.group = "sgemm-1024"
    rng = _rng(1024)
    a, b = (rng.standard_normal((1024, 1024)).astype(F32) for _ in range(2))
    out = np.empty((1024, 1024), F32)
    if impl == "fastdl-c":
        fn = lambda: c_linear.gemm_bias_act(a, b, None, None, 0.0, out)  # noqa: E731
    else:
        fn = lambda: np.matmul(a, b, out=out)  # noqa: E731
    warm_then_time(benchmark, fn)
    benchmark.extra_info["gflops"] = 2 * 1024**3 / 1e9
    record_work(benchmark, flops=2 * 1024**3)


@pytest.mark.parametrize("impl", ["fastdl-c", "fastdl-numba"])
def test_linear_relu_backward(benchmark, impl):
    benchmark.group = "linear_relu_backward-128x784x512"
    x, w, b = _layer()
    y = np.maximum(x @ w.T + b, 0)
    g = _rng(7).standard_normal(y.shape).astype(F32)
    grads = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    kernels = cpu_linear.cext_kernels() if impl == "fastdl-c" else _numba_kernels()
    kernel = kernels["linear_act_backward"]
    record_work(benchmark, flops=2 * 2 * x.shape[0] * x.shape[1] * w.shape[0])
    warm_then_time(benchmark, lambda: kernel(x, w, y, g, "relu", 0.0, *grads))


# -- a GEMM followed by small parallel kernels -------------------------------------


def _numba_prange_kernel():
    from numba import njit, prange

    @njit(parallel=True, cache=False)
    def scale(x, alpha):
        for i in prange(x.size):
            x[i] *= alpha

    return scale


def _c_pool_kernel(threads: int):
    """A small SGD step (no momentum) split over ``threads`` threads of the C pool."""
    module = cext._require()
    ffi, lib = module.ffi, module.lib
    param = np.ones(2 * SMALL, F32)
    grad = np.full(2 * SMALL, 1e-6, F32)
    p, g = ffi.from_buffer("float[]", param, True), ffi.from_buffer("float[]", grad)

    def step():
        lib.fastdl_sgd_step_f32(p, g, ffi.NULL, 2 * SMALL, 0.1, 0.0, 0.0, 0.0, 0, 0, 0, threads)

    return step


@pytest.mark.parametrize(
    "impl",
    ["openblas+numba_prange", "openblas+cpool", "cgemm+cpool", "cgemm+serial", "openblas+serial"],
)
def test_mixed_sequence(benchmark, impl):
    benchmark.group = "mixed-gemm+10 small parallel kernels"
    from fastdl.threads import get_num_threads

    x, w, b = _layer()
    out = np.empty((x.shape[0], w.shape[0]), F32)
    gemm_name, small_name = impl.split("+")
    if gemm_name == "openblas":
        gemm = lambda: np.matmul(x, w.T, out=out)  # noqa: E731
    else:
        gemm = lambda: c_linear.gemm_bias_act(x, w.T, b, "relu", 0.0, out)  # noqa: E731
    if small_name == "numba_prange":
        kernel, buf = _numba_prange_kernel(), np.ones(2 * SMALL, F32)
        small = lambda: kernel(buf, F32(1.0))  # noqa: E731
    else:
        small = _c_pool_kernel(get_num_threads() if small_name == "cpool" else 1)

    def sequence():
        gemm()
        for _ in range(SMALL_CALLS):
            small()

    warm_then_time(benchmark, sequence, warmup_calls=5)
    try:
        import numba

        benchmark.extra_info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel Numba kernel ran in this process
        pass
