"""Optimizers: SGD, Adam and AdamW trajectories against textbook NumPy updates (PyTorch's
rules), flat buffers, zero_grad, frozen parameters, groups, state dicts, validation,
and agreement of the two CPU backends."""

import numpy as np
import pytest
from _tiny_model import np_of as _np
from _tiny_model import numpy_grads as _numpy_grads
from _tiny_model import tiny_data as _data
from _tiny_model import tiny_model as _model
from _tolerance import GRAD, assert_close

import fastdl
from fastdl import nn, optim

FLOATS = [np.float32, np.float64]
BACKENDS = ["numba", "reference"]


def _as64(arrays):
    return [np.asarray(a, np.float64) for a in arrays]


def _train_step(model, opt, x, y):
    opt.zero_grad()
    loss = nn.MSELoss()(model(fastdl.tensor(x)), fastdl.tensor(y))
    loss.backward()
    opt.step()
    return loss


# -- textbook updates (torch.optim's single-tensor rules) -----------------------------------------


class RefSGD:
    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        self.params = params
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.bufs = [None] * len(params)

    def step(self, grads):
        for i, (p, g) in enumerate(zip(self.params, grads)):
            g = g + self.weight_decay * p
            if self.momentum:
                if self.bufs[i] is None:
                    self.bufs[i] = g.copy()  # buf = g on the first step, no dampening
                else:
                    self.bufs[i] = self.momentum * self.bufs[i] + (1 - self.dampening) * g
                g = g + self.momentum * self.bufs[i] if self.nesterov else self.bufs[i]
            p -= self.lr * g

    def state(self, i):
        return {"momentum_buffer": self.bufs[i]} if self.momentum else {}


