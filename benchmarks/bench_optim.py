"""Optimizer steps over 10M float32 parameters: fastdl against PyTorch's fastest.

Each group times ``optimizer.step()`` of one optimizer on one 10M-element float32
parameter whose gradient is set once (every round does the same work):

* ``sgd_momentum-10M``  ``SGD(lr=0.01, momentum=0.9)``
* ``adagrad-10M``       ``Adagrad()`` (lr 1e-2)
* ``rmsprop-10M``       ``RMSprop()`` (lr 1e-2, alpha 0.99)
* ``adam-10M``          ``Adam()`` (lr 1e-3)
* ``adamw-10M``         ``AdamW()`` (lr 1e-3, weight_decay 1e-2)
* ``adam-1M``, ``adadelta-1M``, ``nadam-1M``: ``Adam()``, ``Adadelta()``, ``NAdam()`` on
  a 1M-element parameter, ``fastdl-numba`` against ``torch`` (foreach for Adadelta and
  NAdam, which have no fused implementation)

Implementations:

* ``fastdl-numba``          the default: the numba backend, whose optimizer kernels the
  C extension serves, split over ``fastdl.get_num_threads()`` threads above
  ``cext.PARALLEL_MIN_PER_THREAD`` elements per thread.
* ``fastdl-numba-1thread``  the same C kernels kept on one thread.
* ``fastdl-numba-njit``     the Numba kernels (``fastdl.backends.cpu.optim``), one thread:
  what serves when the C extension is not built or ``FASTDL_CEXT=0``.
* ``torch``                 PyTorch's fastest implementation of the optimizer:
  ``fused=True`` (SGD, Adagrad, Adam, AdamW), ``foreach=True`` for RMSprop (it has no
  fused implementation).
* ``torch-foreach``         ``foreach=True`` where ``torch`` is the fused one.

``train_step-mlp11M-b32`` is a whole training step (zero_grad, forward, cross-entropy,
backward, Adam step) of an MLP 784-4096-2048-10 (11.6M parameters) at batch 32, to
see the optimizer's threads next to OpenBLAS's (see README.md, "Optimizers").

Run each side in its own process (torch's OpenMP runtime and OpenBLAS's threads
disturb each other in one process)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_train_step.py \\
        --file benchmarks/bench_optim.py --repeats 2

A 10M-parameter step is memory-bound, and on a shared VM the memory bandwidth left
to it drifts by tens of percent within a minute, more than the difference between the
sides; the two pytest runs measure them tens of seconds apart. ``--paired`` measures
them in alternation instead: this process times a block of fastdl steps, a torch
process (started by it, on the same machine) a block of torch steps, and so on; each
pair of blocks gives one ratio, and the table shows the medians::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_optim.py --paired
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from _benchutil import record_work, warm_then_time

SIZE = 10_000_000
SEED = 0

# name: (fastdl class, torch class, kwargs shared by both, torch's fastest mode)
OPTIMIZERS = {
    "sgd_momentum": ("SGD", "SGD", dict(lr=0.01, momentum=0.9), "fused"),
    "adagrad": ("Adagrad", "Adagrad", dict(), "fused"),
    "rmsprop": ("RMSprop", "RMSprop", dict(), "foreach"),
    "adam": ("Adam", "Adam", dict(), "fused"),
    "adamw": ("AdamW", "AdamW", dict(), "fused"),
}
# Per-element state buffers (momentum, moments...): a step reads the parameter, the
# gradient and every state buffer and writes back the parameter and the state.
STATE_BUFFERS = {"sgd_momentum": 1, "adagrad": 1, "rmsprop": 1}  # the others: 2
IMPLS = ["fastdl-numba", "fastdl-numba-1thread", "fastdl-numba-njit", "torch", "torch-foreach"]


def _arrays(size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([SEED, size])
    return rng.standard_normal(size, dtype=np.float32), rng.standard_normal(size, dtype=np.float32)


@contextlib.contextmanager
def _variant(impl: str):
    """Run the fastdl optimizers as ``impl`` says: on one thread, or on the Numba kernels."""
    from fastdl import backends
    from fastdl.backends.cpu import cext
    from fastdl.backends.cpu import optim as numba_optim

    backend = backends.get("numba")
    saved_grain = cext.PARALLEL_MIN_PER_THREAD
    names = ("sgd_step", "adam_step", "adagrad_step", "rmsprop_step")
    saved_kernels = {name: getattr(backend, name) for name in names}
    try:
        if impl == "fastdl-numba-1thread":
            cext.PARALLEL_MIN_PER_THREAD = 2**62
        elif impl == "fastdl-numba-njit":
            for name in names:
                setattr(backend, name, getattr(numba_optim, name))
        yield
    finally:
        cext.PARALLEL_MIN_PER_THREAD = saved_grain
        for name, kernel in saved_kernels.items():
            setattr(backend, name, kernel)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("impl", IMPLS)
def test_optimizer_step(benchmark, request, impl, name):
    fastdl_cls, torch_cls, kwargs, fastest = OPTIMIZERS[name]
    benchmark.group = f"{name}-10M"
    record_work(benchmark, nbytes=4 * SIZE * (3 + 2 * STATE_BUFFERS.get(name, 2)))
    param, grad = _arrays()
    if impl.startswith("torch"):
        mode = "foreach" if impl == "torch-foreach" else fastest
        if impl == "torch-foreach" and fastest == "foreach":
            pytest.skip("torch's fastest for this optimizer is foreach: see the torch row")
        torch = request.getfixturevalue("torch")
        p = torch.nn.Parameter(torch.from_numpy(param))
        p.grad = torch.from_numpy(grad)
        opt = getattr(torch.optim, torch_cls)([p], **kwargs, **{mode: True})
        benchmark.extra_info["torch_mode"] = mode
        warm_then_time(benchmark, opt.step)
        assert torch.isfinite(p.detach()[:1000]).all()
        return
    import fastdl
    from fastdl import optim
    from fastdl.backends.cpu import cext

    if impl != "fastdl-numba-njit" and "adam_step" not in cext.kernels():
        pytest.skip("the C extension is not built or FASTDL_CEXT=0")
    p = fastdl.from_numpy(param).requires_grad_()
    p.grad = fastdl.from_numpy(grad)
    opt = getattr(optim, fastdl_cls)([p], **kwargs)
    with _variant(impl):
        benchmark.extra_info["threads"] = 1 if impl != "fastdl-numba" else cext._num_threads(SIZE)
        warm_then_time(benchmark, opt.step)
    assert np.isfinite(p.detach().numpy()[:1000]).all()


# -- Adadelta and NAdam next to Adam, 1M float32 parameters --------------------------------

SMALL = 1_000_000
# name: (class in both, torch's fastest mode): Adadelta and NAdam have no fused kernel in
# torch, so foreach is its fastest for them.
SMALL_OPTIMIZERS = {"adam": ("Adam", "fused"), "adadelta": ("Adadelta", "foreach"),
                    "nadam": ("NAdam", "foreach")}  # fmt: skip


@pytest.mark.parametrize("name", list(SMALL_OPTIMIZERS))
@pytest.mark.parametrize("impl", ["fastdl-numba", "torch"])
def test_optimizer_step_1m(benchmark, request, impl, name):
    """``optimizer.step()`` with default options on one 1M-element float32 parameter:
    Adadelta and NAdam (the Numba kernels of their shared update rules) next to Adam."""
    cls, fastest = SMALL_OPTIMIZERS[name]
    benchmark.group = f"{name}-1M"
    record_work(benchmark, nbytes=4 * SMALL * (3 + 2 * STATE_BUFFERS.get(name, 2)))
    param, grad = _arrays(SMALL)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        p = torch.nn.Parameter(torch.from_numpy(param))
        p.grad = torch.from_numpy(grad)
        opt = getattr(torch.optim, cls)([p], **{fastest: True})
        benchmark.extra_info["torch_mode"] = fastest
        warm_then_time(benchmark, opt.step)
        assert torch.isfinite(p.detach()[:1000]).all()
        return
    import fastdl
    from fastdl import optim

    p = fastdl.from_numpy(param).requires_grad_()
    p.grad = fastdl.from_numpy(grad)
    opt = getattr(optim, cls)([p])
    warm_then_time(benchmark, opt.step)
    assert np.isfinite(p.detach().numpy()[:1000]).all()


# -- a whole training step with 11.6M parameters -------------------------------------------


MLP = (784, 4096, 2048, 10)
BATCH = 32


def _batch():
    rng = np.random.default_rng([SEED, BATCH])
    x = rng.standard_normal((BATCH, MLP[0]), dtype=np.float32)
    return x, rng.integers(0, MLP[-1], BATCH).astype(np.int64)


def _layers(nn):
    layers = []
    for a, b in zip(MLP[:-2], MLP[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(MLP[-2], MLP[-1]))


@pytest.mark.parametrize("impl", ["fastdl-numba", "fastdl-numba-1thread", "torch"])
def test_train_step(benchmark, request, impl):
    benchmark.group = f"train_step-mlp11M-b{BATCH}"
    macs = sum(a * b for a, b in zip(MLP[:-1], MLP[1:]))
    params = sum(a * b + b for a, b in zip(MLP[:-1], MLP[1:]))
    record_work(benchmark, flops=2 * BATCH * (3 * macs - MLP[0] * MLP[1]), nbytes=7 * 4 * params)
    x_np, y_np = _batch()
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        torch.manual_seed(SEED)
        model = _layers(torch.nn)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        import fastdl
        from fastdl import nn, optim

        fastdl.manual_seed(SEED)
        model = _layers(nn)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        x, y = fastdl.from_numpy(x_np), fastdl.from_numpy(y_np)
        loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    if impl == "torch":
        warm_then_time(benchmark, step)
        return
    with _variant(impl):
        warm_then_time(benchmark, step)


# -- paired measurement: fastdl here, torch in a child process, in alternation ---------------

# The fastest torch mode per optimizer, as OPTIMIZERS says.
PAIRED_STEPS = 10  # steps per block
PAIRED_BLOCKS = 15  # blocks per side and optimizer
PAIRED_GAP_S = 0.02  # idle time between blocks: the other side's threads go to sleep


def _fastdl_step(name: str):
    import fastdl
    from fastdl import optim

    fastdl_cls, _, kwargs, _ = OPTIMIZERS[name]
    param, grad = _arrays()
    p = fastdl.from_numpy(param).requires_grad_()
    p.grad = fastdl.from_numpy(grad)
    return getattr(optim, fastdl_cls)([p], **kwargs).step


def _torch_step(torch, name: str):
    _, torch_cls, kwargs, fastest = OPTIMIZERS[name]
    param, grad = _arrays()
    p = torch.nn.Parameter(torch.from_numpy(param))
    p.grad = torch.from_numpy(grad)
    return getattr(torch.optim, torch_cls)([p], **kwargs, **{fastest: True}).step


def _block(step, count: int) -> float:
    import time

    times = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _torch_server() -> None:
    """Serve "<name> <count>" lines on stdin with the median step time on stdout."""
    import json
    import os
    import sys

    import torch

    torch.set_num_threads(int(os.environ.get("FASTDL_BENCH_THREADS", str(os.cpu_count() or 1))))
    steps: dict = {}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        name, count = line.split()
        if name not in steps:
            steps.clear()  # one optimizer's buffers at a time
            steps[name] = _torch_step(torch, name)
            _block(steps[name], 3)  # state allocation, first touch
        print(json.dumps(_block(steps[name], int(count))), flush=True)


def _cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid`` (Linux /proc; 0 elsewhere)."""
    import os

    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _PairLoad:
    """ForeignLoad that does not count the torch process as foreign."""

    def __init__(self, child_pid: int) -> None:
        from _benchutil import ForeignLoad

        self.child_pid = child_pid
        self.inner = ForeignLoad()
        self.child = _cpu_seconds(child_pid)

    def fraction(self) -> float | None:
        import os
        import time

        from _benchutil import busy_cpu_seconds

        busy = busy_cpu_seconds()
        if busy is None or self.inner.busy is None:
            return None
        wall = time.perf_counter() - self.inner.wall
        own = time.process_time() - self.inner.own + _cpu_seconds(self.child_pid) - self.child
        foreign = max(busy - self.inner.busy - own, 0.0)
        return round(foreign / max(wall * (os.cpu_count() or 1), 1e-9), 3)


