"""dead-relu: dead ReLU units under a too-large learning rate, and LeakyReLU.

An MLP 64-64-64-10 on the digits, trained with Adam at its usual learning rate
(1e-3) and at a too-large one (0.1). A large step can push a unit's pre-activation
below zero for every input; a ReLU unit there outputs 0 and passes no gradient
back, so nothing can revive it: it is *dead*. A LeakyReLU (slope 0.1) unit in the
same place still passes 0.1x the gradient, so it is only *inactive* and can recover.

Measured after every epoch with :func:`fastdl.diagnostics.dead_units` on the whole
training set (the share of hidden units whose output is <= 0 for every sample), and
at the end the share of hidden units whose incoming weights get exactly zero
gradient from the whole training set (units that can never change again).
"""

from __future__ import annotations

import warnings

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.diagnostics import dead_units
from fastdl.labs import _common as C

WIDTH = 64
SLOPE = 0.1
CONFIGS = {
    "ReLU, lr 1e-3": (nn.ReLU, 1e-3),
    "ReLU, lr 0.1": (nn.ReLU, 0.1),
    f"LeakyReLU({SLOPE}), lr 0.1": (lambda: nn.LeakyReLU(SLOPE), 0.1),
}


def _net(activation) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(64, WIDTH),
        activation(),
        nn.Linear(WIDTH, WIDTH),
        activation(),
        nn.Linear(WIDTH, 10),
    )


def frozen_fraction(model: nn.Sequential, X: np.ndarray, y: np.ndarray) -> float:
    """Share of hidden units whose weights and bias get exactly zero gradient from the
    whole of (X, y): a unit no optimizer step can change."""
    model.zero_grad()
    nn.CrossEntropyLoss()(model(fastdl.from_numpy(X)), fastdl.from_numpy(y)).backward()
    frozen, total = 0, 0
    for layer in (model[0], model[2]):
        grad = np.abs(layer.weight.grad.numpy()).sum(axis=1) + np.abs(layer.bias.grad.numpy())
        frozen += int((grad == 0).sum())
        total += grad.size
    return frozen / total


def run(quick: bool = False, out: str = "runs/lab-dead-relu", seed: int = 0) -> dict:
    epochs = 3 if quick else 10
    X_train, y_train, X_test, y_test = C.digits()
    inputs = fastdl.from_numpy(X_train)
    dead, accuracy, per_layer, frozen, rows = {}, {}, {}, {}, []
    for label, (activation, lr) in CONFIGS.items():
        fastdl.manual_seed(seed)
        model = _net(activation)
        opt = optim.Adam(model.parameters(), lr=lr)
        rng = np.random.default_rng(seed)
        dead[label], accuracy[label] = [], []
        for _ in range(epochs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a diverging run may overflow
                C.train_epoch(model, opt, X_train, y_train, 32, rng)
            fractions = dead_units(model, inputs)
            dead[label].append(float(np.mean(list(fractions.values()))))
            accuracy[label].append(C.evaluate(model, X_test, y_test)[1])
        per_layer[label] = [fractions[name] for name in sorted(fractions)]
        frozen[label] = frozen_fraction(model, X_train, y_train)
        rows.append([label, dead[label][-1], frozen[label], accuracy[label][-1]])

    fig, (ax_dead, ax_acc, ax_bar) = plot.figure(3, 1, (16, 4.6))
    epochs_axis = range(1, epochs + 1)
    for label in CONFIGS:
        ax_dead.plot(epochs_axis, dead[label], marker="o", label=label)
        ax_acc.plot(epochs_axis, accuracy[label], marker="o", label=label)
    ax_dead.set_ylim(-0.02, 1.02)
    plot.style_axes(
        ax_dead,
        "units with output <= 0 on every training sample",
        "epoch",
        "fraction of hidden units",
        integer_x=True,
    )
    plot.style_axes(ax_acc, "test accuracy", "epoch", "test accuracy", integer_x=True)
    positions = np.arange(len(CONFIGS))
    ax_bar.bar(
        positions - 0.2,
        [dead[k][-1] for k in CONFIGS],
        width=0.4,
        label="output <= 0 everywhere",
        color="tab:orange",
    )
    ax_bar.bar(
        positions + 0.2,
        [frozen[k] for k in CONFIGS],
        width=0.4,
        label="zero gradient (dead for good)",
        color="tab:red",
    )
    ax_bar.set_xticks(positions, [k.replace(", ", "\n") for k in CONFIGS])
    ax_bar.set_ylim(0, 1.25)
    plot.style_axes(
        ax_bar,
        f"hidden units after {epochs} epochs",
        "activation, Adam learning rate",
        "fraction of hidden units",
        loc="upper left",
    )
    path = plot.save_figure(
        fig,
        out,
        "dead-relu.png",
        f"Dead ReLUs: Adam at lr 0.1 vs 1e-3, MLP 64-{WIDTH}-{WIDTH}-10 on digits",
    )

    normal, large, leaky = CONFIGS
    conclusion = (
        f"After {epochs} epochs at lr 0.1, {100 * frozen[large]:.0f}% of the ReLU units are dead "
        f"(no gradient; {100 * frozen[normal]:.0f}% at lr 1e-3) and test accuracy is "
        f"{accuracy[large][-1]:.2f}, while with LeakyReLU {100 * dead[leaky][-1]:.0f}% are "
        f"inactive, {100 * frozen[leaky]:.0f}% get no gradient, and accuracy is "
        f"{accuracy[leaky][-1]:.2f}."
    )
    return C.result(
        "dead-relu",
        (["activation, lr", "output<=0 share", "zero-grad share", "test acc"], rows),
        path,
        conclusion,
        dead_fraction={k: v[-1] for k, v in dead.items()},
        frozen_fraction=frozen,
        test_accuracy={k: v[-1] for k, v in accuracy.items()},
        dead_per_layer=per_layer,
        dead_history=dead,
    )
