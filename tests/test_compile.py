"""fastdl.compile: replayed steps bit-identical to eager ones, and the fallbacks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastdl
import fastdl.nn.functional as F
from fastdl import nn, optim
from fastdl.optim import lr_scheduler

STEPS = 5


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Dropout(0.25), nn.Linear(12, 3))


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 3),
    )


class _LSTMHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x: fastdl.Tensor) -> fastdl.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


MODELS = {"mlp": (_mlp, (4, 6)), "cnn": (_cnn, (4, 1, 6, 6)), "lstm": (_LSTMHead, (4, 5, 6))}
OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.1),
    "momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "nesterov": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda p: optim.Adam(p, lr=1e-2),
    "adamw": lambda p: optim.AdamW(p, lr=1e-2, amsgrad=True),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1),
    "rmsprop": lambda p: optim.RMSprop(p, lr=1e-2, momentum=0.5),
}
SCHEDULERS = {
    "none": lambda opt: None,
    "step": lambda opt: lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    "cosine": lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=3),
}


def _batches(shape: tuple, steps: int = STEPS) -> list:
    rs = np.random.RandomState(7)
    return [
        (
            fastdl.tensor(rs.randn(*shape).astype(np.float32)),
            fastdl.tensor(rs.randint(0, 3, shape[0])),
        )
        for _ in range(steps)
    ]


def _train(model_name: str, opt_name: str, sched_name: str, compiled: bool) -> dict:
    """Train from seed 0; every loss, parameter, buffer, optimizer state and the
    generator's state at the end."""
    build, shape = MODELS[model_name]
    fastdl.manual_seed(0)
    model = build()
    opt = OPTIMIZERS[opt_name](model.parameters())
    sched = SCHEDULERS[sched_name](opt)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    run = fastdl.compile(step) if compiled else step
    losses = []
    for x, y in _batches(shape):
        losses.append(run(x, y))  # kept: a later replay must not change it
        if sched is not None:
            sched.step()
    state = {f"loss{i}": v.numpy() for i, v in enumerate(losses)}
    state.update({k: v.numpy().copy() for k, v in model.state_dict().items()})
    for i, entry in opt.state_dict()["state"].items():
        for name, value in entry.items():
            state[f"opt{i}.{name}"] = np.asarray(
                value.numpy() if hasattr(value, "numpy") else value
            )
    state["rng"] = fastdl.get_rng_state().numpy().copy()
    state["replays"] = getattr(run, "_signatures", None)
    return state