class RefAdam:
    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
        decoupled=False,
    ):
        self.params = params
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.weight_decay, self.amsgrad, self.decoupled = weight_decay, amsgrad, decoupled
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.vmax = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if self.decoupled:
                p *= 1 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
            m_hat = self.m[i] / (1 - self.b1**self.t)
            v = self.v[i]
            if self.amsgrad:
                self.vmax[i] = np.maximum(self.vmax[i], self.v[i])
                v = self.vmax[i]
            v_hat = v / (1 - self.b2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def state(self, i):
        out = {"exp_avg": self.m[i], "exp_avg_sq": self.v[i]}
        if self.amsgrad:
            out["max_exp_avg_sq"] = self.vmax[i]
        return out


CONFIGS = {
    "sgd": (optim.SGD, RefSGD, dict(lr=0.1)),
    "sgd_momentum": (optim.SGD, RefSGD, dict(lr=0.1, momentum=0.9)),
    "sgd_dampening": (optim.SGD, RefSGD, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    "sgd_nesterov": (optim.SGD, RefSGD, dict(lr=0.1, momentum=0.8, nesterov=True)),
    "sgd_weight_decay": (optim.SGD, RefSGD, dict(lr=0.1, momentum=0.9, weight_decay=0.05)),
    "sgd_nesterov_wd": (
        optim.SGD,
        RefSGD,
        dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
    ),
    "adam": (optim.Adam, RefAdam, dict(lr=0.01)),
    "adam_betas_eps": (optim.Adam, RefAdam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    "adam_weight_decay": (optim.Adam, RefAdam, dict(lr=0.01, weight_decay=0.1)),
    "adam_amsgrad": (optim.Adam, RefAdam, dict(lr=0.01, amsgrad=True)),
    "adam_amsgrad_wd": (optim.Adam, RefAdam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    "adamw": (optim.AdamW, RefAdam, dict(lr=0.01)),
    "adamw_wd": (optim.AdamW, RefAdam, dict(lr=0.01, weight_decay=0.2)),
    "adamw_amsgrad": (optim.AdamW, RefAdam, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
}


def _reference(name, params):
    cls, ref_cls, kwargs = CONFIGS[name]
    kwargs = dict(kwargs)
    if cls is optim.AdamW:
        kwargs.setdefault("weight_decay", 1e-2)  # PyTorch's AdamW default
        kwargs["decoupled"] = True
    return ref_cls(params, **kwargs)


def _tol(dtype):
    # float32 runs are compared with a float64 reference: allow the gradient tolerance.
    return GRAD[np.dtype(dtype)]


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_trajectory_matches_textbook_update(name, dtype, backend):
    cls, _, kwargs = CONFIGS[name]
    x, y = _data(dtype)
    with fastdl.use_backend(backend):
        model = _model(dtype)
        params = list(model.parameters())
        ref_params = [_np(p).astype(np.float64) for p in params]
        start = [p.copy() for p in ref_params]
        opt = cls(model.parameters(), **kwargs)
        ref = _reference(name, ref_params)
        for step in range(5):
            _train_step(model, opt, x, y)
            ref.step(_numpy_grads(ref_params, x.astype(np.float64), y.astype(np.float64)))
            for i, (p, r) in enumerate(zip(params, ref_params)):
                np.testing.assert_allclose(
                    _np(p), r, err_msg=f"step {step} param {i}", **_tol(dtype)
                )
        state = opt.state_dict()["state"]
        for i in range(len(params)):
            assert state[i]["step"] == 5
            for key, value in ref.state(i).items():
                np.testing.assert_allclose(state[i][key], value, err_msg=key, **_tol(dtype))
    moved = max(np.abs(r - s).max() for r, s in zip(ref_params, start))
    assert moved > 1e-3  # the comparison above is not vacuous


@pytest.mark.parametrize("name", ["sgd_nesterov_wd", "adam_amsgrad_wd", "adamw"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_numba_and_reference_backends_give_the_same_trajectory(name, dtype):
    cls, _, kwargs = CONFIGS[name]
    x, y = _data(dtype)
    runs = {}
    for backend in BACKENDS:
        with fastdl.use_backend(backend):
            model = _model(dtype)
            opt = cls(model.parameters(), **kwargs)
            losses = [_train_step(model, opt, x, y).item() for _ in range(6)]
            runs[backend] = (losses, [_np(p).copy() for p in model.parameters()])
    assert_close(runs["numba"][0], runs["reference"][0], dtype)
    for a, b in zip(runs["numba"][1], runs["reference"][1]):
        assert_close(a, b, dtype, kind="grad")


# -- flat buffers --------------------------------------------------------------------------------


def test_params_and_grads_are_views_into_one_buffer():
    model = _model()
    x, y = _data(np.float32)
    nn.MSELoss()(model(fastdl.tensor(x)), fastdl.tensor(y)).backward()
    grads_before = [p.grad.numpy().copy() for p in model.parameters()]
    values_before = [_np(p).copy() for p in model.parameters()]
    opt = optim.SGD(model.parameters(), lr=0.1)
    params = list(model.parameters())
    (buffer,) = fastdl.flat.flatten(params)  # already flat: the optimizer's own buffer
    assert len(buffer) == sum(p.numel() for p in params)
    offset = 0
    for p, g, v in zip(params, grads_before, values_before):
        value, grad = _np(p), p.grad.numpy()
        assert value.base is buffer.values and grad.base is buffer.grads
        assert np.shares_memory(value, buffer.values) and np.shares_memory(grad, buffer.grads)
        np.testing.assert_array_equal(buffer.values[offset : offset + p.numel()], v.ravel())
        np.testing.assert_array_equal(buffer.grads[offset : offset + p.numel()], g.ravel())
        np.testing.assert_array_equal(value, v)
        np.testing.assert_array_equal(grad, g)  # gradients made before survive flattening
        offset += p.numel()
    # a second optimizer over the same parameters reuses the layout
    optim.Adam(model.parameters())
    assert all(_np(p).base is buffer.values for p in params)
    _train_step(model, opt, x, y)
    assert all(_np(p).base is buffer.values and p.grad.numpy().base is buffer.grads for p in params)


def test_one_buffer_per_dtype():
    fastdl.manual_seed(0)
    a, b = nn.Linear(3, 4), nn.Linear(4, 2, dtype=fastdl.float64)
    params = list(a.parameters()) + list(b.parameters())
    optim.SGD(params, lr=0.1)
    buffers = fastdl.flat.flatten(params)
    assert sorted(str(buf.values.dtype) for buf in buffers) == ["float32", "float64"]
    by_dtype = {buf.values.dtype: buf for buf in buffers}
    for p in params:
        assert _np(p).base is by_dtype[p.dtype].values
        assert p.grad is None  # until backward, which writes into the kept buffer view
        assert p._grad._data.base is by_dtype[p.dtype].grads


def _backward(model, x, y):
    nn.MSELoss()(model(fastdl.tensor(x)), fastdl.tensor(y)).backward()


def test_zero_grad_marks_stale_and_backward_overwrites(monkeypatch):
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _data(np.float32)
    _backward(model, x, y)
    first = [p.grad.numpy().copy() for p in model.parameters()]
    assert all(g.any() for g in first)
    # zero_grad writes nothing; a second backward after it gives the same gradients,
    # not twice them (it overwrites the stale buffers instead of adding).
    backend = fastdl.backends.for_device("cpu")
    calls = []
    monkeypatch.setattr(backend, "fill", lambda out, value: calls.append(out.size))
    opt.zero_grad()
    assert calls == []
    monkeypatch.undo()
    _backward(model, x, y)
    (buffer,) = fastdl.flat.flatten(list(model.parameters()))
    for p, g in zip(model.parameters(), first):
        np.testing.assert_array_equal(p.grad.numpy(), g)
        assert p.grad.numpy().base is buffer.grads


def test_zero_grad_reads_as_zeros_and_accumulates_after_a_read():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _data(np.float32)
    _backward(model, x, y)
    first = [p.grad.numpy().copy() for p in model.parameters()]
    opt.zero_grad(set_to_none=False)
    (buffer,) = fastdl.flat.flatten(list(model.parameters()))
    for p in model.parameters():
        assert not p.grad.numpy().any()
        assert p.grad.numpy().base is buffer.grads
    # a gradient edited after zero_grad is kept and added to, as in PyTorch
    p0 = next(iter(model.parameters()))
    p0.grad.numpy()[...] = 1.0
    _backward(model, x, y)
    np.testing.assert_allclose(p0.grad.numpy(), first[0] + 1.0, rtol=1e-6)


def test_stale_gradient_of_an_unused_parameter_steps_as_zero():
    model = _model()
    unused = nn.Linear(2, 2)
    params = list(model.parameters()) + list(unused.parameters())
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    x, y = _data(np.float32)
    _backward(model, x, y)
    unused.weight._grad._data[...] = 5.0  # garbage left in the buffer
    opt.zero_grad(set_to_none=False)
    _backward(model, x, y)
    before = unused.weight.detach().numpy().copy()
    opt.step()
    np.testing.assert_array_equal(unused.weight.detach().numpy(), before)


def test_zero_grad_set_to_none_then_step_skips_those_params():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = _data(np.float32)
    _train_step(model, opt, x, y)
    opt.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in model.parameters())
    before = [_np(p).copy() for p in model.parameters()]
    opt.step()
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(_np(p), b)

    # only the last layer gets gradients: only it moves, by the textbook rule
    hidden = fastdl.tensor(np.random.default_rng(2).standard_normal((8, 5)).astype(np.float32))
    nn.MSELoss()(model[2](hidden), fastdl.tensor(y)).backward()
    assert model[0].weight.grad is None and model[0].bias.grad is None
    g = [model[2].weight.grad.numpy().copy(), model[2].bias.grad.numpy().copy()]
    bufs = [
        opt.state[model[2].weight]["momentum_buffer"].numpy().copy(),
        opt.state[model[2].bias]["momentum_buffer"].numpy().copy(),
    ]
    opt.step()
    for p, b in zip(list(model[0].parameters()), before[:2]):
        np.testing.assert_array_equal(_np(p), b)
    for p, b, gi, buf in zip(model[2].parameters(), before[2:], g, bufs):
        assert_close(_np(p), b - 0.1 * (0.9 * buf + gi), np.float32)
    assert opt.state[model[2].weight]["step"] == 2 and opt.state[model[0].weight]["step"] == 1
    # and the next full step puts everything back into the buffer
    _train_step(model, opt, x, y)
    (buffer,) = fastdl.flat.flatten(list(model.parameters()))
    assert all(p.grad.numpy().base is buffer.grads for p in model.parameters())


def test_frozen_params_are_left_out_and_not_updated():
    model = _model()
    model[0].weight.requires_grad_(False)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    frozen = _np(model[0].weight).copy()
    (buffer,) = fastdl.flat.flatten([p for p in model.parameters() if p.requires_grad])
    assert not np.shares_memory(_np(model[0].weight), buffer.values)
    assert len(buffer) == sum(p.numel() for p in model.parameters() if p.requires_grad)
    x, y = _data(np.float32)
    bias_before = _np(model[0].bias).copy()
    for _ in range(3):
        _train_step(model, opt, x, y)
    np.testing.assert_array_equal(_np(model[0].weight), frozen)
    assert model[0].weight.grad is None
    assert np.abs(_np(model[0].bias) - bias_before).max() > 1e-4
    assert model[0].weight not in opt.state


def test_param_frozen_after_building_the_optimizer_is_not_updated():
    # PyTorch's fine-tuning idiom: freeze a layer mid-training. With torch's default
    # zero_grad the frozen parameter has no gradient and step leaves it alone, even
    # with momentum and weight decay.
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    x, y = _data(np.float32)
    for _ in range(2):
        _train_step(model, opt, x, y)
    model[0].weight.requires_grad_(False)
    frozen = _np(model[0].weight).copy()
    for _ in range(2):
        _train_step(model, opt, x, y)
    np.testing.assert_array_equal(_np(model[0].weight), frozen)


def test_parameter_groups_with_different_lr():
    model = _model()
    opt = optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.5}, {"params": model[2].parameters()}],
        lr=0.01,
    )
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.01]
    x, y = _data(np.float32)
    before = [_np(p).copy() for p in model.parameters()]
    grads = _numpy_grads(_as64(before), *_as64([x, y]))
    _train_step(model, opt, x, y)
    for p, b, g, lr in zip(model.parameters(), before, grads, [0.5, 0.5, 0.01, 0.01]):
        np.testing.assert_allclose(_np(p), b - lr * g, **_tol(np.float32))
    opt.param_groups[1]["lr"] = 0.2  # changing a group's lr takes effect at the next step
    before = [_np(p).copy() for p in model.parameters()]
    grads = _numpy_grads(_as64(before), *_as64([x, y]))
    _train_step(model, opt, x, y)
    for p, b, g, lr in zip(model.parameters(), before, grads, [0.5, 0.5, 0.2, 0.2]):
        np.testing.assert_allclose(_np(p), b - lr * g, **_tol(np.float32))


def test_assigning_p_data_after_building_is_picked_up():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _data(np.float32)
    new_w = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    model[0].weight.data = fastdl.tensor(new_w)
    np.testing.assert_array_equal(_np(model[0].weight), new_w)
    before = [_np(p).astype(np.float64) for p in model.parameters()]
    grads = _numpy_grads(before, x.astype(np.float64), y.astype(np.float64))
    _train_step(model, opt, x, y)
    for p, b, g in zip(model.parameters(), before, grads):
        np.testing.assert_allclose(_np(p), b - 0.1 * g, **_tol(np.float32))
    (buffer,) = fastdl.flat.flatten(list(model.parameters()))
    assert _np(model[0].weight).base is buffer.values


def test_model_to_double_after_building_the_optimizer_is_a_clear_error():
    model = _model()
    opt = optim.Adam(model.parameters())
    model.double()
    x, y = _data(np.float64)
    loss = nn.MSELoss()(model(fastdl.tensor(x)), fastdl.tensor(y))
    loss.backward()
    with pytest.raises(RuntimeError, match="optimizer"):
        opt.step()


def test_a_step_that_raises_updates_nothing():
    # A failed call never leaves parameters or optimizer state half-updated
    # (docs/ARCHITECTURE.md, "Conventions"). Here the second group's layer changed dtype
    # after the optimizer was built; the first group must not be stepped before the error.
    model = _model()
    opt = optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[2].parameters()}],
        lr=0.1,
        momentum=0.9,
    )
    x, y = _data(np.float32)
    _train_step(model, opt, x, y)
    nn.MSELoss()(model(fastdl.tensor(x)), fastdl.tensor(y)).backward()
    before = [_np(p).copy() for p in model.parameters()]
    state_before = opt.state_dict()
    model[2].double()
    with pytest.raises(RuntimeError, match="optimizer"):
        opt.step()
    for p, b in zip(model[0].parameters(), before[:2]):
        np.testing.assert_array_equal(_np(p), b)
    _state_equal(state_before, opt.state_dict())


