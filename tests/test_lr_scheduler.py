"""Learning-rate schedulers against textbook closed forms written here in NumPy.

PyTorch's semantics: construction takes the first step (``last_epoch == 0``),
``step()`` advances one epoch (one batch for OneCycleLR), per-epoch schedulers
chain multiplicatively, state dicts resume a schedule exactly.
"""

import math

import numpy as np
import pytest

import fastdl
from fastdl import nn, optim
from fastdl.optim import lr_scheduler as L
from fastdl.optim.optimizer import Optimizer

LRS = (0.1, 0.03)  # two parameter groups with different learning rates
STEPS = 60


def _optimizer(kind="sgd", lrs=LRS):
    groups = [{"params": nn.Linear(2, 1).parameters(), "lr": lr} for lr in lrs]
    if kind == "sgd":
        return optim.SGD(groups, momentum=0.9)
    return optim.Adam(groups)


class _Plain(Optimizer):
    """An optimizer with neither momentum nor betas."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))


def _lrs(opt):
    return np.array([g["lr"] for g in opt.param_groups])


def _run(opt, sched, steps=STEPS):
    """The lr of every group at epochs 0..steps-1 (row t: after t steps)."""
    rows = []
    for _ in range(steps):
        rows.append(_lrs(opt))
        np.testing.assert_allclose(sched.get_last_lr(), rows[-1], rtol=0, atol=0)
        sched.step()
    return np.array(rows)


def _epochs(steps=STEPS):
    return np.arange(steps)[:, None]


# -- closed forms ---------------------------------------------------------------------


def _cosine(base, t, T_max, eta_min):
    return eta_min + (base - eta_min) * (1 + np.cos(np.pi * t / T_max)) / 2


def _linear(base, t, start, end, total):
    return base * (start + (end - start) * np.minimum(t, total) / total)


def _one_cycle(max_lr, t, total, pct, strategy, div, final_div, three_phase, lo=0.85, hi=0.95):
    """lr and momentum at batch t, written phase by phase from the 1cycle paper."""
    if strategy == "cos":

        def anneal(a, b, p):
            return b + (a - b) * (1 + np.cos(np.pi * p)) / 2
    else:

        def anneal(a, b, p):
            return a + (b - a) * p

    initial = max_lr / div
    final = initial / final_div
    up = pct * total - 1
    if not three_phase:
        if t <= up:
            return anneal(initial, max_lr, t / up), anneal(hi, lo, t / up)
        p = (t - up) / (total - 1 - up)
        return anneal(max_lr, final, p), anneal(lo, hi, p)
    down = 2 * pct * total - 2
    if t <= up:
        return anneal(initial, max_lr, t / up), anneal(hi, lo, t / up)
    if t <= down:
        p = (t - up) / (down - up)
        return anneal(max_lr, initial, p), anneal(lo, hi, p)
    p = (t - down) / (total - 1 - down)
    return anneal(initial, final, p), hi


# -- each scheduler over 60 steps, two groups, several options --------------------------


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("step_size, gamma", [(1, 0.9), (7, 0.5), (10, 0.1), (100, 0.5)])
def test_step_lr(kind, step_size, gamma):
    opt = _optimizer(kind)
    got = _run(opt, L.StepLR(opt, step_size=step_size, gamma=gamma))
    want = np.array(LRS) * gamma ** (_epochs() // step_size)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize(
    "milestones, gamma",
    [([3, 10, 40], 0.3), ([10, 3, 10, 55], 0.5), ([], 0.1), ([0, 59], 0.1)],
)
def test_multistep_lr(milestones, gamma):
    opt = _optimizer()
    got = _run(opt, L.MultiStepLR(opt, milestones=milestones, gamma=gamma))
    # Milestones passed by epoch t, epoch 0 included; a repeated one counts twice.
    passed = np.array([sum(1 for m in milestones if m <= t) for t in range(STEPS)])
    want = np.array(LRS) * gamma ** passed[:, None]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.9, 0.5, 1.0, 1.05])
def test_exponential_lr(gamma):
    opt = _optimizer()
    got = _run(opt, L.ExponentialLR(opt, gamma=gamma))
    np.testing.assert_allclose(got, np.array(LRS) * gamma ** _epochs(), rtol=1e-12)


@pytest.mark.parametrize("T_max, eta_min", [(10, 0.0), (17, 0.001), (60, 0.01), (1, 0.0)])
def test_cosine_annealing_lr(T_max, eta_min):
    opt = _optimizer("adam")
    got = _run(opt, L.CosineAnnealingLR(opt, T_max=T_max, eta_min=eta_min))
    # PyTorch's recursive form equals the closed form; past T_max the cosine goes on.
    want = _cosine(np.array(LRS), _epochs(), T_max, eta_min)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "start, end, total",
    [(1 / 3, 1.0, 5), (0.1, 0.5, 20), (1.0, 0.0, 30), (0.5, 0.5, 10), (0.25, 1.0, 1)],
)
def test_linear_lr(start, end, total):
    opt = _optimizer()
    got = _run(opt, L.LinearLR(opt, start_factor=start, end_factor=end, total_iters=total))
    np.testing.assert_allclose(
        got, _linear(np.array(LRS), _epochs(), start, end, total), rtol=1e-9, atol=1e-15
    )


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(total_steps=60),
        dict(epochs=6, steps_per_epoch=10, anneal_strategy="linear"),
        dict(total_steps=60, three_phase=True),
        dict(total_steps=61, pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
        dict(total_steps=80, pct_start=0.5, three_phase=True, anneal_strategy="linear"),
    ],
)
def test_one_cycle_lr_and_momentum(kind, kwargs):
    max_lrs = [1.0, 0.4]
    opt = _optimizer(kind)
    sched = L.OneCycleLR(opt, max_lr=max_lrs, **kwargs)
    assert sched.per_batch
    total = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    options = (
        total,
        kwargs.get("pct_start", 0.3),
        kwargs.get("anneal_strategy", "cos"),
        kwargs.get("div_factor", 25.0),
        kwargs.get("final_div_factor", 1e4),
        kwargs.get("three_phase", False),
    )
    for t in range(total):
        for group, max_lr in zip(opt.param_groups, max_lrs):
            lr, momentum = _one_cycle(max_lr, t, *options)
            assert group["lr"] == pytest.approx(lr, rel=1e-9, abs=1e-15)
            got = group["betas"][0] if kind == "adam" else group["momentum"]
            assert got == pytest.approx(momentum, rel=1e-9)
        if kind == "adam":
            assert opt.param_groups[0]["betas"][1] == 0.999  # beta2 untouched
        sched.step()
    with pytest.raises(ValueError, match="Tried to step"):
        sched.step()  # one step past total_steps


def test_one_cycle_without_momentum_cycling_keeps_momentum():
    opt = _optimizer("sgd")
    sched = L.OneCycleLR(opt, max_lr=0.5, total_steps=20, cycle_momentum=False)
    for _ in range(19):
        sched.step()
    assert all(g["momentum"] == 0.9 for g in opt.param_groups)
    plain = _Plain(nn.Linear(2, 1).parameters())
    L.OneCycleLR(plain, max_lr=0.5, total_steps=20, cycle_momentum=False).step()


def _plateau_reference(metrics, lrs, mode, factor, patience, threshold, threshold_mode,
                       cooldown, min_lr, eps):  # fmt: skip
    """ReduceLROnPlateau written from its documentation, one epoch at a time."""
    lrs = list(lrs)
    best = math.inf if mode == "min" else -math.inf
    bad = cool = 0
    out = []
    for value in metrics:
        if mode == "min":
            limit = best * (1 - threshold) if threshold_mode == "rel" else best - threshold
            improved = value < limit
        else:
            limit = best * (1 + threshold) if threshold_mode == "rel" else best + threshold
            improved = value > limit
        if improved:
            best, bad = value, 0
        else:
            bad += 1
        if cool > 0:  # epochs in cooldown never count as bad
            cool -= 1
            bad = 0
        if bad > patience:
            floors = min_lr if isinstance(min_lr, list) else [min_lr] * len(lrs)
            for i, lr in enumerate(lrs):
                new = max(lr * factor, floors[i])
                if lr - new > eps:
                    lrs[i] = new
            cool, bad = cooldown, 0
        out.append(list(lrs))
    return np.array(out)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(patience=0),
        dict(mode="max", factor=0.5, patience=2, cooldown=3),
        dict(threshold_mode="abs", threshold=0.05, patience=1, min_lr=[1e-3, 1e-2]),
        dict(mode="max", threshold_mode="abs", threshold=0.01, patience=3, min_lr=0.005),
        dict(factor=0.5, patience=1, eps=1e-3, min_lr=0.01),
    ],
)
def test_reduce_lr_on_plateau(kwargs):
    rng = np.random.default_rng(7)
    metrics = np.concatenate(
        [np.linspace(1.0, 0.5, 10), 0.5 + rng.normal(0, 0.02, 60), [np.nan], rng.random(30)]
    )
    opt = _optimizer()
    sched = L.ReduceLROnPlateau(opt, **kwargs)
    got = []
    for i, value in enumerate(metrics):
        sched.step(fastdl.tensor(value) if i % 2 else float(value))
        got.append(_lrs(opt))
        np.testing.assert_array_equal(sched.get_last_lr(), got[-1])
    options = dict(
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0,
        eps=1e-8,
    )
    options.update(kwargs)
    want = _plateau_reference(metrics, LRS, **options)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-12)
    assert sched.last_epoch == len(metrics)
    assert np.array(got)[-1, 0] < LRS[0]  # it did reduce at least once


def test_reduce_lr_on_plateau_by_hand():
    opt = _optimizer()
    sched = L.ReduceLROnPlateau(opt, patience=2)
    seen = []
    for value in [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]:
        sched.step(value)
        seen.append(round(sched.get_last_lr()[0], 12))
    # Bad epochs 2, 3, 4: the third (> patience) reduces; 0.5 is a new best.
    assert seen == [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01]


# -- chaining, initial_lr, resuming -----------------------------------------------------


def test_chained_schedulers_multiply_per_group():
    opt = _optimizer()
    scheds = [
        L.LinearLR(opt, start_factor=0.25, total_iters=8),
        L.ExponentialLR(opt, gamma=0.95),
        L.StepLR(opt, step_size=10, gamma=0.5),
    ]
    rows = []
    for _ in range(STEPS):
        rows.append(_lrs(opt))
        for s in scheds:
            s.step()
    t = _epochs()
    want = _linear(np.array(LRS), t, 0.25, 1.0, 8) * 0.95**t * 0.5 ** (t // 10)
    np.testing.assert_allclose(np.array(rows), want, rtol=1e-9)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    assert all(s.base_lrs == list(LRS) for s in scheds)


def _factories():
    return {
        "step": lambda o: L.StepLR(o, step_size=4, gamma=0.5),
        "multistep": lambda o: L.MultiStepLR(o, milestones=[5, 20, 20], gamma=0.5),
        "exponential": lambda o: L.ExponentialLR(o, gamma=0.9),
        "cosine": lambda o: L.CosineAnnealingLR(o, T_max=12, eta_min=1e-3),
        "linear": lambda o: L.LinearLR(o, start_factor=0.2, total_iters=30),
        "onecycle": lambda o: L.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=60),
        "plateau": lambda o: L.ReduceLROnPlateau(o, patience=1, cooldown=2, factor=0.5),
    }


def _metric(t):
    return 1.0 / (1 + t % 7)  # improves, then jumps back: a plateau every few epochs


def _advance(sched, t):
    if isinstance(sched, L.ReduceLROnPlateau):
        sched.step(_metric(t))
    else:
        sched.step()


@pytest.mark.parametrize("name", sorted(_factories()))
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_state_dict_round_trip_resumes_identically(name, kind, tmp_path):
    make = _factories()[name]
    opt = _optimizer(kind)
    sched = make(opt)
    for t in range(17):
        _advance(sched, t)
    path = tmp_path / "ckpt.fdl"
    fastdl.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, path)

    loaded = fastdl.load(path)
    opt2 = _optimizer(kind, lrs=(0.7, 0.7))  # different lrs: the state dicts bring them back
    sched2 = make(opt2)
    opt2.load_state_dict(loaded["optimizer"])
    sched2.load_state_dict(loaded["scheduler"])
    assert sched2.last_epoch == sched.last_epoch
    for t in range(17, 17 + 40):
        assert _lrs(opt2).tolist() == _lrs(opt).tolist()
        assert sched2.get_last_lr() == sched.get_last_lr()
        if kind == "adam":
            assert [g["betas"] for g in opt2.param_groups] == [g["betas"] for g in opt.param_groups]
        else:
            assert [g["momentum"] for g in opt2.param_groups] == [
                g["momentum"] for g in opt.param_groups
            ]
        if name == "onecycle" and t >= 59:
            break
        _advance(sched, t)
        _advance(sched2, t)


def test_state_dict_is_a_copy():
    opt = _optimizer()
    sched = L.MultiStepLR(opt, milestones=[2])
    state = sched.state_dict()
    state["milestones"][2] = 5
    state["base_lrs"].append(1.0)
    assert sched.milestones == {2: 1} and sched.base_lrs == list(LRS)
    assert "optimizer" not in state


def test_resume_with_last_epoch_needs_initial_lr():
    opt = _optimizer()
    with pytest.raises(KeyError, match="initial_lr"):
        L.StepLR(opt, step_size=2, last_epoch=5)
    L.StepLR(opt, step_size=2)  # records initial_lr
    for g in opt.param_groups:
        g["lr"] = g["initial_lr"] * 0.25  # as a loaded optimizer state would hold
    sched = L.StepLR(opt, step_size=2, gamma=0.5, last_epoch=5)
    assert sched.last_epoch == 6
    np.testing.assert_allclose(_lrs(opt), np.array(LRS) * 0.25)  # resuming keeps the lr
    sched.step()
    sched.step()
    np.testing.assert_allclose(_lrs(opt), np.array(LRS) * 0.125)  # epoch 8 decays


def test_initial_lr_is_kept_across_schedulers_and_set_by_one_cycle():
    opt = _optimizer()
    L.ExponentialLR(opt, gamma=0.5).step()
    L.StepLR(opt, step_size=3)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    L.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.04, 0.04]
    assert [g["min_lr"] for g in opt.param_groups] == [4e-6, 4e-6]


# -- bad arguments --------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda o: L.StepLR(o, step_size=0), "step_size"),
        (lambda o: L.StepLR(o, step_size=2.5), "step_size"),
        (lambda o: L.StepLR(o, step_size=3, gamma=-0.1), "gamma"),
        (lambda o: L.MultiStepLR(o, milestones=[2, -1]), "milestones"),
        (lambda o: L.MultiStepLR(o, milestones=[2.5]), "milestones"),
        (lambda o: L.ExponentialLR(o, gamma=float("nan")), "gamma"),
        (lambda o: L.CosineAnnealingLR(o, T_max=0), "T_max"),
        (lambda o: L.CosineAnnealingLR(o, T_max=10, eta_min=-1.0), "eta_min"),
        (lambda o: L.LinearLR(o, start_factor=0.0), "Starting multiplicative factor"),
        (lambda o: L.LinearLR(o, start_factor=1.5), "Starting multiplicative factor"),
        (lambda o: L.LinearLR(o, end_factor=1.5), "Ending multiplicative factor"),
        (lambda o: L.LinearLR(o, total_iters=0), "total_iters"),
        (lambda o: L.OneCycleLR(o, max_lr=1.0), "You must define either total_steps"),
        (lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=0), "total_steps"),
        (lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=5.0), "total_steps"),
        (lambda o: L.OneCycleLR(o, max_lr=1.0, epochs=0, steps_per_epoch=3), "epochs"),
        (lambda o: L.OneCycleLR(o, max_lr=1.0, epochs=2, steps_per_epoch=0), "steps_per_epoch"),
        (lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=9, pct_start=1.5), "pct_start"),
        (lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=9, pct_start=0), "pct_start"),
        (
            lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=9, anneal_strategy="exp"),
            "anneal_strategy",
        ),
        (lambda o: L.OneCycleLR(o, max_lr=[1.0], total_steps=9), "max_lr must have the same"),
        (
            lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=9, base_momentum=[0.8]),
            "base_momentum must have the same",
        ),
        (lambda o: L.ReduceLROnPlateau(o, factor=1.0), "Factor should be < 1.0"),
        (lambda o: L.ReduceLROnPlateau(o, mode="avg"), "mode avg is unknown"),
        (lambda o: L.ReduceLROnPlateau(o, threshold_mode="pct"), "threshold mode pct"),
        (lambda o: L.ReduceLROnPlateau(o, min_lr=[0.1]), "expected 2 min_lrs, got 1"),
        (lambda o: L.ReduceLROnPlateau(o, patience=-1), "patience"),
        (lambda o: L.StepLR(o, step_size=2, last_epoch=-2), "last_epoch"),
        (lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=9, last_epoch=-2), "last_epoch"),
    ],
)
def test_bad_arguments_raise_and_leave_the_optimizer_alone(make, message):
    opt = _optimizer("adam")
    before = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    with pytest.raises(ValueError, match=message):
        make(opt)
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == before


def test_one_cycle_needs_momentum_or_betas_and_writes_nothing_otherwise():
    opt = _Plain([{"params": nn.Linear(2, 1).parameters(), "lr": lr} for lr in LRS])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        L.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    assert [set(g) for g in opt.param_groups] == [{"params", "lr"}] * 2
    assert _lrs(opt).tolist() == list(LRS)


def test_schedulers_need_a_fastdl_optimizer():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        L.StepLR(object(), step_size=2)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        L.ReduceLROnPlateau([{"lr": 0.1}])
