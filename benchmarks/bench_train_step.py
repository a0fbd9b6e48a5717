"""One full training step of an MLP 784-512-256-10 (ReLU), float32, Adam lr 1e-3:

    optimizer.zero_grad(); loss = CrossEntropyLoss()(model(x), y); loss.backward(); optimizer.step()

for fastdl on the numba backend (its default; the C extension serves ``adam_step``
when built), fastdl on the reference backend, and PyTorch with
``torch.optim.Adam(fused=True)``. Inputs and labels are random, fixed per batch size.

Threads: fastdl leaves OpenBLAS at its default, one thread per core, and its Numba
kernels are single-threaded; torch is set to the same count
(``torch.set_num_threads(BENCH_THREADS)``, 2 on the development machine).

Torch's OpenMP runtime and OpenBLAS's threads disturb each other in one process, so
run each side in its own process (``compare_train_step.py`` does both)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python -m pytest benchmarks/bench_train_step.py -k fastdl
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python -m pytest benchmarks/bench_train_step.py -k torch

The ``-k fastdl`` process never imports torch.
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import record_work, training_step, warm_then_time

SIZES = (784, 512, 256, 10)
BATCHES = (32, 128, 1024)
LR = 1e-3
SEED = 0


def step_work(n: int) -> tuple[float, float]:
    """(GEMM FLOPs, optimizer bytes) of one step: forward and weight-gradient GEMMs over
    every layer, input-gradient GEMMs over all but the first; Adam reads the parameter,
    gradient and both moments and writes back three of them (7 float32 per parameter)."""
    macs = sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))
    flops = 2 * n * (3 * macs - SIZES[0] * SIZES[1])
    params = sum(a * b + b for a, b in zip(SIZES[:-1], SIZES[1:]))
    return flops, 7 * 4 * params


def batch(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and labels, fixed per batch size."""
    rng = np.random.default_rng([SEED, n])
    x = rng.standard_normal((n, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], n).astype(np.int64)
    return x, y


def fastdl_step(backend: str, n: int):
    """A closure running one fastdl training step on ``backend``'s kernels."""
    import fastdl
    from fastdl import nn, optim

    fastdl.manual_seed(SEED)
    layers = []
    for a, b in zip(SIZES[:-2], SIZES[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(SIZES[-2], SIZES[-1]))
    optimizer = optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    x_np, y_np = batch(n)
    x, y = fastdl.from_numpy(x_np), fastdl.from_numpy(y_np)
    return training_step(model, optimizer, loss_fn, x, y)


def torch_step(torch, n: int):
    """A closure running one PyTorch training step (fused Adam)."""
    nn = torch.nn
    torch.manual_seed(SEED)
    layers = []
    for a, b in zip(SIZES[:-2], SIZES[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(SIZES[-2], SIZES[-1]))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
    loss_fn = nn.CrossEntropyLoss()
    x_np, y_np = batch(n)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    return training_step(model, optimizer, loss_fn, x, y)


@pytest.mark.parametrize("n", BATCHES, ids=lambda n: f"b{n}")
@pytest.mark.parametrize("impl", ["fastdl-numba", "fastdl-reference", "torch"])
def test_train_step(benchmark, request, impl, n):
    benchmark.group = f"train_step-b{n}"
    benchmark.extra_info["batch"] = n
    benchmark.extra_info["impl"] = impl
    flops, nbytes = step_work(n)
    record_work(benchmark, flops=flops, nbytes=nbytes)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        benchmark.extra_info["torch_threads"] = torch.get_num_threads()
        benchmark.extra_info["torch_version"] = torch.__version__
        step = torch_step(torch, n)
        loss = warm_then_time(benchmark, step, warmup_calls=5)
        assert np.isfinite(loss.item())
        return
    import fastdl

    backend = impl.split("-", 1)[1]
    with fastdl.use_backend(backend):
        step = fastdl_step(backend, n)
        benchmark.extra_info["fastdl_threads"] = fastdl.get_num_threads()
        loss = warm_then_time(benchmark, step, warmup_calls=5)
        assert fastdl.backends.current() == backend
    assert np.isfinite(loss.item())