# -- state dicts -----------------------------------------------------------------------------------


def _copy_model(model, dtype=np.float32):
    other = _model(dtype, seed=99)
    other.load_state_dict(model.state_dict())
    return other


@pytest.mark.parametrize("name", ["sgd_nesterov_wd", "adam_amsgrad_wd", "adamw"])
def test_state_dict_round_trip_reproduces_the_next_steps(name):
    cls, _, kwargs = CONFIGS[name]
    x, y = _data(np.float32)
    model_a = _model()
    opt_a = cls(model_a.parameters(), **kwargs)
    for _ in range(2):
        _train_step(model_a, opt_a, x, y)
    opt_a.param_groups[0]["lr"] = 0.03
    saved = opt_a.state_dict()

    model_b = _copy_model(model_a)
    opt_b = cls(model_b.parameters(), **kwargs)
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[0]["lr"] == 0.03
    for _ in range(3):
        _train_step(model_a, opt_a, x, y)
        _train_step(model_b, opt_b, x, y)
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        np.testing.assert_array_equal(_np(pb), _np(pa))
    # the saved dict is a copy: stepping did not change it
    assert saved["state"][0]["step"] == 2


def _state_equal(a, b):
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        for k, v in a["state"][i].items():
            np.testing.assert_array_equal(b["state"][i][k], v)


