"""Optimizer and scheduler hyper-parameters and loaded state: finite, in range, of the
right type, checked before anything is written (ValueError, nothing changed)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastdl
from fastdl.optim import SGD, Adagrad, Adam, AdamW, Newton, RMSprop, lr_scheduler

BAD = [math.nan, math.inf, -math.inf]


def _param(values=(1.0, -2.0, 0.5)):
    p = fastdl.tensor(np.array(values, np.float32))
    p.requires_grad_(True)
    return p


def _stepped(cls, **options):
    p = _param()
    opt = cls([p], **options)
    for _ in range(2):
        (p * p).sum().backward()
        opt.step()
        opt.zero_grad()
    return opt, p


def _snapshot(opt, p):
    return copy.deepcopy(opt.state_dict()), p.detach().numpy().copy()


def _assert_unchanged(opt, p, before):
    state, values = before
    after = opt.state_dict()
    assert after["param_groups"] == state["param_groups"]
    assert after["state"].keys() == state["state"].keys()
    for index, entry in state["state"].items():
        for name, value in entry.items():
            np.testing.assert_array_equal(after["state"][index][name], value)
    np.testing.assert_array_equal(p.detach().numpy(), values)


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize(
    "cls, option, message",
    [
        (SGD, "lr", "Invalid learning rate"),
        (SGD, "momentum", "Invalid momentum value"),
        (SGD, "weight_decay", "Invalid weight_decay value"),
        (SGD, "dampening", "Invalid dampening value"),
        (Adam, "lr", "Invalid learning rate"),
        (Adam, "eps", "Invalid epsilon value"),
        (Adam, "weight_decay", "Invalid weight_decay value"),
        (AdamW, "lr", "Invalid learning rate"),
        (AdamW, "weight_decay", "Invalid weight_decay value"),
        (Adagrad, "lr_decay", "Invalid lr_decay value"),
        (Adagrad, "eps", "Invalid epsilon value"),
        (Adagrad, "initial_accumulator_value", "Invalid initial_accumulator_value"),
        (RMSprop, "alpha", "Invalid alpha value"),
        (RMSprop, "momentum", "Invalid momentum value"),
        (RMSprop, "eps", "Invalid epsilon value"),
        (Newton, "lr", "Invalid learning rate"),
        (Newton, "damping", "Invalid damping value"),
    ],
)
def test_constructors_refuse_non_finite_options(cls, option, message, bad):
    with pytest.raises(ValueError, match=message):
        cls([_param()], **{option: bad})


def test_pytorch_message_for_nan_lr():
    with pytest.raises(ValueError, match="^Invalid learning rate: nan$"):
        Adam([_param()], lr=math.nan)


@pytest.mark.parametrize("bad", BAD + [1.0, "0.9"])
@pytest.mark.parametrize("index", [0, 1])
def test_adam_refuses_bad_betas(bad, index):
    betas = [0.9, 0.999]
    betas[index] = bad
    with pytest.raises(ValueError, match="beta"):
        Adam([_param()], betas=tuple(betas))


def test_options_of_wrong_type_are_value_errors():
    with pytest.raises(ValueError, match="learning rate"):
        SGD([_param()], lr="0.1")
    with pytest.raises(ValueError, match="amsgrad"):
        Adam([_param()], amsgrad="yes")


def _adam_state(opt):
    return copy.deepcopy(opt.state_dict())


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda s: s.__setitem__("state", [1, 2]), "'state' must be a dict"),
        (lambda s: s["state"].__setitem__(0, "nope"), "parameter 0 must be a dict"),
        (lambda s: s["state"][0].__setitem__("step", 10**30), "step"),
        (lambda s: s["state"][0].__setitem__("step", -1), "step"),
        (lambda s: s["state"][0].__setitem__("step", 2.5), "step"),
        (lambda s: s["state"][0].__setitem__("step", "3"), "step"),
        (lambda s: s["state"][0]["exp_avg_sq"].__setitem__(1, -1.0), "negative"),
        (lambda s: s["state"][0]["exp_avg"].__setitem__(1, np.nan), "non-finite"),
        (lambda s: s["state"][0].__setitem__("exp_avg", np.full(3, 1e300)), "non-finite"),
        (lambda s: s["state"][0].__setitem__("exp_avg", np.array(["a", "b", "c"])), "real"),
        (lambda s: s["state"][0].__setitem__("exp_avg", "abc"), "array"),
        (lambda s: s["state"][0].__setitem__("exp_avg", np.ones(4)), "shape"),
        (lambda s: s["state"][0].pop("exp_avg_sq"), "lacks"),
        (lambda s: s["state"].__setitem__(7, s["state"][0]), "indices"),
        (lambda s: s["param_groups"][0].__setitem__("lr", math.nan), "Invalid learning rate"),
        (lambda s: s["param_groups"][0].__setitem__("eps", math.inf), "Invalid epsilon"),
        (lambda s: s["param_groups"][0].__setitem__("betas", (0.9, math.nan)), "beta"),
        (lambda s: s["param_groups"][0].__setitem__("betas", 0.9), "betas"),
        (lambda s: s["param_groups"][0].__setitem__("params", 3), "params"),
        (lambda s: s["param_groups"][0].__setitem__("initial_lr", math.inf), "initial_lr"),
        (lambda s: s.__setitem__("param_groups", "x"), "param_groups"),
    ],
)
def test_bad_optimizer_state_raises_and_changes_nothing(corrupt, message):
    opt, p = _stepped(Adam, lr=0.1, amsgrad=True)
    before = _snapshot(opt, p)
    state = _adam_state(opt)
    corrupt(state)
    with pytest.raises(ValueError, match=message):
        opt.check_state_dict(state)
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(state)
    _assert_unchanged(opt, p, before)


@pytest.mark.parametrize("cls, name", [(RMSprop, "square_avg"), (Adagrad, "sum")])
def test_negative_sums_of_squares_refused(cls, name):
    opt, p = _stepped(cls, lr=0.1)
    before = _snapshot(opt, p)
    state = copy.deepcopy(opt.state_dict())
    state["state"][0][name][0] = -1.0
    with pytest.raises(ValueError, match=name):
        opt.load_state_dict(state)
    _assert_unchanged(opt, p, before)


def test_good_state_round_trips_with_float_step():
    opt, p = _stepped(Adam, lr=0.1)
    state = copy.deepcopy(opt.state_dict())
    state["state"][0]["step"] = 2.0  # PyTorch saves step as a float
    fresh = Adam([_param()], lr=0.1)
    fresh.load_state_dict(state)
    assert fresh.state_dict()["state"][0]["step"] == 2


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.text(max_size=3),
    st.lists(st.floats(), max_size=4).map(np.array),
    st.just(np.ones(3)),
    st.just(np.full(3, -1.0)),
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    group_key=st.sampled_from(["lr", "betas", "eps", "weight_decay", "amsgrad", "params"]),
    state_key=st.sampled_from(["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]),
    group_value=_values,
    state_value=_values,
    which=st.sampled_from(["group", "state", "both"]),
)
def test_fuzz_optimizer_state_loads_or_changes_nothing(
    group_key, state_key, group_value, state_value, which
):
    opt, p = _stepped(Adam, lr=0.1, amsgrad=True)
    before = _snapshot(opt, p)
    state = copy.deepcopy(opt.state_dict())
    if which in ("group", "both"):
        state["param_groups"][0][group_key] = group_value
    if which in ("state", "both"):
        state["state"][0][state_key] = state_value
    try:
        opt.load_state_dict(state)
    except ValueError:
        _assert_unchanged(opt, p, before)
        return
    for group in opt.param_groups:  # whatever loaded is usable
        assert math.isfinite(group["lr"]) and math.isfinite(group["eps"])
    for entry in opt.state_dict()["state"].values():
        for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert np.isfinite(entry[name]).all()
        assert (entry["exp_avg_sq"] >= 0).all()


# --- schedulers ---------------------------------------------------------------------


def _sgd():
    return SGD([_param()], lr=0.1, momentum=0.9)


SCHEDULERS = {
    "step": lambda: lr_scheduler.StepLR(_sgd(), step_size=3),
    "multistep": lambda: lr_scheduler.MultiStepLR(_sgd(), milestones=[2, 4]),
    "exp": lambda: lr_scheduler.ExponentialLR(_sgd(), gamma=0.9),
    "cos": lambda: lr_scheduler.CosineAnnealingLR(_sgd(), T_max=5),
    "linear": lambda: lr_scheduler.LinearLR(_sgd()),
    "onecycle": lambda: lr_scheduler.OneCycleLR(_sgd(), max_lr=0.1, total_steps=10),
    "plateau": lambda: lr_scheduler.ReduceLROnPlateau(_sgd()),
}


@pytest.mark.parametrize(
    "kind, key, value",
    [
        ("step", "step_size", 0),
        ("step", "step_size", 2.0),
        ("step", "gamma", math.nan),
        ("step", "last_epoch", 10**30),
        ("step", "base_lrs", [math.inf]),
        ("step", "base_lrs", [0.1, 0.1]),
        ("step", "_last_lr", "0.1"),
        ("step", "get_lr", 5),
        ("multistep", "milestones", {2: 0}),
        ("multistep", "milestones", [2, 4]),
        ("exp", "gamma", -1.0),
        ("cos", "T_max", 0),
        ("cos", "eta_min", math.inf),
        ("linear", "start_factor", 0.0),
        ("linear", "total_iters", None),
        ("onecycle", "total_steps", 0),
        ("onecycle", "_anneal_func_type", "sin"),
        ("onecycle", "_schedule_phases", [{"end_step": 1.0}]),
        ("plateau", "factor", 1.0),
        ("plateau", "patience", -1),
        ("plateau", "mode", "up"),
        ("plateau", "best", math.nan),
        ("plateau", "min_lrs", [math.nan]),
    ],
)
def test_bad_scheduler_state_raises_and_changes_nothing(kind, key, value):
    sched = SCHEDULERS[kind]()
    before = sched.state_dict()
    state = sched.state_dict()
    state[key] = value
    with pytest.raises(ValueError, match=key):
        sched.check_state_dict(state)
    with pytest.raises(ValueError, match=key):
        sched.load_state_dict(state)
    assert sched.state_dict() == before


@pytest.mark.parametrize("kind", sorted(SCHEDULERS))
def test_scheduler_state_round_trips(kind, tmp_path):
    sched = SCHEDULERS[kind]()
    for _ in range(3):
        if kind == "plateau":
            sched.step(1.0)
        else:
            sched.step()
    fastdl.save(sched.state_dict(), tmp_path / "s.fdl")
    other = SCHEDULERS[kind]()
    other.load_state_dict(fastdl.load(tmp_path / "s.fdl"))
    assert other.state_dict() == sched.state_dict()
