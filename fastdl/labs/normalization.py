"""normalization: BatchNorm and LayerNorm against none, in epochs to a target accuracy.

An MLP with 5 hidden layers of 64 ReLU units on the digits, SGD (lr 0.01,
momentum 0.9, batch 32), PyTorch's default ``Linear`` init for all three. That init
(U(-1/sqrt(fan_in), 1/sqrt(fan_in))) shrinks the signal's variance about six-fold per
ReLU layer, so the plain net starts with almost no signal or gradient at the first
layers and spends epochs escaping; ``nn.BatchNorm1d`` (per feature, over the batch)
and ``nn.LayerNorm`` (per sample, over the features) after each ``Linear`` rescale
every layer's pre-activations to mean 0 and variance 1, whatever the weights' scale.
Measured: the first epoch after which the test accuracy reaches the target.
"""

from __future__ import annotations

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.labs import _common as C

DEPTH, WIDTH = 5, 64
TARGET = 0.9
NORMS = {"none": None, "BatchNorm1d": nn.BatchNorm1d, "LayerNorm": nn.LayerNorm}


def deep_mlp(norm) -> nn.Sequential:
    layers: list[nn.Module] = []
    fan_in = 64
    for _ in range(DEPTH):
        layers.append(nn.Linear(fan_in, WIDTH))
        if norm is not None:
            layers.append(norm(WIDTH))
        layers.append(nn.ReLU())
        fan_in = WIDTH
    layers.append(nn.Linear(WIDTH, 10))
    return nn.Sequential(*layers)


def run(quick: bool = False, out: str = "runs/lab-normalization", seed: int = 0) -> dict:
    epochs = 6 if quick else 30
    X_train, y_train, X_test, y_test = C.digits()
    accuracy, losses, reached, rows = {}, {}, {}, []
    for label, norm in NORMS.items():
        fastdl.manual_seed(seed)
        model = deep_mlp(norm)
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        rng = np.random.default_rng(seed)
        accuracy[label], losses[label] = [], []
        for _ in range(epochs):
            # drop_last: a final batch of 3 samples gives BatchNorm very noisy statistics
            losses[label].append(
                C.train_epoch(model, opt, X_train, y_train, 32, rng, drop_last=True)
            )
            accuracy[label].append(C.evaluate(model, X_test, y_test)[1])
        hits = [i + 1 for i, a in enumerate(accuracy[label]) if a >= TARGET]
        reached[label] = hits[0] if hits else None
        rows.append(
            [
                label,
                str(reached[label]) if hits else f">{epochs}",
                accuracy[label][0],
                accuracy[label][-1],
                losses[label][-1],
            ]
        )

    fig, (ax_acc, ax_loss) = plot.figure(2, 1, (12, 4.6))
    xs = range(1, epochs + 1)
    for label in NORMS:
        ax_acc.plot(xs, accuracy[label], marker="o", markersize=3, label=label)
        ax_loss.plot(xs, losses[label], marker="o", markersize=3, label=label)
    ax_acc.axhline(TARGET, color="gray", linestyle=":", label=f"target {TARGET}")
    plot.style_axes(ax_acc, "test accuracy", "epoch", "test accuracy", integer_x=True)
    ax_loss.set_yscale("log")
    plot.style_axes(
        ax_loss,
        "training loss (mean over the epoch)",
        "epoch",
        "cross-entropy (log scale)",
        integer_x=True,
    )
    path = plot.save_figure(
        fig,
        out,
        "normalization.png",
        f"Normalization: MLP with {DEPTH} hidden layers of {WIDTH}, SGD lr 0.01 momentum 0.9",
    )

    def text(label: str) -> str:
        return (
            f"{reached[label]} epoch{'s' if reached[label] != 1 else ''}"
            if reached[label]
            else f"more than {epochs} epochs"
        )

    conclusion = (
        f"To reach {TARGET:.0%} test accuracy the plain net needed {text('none')}, with BatchNorm "
        f"{text('BatchNorm1d')} and with LayerNorm {text('LayerNorm')} (after epoch 1: "
        f"{accuracy['none'][0]:.2f}, {accuracy['BatchNorm1d'][0]:.2f} and "
        f"{accuracy['LayerNorm'][0]:.2f})."
    )
    return C.result(
        "normalization",
        (
            [
                "normalization",
                f"epochs to {TARGET}",
                "acc epoch 1",
                f"acc epoch {epochs}",
                "final train loss",
            ],
            rows,
        ),
        path,
        conclusion,
        epochs_to_target={k: (epochs + 1 if v is None else v) for k, v in reached.items()},
        test_accuracy=accuracy,
        train_loss=losses,
    )
