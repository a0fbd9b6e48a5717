"""One full training step of LeNet-5 on 1x28x28 inputs, batch 64, float32, Adam lr 1e-3:

    optimizer.zero_grad(); loss = CrossEntropyLoss()(model(x), y); loss.backward(); optimizer.step()

The network is ``fastdl.models.lenet((1, 28, 28))`` — conv 5x5 -> 6 (padding 2), ReLU,
2x2 max pool, conv 5x5 -> 16, ReLU, 2x2 max pool, dense 400 -> 120 -> 84 -> 10 — and
the same layers built from ``torch.nn`` for the peer, trained with
``torch.optim.Adam(fused=True)``. Inputs and labels are random, fixed.

As for the MLP step, run each side in its own process::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python benchmarks/compare_train_step.py --file benchmarks/bench_lenet_step.py
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import record_work, training_step, warm_then_time

BATCH = 64
LR = 1e-3
SEED = 0


def step_flops() -> int:
    """GEMM FLOPs of one step: forward, weight-gradient and (but for the first conv, whose
    input is the data) input-gradient passes of both convolutions and the three linears."""
    c1 = 2 * BATCH * 6 * 1 * 25 * 28 * 28
    c2 = 2 * BATCH * 16 * 6 * 25 * 10 * 10
    linears = 2 * BATCH * (400 * 120 + 120 * 84 + 84 * 10)
    return 2 * c1 + 3 * (c2 + linears)


def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([SEED, BATCH])
    x = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.int64)
    return x, y


def fastdl_step():
    import fastdl
    from fastdl import models, nn, optim

    fastdl.manual_seed(SEED)
    model = models.lenet((1, 28, 28))
    optimizer = optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    x_np, y_np = batch()
    x, y = fastdl.from_numpy(x_np), fastdl.from_numpy(y_np)
    return training_step(model, optimizer, loss_fn, x, y)


def torch_step(torch):
    nn = torch.nn
    torch.manual_seed(SEED)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
    loss_fn = nn.CrossEntropyLoss()
    x_np, y_np = batch()
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    return training_step(model, optimizer, loss_fn, x, y)


@pytest.mark.parametrize("impl", ["fastdl-numba", "fastdl-reference", "torch"])
def test_lenet_step(benchmark, request, impl):
    benchmark.group = f"lenet5_step-b{BATCH}"
    record_work(benchmark, flops=step_flops(), nbytes=7 * 4 * 61_706)  # Adam over 61,706
    benchmark.extra_info["batch"] = BATCH
    benchmark.extra_info["impl"] = impl
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        benchmark.extra_info["torch_threads"] = torch.get_num_threads()
        loss = warm_then_time(benchmark, torch_step(torch), warmup_calls=5)
        assert np.isfinite(loss.item())
        return
    import fastdl

    backend = impl.split("-", 1)[1]
    with fastdl.use_backend(backend):
        loss = warm_then_time(benchmark, fastdl_step(), warmup_calls=5)
    assert np.isfinite(loss.item())
