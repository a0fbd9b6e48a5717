"""End to end: training on digits reaches a known accuracy; same seed, same history."""

import numpy as np
import pytest

import fastdl
from fastdl import nn, optim
from fastdl.data import DataLoader, TensorDataset, load_digits
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
        "seconds",
    }


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
