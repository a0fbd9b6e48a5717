"""Second-order benchmark: the Hessian of an MLP's loss with respect to its
~1,150 parameters, fastdl's ``autograd.hessian`` (row by row: one backward pass
through the graph of the gradient per parameter) against torch's fastest path,
``torch.func.hessian`` (forward-over-reverse, vectorised with vmap: ``torch-func``),
and ``torch.autograd.functional.hessian`` row by row as fastdl (``torch``).

The model is a function of one flat float64 parameter vector: tanh MLP 8-60-10 on a
fixed batch of 64 with cross-entropy. Run the sides in separate processes::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_train_step.py \\
        --file benchmarks/bench_second_order.py --repeats 2
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import warm_then_time

N_IN, HIDDEN, N_OUT, BATCH = 8, 60, 10, 64
SHAPES = [(HIDDEN, N_IN), (HIDDEN,), (N_OUT, HIDDEN), (N_OUT,)]
N_PARAMS = sum(int(np.prod(s)) for s in SHAPES)


def _problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, N_IN))
    y = rng.integers(0, N_OUT, BATCH)
    theta = 0.1 * rng.standard_normal(N_PARAMS)
    return x, y, theta


def _split(theta):
    parts, start = [], 0
    for shape in SHAPES:
        size = int(np.prod(shape))
        parts.append(theta[start : start + size].reshape(shape))
        start += size
    return parts


@pytest.mark.parametrize("impl", ["fastdl-numba", "torch", "torch-func"])
def test_hessian_mlp(benchmark, request, impl):
    x, y, theta = _problem()
    benchmark.group = f"hessian-mlp-{N_PARAMS}-params"
    if impl.startswith("torch"):
        torch = request.getfixturevalue("torch")
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def loss(t):
            w1, b1, w2, b2 = _split(t)
            hidden = torch.tanh(tx @ w1.T + b1)
            return torch.nn.functional.cross_entropy(hidden @ w2.T + b2, ty)

        point = torch.from_numpy(theta)
        if impl == "torch-func":
            fastest = torch.func.hessian(loss)
            result = warm_then_time(benchmark, lambda: fastest(point))
        else:
            result = warm_then_time(
                benchmark, lambda: torch.autograd.functional.hessian(loss, point)
            )
        h = result.numpy()
    else:
        import fastdl

        F = fastdl.nn.functional
        fx, fy = fastdl.tensor(x), fastdl.tensor(y)

        def loss(t):
            w1, b1, w2, b2 = _split(t)
            return F.cross_entropy(F.linear(F.linear(fx, w1, b1, activation="tanh"), w2, b2), fy)

        point = fastdl.tensor(theta)
        with fastdl.use_backend("numba"):
            h = warm_then_time(benchmark, lambda: fastdl.autograd.hessian(loss, point)).numpy()
    assert h.shape == (N_PARAMS, N_PARAMS)
    np.testing.assert_allclose(h, h.T, atol=1e-10)
