"""End to end: training on digits reaches a known accuracy; same seed, same history."""

import contextlib

import numpy as np
import pytest

import fastdl
import fastdl.train
from fastdl import nn, optim
from fastdl.data import DataLoader, TensorDataset, load_digits
from fastdl.optim import lr_scheduler
from fastdl.train import EarlyStopping, evaluate, fit


def _digits_run(backend="numba", epochs=12, seed=0):
    with fastdl.use_backend(backend):
        fastdl.manual_seed(seed)
        split = load_digits()
        model = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
        )
        opt = optim.Adam(model.parameters(), lr=3e-3)
        train = DataLoader(
            TensorDataset(split.X_train, split.y_train), batch_size=32, shuffle=True, seed=seed
        )
        test = DataLoader(TensorDataset(split.X_test, split.y_test), batch_size=256)
        history = fit(
            model, nn.CrossEntropyLoss(), opt, train, epochs, val_loader=test, progress=False
        )
        return model, history, evaluate(model, test, nn.CrossEntropyLoss())


def test_digits_reaches_known_accuracy():
    _, history, result = _digits_run(epochs=12)
    assert result["accuracy"] >= 0.96
    assert history.epochs[-1]["val_accuracy"] == pytest.approx(result["accuracy"])
    losses = [e["train_loss"] for e in history.epochs]
    assert losses[-1] < 0.25 * losses[0]
    assert set(history.epochs[0]) == {
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    }
    assert all(e["lr"] == 3e-3 for e in history.epochs)


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_same_seed_same_history(backend):
    _, first, _ = _digits_run(backend, epochs=2, seed=3)
    _, second, _ = _digits_run(backend, epochs=2, seed=3)
    strip = [{k: v for k, v in e.items() if k != "seconds"} for e in first.epochs]
    assert strip == [{k: v for k, v in e.items() if k != "seconds"} for e in second.epochs]


def test_backends_agree_on_a_training_run():
    model_a, hist_a, _ = _digits_run("numba", epochs=2, seed=1)
    model_b, hist_b, _ = _digits_run("reference", epochs=2, seed=1)
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4, err_msg=name)


def test_full_batch_gradient_descent_on_spirals():
    fastdl.manual_seed(0)
    X, y = fastdl.data.make_spirals(n_samples=300, n_classes=3, noise=0.1, seed=0)
    model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 3))
    opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    loader = DataLoader(TensorDataset(X, y), batch_size="full")
    history = fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=150, progress=False)
    assert history.epochs[-1]["train_loss"] < 0.5 * history.epochs[0]["train_loss"]
    assert history.epochs[-1]["train_accuracy"] > 0.7


def test_early_stopping_stops():
    fastdl.manual_seed(0)
    X = np.zeros((16, 2), np.float32)
    y = np.zeros(16, np.int64)
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.0)  # the loss never improves
    loader = DataLoader(TensorDataset(X, y), batch_size=8)
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        loader,
        epochs=50,
        val_loader=loader,
        callbacks=[EarlyStopping(patience=3)],
        progress=False,
    )
    assert len(history.epochs) == 4


def test_early_stopping_arguments_and_nan():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="avg")
    stop = EarlyStopping(monitor="val_loss", patience=2)
    history = fastdl.train.History()
    results = []
    for value in [float("nan"), 1.0, float("nan"), 0.5, 0.6, 0.7]:
        history.epochs.append({"val_loss": value})
        results.append(stop(history, None, None))
    # NaN is never a best: 1.0 is, then 0.5; two epochs without improvement stop.
    assert results == [False, False, False, False, False, True]
    assert stop.best == 0.5


# -- schedulers, clipping, anomaly detection --------------------------------------------


def _tiny(n=32, batch_size=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    return DataLoader(TensorDataset(X, y), batch_size=batch_size)


def test_epoch_scheduler_steps_once_per_epoch_and_lr_is_recorded():
    fastdl.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    history = fit(model, nn.MSELoss(), opt, _tiny(), epochs=6, scheduler=sched, progress=False)
    assert [e["lr"] for e in history.epochs] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert sched.last_epoch == 6
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_one_cycle_steps_once_per_batch():
    fastdl.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = _tiny(batch_size=8)  # 4 batches per epoch
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.2, epochs=3, steps_per_epoch=len(loader))
    history = fit(model, nn.MSELoss(), opt, loader, epochs=3, scheduler=sched, progress=False)
    assert sched.last_epoch == 12  # every batch of every epoch: the whole cycle
    # lr at the start of epochs 1, 2, 3 = the schedule at batches 0, 4, 8 of 12.
    peak = 0.3 * 12 - 1

    def at(t):
        if t <= peak:
            return 0.2 / 25 + (0.2 - 0.2 / 25) * (1 - np.cos(np.pi * t / peak)) / 2
        p = (t - peak) / (11 - peak)
        return 0.2 / 25 / 1e4 + (0.2 - 0.2 / 25 / 1e4) * (1 + np.cos(np.pi * p)) / 2

    np.testing.assert_allclose([e["lr"] for e in history.epochs], [at(0), at(4), at(8)])


