"""LBFGS: PyTorch's algorithm on the flat buffers.

* A quadratic ``0.5 x'Ax - b'x``: the strong-Wolfe search reaches NumPy's solution of
  ``Ax = b``; the fixed-step variant decreases the loss.
* Rosenbrock from (-1.2, 1): the strong-Wolfe search converges to (1, 1).
* state_dict -> load_state_dict into a fresh optimizer continues exactly as the
  uninterrupted run; bad arguments raise.
* Under ``pytest.importorskip("torch")``: the same iterates and evaluation counts as
  torch.optim.LBFGS, with and without the line search.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

import fastdl
from fastdl import optim

RNG = np.random.default_rng(3)
M = RNG.standard_normal((6, 6))
A = M @ M.T + 6 * np.eye(6)
B = RNG.standard_normal(6)
X0 = np.array([-1.5, 2.0, 0.5, -0.3])
TIGHT = dict(tolerance_grad=1e-12, tolerance_change=1e-15)  # run until converged


def _quadratic(lib, x):
    return 0.5 * (x * (lib.tensor(A) @ x)).sum() - (lib.tensor(B) * x).sum()


def _rosenbrock(lib, x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _minimise(lib, module, loss_fn, x0, steps, **kwargs):
    x = lib.tensor(np.array(x0, dtype=np.float64), requires_grad=True)
    opt = module.LBFGS([x], **kwargs)

    def closure():
        opt.zero_grad()
        loss = loss_fn(lib, x)
        loss.backward()
        return loss

    path = []
    for _ in range(steps):
        opt.step(closure)
        path.append(x.detach().numpy().copy())
    return np.array(path), opt, x


def test_quadratic_reaches_the_linear_solution():
    path, opt, _ = _minimise(
        fastdl, optim, _quadratic, np.zeros(6), 2, line_search_fn="strong_wolfe", **TIGHT
    )
    np.testing.assert_allclose(path[-1], np.linalg.solve(A, B), rtol=1e-6, atol=1e-8)
    state = opt.state[opt.param_groups[0]["params"][0]]
    assert state["n_iter"] >= 6 and len(state["old_dirs"]) <= 100


def test_fixed_step_decreases_the_quadratic():
    x0 = np.ones(6)
    path, _, _ = _minimise(fastdl, optim, _quadratic, x0, 3, lr=0.05, max_iter=5)
    values = [0.5 * p @ A @ p - B @ p for p in [x0, *path]]
    assert all(b < a for a, b in zip(values, values[1:]))


def test_rosenbrock_converges_with_strong_wolfe():
    path, _, _ = _minimise(
        fastdl, optim, _rosenbrock, [-1.2, 1.0], 2, line_search_fn="strong_wolfe", **TIGHT
    )
    np.testing.assert_allclose(path[-1], np.ones(2), atol=1e-6)


def test_history_size_bounds_the_curvature_pairs():
    _, opt, _ = _minimise(fastdl, optim, _rosenbrock, X0, 2, lr=0.1, history_size=3)
    state = opt.state[opt.param_groups[0]["params"][0]]
    assert len(state["old_dirs"]) == len(state["old_stps"]) == len(state["ro"]) <= 3


def test_resume_continues_the_same_iterates():
    kwargs = dict(lr=0.5, max_iter=4, history_size=5, line_search_fn="strong_wolfe")
    whole, _, _ = _minimise(fastdl, optim, _rosenbrock, X0, 4, **kwargs)
    first, opt, x = _minimise(fastdl, optim, _rosenbrock, X0, 2, **kwargs)
    buffer = io.BytesIO()
    fastdl.save(opt.state_dict(), buffer)
    buffer.seek(0)
    saved = fastdl.load(buffer)
    assert {"d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad"} <= set(
        saved["state"][0]
    )
    y = fastdl.tensor(first[-1].copy(), requires_grad=True)
    fresh = optim.LBFGS([y], **kwargs)
    fresh.load_state_dict(saved)

    def closure():
        fresh.zero_grad()
        loss = _rosenbrock(fastdl, y)
        loss.backward()
        return loss

    for expected in whole[2:]:
        fresh.step(closure)
        np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-12, atol=1e-14)


def test_bad_arguments_raise():
    a, b = fastdl.zeros(2, requires_grad=True), fastdl.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.LBFGS([a], lr=-1.0)
    opt = optim.LBFGS([a], line_search_fn="armijo")

    def closure():
        opt.zero_grad()
        loss = ((a - 1.0) ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)


def test_cuda_parameters_follow_the_cpu_iterates():
    cpu, _, _ = _minimise(fastdl, optim, _rosenbrock, [-1.2, 1.0], 1, max_iter=5,
                          line_search_fn="strong_wolfe")  # fmt: skip
    x = fastdl.tensor(np.array([-1.2, 1.0]), requires_grad=True, device="cuda")
    opt = optim.LBFGS([x], max_iter=5, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(fastdl, x)
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(x.detach().cpu().numpy(), cpu[-1], rtol=1e-12)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_same_iterates_as_torch(line_search_fn):
    torch = pytest.importorskip("torch")
    kwargs = dict(lr=1 if line_search_fn else 0.1, max_iter=15, history_size=5,
                  line_search_fn=line_search_fn)  # fmt: skip
    mine, opt, _ = _minimise(fastdl, optim, _rosenbrock, X0, 4, **kwargs)
    theirs, topt, _ = _minimise(torch, torch.optim, _rosenbrock, X0, 4, **kwargs)
    np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    ours, their = opt.state_dict()["state"][0], topt.state_dict()["state"][0]
    assert set(ours) == set(their)
    assert (ours["func_evals"], ours["n_iter"]) == (their["func_evals"], their["n_iter"])