def test_load_state_dict_rejects_wrong_group_count_and_shapes_leaving_state_unchanged():
    x, y = _data(np.float32)
    model = _model()
    opt = optim.Adam(
        [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.1}]
    )
    _train_step(model, opt, x, y)
    before = opt.state_dict()

    one_group = _model()
    opt_one = optim.Adam(one_group.parameters())
    _train_step(one_group, opt_one, x, y)
    with pytest.raises(ValueError, match="group"):
        opt.load_state_dict(opt_one.state_dict())
    _state_equal(before, opt.state_dict())

    fastdl.manual_seed(5)
    other = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    opt_other = optim.Adam(
        [{"params": other[0].parameters(), "lr": 0.5}, {"params": other[2].parameters()}]
    )
    _train_step(other, opt_other, x, y)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(opt_other.state_dict())
    _state_equal(before, opt.state_dict())
    assert opt.param_groups[0]["lr"] == 1e-3  # hyper-parameters not overwritten either


@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.SGD(p, lr=-0.1),
        lambda p: optim.SGD(p, lr=0.1, momentum=-0.5),
        lambda p: optim.SGD(p, lr=0.1, nesterov=True),
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5, nesterov=True),
        lambda p: optim.SGD(p, lr=0.1, weight_decay=-1.0),
        lambda p: optim.Adam(p, lr=-1e-3),
        lambda p: optim.Adam(p, betas=(1.0, 0.999)),
        lambda p: optim.Adam(p, betas=(0.9, 1.0)),
        lambda p: optim.Adam(p, betas=(-0.1, 0.999)),
        lambda p: optim.Adam(p, eps=-1e-8),
        lambda p: optim.Adam(p, weight_decay=-0.1),
        lambda p: optim.AdamW(p, lr=-1.0),
        lambda p: optim.AdamW(p, betas=(0.9, 1.5)),
        lambda p: optim.SGD([{"params": p, "lr": -0.5}], lr=0.1),
        lambda p: optim.SGD([], lr=0.1),
    ],
)
def test_invalid_hyper_parameters_raise_value_error(make):
    with pytest.raises(ValueError):
        make(list(_model().parameters()))


