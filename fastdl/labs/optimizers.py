"""optimizers: SGD, AdaGrad, RMSprop, Adam, AdamW, NAdam, RAdam, Adamax and Adadelta on
the same problem.

An MLP 64-128-64-10 (ReLU) on the digits, mini-batches of 32, the same initial
weights and batch order for every run. Each optimizer is run over a grid of
learning rates (a method is only as good as its learning rate), and compared at its
best one (lowest final training loss): plain SGD (no momentum) against the methods
that scale each parameter's step by its own gradient history. AdamW uses weight
decay 0.01 (decoupled), the others none. Adadelta's lr multiplies a step that already
has the parameters' units (its default is 1.0), so its grid is the others' times 100.
Rprop and L-BFGS are full-batch methods and ASGD is SGD with iterate averaging, so they
are left out of this mini-batch comparison.
"""

from __future__ import annotations

import math

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.labs import _common as C

OPTIMIZERS = {
    "SGD": lambda params, lr: optim.SGD(params, lr=lr),
    "AdaGrad": lambda params, lr: optim.Adagrad(params, lr=lr),
    "RMSprop": lambda params, lr: optim.RMSprop(params, lr=lr),
    "Adam": lambda params, lr: optim.Adam(params, lr=lr),
    "AdamW": lambda params, lr: optim.AdamW(params, lr=lr, weight_decay=0.01),
    "NAdam": lambda params, lr: optim.NAdam(params, lr=lr),
    "RAdam": lambda params, lr: optim.RAdam(params, lr=lr),
    "Adamax": lambda params, lr: optim.Adamax(params, lr=lr),
    "Adadelta (lr x100)": lambda params, lr: optim.Adadelta(params, lr=100 * lr),
}


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
    )


def run(quick: bool = False, out: str = "runs/lab-optimizers", seed: int = 0) -> dict:
    epochs = 2 if quick else 8
    rates = (1e-3, 1e-2, 1e-1) if quick else (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
    X_train, y_train, X_test, y_test = C.digits()

    curves: dict[str, dict[float, list[float]]] = {}
    steps: dict[str, dict[float, list[float]]] = {}
    test_acc: dict[str, dict[float, float]] = {}
    for name, make in OPTIMIZERS.items():
        curves[name], steps[name], test_acc[name] = {}, {}, {}
        for lr in rates:
            fastdl.manual_seed(seed)
            model = _net()
            opt = make(model.parameters(), lr)
            rng = np.random.default_rng(seed)
            record = steps[name][lr] = []
            curves[name][lr] = [
                C.train_epoch(model, opt, X_train, y_train, 32, rng, record=record)
                for _ in range(epochs)
            ]
            test_acc[name][lr] = C.evaluate(model, X_test, y_test)[1]

    def final(name: str, lr: float) -> float:
        value = curves[name][lr][-1]
        return value if math.isfinite(value) else math.inf

    best_lr = {name: min(rates, key=lambda lr: final(name, lr)) for name in OPTIMIZERS}
    best_loss = {name: final(name, best_lr[name]) for name in OPTIMIZERS}
    best_acc = {name: test_acc[name][best_lr[name]] for name in OPTIMIZERS}

    fig, (ax_lr, ax_curve) = plot.figure(2, 1, (12, 4.6))
    for name in OPTIMIZERS:
        ax_lr.plot(rates, [min(final(name, lr), 10.0) for lr in rates], marker="o", label=name)
        losses = C.smooth(steps[name][best_lr[name]], 10)
        ax_curve.plot(range(1, len(losses) + 1), losses, label=f"{name} (lr {best_lr[name]:g})")
    ax_lr.set_xscale("log")
    ax_lr.set_yscale("log")
    plot.style_axes(
        ax_lr,
        f"mean training loss of epoch {epochs}",
        "learning rate",
        "training loss (log scale)",
    )
    ax_curve.set_yscale("log")
    plot.style_axes(
        ax_curve,
        "training loss at each optimizer's best learning rate",
        "step (batch of 32)",
        "training loss, mean of the last 10 batches",
    )
    path = plot.save_figure(
        fig, out, "optimizers.png", "Optimizers on an MLP for the digits (batch 32)"
    )

    rows = [
        [
            name,
            best_lr[name],
            best_loss[name],
            best_acc[name],
            final(name, rates[0]),
            final(name, rates[-1]),
        ]
        for name in OPTIMIZERS
    ]
    adaptive = {k: v for k, v in best_loss.items() if k != "SGD"}
    winner = min(adaptive, key=adaptive.get)
    worst = max(adaptive, key=adaptive.get)
    conclusion = (
        f"At its best learning rate each adaptive optimizer ends {epochs} epochs with a lower "
        f"training loss than plain SGD ({best_loss['SGD']:.3f} at lr {best_lr['SGD']:g}): from "
        f"{worst} {adaptive[worst]:.3f} down to {winner} {adaptive[winner]:.3f}."
        if max(adaptive.values()) < best_loss["SGD"]
        else f"At their best learning rates the final training losses after {epochs} epochs are "
        + ", ".join(f"{k} {v:.3f}" for k, v in best_loss.items())
        + "."
    )
    return C.result(
        "optimizers",
        (
            [
                "optimizer",
                "best lr",
                "train loss",
                "test acc",
                f"loss lr={rates[0]:g}",
                f"loss lr={rates[-1]:g}",
            ],
            rows,
        ),
        path,
        conclusion,
        best_lr=best_lr,
        best_loss=best_loss,
        test_accuracy=best_acc,
        curves=curves,
    )
