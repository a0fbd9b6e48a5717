"""Optimizer idioms of PyTorch scripts: per-parameter state, optimizers written the
PyTorch way, parameter groups, zero_grad, step hooks, state dicts. Updates are checked
against the rules written in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
from fastdl import nn, optim


def _model(seed: int = 0) -> nn.Module:
    fastdl.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def _data(seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    y = rng.standard_normal((6, 2)).astype(np.float32)
    return fastdl.tensor(x), fastdl.tensor(y)


def _backward(model, x, y) -> list[np.ndarray]:
    """Fresh gradients of an MSE loss; returns copies of them."""
    nn.MSELoss()(model(x), y).backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


def _values(model) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.parameters()]


class MomentumSGD(optim.Optimizer):
    """Heavy-ball SGD written exactly as a PyTorch user writes an optimizer."""

    def __init__(self, params, lr=0.1, momentum=0.9):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @fastdl.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with fastdl.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["momentum_buffer"] = p.grad.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(p.grad)
                state["step"] += 1
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def _momentum_rule(values, grads, bufs, lr, momentum):
    """NumPy heavy-ball step; returns the new values and buffers."""
    bufs = [g.copy() if b is None else momentum * b + g for b, g in zip(bufs, grads)]
    return [v - lr * b for v, b in zip(values, bufs)], bufs


def test_user_optimizer_written_the_pytorch_way():
    model, (x, y) = _model(), _data()
    opt = MomentumSGD(model.parameters(), lr=0.05, momentum=0.8)
    values, bufs = _values(model), [None] * 4
    for _ in range(3):
        opt.zero_grad()
        grads = _backward(model, x, y)
        opt.step()
        values, bufs = _momentum_rule(values, grads, bufs, 0.05, 0.8)
    for p, v in zip(model.parameters(), values):
        assert_close(p.detach().numpy(), v, np.float32)
    assert opt.state[model[0].weight]["step"] == 3

    # its state dict is PyTorch's layout and resumes the same trajectory
    saved = opt.state_dict()
    assert sorted(saved["state"]) == [0, 1, 2, 3]
    assert saved["param_groups"] == [{"lr": 0.05, "momentum": 0.8, "params": [0, 1, 2, 3]}]
    clone = _model(5)
    clone.load_state_dict(model.state_dict())
    resumed = MomentumSGD(clone.parameters(), lr=1.0, momentum=0.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == 0.05
    for m, o in ((model, opt), (clone, resumed)):
        o.zero_grad()
        _backward(m, x, y)
        o.step()
    for p, q in zip(model.parameters(), clone.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_fused_state_entries_are_views_into_the_flat_buffers():
    model, (x, y) = _model(), _data()
    lr, (b1, b2), eps = 0.01, (0.9, 0.999), 1e-8
    opt = optim.Adam(model.parameters(), lr=lr, betas=(b1, b2), eps=eps)
    assert model[0].weight not in opt.state and len(opt.state) == 0
    values = _values(model)
    m = [np.zeros_like(v, np.float64) for v in values]
    v2 = [np.zeros_like(v, np.float64) for v in values]
    for step in (1, 2):
        opt.zero_grad()
        grads = _backward(model, x, y)
        opt.step()
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v2[i] = b2 * v2[i] + (1 - b2) * g * g
            m_hat, v_hat = m[i] / (1 - b1**step), v2[i] / (1 - b2**step)
            values[i] = values[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    weight = model[0].weight
    state = opt.state[weight]
    assert set(state) == {"step", "exp_avg", "exp_avg_sq"} and state["step"] == 2
    assert isinstance(state["exp_avg"], fastdl.Tensor)
    assert_close(state["exp_avg"].numpy(), m[0], np.float32)
    assert_close(state["exp_avg_sq"].numpy(), v2[0], np.float32)
    for p, v in zip(model.parameters(), values):
        assert_close(p.detach().numpy(), v, np.float32)
    (chunk,) = opt._chunks[0]
    assert np.shares_memory(state["exp_avg"].numpy(), chunk.state["exp_avg"])
    # writes go through to the flat buffer the fused kernel reads
    state["exp_avg"].zero_()
    assert not opt.state[weight]["exp_avg"].numpy().any()
    assert len(opt.state) == 4 and list(opt.state)[0] is weight


def test_editing_lr_between_steps_and_add_param_group():
    model, (x, y) = _model(), _data()
    extra = nn.Parameter(fastdl.ones(2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    opt.add_param_group({"params": [extra], "lr": 0.5})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.0  # the defaults fill the new group
    for lr in (0.1, 0.02):
        opt.param_groups[0]["lr"] = lr
        values = _values(model)
        opt.zero_grad()
        grads = _backward(model, x, y)
        (extra * extra).sum().backward()
        opt.step()
        for p, v, g in zip(model.parameters(), values, grads):
            assert_close(p.detach().numpy(), v - lr * g, np.float32)
    np.testing.assert_allclose(extra.detach().numpy(), [0.0, 0.0], atol=1e-7)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [extra]})


def test_zero_grad_set_to_none_skips_parameters_in_the_step():
    model, (x, y) = _model(), _data()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _backward(model, x, y)
    opt.step()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    before = _values(model)
    opt.step()  # no gradients: nothing moves, not even by momentum
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), b)
    opt.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in model.parameters())


def test_step_hooks_run_around_the_step_and_can_be_removed():
    model, (x, y) = _model(), _data()
    opt = optim.SGD(model.parameters(), lr=0.1)
    calls = []

    def pre(optimizer, args, kwargs):
        calls.append(("pre", optimizer is opt, model[0].weight.detach().numpy().copy()))

    def post(optimizer, args, kwargs):
        calls.append(("post", optimizer is opt, model[0].weight.detach().numpy().copy()))

    handles = [opt.register_step_pre_hook(pre), opt.register_step_post_hook(post)]
    _backward(model, x, y)
    opt.step()
    assert [c[:2] for c in calls] == [("pre", True), ("post", True)]
    assert not np.array_equal(calls[0][2], calls[1][2])  # the step ran between them
    for handle in handles:
        handle.remove()
    opt.step()
    assert len(calls) == 2

    # a pre-hook may replace the step's arguments; hooks fire once per user step
    user = MomentumSGD(model.parameters())
    user.register_step_pre_hook(
        lambda o, args, kwargs: ((), {"closure": lambda: calls.append("closure")})
    )
    user.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    user.step()
    assert calls[2:] == ["closure", "post"]


def test_fused_state_dict_layout_and_round_trip():
    model, (x, y) = _model(), _data()
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    _backward(model, x, y)
    opt.step()
    saved = opt.state_dict()
    assert sorted(saved["state"]) == [0, 1, 2, 3]
    assert saved["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert set(saved["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert isinstance(saved["state"][0]["exp_avg"], np.ndarray)
    clone = _model(9)
    clone.load_state_dict(model.state_dict())
    resumed = optim.Adam(clone.parameters(), lr=0.01, amsgrad=True)
    resumed.load_state_dict(saved)
    for m, o in ((model, opt), (clone, resumed)):
        o.zero_grad()
        _backward(m, x, y)
        o.step()
    for p, q in zip(model.parameters(), clone.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
