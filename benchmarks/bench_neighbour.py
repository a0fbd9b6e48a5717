"""The MLP 784-512-256-10 Adam training step (bench_train_step.py's, batch 128) with and
without a busy neighbour: one CPU-bound process (``while True: pass`` at normal
priority) started beside the benchmark for the ``busy`` groups.

On a machine with as many cores as the step has threads, the neighbour takes one core
away part of the time. A statically partitioned 2-thread GEMM then waits for its
descheduled thread every call; fastdl's pool (csrc/parallel.c) hands out work from a
shared counter, so the step should slow down by about the share of CPU it loses and no
more. The factor (busy median / idle median) of each implementation is in the busy
benchmark's ``extra_info["busy_over_idle"]``; the target is at most 2.5.

Groups: ``neighbour-b128-idle`` and ``neighbour-b128-busy``, each with ``fastdl-numba``
and ``torch`` (``torch.optim.Adam(fused=True)``, the same thread count). fastdl runs with
``FASTDL_ADAPT_TO_LOAD=1`` (set by this file), which lets it move the dense layers to its
own GEMM while its thread waits for a core::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_neighbour.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from _benchutil import warm_then_time
from bench_train_step import fastdl_step, torch_step

# fastdl adapts to a crowded machine only when asked (results then depend on the load).
os.environ.setdefault("FASTDL_ADAPT_TO_LOAD", "1")

BATCH = 128
IMPLS = ["fastdl-numba", "torch"]
_idle_median: dict[str, float] = {}  # impl -> idle median (s), for the busy factor


@pytest.fixture
def neighbour():
    """One CPU-bound process at normal priority for the duration of the test."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)  # let the scheduler see it running
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def _step(request, impl):
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        return torch_step(torch, BATCH)
    import fastdl

    with fastdl.use_backend("numba"):
        return fastdl_step("numba", BATCH)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("load", ["idle", "busy"])
def test_neighbour(benchmark, request, impl, load):
    benchmark.group = f"neighbour-b{BATCH}-{load}"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["batch"] = BATCH
    step = _step(request, impl)
    if load == "busy":
        request.getfixturevalue("neighbour")
    loss = warm_then_time(benchmark, step, warmup_calls=5)
    assert np.isfinite(float(loss.item()))
    median = benchmark.stats.stats.median
    if load == "idle":
        _idle_median[impl] = median
    elif impl in _idle_median:
        benchmark.extra_info["busy_over_idle"] = round(median / _idle_median[impl], 2)
