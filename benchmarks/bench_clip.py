"""Gradient clipping benchmarks: ``fastdl.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``
over 10M float32 parameters next to ``torch.nn.utils``'s.

The parameters are four large matrices (``10M``: 4M + 3M + 2M + 1M elements) or 200
small ones (``200x5K``: 1M elements in all). On the fastdl side an optimizer has been
built over them, so their gradients are views into one flat buffer and a clip is one
``grad_norm`` kernel plus one in-place ``mul`` (or one ``clamp``) over the whole
buffer. Groups, each for both sizes:

* ``clip_grad_norm``      L2 norm, ``max_norm=1``.
* ``clip_grad_norm_inf``  the same with ``norm_type=inf``.
* ``clip_grad_value``     ``clip_grad_value_(params, 1e-4)``.

Before every timed call the gradients are put back (untimed) to standard-normal
values, whose norm is far above ``max_norm``: every call computes the norm and
scales every gradient, on both sides. (fastdl skips the scaling pass when the norm is
within ``max_norm``; gradients left clipped by the previous call would time the norm
alone.)

Implementations: ``fastdl-numba`` (the default backend, flat buffer), ``fastdl-numba-
per-grad`` (the same parameters without an optimizer: one kernel per gradient),
``fastdl-reference`` (NumPy kernels, flat buffer) and ``torch``
(``torch.nn.utils.clip_grad_norm_(..., foreach=True)``, ``clip_grad_value_(...,
foreach=True)``).

Run each side in its own process::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_train_step.py \\
        --file benchmarks/bench_clip.py --repeats 2
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _benchutil import record_work, time_with_setup

# 10M parameters in four large matrices; 1M parameters in 200 small ones.
SIZES = {
    "10M": [(2000, 2000), (3000, 1000), (2000, 1000), (1000, 1000)],
    "200x5K": [(50, 100)] * 200,
}
IMPLS = ["fastdl-numba", "fastdl-numba-per-grad", "fastdl-reference", "torch"]
CASES = {
    "clip_grad_norm": dict(norm_type=2.0),
    "clip_grad_norm_inf": dict(norm_type=math.inf),
    "clip_grad_value": dict(),
}


def _grads(size):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape, dtype=np.float32) for shape in SIZES[size]]


def _fastdl_params(size, flat: bool):
    import fastdl

    params = []
    for g in _grads(size):
        p = fastdl.nn.Parameter(fastdl.zeros(*g.shape))
        p.grad = fastdl.from_numpy(g)
        params.append(p)
    keep = fastdl.optim.SGD(params, lr=0.1) if flat else None  # lays out the flat buffer
    if flat:
        assert len(fastdl.nn.utils._runs([p.grad for p in params])) == 1
    return params, keep


def _fastdl_run(case, params):
    from fastdl.nn import utils

    if case == "clip_grad_value":
        return lambda: utils.clip_grad_value_(params, 1e-4)
    norm_type = CASES[case]["norm_type"]
    return lambda: utils.clip_grad_norm_(params, 1.0, norm_type)


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("impl", IMPLS)
def test_clip(benchmark, request, impl, case, size):
    benchmark.group = f"{case}-{size}"
    elements = sum(int(np.prod(s)) for s in SIZES[size])
    # the norm reads every gradient; the scaling (or the clamp) reads and writes them
    record_work(benchmark, nbytes=4 * elements * (2 if case == "clip_grad_value" else 3))
    rounds = max(int(request.config.getoption("benchmark_min_rounds")), 10)
    saved = _grads(size)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        params = [torch.nn.Parameter(torch.zeros(s)) for s in SIZES[size]]
        for p, g in zip(params, saved):
            p.grad = torch.from_numpy(g.copy())
        sources = [torch.from_numpy(g) for g in saved]

        def restore():
            torch._foreach_copy_([p.grad for p in params], sources)

        if case == "clip_grad_value":
            time_with_setup(
                benchmark,
                lambda: torch.nn.utils.clip_grad_value_(params, 1e-4, foreach=True),
                restore,
                rounds,
            )
            top = max(float(p.grad.abs().max()) for p in params)
        else:
            norm_type = CASES[case]["norm_type"]
            time_with_setup(
                benchmark,
                lambda: torch.nn.utils.clip_grad_norm_(params, 1.0, norm_type, foreach=True),
                restore,
                rounds,
            )
            total = float(torch.nn.utils.get_total_norm([p.grad for p in params], norm_type))
        grads = None
    else:
        import fastdl

        backend = "reference" if impl == "fastdl-reference" else "numba"
        params, keep = _fastdl_params(size, flat=impl != "fastdl-numba-per-grad")
        targets = [p.grad.numpy() for p in params]

        def restore():
            for target, g in zip(targets, saved):
                np.copyto(target, g)

        with fastdl.use_backend(backend):
            time_with_setup(benchmark, _fastdl_run(case, params), restore, rounds)
        grads = [p.grad.numpy() for p in params]
        benchmark.extra_info["flat_buffer"] = keep is not None
        if case == "clip_grad_value":
            top = max(float(np.abs(g).max()) for g in grads)
        else:
            total = float(
                fastdl.nn.utils.get_total_norm([p.grad for p in params], CASES[case]["norm_type"])
            )
    if case == "clip_grad_value":
        assert top <= 1e-4 * (1 + 1e-6)
    else:
        assert 0.999 < total < 1.001
