"""LambdaLR, MultiplicativeLR, ConstantLR, PolynomialLR, CosineAnnealingWarmRestarts,
CyclicLR, SequentialLR and ChainedScheduler: ``get_last_lr()`` sequences against
closed forms written here (per PyTorch's documentation), momentum cycling, state dicts
(round trip through ``fastdl.save``; a LambdaLR saves no lambdas), bad arguments, and
under ``pytest.importorskip("torch")`` the same sequences as torch's schedulers.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import fastdl
from fastdl.optim import SGD, Adam
from fastdl.optim import lr_scheduler as S

EPOCHS = 16
LRS = (0.1, 0.2)


def _opt(cls=SGD, lib=fastdl):
    params = [lib.zeros(2, requires_grad=True) for _ in LRS]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, LRS)]
    if lib is fastdl:
        return cls(groups, momentum=0.9) if cls is SGD else cls(groups)
    return getattr(lib.optim, cls.__name__)(groups, **({"momentum": 0.9} if cls is SGD else {}))


def _sequence(opt, sched, epochs=EPOCHS):
    """The lrs after construction and after each step, one row per epoch."""
    rows = [sched.get_last_lr()]
    for _ in range(epochs):
        sched.step()
        rows.append(sched.get_last_lr())
    return np.array(rows, dtype=np.float64)


def _closed(fn):
    """Rows fn(epoch, base_lr) for every epoch and group."""
    return np.array([[fn(e, base) for base in LRS] for e in range(EPOCHS + 1)])


def _cawr(e, base, T_0=3, T_mult=2, eta_min=1e-3):
    T_i, T_cur = T_0, e
    while T_cur >= T_i:
        T_cur -= T_i
        T_i *= T_mult
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2


def _cyclic(e, base, high=0.5, up=3, down=2, mode="triangular", gamma=0.9):
    cycle = math.floor(1 + e / (up + down))
    x = 1 + e / (up + down) - cycle
    ratio = up / (up + down)
    height = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**e}[mode]
    return base + (high - base) * height * scale


CASES = {
    "lambda": (
        lambda o: S.LambdaLR(o, lambda e: 0.9**e + 0.01 * e),
        lambda e, b: b * (0.9**e + 0.01 * e),
    ),
    "multiplicative": (
        lambda o: S.MultiplicativeLR(o, [lambda e: 0.9, lambda e: 0.8]),
        lambda e, b: b * (0.9 if b == LRS[0] else 0.8) ** e,
    ),
    "constant": (lambda o: S.ConstantLR(o), lambda e, b: b / 3 if e < 5 else b),
    "polynomial": (
        lambda o: S.PolynomialLR(o, total_iters=7, power=2.0),
        lambda e, b: b * (1 - min(e, 7) / 7) ** 2,
    ),
    "warm_restarts": (
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-3),
        _cawr,
    ),
    "cyclic": (
        lambda o: S.CyclicLR(o, list(LRS), 0.5, step_size_up=3, step_size_down=2),
        _cyclic,
    ),
    "cyclic2": (
        lambda o: S.CyclicLR(o, list(LRS), 0.5, 3, 2, mode="triangular2"),
        lambda e, b: _cyclic(e, b, mode="triangular2"),
    ),
    "cyclic_exp": (
        lambda o: S.CyclicLR(o, list(LRS), 0.5, 3, 2, mode="exp_range", gamma=0.9),
        lambda e, b: _cyclic(e, b, mode="exp_range"),
    ),
    "sequential": (
        lambda o: S.SequentialLR(
            o,
            [
                S.LinearLR(o, start_factor=0.1, total_iters=3),
                S.ExponentialLR(o, gamma=0.8),
                S.PolynomialLR(o, total_iters=4),
            ],
            milestones=[3, 8],
        ),  # fmt: skip
        lambda e, b: (
            b * (0.1 + 0.9 * e / 3)
            if e < 3
            else b * 0.8 ** (e - 3)
            if e < 8
            else b * (1 - min(e - 8, 4) / 4)
        ),  # fmt: skip
    ),
    "chained": (
        lambda o: S.ChainedScheduler(
            [S.ConstantLR(o, factor=0.5, total_iters=2), S.ExponentialLR(o, gamma=0.9)]
        ),
        lambda e, b: b * 0.9**e * (0.5 if e < 2 else 1.0),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_lr_sequence_matches_closed_form(name):
    make, closed = CASES[name]
    opt = _opt()
    np.testing.assert_allclose(_sequence(opt, make(opt)), _closed(closed), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose([g["lr"] for g in opt.param_groups], _closed(closed)[-1], rtol=1e-12)


@pytest.mark.parametrize("cls,key", [(SGD, "momentum"), (Adam, "betas")])
def test_cyclic_momentum_moves_against_the_lr(cls, key):
    opt = _opt(cls)
    sched = S.CyclicLR(opt, 0.01, 0.1, step_size_up=2, base_momentum=0.8, max_momentum=0.9)
    momenta = []
    for _ in range(6):
        value = opt.param_groups[0][key]
        momenta.append(value[0] if key == "betas" else value)
        sched.step()
    np.testing.assert_allclose(momenta, [0.9, 0.85, 0.8, 0.85, 0.9, 0.85], rtol=1e-12)


def _roundtrip(state):
    buffer = io.BytesIO()
    fastdl.save(state, buffer)
    buffer.seek(0)
    return fastdl.load(buffer)


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_resumes_the_sequence(name):
    make, _ = CASES[name]
    opt = _opt()
    sched = make(opt)
    whole = _sequence(opt, sched)
    opt = _opt()
    sched = make(opt)
    for _ in range(6):
        sched.step()
    saved, opt_saved = _roundtrip(sched.state_dict()), _roundtrip(opt.state_dict())
    opt2 = _opt()
    sched2 = make(opt2)
    opt2.load_state_dict(opt_saved)
    sched2.load_state_dict(saved)
    rest = [sched2.get_last_lr()]
    for _ in range(EPOCHS - 6):
        sched2.step()
        rest.append(sched2.get_last_lr())
    np.testing.assert_allclose(np.array(rest), whole[6:], rtol=1e-12)


class _Decay:
    """A callable object: its ``__dict__`` goes into the state dict."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, epoch):
        return self.rate**epoch