def _assert_bit_identical(eager: dict, compiled: dict) -> None:
    sigs = compiled.pop("replays")
    eager.pop("replays")
    assert eager.keys() == compiled.keys()
    differ = [k for k in eager if eager[k].tobytes() != compiled[k].tobytes()]
    assert not differ, f"not bit-identical to eager: {differ}"
    # the run really replayed: its one signature was checked and not left to eager
    (sig,) = sigs.values()
    assert sig.checked and not sig.eager


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_mlp_with_every_optimizer_matches_eager_bit_for_bit(opt_name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_bit_identical(
            _train("mlp", opt_name, "step", False), _train("mlp", opt_name, "step", True)
        )


@pytest.mark.parametrize(
    "model_name, opt_name, sched_name",
    [("cnn", "momentum", "cosine"), ("lstm", "adam", "step"), ("cnn", "adamw", "none")],
)
def test_cnn_and_lstm_match_eager_bit_for_bit(model_name, opt_name, sched_name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_bit_identical(
            _train(model_name, opt_name, sched_name, False),
            _train(model_name, opt_name, sched_name, True),
        )


def _step_fn():
    fastdl.manual_seed(0)
    model = _mlp()
    opt = optim.Adam(model.parameters(), lr=1e-2)

    @fastdl.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    return model, step


def test_a_changed_batch_size_records_again_and_returns_to_replay():
    model, step = _step_fn()
    for x, y in _batches((4, 6), 3) + _batches((2, 6), 3) + _batches((4, 6), 1):
        step(x, y)
    assert len(step._signatures) == 2
    assert all(s.checked and not s.eager for s in step._signatures.values())


def test_eval_mode_fails_the_guard_and_runs_a_new_recording():
    model, step = _step_fn()
    batches = _batches((4, 6), 6)
    for x, y in batches[:3]:
        step(x, y)
    (sig,) = step._signatures.values()
    assert sig.checked
    model.eval()  # dropout off: the checked tape's guard no longer holds
    eager_model, eager_step = _step_fn()
    for x, y in batches[:3]:
        eager_step.__wrapped__(x, y)
    eager_model.eval()
    for x, y in batches[3:]:
        got = step(x, y)
        want = eager_step.__wrapped__(x, y)
        assert got.numpy().tobytes() == want.numpy().tobytes()
    for a, b in zip(model.parameters(), eager_model.parameters()):
        assert a.detach().numpy().tobytes() == b.detach().numpy().tobytes()


def test_a_host_read_runs_eagerly_and_warns_once_naming_the_line():
    fastdl.manual_seed(0)
    model = nn.Linear(3, 1)
    seen = []

    @fastdl.compile
    def step(x):
        loss = model(x).sum()
        seen.append(loss.item())  # the host read
        return loss

    x = fastdl.ones(2, 3)
    with pytest.warns(RuntimeWarning, match=r"test_compile.py:\d+") as record:
        for _ in range(4):
            step(x)
    assert len([w for w in record if "host read" in str(w.message)]) == 1
    assert len(seen) == 4  # every call ran the Python body
    (sig,) = step._signatures.values()
    assert sig.eager


def test_a_scheduler_step_inside_the_function_runs_eagerly():
    fastdl.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = lr_scheduler.StepLR(opt, 1, 0.5)

    @fastdl.compile
    def step(x):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
        sched.step()

    with pytest.warns(RuntimeWarning, match="StepLR"):
        for _ in range(3):
            step(fastdl.ones(2, 3))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)


def test_module_form_forwards_attributes_and_replays_inference():
    fastdl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    compiled = fastdl.compile(model)
    assert compiled[0] is model[0]
    assert list(compiled.parameters()) == list(model.parameters())
    assert compiled.state_dict().keys() == model.state_dict().keys()
    assert compiled.eval() is compiled and not model.training
    x = fastdl.tensor(np.random.RandomState(0).randn(3, 4).astype(np.float32))
    with fastdl.no_grad():
        outs = [compiled(x * i) for i in range(4)]
        want = [model(x * i) for i in range(4)]
    for got, expected in zip(outs, want):
        assert got.numpy().tobytes() == expected.numpy().tobytes()
    assert outs[2] is not outs[3] and not np.shares_memory(outs[2].numpy(), outs[3].numpy())
    compiled.train()
    y = compiled(x)  # grad enabled: eager, with a graph for backward
    y.sum().backward()
    assert model[0].weight.grad is not None


def test_compile_accepts_torch_keywords():
    def f(x):
        return x * 2

    assert fastdl.compile(f, disable=True) is f
    g = fastdl.compile(mode="max-autotune", fullgraph=True, dynamic=False)(f)
    x = fastdl.ones(3)
    for _ in range(3):
        assert g(x).numpy().tolist() == [2.0, 2.0, 2.0]


def test_fit_with_compile_matches_eager_fit():
    from fastdl.train import fit
    from fastdl.utils.data import DataLoader, TensorDataset

    rs = np.random.RandomState(3)
    x = fastdl.tensor(rs.randn(22, 6).astype(np.float32))
    y = fastdl.tensor(rs.randint(0, 3, 22))

    def run(compile_: bool):
        fastdl.manual_seed(0)
        model = _mlp()
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader = DataLoader(TensorDataset(x, y), batch_size=8)  # a last batch of 6
        history = fit(
            model, nn.CrossEntropyLoss(), opt, loader, epochs=4, progress=False,
            clip_grad_norm=1.0, compile=compile_,
        )  # fmt: skip
        losses = [e["train_loss"] for e in history.epochs]
        return losses, [p.detach().numpy().copy() for p in model.parameters()]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eager, compiled = run(False), run(True)
    assert eager[0] == compiled[0]
    for a, b in zip(eager[1], compiled[1]):
        assert a.tobytes() == b.tobytes()


def test_a_write_the_recorder_misses_is_caught_and_runs_eagerly():
    """``zero_grad(set_to_none=False)`` and a read of ``p.grad`` write the zeros with
    NumPy, outside every kernel: the check against eager must refuse the tape."""

    def run(compiled: bool):
        fastdl.manual_seed(0)
        model = nn.Linear(3, 2)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad(set_to_none=False)
            assert model.weight.grad is not None  # writes the stale zeros
            model(x).pow(2).sum().backward()
            opt.step()

        run_step = fastdl.compile(step) if compiled else step
        for i in range(5):
            run_step(fastdl.ones(4, 3) * (i + 1))
        return model.weight.detach().numpy().copy(), run_step

    want, _ = run(False)
    with pytest.warns(RuntimeWarning, match="does not reproduce eager"):
        got, step = run(True)
    assert got.tobytes() == want.tobytes()
    (sig,) = step._signatures.values()
    assert sig.eager


def test_loading_a_state_dict_between_steps_matches_eager():
    def run(compiled: bool):
        model, step = _step_fn()
        call = step if compiled else step.__wrapped__
        batches = _batches((4, 6), 6)
        for x, y in batches[:3]:
            call(x, y)
        fastdl.manual_seed(1)
        model.load_state_dict(_mlp().state_dict())
        losses = [call(x, y).numpy().tobytes() for x, y in batches[3:]]
        return losses, [p.detach().numpy().tobytes() for p in model.parameters()], step

    want = run(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = run(True)
    assert got[:2] == want[:2]
    (sig,) = got[2]._signatures.values()
    assert sig.checked and not sig.eager


def test_the_train_command_passes_compile_to_fit(monkeypatch, tmp_path):
    import fastdl.train
    from fastdl.cli import main

    seen = {}

    class Stop(Exception):
        pass

    def fake_fit(*args, **kwargs):
        seen.update(kwargs)
        raise Stop  # before training

    monkeypatch.setattr(fastdl.train, "fit", fake_fit)
    with pytest.raises(Stop):
        main(["train", "--compile", "--epochs", "1", "--no-progress", "--out", str(tmp_path)])
    assert seen["compile"] is True
