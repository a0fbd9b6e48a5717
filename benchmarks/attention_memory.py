"""Peak memory of scaled-dot-product attention at a long sequence, fastdl next to torch.

Each library runs in its own subprocess: inputs (1, 4, 4096, 64) float32 for query,
key, value and the upstream gradient, causal, then one forward and backward. The
figure reported is the growth of the process's peak RSS during that step, over the
peak after imports, inputs and a warm-up call on a short sequence (which compiles
fastdl's kernels). One head's 4096 x 4096 float32 score matrix is 64 MiB, the four
heads' 256 MiB: a step that forms it grows the peak by at least that much.

Run::

    python benchmarks/attention_memory.py            # both, a table
    python benchmarks/attention_memory.py fastdl     # one, a JSON line
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

SHAPE = (1, 4, 4096, 64)
SCORE_MATRIX_MIB = SHAPE[2] * SHAPE[2] * 4 / 2**20  # one head, float32


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _step(impl: str):
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(4)]
    if impl == "torch":
        import torch

        def run(arrays):
            q, k, v = (torch.from_numpy(a).requires_grad_() for a in arrays[:3])
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            out.backward(torch.from_numpy(arrays[3]))
            return q.grad.numpy()

    else:
        import fastdl
        import fastdl.nn.functional as F

        def run(arrays):
            q, k, v = (fastdl.tensor(a, requires_grad=True) for a in arrays[:3])
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            out.backward(fastdl.tensor(arrays[3]))
            return q.grad.numpy()

    return run, arrays


def measure(impl: str) -> dict:
    """Peak-RSS growth (MiB) and time of one causal forward + backward at SHAPE."""
    run, arrays = _step(impl)
    run([a[:, :, :128].copy() for a in arrays])  # warm-up: compile, load kernels
    before = _peak_mib()
    start = time.perf_counter()
    grad = run(arrays)
    seconds = time.perf_counter() - start
    assert grad.shape == SHAPE
    return {"impl": impl, "peak_growth_mib": _peak_mib() - before, "seconds": seconds}


def in_subprocess(impl: str) -> dict:
    """:func:`measure` in a fresh Python process (its own peak RSS)."""
    done = subprocess.run(
        [sys.executable, __file__, impl], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(measure(sys.argv[1])))
        return
    print(
        f"causal SDPA forward+backward {SHAPE} float32; one head's scores: "
        f"{SCORE_MATRIX_MIB:.0f} MiB"
    )
    for impl in ("fastdl", "torch"):
        r = in_subprocess(impl)
        print(f"{impl:8s} peak RSS growth {r['peak_growth_mib']:8.1f} MiB   {r['seconds']:.2f} s")


if __name__ == "__main__":
    main()
