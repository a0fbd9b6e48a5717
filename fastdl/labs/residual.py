"""residual: a 30-layer MLP with and without residual connections.

Both nets have the same 30 ``Linear`` layers (64 -> 64 x 29 -> 10, ReLU, PyTorch's
default init) and train on the digits with Adam (lr 1e-3, batch 32). In the
residual net each of the 28 middle layers is wrapped as ``nn.Residual``:
``x + relu(W x + b)``. Through a plain stack the backward signal is multiplied by
every layer's Jacobian and dies out before it reaches layer 1; the identity
shortcuts give it a path that skips them. Measured: each layer's weight-gradient
norm at initialisation, the training loss and the test accuracy.

Each residual block adds its output to the stream, so with this init the stream's
variance grows with depth (the first losses are high); real ResNets keep it in
check with normalization inside the blocks or a small init of each block's last
layer.
"""

from __future__ import annotations

import math

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.diagnostics import GradientMonitor
from fastdl.labs import _common as C

DEPTH, WIDTH = 30, 64


def deep_mlp(residual: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(64, WIDTH), nn.ReLU()]
    for _ in range(DEPTH - 2):
        block = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.ReLU())
        layers.append(nn.Residual(block) if residual else block)
    layers.append(nn.Linear(WIDTH, 10))
    return nn.Sequential(*layers)


def run(quick: bool = False, out: str = "runs/lab-residual", seed: int = 0) -> dict:
    epochs = 2 if quick else 8
    X_train, y_train, X_test, y_test = C.digits()
    xb, yb = fastdl.from_numpy(X_train[:256]), fastdl.from_numpy(y_train[:256])
    norms, steps, accuracy, final_loss, rows = {}, {}, {}, {}, []
    for label, residual in (("plain", False), ("residual", True)):
        fastdl.manual_seed(seed)
        model = deep_mlp(residual)
        monitor = GradientMonitor(model, warn=False)
        nn.CrossEntropyLoss()(model(xb), yb).backward()
        record = monitor.step()
        norms[label] = [record[name]["grad_norm"] for name in monitor.layers]

        opt = optim.Adam(model.parameters(), lr=1e-3)
        rng = np.random.default_rng(seed)
        steps[label], accuracy[label] = [], []
        for _ in range(epochs):
            C.train_epoch(model, opt, X_train, y_train, 32, rng, record=steps[label])
            accuracy[label].append(C.evaluate(model, X_test, y_test)[1])
        final_loss[label] = C.evaluate(model, X_train, y_train)[0]
        first, last = norms[label][0], norms[label][-1]
        rows.append([label, first, last, first / last, final_loss[label], accuracy[label][-1]])

    fig, (ax_norm, ax_loss, ax_acc) = plot.figure(3, 1, (16, 4.6))
    for label, values in norms.items():
        ax_norm.plot(range(1, DEPTH + 1), values, marker="o", markersize=3, label=label)
    ax_norm.set_yscale("log")
    plot.style_axes(
        ax_norm,
        "weight-gradient norm per layer at initialisation",
        "layer (1 = next to the input)",
        "||dL/dW|| (log scale)",
        integer_x=True,
    )
    for label, losses in steps.items():
        ax_loss.plot(range(1, len(losses) + 1), C.smooth(losses, 10), label=label)
    ax_loss.axhline(math.log(10), color="gray", linestyle=":", label="chance (ln 10)")
    ax_loss.set_yscale("log")
    plot.style_axes(
        ax_loss,
        "training loss (mean of the last 10 batches)",
        "step (batch of 32)",
        "cross-entropy (log scale)",
    )
    for label, acc in accuracy.items():
        ax_acc.plot(range(1, epochs + 1), acc, marker="o", label=label)
    ax_acc.set_ylim(0, 1)
    plot.style_axes(ax_acc, "test accuracy", "epoch", "test accuracy", integer_x=True)
    path = plot.save_figure(
        fig,
        out,
        "residual.png",
        f"Residual connections: {DEPTH}-layer MLP (width {WIDTH}), Adam lr 1e-3",
    )

    ratio = norms["residual"][0] / norms["plain"][0]
    kept = {label: values[0] / values[-1] for label, values in norms.items()}
    conclusion = (
        f"At initialisation layer 1 gets {kept['plain']:.1e} times the gradient norm of layer "
        f"{DEPTH} in the plain net but {kept['residual']:.2g} times in the residual net, and after "
        f"{epochs} epochs the residual net's test accuracy is {accuracy['residual'][-1]:.2f} "
        f"against {accuracy['plain'][-1]:.2f}."
    )
    return C.result(
        "residual",
        (
            [
                "net",
                "layer-1 grad",
                f"layer-{DEPTH} grad",
                f"layer-1/layer-{DEPTH}",
                "final train loss",
                "test acc",
            ],
            rows,
        ),
        path,
        conclusion,
        grad_norms=norms,
        first_layer_ratio=ratio,
        first_to_last=kept,
        test_accuracy={k: v[-1] for k, v in accuracy.items()},
        final_loss=final_loss,
    )
