"""Adadelta, Adamax, NAdam, RAdam, ASGD and Rprop against PyTorch's update formulas.

* Several steps of each optimizer (a few option sets each, both CPU backends, float32
  and float64) next to a per-element float64 NumPy re-implementation of the formula of
  ``torch.optim``'s single-tensor path, written here, on a quadratic loss whose
  gradient NumPy computes itself.
* A parameter stepped alone (another without a gradient) keeps its own step count and
  state numbers (NAdam's mu_product, ASGD's eta and mu).
* State: PyTorch's per-parameter keys; state_dict -> load_state_dict into a fresh
  optimizer continues exactly as the uninterrupted run.
* Bad hyper-parameters raise ValueError with PyTorch's messages.
* Under ``pytest.importorskip("torch")``: the same steps as torch.optim itself.

The kernels themselves are held to the reference on every backend (CUDA under the
simulator) by tests/test_conformance.py.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from _tolerance import GRAD

import fastdl
from fastdl import optim

STEPS = 6
FLOATS = [np.float32, np.float64]
BACKENDS = ["numba", "reference"]
RNG = np.random.default_rng(7)
P0 = [RNG.standard_normal((3, 4)), RNG.standard_normal(5)]
C = [0.5 + RNG.random((3, 4)), 0.5 + RNG.random(5)]
D = [RNG.standard_normal((3, 4)), RNG.standard_normal(5)]


def _grad(i, p):
    """The gradient of sum(c^2 p^2 + d p) for parameter i."""
    return 2 * C[i] ** 2 * p + D[i]


def _run(cls, kwargs, dtype, steps=STEPS, absent=()):
    """fastdl's parameters after ``steps`` steps on the quadratic loss; parameters
    listed in ``absent`` get no gradient."""
    params = [fastdl.tensor(p.astype(dtype), requires_grad=True) for p in P0]
    opt = cls(params, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        loss = sum(
            ((p * fastdl.tensor(c.astype(dtype))) ** 2).sum()
            + (p * fastdl.tensor(d.astype(dtype))).sum()
            for i, (p, c, d) in enumerate(zip(params, C, D))
            if i not in absent
        )
        loss.backward()
        opt.step()
    return [p.detach().numpy().astype(np.float64) for p in params], opt


# -- PyTorch's single-tensor formulas, per element, float64 --------------------------------


def _adadelta(p, g, s, t, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    g = -g if maximize else g
    g = g + weight_decay * p
    s["sq"] = rho * s.get("sq", 0 * p) + (1 - rho) * g * g
    delta = np.sqrt(s.get("acc", 0 * p) + eps) / np.sqrt(s["sq"] + eps) * g
    s["acc"] = rho * s.get("acc", 0 * p) + (1 - rho) * delta * delta
    return p - lr * delta


def _adamax(p, g, s, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
    b1, b2 = betas
    g = -g if maximize else g
    g = g + weight_decay * p
    s["m"] = b1 * s.get("m", 0 * p) + (1 - b1) * g
    s["u"] = np.maximum(b2 * s.get("u", 0 * p), np.abs(g) + eps)
    return p - lr / (1 - b1**t) * s["m"] / s["u"]


def _nadam(p, g, s, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
           momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):  # fmt: skip
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    s["prod"] = s.get("prod", 1.0) * mu
    s["m"] = b1 * s.get("m", 0 * p) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0 * p) + (1 - b2) * g * g
    denom = np.sqrt(s["v"] / (1 - b2**t)) + eps
    p = p - lr * (1 - mu) / (1 - s["prod"]) * g / denom
    return p - lr * mu_next / (1 - s["prod"] * mu_next) * s["m"] / denom


def _radam(p, g, s, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
           decoupled_weight_decay=False, maximize=False):  # fmt: skip
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    s["m"] = b1 * s.get("m", 0 * p) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0 * p) + (1 - b2) * g * g
    m_hat = s["m"] / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t <= 5:
        return p - lr * m_hat
    rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return p - lr * m_hat * rect * math.sqrt(1 - b2**t) / (np.sqrt(s["v"]) + eps)


def _asgd(p, g, s, t, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
    g = -g if maximize else g
    g = g + weight_decay * p
    eta, mu = s.get("eta", lr), s.get("mu", 1.0)
    p = p * (1 - lambd * eta) - eta * g
    s["ax"] = p.copy() if mu == 1 else s["ax"] + (p - s["ax"]) * mu
    s["eta"] = lr / (1 + lambd * lr * t) ** alpha
    s["mu"] = 1 / max(1, t - t0)
    return p


def _rprop(p, g, s, t, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
    g = -g if maximize else g
    prev, size = s.get("prev", 0 * p), s.get("size", np.full_like(p, lr))
    sign = np.sign(g * prev)
    factor = np.where(sign > 0, etas[1], np.where(sign < 0, etas[0], 1.0))
    s["size"] = np.clip(size * factor, *step_sizes)
    g = np.where(sign < 0, 0.0, g)
    s["prev"] = g
    return p - np.sign(g) * s["size"]


CASES = [
    (optim.Adadelta, _adadelta, {}),
    (optim.Adadelta, _adadelta, {"lr": 0.5, "weight_decay": 0.1, "maximize": True}),
    (optim.Adamax, _adamax, {"lr": 0.05}),
    (optim.Adamax, _adamax, {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    (optim.NAdam, _nadam, {"lr": 0.05}),
    (optim.NAdam, _nadam, {"lr": 0.05, "weight_decay": 0.1, "momentum_decay": 0.01}),
    (optim.NAdam, _nadam, {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    (optim.RAdam, _radam, {"lr": 0.05}),
    (optim.RAdam, _radam, {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1}),
    (optim.RAdam, _radam, {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1,
                           "decoupled_weight_decay": True, "maximize": True}),
    (optim.ASGD, _asgd, {"lr": 0.05}),
    (optim.ASGD, _asgd, {"lr": 0.05, "lambd": 0.1, "t0": 2, "weight_decay": 0.1}),
    (optim.Rprop, _rprop, {}),
    (optim.Rprop, _rprop, {"lr": 0.3, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.5)}),
]  # fmt: skip
IDS = [f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(CASES)]


def _textbook(rule, kwargs, steps=STEPS, absent=()):
    params, states = [p.copy() for p in P0], [{}, {}]
    for t in range(1, steps + 1):
        for i, p in enumerate(params):
            if i not in absent:
                params[i] = rule(p, _grad(i, p), states[i], t, **kwargs)
    return params


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("cls,rule,kwargs", CASES, ids=IDS)
def test_steps_match_pytorch_formula(cls, rule, kwargs, dtype, backend):
    with fastdl.use_backend(backend):
        got, _ = _run(cls, kwargs, dtype)
    for actual, expected in zip(got, _textbook(rule, kwargs)):
        np.testing.assert_allclose(actual, expected, **GRAD[np.dtype(dtype)])


@pytest.mark.parametrize("cls,rule,kwargs", CASES[::2], ids=IDS[::2])
def test_parameter_without_gradient_keeps_its_own_state(cls, rule, kwargs):
    got, opt = _run(cls, kwargs, np.float64, absent=(1,))
    expected = _textbook(rule, kwargs, absent=(1,))
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(got[1], P0[1])
    assert 1 not in opt.state_dict()["state"]


TORCH_KEYS = {
    optim.Adadelta: {"step", "square_avg", "acc_delta"},
    optim.Adamax: {"step", "exp_avg", "exp_inf"},
    optim.NAdam: {"step", "mu_product", "exp_avg", "exp_avg_sq"},
    optim.RAdam: {"step", "exp_avg", "exp_avg_sq"},
    optim.ASGD: {"step", "eta", "mu", "ax"},
    optim.Rprop: {"step", "prev", "step_size"},
}


@pytest.mark.parametrize("cls", list(TORCH_KEYS), ids=lambda c: c.__name__)
def test_state_keys_and_resume(cls):
    kwargs = dict(next(k for c, _, k in CASES if c is cls))
    _, opt = _run(cls, kwargs, np.float64, steps=3)
    buffer = io.BytesIO()
    fastdl.save(opt.state_dict(), buffer)
    buffer.seek(0)
    saved = fastdl.load(buffer)
    assert set(saved["state"][0]) == TORCH_KEYS[cls]
    assert saved["state"][0]["step"] == 3
    assert set(opt.state[opt.param_groups[0]["params"][0]]) == TORCH_KEYS[cls]
    # a fresh optimizer loaded at step 3 continues as the uninterrupted run
    params = [fastdl.tensor(p, requires_grad=True) for p in P0]
    for p, q in zip(params, opt.param_groups[0]["params"]):
        p.data = q.detach().clone()
    fresh = cls(params, **kwargs)
    fresh.load_state_dict(saved)
    for _ in range(3):
        fresh.zero_grad()
        sum(((p * fastdl.tensor(c)) ** 2).sum() + (p * fastdl.tensor(d)).sum()
            for p, c, d in zip(params, C, D)).backward()  # fmt: skip
        fresh.step()
    whole, _ = _run(cls, kwargs, np.float64, steps=6)
    for p, expected in zip(params, whole):
        np.testing.assert_array_equal(p.detach().numpy(), expected)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda ps: optim.Adadelta(ps, lr=-1), "Invalid learning rate: -1"),
        (lambda ps: optim.Adadelta(ps, rho=1.5), "Invalid rho value: 1.5"),
        (lambda ps: optim.Adadelta(ps, eps=-1e-6), "Invalid epsilon value: -1e-06"),
        (lambda ps: optim.Adamax(ps, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
        (lambda ps: optim.NAdam(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        (lambda ps: optim.NAdam(ps, momentum_decay=-1), "Invalid momentum_decay value: -1"),
        (lambda ps: optim.RAdam(ps, weight_decay=-1), "Invalid weight_decay value: -1"),
        (lambda ps: optim.ASGD(ps, lr=-0.1), "Invalid learning rate: -0.1"),
        (lambda ps: optim.Rprop(ps, etas=(1.5, 1.2)), "Invalid eta values: 1.5, 1.2"),
    ],
)
def test_bad_options_raise_pytorchs_message(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        make([fastdl.zeros(2, requires_grad=True)])


@pytest.mark.parametrize("cls,rule,kwargs", CASES, ids=IDS)
def test_steps_match_torch(cls, rule, kwargs):
    torch = pytest.importorskip("torch")
    params = [torch.tensor(p, requires_grad=True) for p in P0]
    opt = getattr(torch.optim, cls.__name__)(params, **kwargs)
    for _ in range(STEPS):
        opt.zero_grad()
        sum(((p * torch.tensor(c)) ** 2).sum() + (p * torch.tensor(d)).sum()
            for p, c, d in zip(params, C, D)).backward()  # fmt: skip
        opt.step()
    got, mine = _run(cls, kwargs, np.float64)
    # torch keeps NAdam's mu_product and ASGD's eta, mu in float32
    tol = 1e-6 if cls in (optim.NAdam, optim.ASGD) else 1e-10
    for actual, p in zip(got, params):
        np.testing.assert_allclose(actual, p.detach().numpy(), rtol=tol, atol=tol)
    assert set(mine.state_dict()["state"][0]) == set(opt.state_dict()["state"][0])


@pytest.mark.parametrize("cls", list(TORCH_KEYS), ids=lambda c: c.__name__)
def test_cuda_steps_match_cpu(cls):
    """The optimizer end to end on a CUDA tensor (the simulator without a GPU)."""
    kwargs = next(k for c, _, k in CASES if c is cls)
    results = []
    for device in ("cpu", "cuda"):
        x = fastdl.tensor(P0[1].astype(np.float32), requires_grad=True, device=device)
        opt = cls([x], **kwargs)
        for _ in range(3):
            opt.zero_grad()
            ((x * x).sum() + x.sum()).backward()
            opt.step()
        results.append((x.detach().cpu().numpy(), opt.state_dict()["state"][0]))
    (cpu, cpu_state), (gpu, gpu_state) = results
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
    assert set(gpu_state) == set(cpu_state)
