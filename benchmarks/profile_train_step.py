"""Where a fastdl training step's time goes: Python dispatch vs matmul vs other kernels.

The step is ``bench_train_step.py``'s (MLP 784-512-256-10, ReLU, Adam, float32).
Three views, each over many steps after a warm-up:

1. breakdown: every kernel of the backend wrapped with a timer, and ``numpy.matmul``
   too (the numba and reference linear kernels call it), in this process only; the
   rest of the step is Python (modules, autograd, ops, optimizer bookkeeping).
2. cProfile, top functions by own time (kernels and ufuncs show inside their callers:
   cProfile does not see Numba dispatchers or ufunc calls).
3. pyinstrument's call tree, when it is installed (``--pyinstrument``).

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_train_step.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python benchmarks/profile_train_step.py --batch 128 --backend reference --pyinstrument
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _benchutil import blas_summary  # noqa: E402
from bench_train_step import fastdl_step  # noqa: E402


def step_times(step, steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def breakdown(backend_name: str, step, steps: int) -> None:
    """Time each kernel (and numpy.matmul inside them) against the whole step."""
    from fastdl import backends

    backend = backends.get(backend_name)
    spent: dict[str, float] = collections.defaultdict(float)
    calls: collections.Counter = collections.Counter()
    originals = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t0
                calls[name] += 1

        return wrapper

    plain = statistics.median(step_times(step, steps))
    for name, fn in vars(backend).items():
        if callable(fn):
            originals[name] = fn
            setattr(backend, name, timed(name, fn))
    matmul = np.matmul
    np.matmul = timed("  numpy.matmul (inside kernels)", matmul)
    try:
        wrapped = step_times(step, steps)
    finally:
        np.matmul = matmul
        for name, fn in originals.items():
            setattr(backend, name, fn)

    total = sum(wrapped) / steps
    kernels = sum(v for k, v in spent.items() if not k.startswith(" ")) / steps
    mm = spent["  numpy.matmul (inside kernels)"] / steps
    launches = sum(v for k, v in calls.items() if not k.startswith(" ")) / steps
    print(f"step (unwrapped), median of {steps}: {plain * 1e3:.3f} ms")
    print(f"step (wrapped),   mean of {steps}:   {total * 1e3:.3f} ms; {launches:.0f} kernel calls")
    print(f"{'':34s} {'ms/step':>8s} {'share':>6s} {'calls':>6s}")
    rows = sorted(spent.items(), key=lambda kv: (kv[0].startswith(" "), -kv[1]))
    for name, seconds in rows:
        per = seconds / steps
        print(f"{name:34s} {per * 1e3:8.3f} {per / total:6.1%} {calls[name] / steps:6.1f}")
    print(f"{'= all kernels':34s} {kernels * 1e3:8.3f} {kernels / total:6.1%}")
    print(f"{'  of which numpy.matmul':34s} {mm * 1e3:8.3f} {mm / total:6.1%}")
    print(
        f"{'  of which other kernel work':34s} {(kernels - mm) * 1e3:8.3f} "
        f"{(kernels - mm) / total:6.1%}"
    )
    print(
        f"{'= Python outside kernels':34s} {(total - kernels) * 1e3:8.3f} "
        f"{(total - kernels) / total:6.1%}"
    )


def profile(step, steps: int, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    print(f"cProfile: {stats.total_calls / steps:.0f} Python-level calls per step")
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    print(text[text.index("   ncalls") :] if "   ncalls" in text else text)


def instrument(step, steps: int) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed (pip install pyinstrument)")
        return
    profiler = Profiler()
    profiler.start()
    for _ in range(steps):
        step()
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--backend", choices=("numba", "reference"), default="numba")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--pyinstrument", action="store_true")
    args = parser.parse_args(argv)

    import fastdl

    with fastdl.use_backend(args.backend):
        step = fastdl_step(args.backend, args.batch)
        for _ in range(10):
            step()
        print(f"fastdl {args.backend}, batch {args.batch}; BLAS: {blas_summary()}")
        print("\n== breakdown ==")
        breakdown(args.backend, step, args.steps)
        print("\n== cProfile (own time) ==")
        profile(step, args.steps, args.top)
        if args.pyinstrument:
            print("\n== pyinstrument ==")
            instrument(step, args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
