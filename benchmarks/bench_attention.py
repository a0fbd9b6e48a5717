"""Attention benchmarks: scaled_dot_product_attention forward + backward next to PyTorch.

* ``sdpa-causal-BxHxLxE`` one causal forward and backward (grads of query, key and
  value for a fixed upstream gradient), float32. fastdl runs its blocked Numba kernels
  (online softmax over 64 x 64 tiles, FlashAttention-2's loop order; the backward
  recomputes the scores from the saved log-sum-exp); torch runs
  ``torch.nn.functional.scaled_dot_product_attention``, its CPU flash-attention path,
  with BENCH_THREADS threads.
* ``sdpa-memory-1x4x4096x64`` the peak-RSS growth of one causal forward and backward
  at sequence 4096, each library in its own subprocess (``attention_memory.py``); the
  time is that of the whole subprocess. fastdl must stay below one head's 4096 x 4096
  float32 score matrix (64 MiB).

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_attention.py
"""

from __future__ import annotations

import attention_memory
import numpy as np
import pytest
from _benchutil import warm_then_time

SHAPES = [(8, 4, 256, 64)]


def _shape_id(shape) -> str:
    return "x".join(str(s) for s in shape)


def _step_torch(torch, arrays):
    q, k, v = (torch.from_numpy(a).requires_grad_() for a in arrays[:3])
    grad = torch.from_numpy(arrays[3])

    def step():
        for t in (q, k, v):
            t.grad = None
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(grad)
        return q.grad.numpy()

    return step


def _step_fastdl(backend, arrays):
    import fastdl
    import fastdl.nn.functional as F

    q, k, v = (fastdl.tensor(a, requires_grad=True) for a in arrays[:3])
    grad = fastdl.tensor(arrays[3])

    def step():
        for t in (q, k, v):
            t.grad = None
        with fastdl.use_backend(backend):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            out.backward(grad)
        return q.grad.numpy()

    return step


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
@pytest.mark.parametrize("impl", ["fastdl-numba", "torch"])
def test_sdpa_forward_backward(benchmark, request, impl, shape):
    rng = np.random.default_rng(list(shape))
    arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
    benchmark.group = f"sdpa-causal-{_shape_id(shape)}"
    if impl == "torch":
        step = _step_torch(request.getfixturevalue("torch"), arrays)
    else:
        step = _step_fastdl("numba", arrays)
    grad_q = warm_then_time(benchmark, step)
    assert grad_q.shape == shape and np.isfinite(grad_q).all()


@pytest.mark.parametrize("impl", ["fastdl-numba", "torch"])
def test_sdpa_peak_memory(benchmark, request, impl):
    if impl == "torch":
        request.getfixturevalue("torch")
    benchmark.group = f"sdpa-memory-{_shape_id(attention_memory.SHAPE)}"
    name = impl.split("-")[0]
    result = benchmark.pedantic(attention_memory.in_subprocess, (name,), rounds=1, iterations=1)
    benchmark.extra_info["peak_rss_growth_mib"] = round(result["peak_growth_mib"], 1)
    benchmark.extra_info["step_seconds"] = round(result["seconds"], 3)
    if name == "fastdl":
        assert result["peak_growth_mib"] < attention_memory.SCORE_MATRIX_MIB