def test_fit_checks_scheduler_and_clip_arguments_before_training():
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.detach().numpy().copy()
    short = lr_scheduler.OneCycleLR(opt, max_lr=0.2, epochs=2, steps_per_epoch=4)
    with pytest.raises(ValueError, match="epochs=3, steps_per_epoch=4"):
        fit(model, nn.MSELoss(), opt, _tiny(), epochs=3, scheduler=short, progress=False)
    with pytest.raises(TypeError, match="step"):
        fit(model, nn.MSELoss(), opt, _tiny(), epochs=1, scheduler=0.5, progress=False)
    for bad in (0, -1.0, float("inf"), True, "1"):
        with pytest.raises(ValueError, match="clip_grad_norm"):
            fit(model, nn.MSELoss(), opt, _tiny(), epochs=1, clip_grad_norm=bad, progress=False)
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)


class _RecordingPlateau(lr_scheduler.ReduceLROnPlateau):
    def __init__(self, optimizer, **kwargs):
        super().__init__(optimizer, **kwargs)
        self.seen = []

    def step(self, metrics):
        self.seen.append(metrics)
        super().step(metrics)


@pytest.mark.parametrize("with_val", [True, False])
def test_plateau_scheduler_gets_the_validation_or_training_loss(with_val):
    fastdl.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.05)
    sched = _RecordingPlateau(opt, patience=0)
    val = _tiny(seed=1) if with_val else None
    history = fit(
        model, nn.MSELoss(), opt, _tiny(), epochs=4, val_loader=val, scheduler=sched, progress=False
    )
    key = "val_loss" if with_val else "train_loss"
    assert sched.seen == [e[key] for e in history.epochs]


def test_clip_grad_norm_bounds_each_step():
    fastdl.manual_seed(0)
    X = np.ones((4, 3), np.float32)
    y = np.full((4, 1), 100.0, np.float32)  # a far target: a large gradient
    loader = DataLoader(TensorDataset(X, y), batch_size="full")
    moves = {}
    for clip in (None, 0.1):
        fastdl.manual_seed(0)
        model = nn.Linear(3, 1)
        before = np.concatenate([p.detach().numpy().ravel().copy() for p in model.parameters()])
        opt = optim.SGD(model.parameters(), lr=1.0)
        fit(model, nn.MSELoss(), opt, loader, epochs=1, clip_grad_norm=clip, progress=False)
        after = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
        moves[clip] = np.linalg.norm(after - before)
    assert moves[None] > 10  # unclipped: lr * |grad|
    assert moves[0.1] == pytest.approx(0.1, rel=1e-4)  # lr * max_norm


class _LogModel(nn.Module):
    """Linear on log(x): a negative input gives NaN in the forward pass."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, x):
        return self.fc(x.log())


class _NormModel(nn.Module):
    """sqrt(h * h) for h = Wx: finite forward, but an infinite gradient where h == 0."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1, bias=False)

    def forward(self, x):
        h = self.fc(x)
        return (h * h).sqrt()