def test_step_rejects_nothing_and_closure_is_returned():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _data(np.float32)

    def closure():
        opt.zero_grad()
        loss = nn.MSELoss()(model(fastdl.tensor(x)), fastdl.tensor(y))
        loss.backward()
        return loss

    before = [_np(p).astype(np.float64) for p in model.parameters()]
    grads = _numpy_grads(before, x.astype(np.float64), y.astype(np.float64))
    loss = opt.step(closure)
    assert loss is not None and np.isfinite(loss.item())
    for p, b, g in zip(model.parameters(), before, grads):
        np.testing.assert_allclose(_np(p), b - 0.1 * g, **_tol(np.float32))


def test_tied_weight_after_zero_grad_sums_both_uses():
    layer = nn.Linear(3, 3)
    opt = optim.SGD(layer.parameters(), lr=0.1)
    x = fastdl.tensor(np.random.default_rng(0).standard_normal((4, 3)), dtype=fastdl.float32)
    layer(layer(x)).sum().backward()
    expected = [p.grad.numpy().copy() for p in layer.parameters()]
    for _ in range(2):  # stale buffers: the first use overwrites, the second adds
        opt.zero_grad()
        layer(layer(x)).sum().backward()
        for p, g in zip(layer.parameters(), expected):
            np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-6)
