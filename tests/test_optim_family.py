"""The optimizer family (SGD, Adagrad, RMSprop, Adam, AdamW) against textbook NumPy updates.

* Every option combination of every optimizer trains a small model for 50 steps on
  both CPU backends, in float32 and float64, next to a textbook implementation of
  PyTorch's documented update written here in NumPy (float64, its own copy of the
  parameters, gradients of the same loss computed in NumPy).
* Per-group options: groups with different options follow their own textbook.
* Resume: state_dict -> fastdl.save -> fastdl.load -> load_state_dict into a fresh
  optimizer continues bit for bit as the uninterrupted run.
* Bad hyper-parameters raise ValueError (PyTorch's messages) and change nothing.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _tiny_model import np_of as _np
from _tiny_model import numpy_grads as _numpy_grads
from _tiny_model import tiny_data as _data
from _tiny_model import tiny_model as _model
from _tolerance import GRAD

import fastdl
from fastdl import nn, optim

STEPS = 50
FLOATS = [np.float32, np.float64]
BACKENDS = ["numba", "reference"]


def _train_step(model, opt, x, y, sign=1.0):
    opt.zero_grad()
    loss = nn.MSELoss()(model(fastdl.tensor(x)), fastdl.tensor(y))
    (loss * sign if sign != 1.0 else loss).backward()
    opt.step()


# -- textbook updates, as torch.optim's documentation writes them ------------------------


class TextbookSGD:
    def __init__(
        self, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False
    ):
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov, self.maximize = weight_decay, nesterov, maximize
        self.bufs = {}

    def step(self, i, p, g):
        if self.maximize:
            g = -g
        g = g + self.weight_decay * p
        if self.momentum != 0:
            if i not in self.bufs:
                self.bufs[i] = g.copy()
            else:
                self.bufs[i] = self.momentum * self.bufs[i] + (1 - self.dampening) * g
            g = g + self.momentum * self.bufs[i] if self.nesterov else self.bufs[i]
        p -= self.lr * g


class TextbookAdagrad:
    def __init__(
        self,
        lr=1e-2,
        lr_decay=0.0,
        weight_decay=0.0,
        initial_accumulator_value=0.0,
        eps=1e-10,
        maximize=False,
    ):
        self.lr, self.lr_decay, self.weight_decay = lr, lr_decay, weight_decay
        self.initial, self.eps, self.maximize = initial_accumulator_value, eps, maximize
        self.sums, self.t = {}, {}

    def step(self, i, p, g):
        self.t[i] = t = self.t.get(i, 0) + 1
        if self.maximize:
            g = -g
        g = g + self.weight_decay * p
        clr = self.lr / (1 + (t - 1) * self.lr_decay)
        self.sums[i] = self.sums.get(i, np.full_like(p, self.initial)) + g * g
        p -= clr * g / (np.sqrt(self.sums[i]) + self.eps)


class TextbookRMSprop:
    def __init__(
        self,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0.0,
        momentum=0.0,
        centered=False,
        maximize=False,
    ):
        self.lr, self.alpha, self.eps, self.weight_decay = lr, alpha, eps, weight_decay
        self.momentum, self.centered, self.maximize = momentum, centered, maximize
        self.v, self.g_ave, self.b = {}, {}, {}

    def step(self, i, p, g):
        if self.maximize:
            g = -g
        g = g + self.weight_decay * p
        a = self.alpha
        self.v[i] = a * self.v.get(i, 0.0) + (1 - a) * g * g
        v = self.v[i]
        if self.centered:
            self.g_ave[i] = a * self.g_ave.get(i, 0.0) + (1 - a) * g
            v = v - self.g_ave[i] ** 2
        if self.momentum > 0:
            self.b[i] = self.momentum * self.b.get(i, 0.0) + g / (np.sqrt(v) + self.eps)
            p -= self.lr * self.b[i]
        else:
            p -= self.lr * g / (np.sqrt(v) + self.eps)


class TextbookAdam:
    """Adam; amsgrad keeps the running maximum of the raw second moment, as PyTorch's code.
    ``decoupled`` is AdamW: ``p *= 1 - lr * weight_decay`` instead of the L2 gradient."""

    def __init__(
        self,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
        decoupled=False,
    ):
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.weight_decay, self.amsgrad, self.decoupled = weight_decay, amsgrad, decoupled
        self.m, self.v, self.vmax, self.t = {}, {}, {}, {}

    def step(self, i, p, g):
        self.t[i] = t = self.t.get(i, 0) + 1
        if self.decoupled:
            p *= 1 - self.lr * self.weight_decay
        else:
            g = g + self.weight_decay * p
        self.m[i] = self.b1 * self.m.get(i, 0.0) + (1 - self.b1) * g
        self.v[i] = self.b2 * self.v.get(i, 0.0) + (1 - self.b2) * g * g
        v = self.v[i]
        if self.amsgrad:
            self.vmax[i] = np.maximum(self.vmax.get(i, 0.0), v)
            v = self.vmax[i]
        m_hat = self.m[i] / (1 - self.b1**t)
        v_hat = v / (1 - self.b2**t)
        p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def _textbook(cls, kwargs):
    if cls is optim.SGD:
        return TextbookSGD(**kwargs)
    if cls is optim.Adagrad:
        return TextbookAdagrad(**kwargs)
    if cls is optim.RMSprop:
        return TextbookRMSprop(**kwargs)
    if cls is optim.AdamW:
        return TextbookAdam(**{"weight_decay": 1e-2, **kwargs}, decoupled=True)
    return TextbookAdam(**kwargs)


# -- every option combination --------------------------------------------------------------


def _sgd_configs():
    for momentum, dampening, nesterov, wd, maximize in itertools.product(
        (0.0, 0.9), (0.0, 0.3), (False, True), (0.0, 0.05), (False, True)
    ):
        if nesterov and (momentum == 0 or dampening != 0):
            continue  # PyTorch rejects these
        yield dict(
            lr=0.05,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
            weight_decay=wd,
            maximize=maximize,
        )


def _adagrad_configs():
    for lr_decay, wd, initial, maximize in itertools.product(
        (0.0, 0.02), (0.0, 0.05), (0.0, 0.1), (False, True)
    ):
        yield dict(
            lr=0.05,
            lr_decay=lr_decay,
            weight_decay=wd,
            initial_accumulator_value=initial,
            maximize=maximize,
        )


def _rmsprop_configs():
    for wd, momentum, centered, maximize in itertools.product(
        (0.0, 0.05), (0.0, 0.9), (False, True), (False, True)
    ):
        yield dict(
            lr=0.002,
            alpha=0.9,
            weight_decay=wd,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )


def _adam_configs(cls):
    wds = (0.0, 0.05) if cls is optim.Adam else (None, 0.1)  # None: AdamW's default 1e-2
    for wd, amsgrad in itertools.product(wds, (False, True)):
        kwargs = dict(lr=0.01, betas=(0.8, 0.99), amsgrad=amsgrad)
        if wd is not None:
            kwargs["weight_decay"] = wd
        yield kwargs


def _case_id(cls, kwargs):
    words = [f"{k}={v}" for k, v in kwargs.items() if k not in ("lr", "alpha", "betas")]
    return f"{cls.__name__}(" + ",".join(words) + ")"


CASES = (
    [(optim.SGD, k) for k in _sgd_configs()]
    + [(optim.Adagrad, k) for k in _adagrad_configs()]
    + [(optim.RMSprop, k) for k in _rmsprop_configs()]
    + [(optim.Adam, k) for k in _adam_configs(optim.Adam)]
    + [(optim.AdamW, k) for k in _adam_configs(optim.AdamW)]
)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", FLOATS, ids=["float32", "float64"])
@pytest.mark.parametrize("cls, kwargs", CASES, ids=[_case_id(c, k) for c, k in CASES])
def test_trajectory_matches_textbook(cls, kwargs, dtype, backend):
    x, y = _data(dtype)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    # maximize climbs the negated loss: the same stable trajectory as descent.
    sign = -1.0 if kwargs.get("maximize") else 1.0
    with fastdl.use_backend(backend):
        model = _model(dtype)
        params = list(model.parameters())
        exact = [_np(p).astype(np.float64) for p in params]
        start = [p.copy() for p in exact]
        opt = cls(model.parameters(), **kwargs)
        textbook = _textbook(cls, kwargs)
        for _ in range(STEPS):
            grads = _numpy_grads(exact, x64, y64)
            _train_step(model, opt, x, y, sign)
            for i, (p, g) in enumerate(zip(exact, grads)):
                textbook.step(i, p, sign * g)
        for i, (p, want) in enumerate(zip(params, exact)):
            np.testing.assert_allclose(
                _np(p), want, err_msg=f"param {i} after {STEPS} steps", **GRAD[np.dtype(dtype)]
            )
        state = opt.state_dict()["state"]
        assert all(state[i]["step"] == STEPS for i in range(len(params)))
    moved = max(np.abs(p - s).max() for p, s in zip(exact, start))
    assert moved > 1e-2  # the comparison is not vacuous


# -- parameter groups with their own options -----------------------------------------------


GROUP_CASES = [
    (optim.SGD, dict(lr=0.05), [dict(momentum=0.9, nesterov=True), dict(dampening=0.5)]),
    (
        optim.Adagrad,
        dict(lr=0.05),
        [dict(initial_accumulator_value=0.5, lr_decay=0.01), dict(weight_decay=0.1)],
    ),
    (
        optim.RMSprop,
        dict(lr=0.002),
        [dict(momentum=0.9, centered=True), dict(alpha=0.9, lr=0.001)],
    ),
    (optim.Adam, dict(lr=0.01), [dict(amsgrad=True), dict(betas=(0.5, 0.9), weight_decay=0.1)]),
    (optim.AdamW, dict(lr=0.01), [dict(weight_decay=0.2), dict(amsgrad=True, lr=0.02)]),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "cls, defaults, options", GROUP_CASES, ids=[c.__name__ for c, _, _ in GROUP_CASES]
)
def test_parameter_groups_follow_their_own_options(cls, defaults, options, backend):
    x, y = _data(np.float64)
    with fastdl.use_backend(backend):
        model = _model(np.float64)
        layers = [model[0], model[2]]
        groups = [{"params": layer.parameters(), **o} for layer, o in zip(layers, options)]
        opt = cls(groups, **defaults)
        exact = [_np(p).copy() for p in model.parameters()]
        textbooks = [_textbook(cls, {**defaults, **o}) for o in options]
        for _ in range(STEPS):
            grads = _numpy_grads(exact, x, y)
            _train_step(model, opt, x, y)
            for i, (p, g) in enumerate(zip(exact, grads)):
                textbooks[i // 2].step(i, p, g)
        for i, (p, want) in enumerate(zip(model.parameters(), exact)):
            np.testing.assert_allclose(_np(p), want, err_msg=f"param {i}", **GRAD[np.dtype("f8")])


def test_state_dict_names_follow_pytorch():
    model = _model()
    x, y = _data(np.float32)
    expected = {
        optim.SGD(model.parameters(), lr=0.1): {"step"},
        optim.SGD(model.parameters(), lr=0.1, momentum=0.9): {"step", "momentum_buffer"},
        optim.Adagrad(model.parameters()): {"step", "sum"},
        optim.RMSprop(model.parameters()): {"step", "square_avg"},
        optim.RMSprop(model.parameters(), momentum=0.5): {"step", "square_avg", "momentum_buffer"},
        optim.RMSprop(model.parameters(), centered=True): {"step", "square_avg", "grad_avg"},
        optim.Adam(model.parameters()): {"step", "exp_avg", "exp_avg_sq"},
        optim.AdamW(model.parameters(), amsgrad=True): {
            "step",
            "exp_avg",
            "exp_avg_sq",
            "max_exp_avg_sq",
        },
    }
    for opt, names in expected.items():
        _train_step(model, opt, x, y)
        state = opt.state_dict()["state"]
        assert all(set(entry) == names for entry in state.values()), type(opt).__name__
        assert state[0]["step"] == 1


def test_adagrad_sum_starts_at_initial_accumulator_value():
    model = _model()
    opt = optim.Adagrad(
        [
            {"params": model[0].parameters(), "initial_accumulator_value": 0.25},
            {"params": model[2].parameters()},
        ],
        initial_accumulator_value=0.5,
    )
    x, y = _data(np.float32)
    _train_step(model, opt, x, y)
    state = opt.state
    for layer, initial in ((model[0], 0.25), (model[2], 0.5)):
        grad = layer.weight.grad.numpy()
        np.testing.assert_allclose(state[layer.weight]["sum"], initial + grad**2, rtol=1e-6)


# -- resume ------------------------------------------------------------------------------------


RESUME_CASES = [
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    (optim.Adagrad, dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.01)),
    (optim.RMSprop, dict(lr=0.002, momentum=0.9, centered=True, weight_decay=0.01)),
    (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    (optim.AdamW, dict(lr=0.01, amsgrad=True)),
]


def _twin(model, dtype):
    other = _model(dtype, seed=99)
    other.load_state_dict(model.state_dict())
    return other


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls, kwargs", RESUME_CASES, ids=[c.__name__ for c, _ in RESUME_CASES])
def test_resume_through_save_and_load_is_bit_identical(cls, kwargs, backend, tmp_path):
    dtype = np.float32
    x, y = _data(dtype)
    with fastdl.use_backend(backend):
        model = _model(dtype)
        opt = cls(
            [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.003}],
            **kwargs,
        )
        for _ in range(7):
            _train_step(model, opt, x, y)
        path = tmp_path / "checkpoint.fdl"
        fastdl.save({"model": model.state_dict(), "optim": opt.state_dict()}, path)
        for _ in range(8):  # the uninterrupted run
            _train_step(model, opt, x, y)

        checkpoint = fastdl.load(path)
        resumed = _model(dtype, seed=99)
        resumed.load_state_dict(checkpoint["model"])
        # Built with other (default) options: load_state_dict restores the saved ones.
        opt2 = cls([{"params": resumed[0].parameters()}, {"params": resumed[2].parameters()}])
        opt2.load_state_dict(checkpoint["optim"])
        assert opt2.param_groups[1]["lr"] == 0.003
        for _ in range(8):
            _train_step(resumed, opt2, x, y)
    for p, q in zip(model.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(_np(q), _np(p))
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i, entry in a["state"].items():
        assert set(b["state"][i]) == set(entry)
        for name, value in entry.items():
            np.testing.assert_array_equal(b["state"][i][name], value, err_msg=f"{i} {name}")


def test_resume_before_some_parameters_stepped_restores_their_initial_state():
    # Adagrad's sum starts at initial_accumulator_value: a parameter without state in
    # the saved dict (never stepped) must get that back, not zeros.
    x, y = _data(np.float32)
    kwargs = dict(lr=0.05, initial_accumulator_value=0.3)
    model = _model()
    opt = optim.Adagrad(model.parameters(), **kwargs)
    for _ in range(3):  # only the last layer learns at first
        opt.zero_grad(set_to_none=True)
        hidden = fastdl.tensor(np.tanh(x @ _np(model[0].weight).T + _np(model[0].bias)))
        nn.MSELoss()(model[2](hidden), fastdl.tensor(y)).backward()
        opt.step()
    saved = opt.state_dict()
    assert set(saved["state"]) == {2, 3}
    resumed = _twin(model, np.float32)
    opt2 = optim.Adagrad(resumed.parameters(), **kwargs)
    opt2.load_state_dict(saved)
    for _ in range(3):
        _train_step(model, opt, x, y)
        _train_step(resumed, opt2, x, y)
    for p, q in zip(model.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(_np(q), _np(p))


def test_load_state_dict_with_other_options_rebuilds_the_state_arrays():
    # Saved with momentum and centered; loaded into an RMSprop built without: the
    # loaded options need momentum_buffer and grad_avg, and get them.
    x, y = _data(np.float32)
    model = _model()
    opt = optim.RMSprop(model.parameters(), lr=0.002, momentum=0.9, centered=True)
    for _ in range(3):
        _train_step(model, opt, x, y)
    resumed = _twin(model, np.float32)
    opt2 = optim.RMSprop(resumed.parameters())
    opt2.load_state_dict(opt.state_dict())
    for _ in range(3):
        _train_step(model, opt, x, y)
        _train_step(resumed, opt2, x, y)
    for p, q in zip(model.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(_np(q), _np(p))


def test_turning_momentum_on_later_starts_the_buffer_at_zero():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _data(np.float32)
    _train_step(model, opt, x, y)
    assert "momentum_buffer" not in opt.state[model[0].weight]
    opt.param_groups[0]["momentum"] = 0.9
    _train_step(model, opt, x, y)
    np.testing.assert_array_equal(
        opt.state[model[0].weight]["momentum_buffer"], model[0].weight.grad.numpy()
    )


# -- bad hyper-parameters ----------------------------------------------------------------------


BAD = [
    (optim.SGD, dict(lr=-0.1), "Invalid learning rate"),
    (optim.SGD, dict(lr=0.1, momentum=-0.1), "Invalid momentum value"),
    (optim.SGD, dict(lr=0.1, weight_decay=-1e-3), "Invalid weight_decay value"),
    (optim.SGD, dict(lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (optim.Adagrad, dict(lr=-1e-2), "Invalid learning rate"),
    (optim.Adagrad, dict(lr_decay=-0.1), "Invalid lr_decay value"),
    (optim.Adagrad, dict(weight_decay=-0.1), "Invalid weight_decay value"),
    (optim.Adagrad, dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value"),
    (optim.Adagrad, dict(eps=-1e-10), "Invalid epsilon value"),
    (optim.RMSprop, dict(lr=-1e-2), "Invalid learning rate"),
    (optim.RMSprop, dict(eps=-1e-8), "Invalid epsilon value"),
    (optim.RMSprop, dict(momentum=-0.5), "Invalid momentum value"),
    (optim.RMSprop, dict(weight_decay=-0.5), "Invalid weight_decay value"),
    (optim.RMSprop, dict(alpha=-0.99), "Invalid alpha value"),
    (optim.Adam, dict(lr=-1e-3), "Invalid learning rate"),
    (optim.Adam, dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0"),
    (optim.Adam, dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
    (optim.Adam, dict(betas=(-0.1, 0.999)), "Invalid beta parameter at index 0"),
    (optim.Adam, dict(eps=-1e-8), "Invalid epsilon value"),
    (optim.Adam, dict(weight_decay=-1e-2), "Invalid weight_decay value"),
    (optim.AdamW, dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1"),
    (optim.AdamW, dict(weight_decay=-1e-2), "Invalid weight_decay value"),
]


def _bad_id(case):
    cls, kwargs, _ = case
    return f"{cls.__name__}({','.join(f'{k}={v}' for k, v in kwargs.items())})"


@pytest.mark.parametrize("cls, kwargs, words", BAD, ids=[_bad_id(c) for c in BAD])
def test_bad_hyper_parameters_raise_and_change_nothing(cls, kwargs, words):
    model = _model()
    storage = [p._data for p in model.parameters()]
    values = [a.copy() for a in storage]
    with pytest.raises(ValueError, match=words):
        cls(model.parameters(), **kwargs)
    # not even laid out in a flat buffer
    for p, array, value in zip(model.parameters(), storage, values):
        assert p._data is array
        np.testing.assert_array_equal(array, value)

    # a bad group added to a working optimizer: rejected, the optimizer unchanged
    other = _model(seed=3)
    storage = [p._data for p in other.parameters()]
    opt = cls(model[0].parameters(), lr=0.01)
    with pytest.raises(ValueError, match=words):
        opt.add_param_group({"params": other.parameters(), **kwargs})
    assert len(opt.param_groups) == 1 and len(opt._chunks) == 1
    assert all(p._data is array for p, array in zip(other.parameters(), storage))


BAD_SAVED = [
    (optim.SGD, dict(lr=-0.1), "Invalid learning rate"),
    (optim.Adagrad, dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value"),
    (optim.RMSprop, dict(alpha=-0.99), "Invalid alpha value"),
    (optim.Adam, dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
]


@pytest.mark.parametrize("cls, kwargs, words", BAD_SAVED, ids=[_bad_id(c) for c in BAD_SAVED])
def test_load_state_dict_with_bad_hyper_parameters_changes_nothing(cls, kwargs, words):
    x, y = _data(np.float32)
    model = _model()
    opt = cls(model.parameters(), lr=0.01)
    for _ in range(2):
        _train_step(model, opt, x, y)
    saved = opt.state_dict()
    bad = {"state": saved["state"], "param_groups": [{**saved["param_groups"][0], **kwargs}]}
    before_groups = [dict(g) for g in opt.param_groups]
    with pytest.raises(ValueError, match=words):
        opt.load_state_dict(bad)
    assert opt.param_groups == before_groups
    after = opt.state_dict()
    for i, entry in saved["state"].items():
        for name, value in entry.items():
            np.testing.assert_array_equal(after["state"][i][name], value)