def _bad_fourth_batch(model_cls):
    """Model, optimizer and loader whose fourth batch (of 4 samples) is poisoned."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2.0, (20, 2)).astype(np.float32)
    X[12:16] = -1.0 if model_cls is _LogModel else 0.0
    y = rng.normal(size=(20, 1)).astype(np.float32)
    fastdl.manual_seed(0)
    model = model_cls()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return model, opt, DataLoader(TensorDataset(X, y), batch_size=4)


def _three_good_steps(model_cls):
    """The parameters after the three good batches, trained by hand."""
    model, opt, loader = _bad_fourth_batch(model_cls)
    for _, (inputs, target) in zip(range(3), loader):
        opt.zero_grad()
        nn.MSELoss()(model(inputs), target).backward()
        opt.step()
    return model.state_dict()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on log(-1), 1/0
@pytest.mark.parametrize(
    "model_cls, message",
    [(_LogModel, "Function 'Log' "), (_NormModel, "Function 'SqrtBackward' ")],
)
def test_detect_anomaly_names_the_op_and_keeps_the_last_good_parameters(model_cls, message):
    model, opt, loader = _bad_fourth_batch(model_cls)
    with pytest.raises(FloatingPointError) as info:
        fit(model, nn.MSELoss(), opt, loader, epochs=3, detect_anomaly=True, progress=False)
    text = str(info.value)
    assert text.startswith(message), text
    assert "epoch 1, batch 3" in text and "step was skipped" in text
    for name, value in _three_good_steps(model_cls).items():
        np.testing.assert_array_equal(model.state_dict()[name], value, err_msg=name)
    assert opt.state_dict()["state"][0]["step"] == 3  # the fourth step never ran


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on log(-1), 1/0
@pytest.mark.parametrize(
    "model_cls, message",
    [(_LogModel, r"^Function '\w+' returned a nan loss"), (_NormModel, "parameter 'fc.weight'")],
)
def test_fit_guards_the_step_even_where_anomaly_mode_sees_nothing(model_cls, message, monkeypatch):
    # With the autograd's checks off, fit's own loss and gradient checks still stop it.
    monkeypatch.setattr(fastdl.train, "anomaly_mode", contextlib.nullcontext)
    model, opt, loader = _bad_fourth_batch(model_cls)
    with pytest.raises(FloatingPointError, match=message):
        fit(model, nn.MSELoss(), opt, loader, epochs=1, detect_anomaly=True, progress=False)
    for name, value in _three_good_steps(model_cls).items():
        np.testing.assert_array_equal(model.state_dict()[name], value, err_msg=name)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on log(-1), 1/0
def test_without_detect_anomaly_nan_trains_on():
    model, opt, loader = _bad_fourth_batch(_LogModel)
    history = fit(model, nn.MSELoss(), opt, loader, epochs=2, progress=False)
    assert len(history) == 2 and np.isnan(history.epochs[-1]["train_loss"])


# -- a step of the model's own, and the plain loop ---------------------------------------


def _own_step_data(n=7, batch_size=3):
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2) ** 1.5
    return X, DataLoader(TensorDataset(X), batch_size=batch_size, shuffle=True, seed=0)


def test_own_step_records_sample_weighted_means_and_no_lr_without_optimizer():
    X, loader = _own_step_data()  # batches of 3, 3 and 1 samples
    sizes = []

    def step(batch):
        (x,) = batch
        sizes.append(len(x))
        return {"mean_x": float(x.numpy().mean()), "first": float(x.numpy()[0, 0])}

    history = fit(nn.Linear(2, 1), None, None, loader, 2, progress=False, step=step)
    assert sizes == [3, 3, 1] * 2
    for record in history.epochs:
        assert list(record) == ["epoch", "mean_x", "first", "seconds"]
        # Weighted by batch size, the batch means average to the mean of all samples.
        assert record["mean_x"] == pytest.approx(float(X.astype(np.float64).mean()), rel=1e-6)


def test_own_step_with_validate_drives_plateau_and_early_stopping():
    _, loader = _own_step_data()
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    twin_opt = optim.SGD(nn.Linear(2, 1).parameters(), lr=1.0)
    twin = lr_scheduler.ReduceLROnPlateau(twin_opt, factor=0.5, patience=0)
    losses = iter([3.0, 2.0, 2.0, 2.0, 2.0])

    def validate(m):
        assert m is model
        return {"val_loss": next(losses), "note": 1.0}

    history = fit(
        model, None, opt, loader, 5, scheduler=sched, progress=False,
        step=lambda batch: {"x": 0.0}, validate=validate,
        callbacks=[EarlyStopping(patience=2)],
    )  # fmt: skip
    assert [r["val_loss"] for r in history.epochs] == [3.0, 2.0, 2.0, 2.0]  # stopped after 4
    for record in history.epochs:
        assert record["lr"] == twin_opt.param_groups[0]["lr"]
        twin.step(record["val_loss"])
    assert opt.param_groups[0]["lr"] == twin_opt.param_groups[0]["lr"] < 1.0
    assert set(history.epochs[0]) == {"epoch", "x", "val_loss", "note", "lr", "seconds"}


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"clip_grad_norm": 1.0}, "clip_grad_norm"),
        ({"detect_anomaly": True}, "detect_anomaly"),
        ({"checkpoint_path": "x.fdl"}, "checkpoint_path"),
        ({"val_loader": []}, "val_loader"),
    ],
)
def test_own_step_rejects_the_built_in_steps_options(kwargs, fragment):
    _, loader = _own_step_data()
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=fragment):
        fit(model, None, opt, loader, 1, progress=False, step=lambda b: {}, **kwargs)
    with pytest.raises(TypeError, match="optimizer is None"):
        fit(model, nn.MSELoss(), None, loader, 1, progress=False)


def test_train_epoch_is_the_plain_loop():
    split = load_digits()
    X, y = split.X_train[:70], split.y_train[:70]
    pairs = [(fastdl.tensor(X[i : i + 32]), fastdl.tensor(y[i : i + 32])) for i in range(0, 70, 32)]

    def run(by_hand):
        fastdl.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        penalty = lambda: (model[0].weight * model[0].weight).sum() * 1e-3  # noqa: E731
        if not by_hand:
            record = []
            mean = fastdl.train.train_epoch(model, loss_fn, opt, pairs, penalty, record)
            return model, mean, record
        values = []
        for xb, yb in pairs:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            values.append(loss.item())
            (loss + penalty()).backward()
            opt.step()
        mean = sum(v * len(yb) for v, (_, yb) in zip(values, pairs)) / 70
        return model, mean, values

    (model, mean, record), (twin, twin_mean, values) = run(False), run(True)
    assert record == values and len(record) == 3 and mean == pytest.approx(twin_mean, rel=1e-12)
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
