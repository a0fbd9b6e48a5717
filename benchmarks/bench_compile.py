"""The MLP 784-512-256-10 (ReLU) Adam training step of ``bench_train_step.py`` at
batch 32, with the step under ``fastdl.compile`` (recorded once, then replayed on
the same buffers) against the same step in fastdl eager and torch eager (fused
Adam). Same model, data, seed and threads as ``bench_train_step.py``; run each side
in its own process::

    python -m pytest benchmarks/bench_compile.py -k fastdl
    python -m pytest benchmarks/bench_compile.py -k torch
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import training_step, warm_then_time
from bench_train_step import SEED, SIZES, batch, fastdl_step, torch_step

BATCH = 32


def compiled_step(n: int):
    """``fastdl_step``'s model and optimizer, the step compiled."""
    import fastdl
    from fastdl import nn, optim

    fastdl.manual_seed(SEED)
    layers = []
    for a, b in zip(SIZES[:-2], SIZES[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(SIZES[-2], SIZES[-1]))
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    x_np, y_np = batch(n)
    x, y = fastdl.from_numpy(x_np), fastdl.from_numpy(y_np)
    step = fastdl.compile(training_step(model, optimizer, nn.CrossEntropyLoss(), x, y))
    return lambda: step()


@pytest.mark.parametrize("impl", ["fastdl-compile", "fastdl-numba", "torch"])
def test_compiled_train_step(benchmark, request, impl):
    benchmark.group = f"compile-train_step-b{BATCH}"
    benchmark.extra_info["batch"] = BATCH
    benchmark.extra_info["impl"] = impl
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        benchmark.extra_info["torch_threads"] = torch.get_num_threads()
        benchmark.extra_info["torch_version"] = torch.__version__
        loss = warm_then_time(benchmark, torch_step(torch, BATCH), warmup_calls=5)
        assert np.isfinite(loss.item())
        return
    import fastdl

    step = compiled_step(BATCH) if impl == "fastdl-compile" else fastdl_step("numba", BATCH)
    benchmark.extra_info["fastdl_threads"] = fastdl.get_num_threads()
    loss = warm_then_time(benchmark, step, warmup_calls=5)
    assert np.isfinite(loss.item())