def paired(names: list[str], blocks: int, steps: int) -> list[dict]:
    import json
    import subprocess
    import sys
    import time

    server = subprocess.Popen(
        [sys.executable, __file__, "--torch-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    info = json.loads(server.stdout.readline())
    rows = []
    try:
        for name in names:
            step = _fastdl_step(name)
            _block(step, 3)
            fastdl_times, torch_times = [], []
            load = _PairLoad(server.pid)
            for block in range(blocks):
                for side in ("fastdl", "torch") if block % 2 == 0 else ("torch", "fastdl"):
                    time.sleep(PAIRED_GAP_S)
                    if side == "fastdl":
                        fastdl_times.append(_block(step, steps))
                    else:
                        server.stdin.write(f"{name} {steps}\n")
                        server.stdin.flush()
                        torch_times.append(json.loads(server.stdout.readline()))
            del step
            ratios = [f / t for f, t in zip(fastdl_times, torch_times)]
            rows.append(
                {
                    "name": name,
                    "torch_mode": OPTIMIZERS[name][3],
                    "fastdl_ms": 1e3 * float(np.median(fastdl_times)),
                    "torch_ms": 1e3 * float(np.median(torch_times)),
                    "ratio_median": float(np.median(ratios)),
                    "ratio_range": (float(np.min(ratios)), float(np.max(ratios))),
                    "foreign_load": load.fraction(),
                }
            )
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    print(f"torch {info['torch']}, {info['threads']} threads; {blocks} blocks of {steps} steps")
    print(f"{'optimizer':14s} {'fastdl':>9s} {'torch':>9s}  mode     ratio  [min, max]    load")
    for r in rows:
        lo, hi = r["ratio_range"]
        print(
            f"{r['name']:14s} {r['fastdl_ms']:7.2f}ms {r['torch_ms']:7.2f}ms  "
            f"{r['torch_mode']:7s}  {r['ratio_median']:.2f}  [{lo:.2f}, {hi:.2f}]  "
            f"{r['foreign_load']}"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import os
    import sys
    import time
    from pathlib import Path

    parser = argparse.ArgumentParser(description="fastdl vs torch optimizer steps, paired")
    parser.add_argument("--paired", action="store_true", help="run the paired comparison")
    parser.add_argument("--torch-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--blocks", type=int, default=PAIRED_BLOCKS)
    parser.add_argument("--steps", type=int, default=PAIRED_STEPS)
    parser.add_argument("--only", nargs="*", default=list(OPTIMIZERS), choices=list(OPTIMIZERS))
    args = parser.parse_args(argv)
    if args.torch_server:
        _torch_server()
        return 0
    if not args.paired:
        parser.print_help()
        return 2
    pinned = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if pinned:
        print(f"WARNING: {', '.join(pinned)} set; run under env -u OPENBLAS_CORETYPE ...")
    rows = paired(args.only, args.blocks, args.steps)
    out = Path(__file__).resolve().parent.parent / ".benchmarks" / "paired"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench_optim-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"argv": sys.argv, "rows": rows}, indent=1))
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())  # the script's folder is on sys.path: _benchutil imports