def test_lambda_lr_saves_no_functions_but_callable_objects_state():
    opt = _opt()
    decay = _Decay(0.5)
    sched = S.LambdaLR(opt, [lambda e: 1.0, decay])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [None, {"rate": 0.5}]
    decay.rate = 0.9
    sched.load_state_dict(state)
    assert decay.rate == 0.5


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda o: S.LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
        (lambda o: S.MultiplicativeLR(o, 0.9), TypeError, "lr_lambda should be a function"),
        (lambda o: S.ConstantLR(o, factor=1.5), ValueError, "between 0 and 1"),
        (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "positive integer T_0"),
        (lambda o: S.CosineAnnealingWarmRestarts(o, 2, T_mult=0), ValueError, "T_mult >= 1"),
        (lambda o: S.CyclicLR(o, 0.1, 1.0, mode="sawtooth"), ValueError, "mode is invalid"),
        (lambda o: S.SequentialLR(o, [S.ConstantLR(o)], milestones=[2]), ValueError,
         "one more than the number of milestone"),
        (lambda o: S.ChainedScheduler([]), ValueError, "at least one scheduler"),
        (lambda o: S.SequentialLR(o, [S.ConstantLR(_opt())], milestones=[]), ValueError,
         "same optimizer"),
    ],
)  # fmt: skip
def test_bad_arguments_raise(make, error, message):
    opt = _opt()
    before = [g["lr"] for g in opt.param_groups]
    with pytest.raises(error, match=message):
        make(opt)
    if message not in ("one more than the number of milestone", "same optimizer"):
        assert [g["lr"] for g in opt.param_groups] == before


def test_cyclic_needs_momentum_to_cycle_it():
    params = [fastdl.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        S.CyclicLR(fastdl.optim.Adagrad(params), 0.01, 0.1)


def test_warm_restarts_fractional_epochs():
    opt = _opt()
    sched = S.CosineAnnealingWarmRestarts(opt, T_0=4, eta_min=0.0)
    sched.step(2.5)
    expected = [b * (1 + math.cos(math.pi * 2.5 / 4)) / 2 for b in LRS]
    np.testing.assert_allclose(sched.get_last_lr(), expected, rtol=1e-12)
    assert sched.last_epoch == 2
    with pytest.raises(ValueError, match="non-negative epoch"):
        sched.step(-1)


@pytest.mark.parametrize("cls", [SGD, Adam])
@pytest.mark.parametrize("name", list(CASES))
def test_same_sequences_as_torch(name, cls):
    torch = pytest.importorskip("torch")
    T = torch.optim.lr_scheduler
    make, _ = CASES[name]
    opt, topt = _opt(cls), _opt(cls, torch)
    mine = make(opt)
    theirs = _with_module(make, T)(topt)
    rows, trows = [], []
    for _ in range(EPOCHS):
        rows.append(mine.get_last_lr() + _momenta(opt))
        trows.append(list(theirs.get_last_lr()) + _momenta(topt))
        topt.step()
        mine.step()
        theirs.step()
    np.testing.assert_allclose(np.array(rows), np.array(trows), rtol=1e-12, atol=1e-15)
    # the same state keys, but for torch's bookkeeping of get_lr calls
    assert set(mine.state_dict()) ^ set(theirs.state_dict()) <= {"_get_lr_called_within_step"}


def _momenta(opt):
    return [g["momentum"] if "momentum" in g else g["betas"][0] for g in opt.param_groups]


def _with_module(make, module):
    """``make`` with the scheduler module ``S`` it names replaced by ``module``."""
    import types

    return types.FunctionType(make.__code__, {**make.__globals__, "S": module}, make.__name__,
                              make.__defaults__, make.__closure__)  # fmt: skip
