"""CUDA kernels against PyTorch CUDA, for a machine with an NVIDIA GPU.

Groups, each timed with a ``cuda.synchronize()`` inside the timed call, so they measure
the GPU's work, not the launch queue:

* ``sgemm-4096``  ``gemm_bias_act`` (no bias, no activation) of two 4096x4096 float32
  matrices against ``torch.matmul`` (cuBLAS); ``extra_info["tflops"]``. Target: at least
  40% of cuBLAS's throughput.
* ``adam-10M-x100``  100 back-to-back fused Adam steps over 10M float32 parameters with
  one synchronisation at the end, against
  ``torch.optim.Adam(fused=True)`` stepping the same way, and a device-to-device copy of
  the 7 float32 streams Adam moves (28 bytes per parameter): ``extra_info["gb_per_s"]``.
  Targets: at least 80% of the copy's bandwidth, and at most 1.0x torch.
* ``mlp-step-bN``  one Adam training step of the 784-512-256-10 ReLU MLP on device
  tensors (zero_grad, forward, cross-entropy, backward, step), batch 1024 and 8192,
  synchronised at the end of each step, against the same step in torch CUDA eager;
  ``extra_info["launches"]`` counts fastdl's kernel launches per step. Target: at most
  1.0x torch.

Without a GPU every test skips. ``FASTDL_BENCH_CUDA_SMOKE=1`` runs the fastdl side on
tiny sizes under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), to check the code
paths, not to time anything::

    python -m pytest benchmarks/bench_cuda.py   # on a GPU machine
    NUMBA_ENABLE_CUDASIM=1 FASTDL_BENCH_CUDA_SMOKE=1 \
        python -m pytest benchmarks/bench_cuda.py -k fastdl
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastdl.cuda

SMOKE = os.environ.get("FASTDL_BENCH_CUDA_SMOKE") == "1"
N_GEMM = 32 if SMOKE else 4096
N_PARAMS = 1000 if SMOKE else 10_000_000
MLP_SIZES = (16, 12, 8, 4) if SMOKE else (784, 512, 256, 10)
MLP_BATCHES = (8,) if SMOKE else (1024, 8192)
STEPS = 3 if SMOKE else 100
ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)

pytestmark = pytest.mark.skipif(
    not (fastdl.cuda.is_available() or (SMOKE and fastdl.cuda.simulated())),
    reason="needs an NVIDIA GPU (or FASTDL_BENCH_CUDA_SMOKE=1 under the simulator)",
)


@pytest.fixture(scope="module")
def torch_cuda():
    torch = pytest.importorskip("torch", exc_type=ImportError)
    if SMOKE or not torch.cuda.is_available():
        pytest.skip("torch CUDA is not available")
    return torch


def _device(*shape, seed=0):
    from numba import cuda

    rng = np.random.default_rng([seed, *shape])
    return cuda.to_device(rng.standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("impl", ["fastdl-cuda", "torch-cuda"])
def test_sgemm(benchmark, impl, request):
    benchmark.group = f"sgemm-{N_GEMM}"
    if impl == "fastdl-cuda":
        from fastdl.backends.cuda import linear

        a, b = _device(N_GEMM, N_GEMM, seed=1), _device(N_GEMM, N_GEMM, seed=2)
        out = fastdl.cuda.empty((N_GEMM, N_GEMM), np.float32)

        def run():
            linear.gemm_bias_act(a, b, None, None, 0.0, out)
            fastdl.cuda.synchronize()

    else:
        torch = request.getfixturevalue("torch_cuda")
        a, b = (torch.randn(N_GEMM, N_GEMM, device="cuda") for _ in range(2))
        out = torch.empty(N_GEMM, N_GEMM, device="cuda")

        def run():
            torch.matmul(a, b, out=out)
            torch.cuda.synchronize()

    run()
    benchmark(run)
    benchmark.extra_info["tflops"] = 2 * N_GEMM**3 / benchmark.stats.stats.median / 1e12


@pytest.mark.parametrize("impl", ["fastdl-cuda", "torch-cuda", "copy-28B-per-param"])
def test_adam_steps(benchmark, impl, request):
    benchmark.group = f"adam-{N_PARAMS}-x{STEPS}"
    if impl == "fastdl-cuda":
        from fastdl.backends.cuda import optim

        param, grad = _device(N_PARAMS, seed=3), _device(N_PARAMS, seed=4)
        m = fastdl.cuda.empty((N_PARAMS,), np.float32)
        v = fastdl.cuda.empty((N_PARAMS,), np.float32)
        m.copy_to_device(np.zeros(N_PARAMS, np.float32))
        v.copy_to_device(np.zeros(N_PARAMS, np.float32))
        counter = [0]

        def run():
            for _ in range(STEPS):
                counter[0] += 1
                optim.adam_step(param, grad, m, v, None, counter[0], amsgrad=False,
                                decoupled_weight_decay=False, **ADAM)  # fmt: skip
            fastdl.cuda.synchronize()

    else:
        torch = request.getfixturevalue("torch_cuda")
        if impl == "torch-cuda":
            p = torch.nn.Parameter(torch.randn(N_PARAMS, device="cuda"))
            p.grad = torch.randn(N_PARAMS, device="cuda")
            opt = torch.optim.Adam([p], lr=ADAM["lr"], fused=True)

            def run():
                for _ in range(STEPS):
                    opt.step()
                torch.cuda.synchronize()

        else:  # 7 float32 streams per parameter, as Adam reads 4 and writes 3
            src = torch.randn(7 * N_PARAMS // 2, device="cuda")
            dst = torch.empty_like(src)

            def run():
                for _ in range(STEPS):
                    dst.copy_(src)
                torch.cuda.synchronize()

    run()
    benchmark(run)
    seconds_per_step = benchmark.stats.stats.median / STEPS
    benchmark.extra_info["us_per_step"] = seconds_per_step * 1e6
    benchmark.extra_info["gb_per_s"] = 28 * N_PARAMS / seconds_per_step / 1e9


def _mlp_step(lib, batch: int, synchronize, **adam_options):
    """One MLP Adam step on device tensors, in ``lib`` (fastdl or torch: the same API)."""
    lib.manual_seed(0)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(MLP_SIZES, MLP_SIZES[1:])):
        layers.append(lib.nn.Linear(n_in, n_out))
        if i < len(MLP_SIZES) - 2:
            layers.append(lib.nn.ReLU())
    model = lib.nn.Sequential(*layers).cuda()
    opt = lib.optim.Adam(model.parameters(), lr=1e-3, **adam_options)
    x = lib.randn(batch, MLP_SIZES[0], device="cuda")
    y = lib.tensor(np.arange(batch) % MLP_SIZES[-1], device="cuda")
    loss_fn = lib.nn.CrossEntropyLoss()

    def run():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        synchronize()

    return run


@pytest.mark.parametrize("batch", MLP_BATCHES)
@pytest.mark.parametrize("impl", ["fastdl-cuda", "torch-cuda"])
def test_mlp_step(benchmark, impl, batch, request):
    benchmark.group = f"mlp-step-b{batch}"
    if impl == "fastdl-cuda":
        import fastdl

        run = _mlp_step(fastdl, batch, fastdl.cuda.synchronize)
    else:
        torch = request.getfixturevalue("torch_cuda")
        run = _mlp_step(torch, batch, torch.cuda.synchronize, fused=True)
    run()
    run()
    if impl == "fastdl-cuda":
        with fastdl.cuda.profile() as counted:
            run()
        benchmark.extra_info["launches"] = counted.launches
        benchmark.extra_info["host_device_copies"] = counted.host_to_device + counted.device_to_host
    benchmark(run)
