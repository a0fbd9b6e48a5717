"""Helpers for the benchmarks: warm-up before timing, machine facts (CPU model,
thread pools), and how busy the machine is with other processes (the development
machine is a shared 2-core VM)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def threadpools() -> list[dict[str, Any]]:
    """threadpoolctl's report of the native thread pools loaded in this process."""
    from threadpoolctl import threadpool_info

    keys = (
        "user_api",
        "internal_api",
        "prefix",
        "version",
        "architecture",
        "threading_layer",
        "num_threads",
    )
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def blas_summary() -> str:
    """One line per BLAS: library, version, kernel (architecture), threads."""
    lines = [
        f"{p['internal_api']} {p['version']} kernel={p['architecture']} "
        f"threads={p['num_threads']} ({p['threading_layer']})"
        for p in threadpools()
        if p["user_api"] == "blas"
    ]
    return "; ".join(lines) or "no BLAS loaded"


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class ForeignLoad:
    """How much of the machine other processes used while a measurement ran.

    ``fraction`` is (machine busy CPU time - this process's CPU time) / (wall time x
    cores): 0 on a quiet machine, 0.5 when another process kept one of two cores busy.
    On a shared 2-core machine a busy neighbour makes every multi-threaded BLAS or
    OpenMP region wait for the second core, so timings with a high fraction are suspect.
    """

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.own = time.process_time()
        self.busy = busy_cpu_seconds()

    def fraction(self) -> float | None:
        busy = busy_cpu_seconds()
        if busy is None or self.busy is None:
            return None
        wall = time.perf_counter() - self.wall
        own = time.process_time() - self.own
        foreign = max(busy - self.busy - own, 0.0)
        return round(foreign / max(wall * (os.cpu_count() or 1), 1e-9), 3)


def machine_busy_fraction(window: float = 1.0) -> float:
    """Share of all cores busy (any process) over ``window`` seconds."""
    before = busy_cpu_seconds()
    time.sleep(window)
    after = busy_cpu_seconds()
    if before is None or after is None:
        return 0.0
    return (after - before) / (window * (os.cpu_count() or 1))


def wait_until_quiet(threshold: float = 0.15, timeout: float = 60.0) -> float:
    """Wait up to ``timeout`` s for two quiet seconds in a row; returns the last busy share."""
    deadline = time.monotonic() + timeout
    quiet = 0
    busy = machine_busy_fraction()
    while time.monotonic() < deadline:
        quiet = quiet + 1 if busy < threshold else 0
        if quiet >= 2:
            break
        busy = machine_busy_fraction()
    return busy


def record_work(benchmark, *, flops: float = 0.0, nbytes: float = 0.0, dtype: str = "float32"):
    """The work one timed call must do, for the roofline column of ``report.py``:
    ``flops`` floating-point operations of its GEMM-like parts, counted at the machine's
    measured SGEMM peak (half of it for ``dtype="float64"``), and ``nbytes`` that must
    cross main memory, counted at the measured copy bandwidth. The roofline time is
    their sum; a row's fraction is roofline time / measured time (1.0 = at the limit)."""
    benchmark.extra_info["flops"] = float(flops)
    benchmark.extra_info["bytes"] = float(nbytes)
    benchmark.extra_info["work_dtype"] = dtype


def warm_then_time(benchmark, fn: Callable[[], Any], warmup_calls: int = 2) -> Any:
    """Call ``fn`` a few times untimed (JIT compile / cache load, caches, allocator),
    then hand it to pytest-benchmark."""
    for _ in range(warmup_calls):
        fn()
    return benchmark(fn)


def time_with_setup(
    benchmark, fn: Callable[[], Any], setup: Callable[[], Any], rounds: int, warmup_calls: int = 2
) -> Any:
    """Like :func:`warm_then_time`, with ``setup()`` run untimed before every call (to put
    back state the call changes, so each call does the same work): ``rounds`` timed
    calls of one iteration each."""
    for _ in range(warmup_calls):
        setup()
        fn()
    return benchmark.pedantic(fn, setup=setup, rounds=rounds, iterations=1)


def training_step(model: Any, optimizer: Any, loss_fn: Any, x: Any, y: Any) -> Callable[[], Any]:
    """A closure running one step: zero_grad, forward, loss, backward, optimizer step.

    The same five calls for fastdl and torch, so both sides time the same work."""

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step
