"""Data-parallel step time at 1 and 2 ranks, the share spent in Allreduce, and the
all-reduce bandwidth (mpich on loopback).

A script, not a pytest benchmark: it launches itself under ``mpiexec -n 1`` and
``mpiexec -n 2`` and prints one table::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_distributed.py

Each model trains with SGD (lr 0.01) on fixed random float32 data at the same
*global* batch (``--batch``, default 128; each of ``N`` ranks takes ``batch / N``),
one compute thread per rank. Step = zero_grad, forward, loss, backward (which ends
with ``DistributedDataParallel``'s gradient sync: one Allreduce of the flat float32
gradient buffer), step; its
time is rank 0's median over the timed steps. The Allreduce time includes waiting for
the slower rank. Bandwidth: ``Allreduce`` of 10M float32 (40 MB), median of 5;
"bus bandwidth" is ``2 (N-1)/N * bytes / time`` (what a ring all-reduce moves per rank).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _models():
    from fastdl import models, nn

    return {
        "mlp 784-512-256-10": (
            lambda: nn.Sequential(
                nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10)
            ),
            (784,),
        ),
        "lenet 1x28x28": (lambda: models.lenet((1, 28, 28)), (1, 28, 28)),
    }


def worker(batch: int, steps: int, threads: int | None) -> None:
    import fastdl
    from fastdl import distributed as dist
    from fastdl import nn, optim

    dist.init(threads=threads)
    rank, world = dist.rank(), dist.world_size()
    local = batch // world
    results = {"world": world, "threads": fastdl.get_num_threads(), "models": {}}
    for name, (build, shape) in _models().items():
        fastdl.manual_seed(0)
        model = dist.DistributedDataParallel(build())
        opt = optim.SGD(model.parameters(), lr=0.01)
        loss_fn = nn.CrossEntropyLoss()
        rng = np.random.default_rng(rank)
        x = fastdl.tensor(rng.random((local, *shape), dtype=np.float32))
        y = fastdl.tensor(rng.integers(0, 10, local).astype(np.int64))
        n_steps = steps if name.startswith("mlp") else max(steps // 3, 5)
        times, reduce_times = [], []
        for i in range(n_steps + 5):  # 5 warm-up steps
            dist.barrier()
            t0 = time.perf_counter()
            before = model.allreduce_seconds
            opt.zero_grad()
            loss_fn(model(x), y).backward()  # averages the gradients at its end
            opt.step()
            if i >= 5:
                times.append(time.perf_counter() - t0)
                reduce_times.append(model.allreduce_seconds - before)
        params = sum(p.numel() for p in model.parameters())
        results["models"][name] = {
            "params": params,
            "step_ms": 1e3 * float(np.median(times)),
            "allreduce_ms": 1e3 * float(np.median(reduce_times)),
        }
    if world > 1:
        buf = np.ones(10_000_000, np.float32)
        samples = []
        for _ in range(6):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(buf)
            samples.append(time.perf_counter() - t0)
        seconds = float(np.median(samples[1:]))
        results["allreduce_10M_ms"] = 1e3 * seconds
        results["bus_GBps"] = 2 * (world - 1) / world * buf.nbytes / seconds / 1e9
    if rank == 0:
        print("RESULT " + json.dumps(results), flush=True)


def _mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit("bench_distributed: mpiexec not found (pip install -e '.[dev]')")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="global batch")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.batch, args.steps, args.threads)
        return
    runs = {}
    # 1 rank with every core's BLAS threads, 1 rank with one thread (the compute time
    # of the scaling model), then N ranks of one thread each.
    plan = [(1, None), (1, 1)] + [(int(v), None) for v in args.ranks.split(",") if v != "1"]
    for key, (n, threads) in enumerate(plan):
        command = [_mpiexec(), "-n", str(n), sys.executable, __file__, "--worker"]
        command += [] if threads is None else ["--threads", str(threads)]
        command += ["--batch", str(args.batch), "--steps", str(args.steps)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            sys.exit(f"bench_distributed: {n} ranks failed:\n{done.stdout}\n{done.stderr}")
        runs[key] = json.loads(lines[-1][len("RESULT ") :])
    print(f"global batch {args.batch} (batch/ranks per rank), float32, SGD, cpus={os.cpu_count()}")
    print(
        f"{'model':<20}{'params':>9}{'ranks':>6}{'threads':>8}{'step ms':>9}"
        f"{'allreduce ms':>14}{'share':>7}"
    )
    for name in runs[0]["models"]:
        for run in runs.values():
            m = run["models"][name]
            share = m["allreduce_ms"] / m["step_ms"]
            print(
                f"{name:<20}{m['params']:>9}{run['world']:>6}{run['threads']:>8}"
                f"{m['step_ms']:>9.2f}{m['allreduce_ms']:>14.2f}{share:>7.1%}"
            )
    for run in runs.values():
        n = run["world"]
        if "allreduce_10M_ms" in run:
            print(
                f"Allreduce 10M float32 on {n} ranks: {run['allreduce_10M_ms']:.1f} ms, "
                f"bus bandwidth {run['bus_GBps']:.2f} GB/s"
            )


if __name__ == "__main__":
    main()
