"""regularization: dropout, L1 and L2 against overfitting a small training set.

Sixty noisy two-moons points, an MLP 2-128-128-2 (ReLU) big enough to memorise
them, full-batch Adam (lr 0.01). Without regularization it fits the training
points, noise included, with a convoluted boundary and over-confident outputs; the
measured overfitting is the train/test gap in accuracy and in loss (the test set is
2000 fresh points of the same distribution). The remedies: ``nn.Dropout(0.5)``
after each hidden layer, ``nn.regularizers.l2(model, 3e-3)`` and
``nn.regularizers.l1(model, 1e-3)`` added to the loss (weights only, not biases).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.autograd import no_grad
from fastdl.labs import _common as C
from fastdl.nn import regularizers

WIDTH, N_TRAIN, NOISE = 128, 60, 0.3
METHODS = ("none", "dropout 0.5", "L2 3e-3", "L1 1e-3")


def _net(dropout: float) -> nn.Sequential:
    def drop() -> list[nn.Module]:
        return [nn.Dropout(dropout)] if dropout else []

    return nn.Sequential(
        nn.Linear(2, WIDTH),
        nn.ReLU(),
        *drop(),
        nn.Linear(WIDTH, WIDTH),
        nn.ReLU(),
        *drop(),
        nn.Linear(WIDTH, 2),
    )


def _boundary(ax: Any, model: nn.Module, X: np.ndarray, y: np.ndarray, title: str) -> None:
    gx, gy = np.meshgrid(np.linspace(-1.6, 2.6, 150), np.linspace(-1.3, 1.8, 120))
    grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)
    model.eval()
    with no_grad():
        logits = model(fastdl.from_numpy(grid)).numpy()
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p[:, 1] / p.sum(1)).reshape(gx.shape)
    ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.5)
    ax.contour(gx, gy, p, levels=[0.5], colors="black", linewidths=1)
    for k, colour in enumerate(("tab:blue", "tab:red")):
        ax.scatter(
            *X[y == k].T, s=14, color=colour, edgecolor="white", linewidth=0.5, label=f"class {k}"
        )
    plot.style_axes(ax, title, "x1", "x2", loc="lower left")


def run(quick: bool = False, out: str = "runs/lab-regularization", seed: int = 0) -> dict:
    epochs = 150 if quick else 300
    X_train, y_train = fastdl.data.make_moons(N_TRAIN, noise=NOISE, seed=seed)
    X_test, y_test = fastdl.data.make_moons(2000, noise=NOISE, seed=seed + 1000)

    models, stats, test_curves, rows = {}, {}, {}, []
    for method in METHODS:
        fastdl.manual_seed(seed)
        model = models[method] = _net(0.5 if method.startswith("dropout") else 0.0)
        penalty = None
        if method.startswith("L2"):
            penalty = lambda m=model: regularizers.l2(m, 3e-3)  # noqa: E731
        elif method.startswith("L1"):
            penalty = lambda m=model: regularizers.l1(m, 1e-3)  # noqa: E731
        opt = optim.Adam(model.parameters(), lr=1e-2)
        rng = np.random.default_rng(seed)
        curve = []
        for epoch in range(1, epochs + 1):
            C.train_epoch(model, opt, X_train, y_train, N_TRAIN, rng, penalty=penalty)
            if epoch % 10 == 0:
                curve.append((epoch, C.evaluate(model, X_test, y_test)[0]))
        test_curves[method] = curve
        train_loss, train_acc = C.evaluate(model, X_train, y_train)
        test_loss, test_acc = C.evaluate(model, X_test, y_test)
        stats[method] = {
            "train_accuracy": train_acc,
            "test_accuracy": test_acc,
            "accuracy_gap": train_acc - test_acc,
            "train_loss": train_loss,
            "test_loss": test_loss,
            "loss_gap": test_loss - train_loss,
        }
        rows.append([method, train_acc, test_acc, train_acc - test_acc, train_loss, test_loss])

    fig, axes = plot.figure(3, 2, (16, 9))
    for ax, method in zip(axes[:4], METHODS):
        s = stats[method]
        _boundary(
            ax,
            models[method],
            X_train,
            y_train,
            f"{method}: train {s['train_accuracy']:.2f}, test {s['test_accuracy']:.2f}",
        )
    positions = np.arange(len(METHODS))
    axes[4].bar(
        positions - 0.2, [stats[m]["train_accuracy"] for m in METHODS], width=0.4, label="train"
    )
    axes[4].bar(
        positions + 0.2, [stats[m]["test_accuracy"] for m in METHODS], width=0.4, label="test"
    )
    axes[4].set_xticks(positions, METHODS)
    axes[4].set_ylim(0.7, 1.01)
    plot.style_axes(axes[4], "accuracy: the gap is the overfitting", "regularizer", "accuracy")
    for method, curve in test_curves.items():
        axes[5].plot(*zip(*curve), marker=".", label=method)
    axes[5].set_yscale("log")
    plot.style_axes(axes[5], "test loss during training", "epoch", "test cross-entropy (log scale)")
    path = plot.save_figure(
        fig,
        out,
        "regularization.png",
        f"Regularization on {N_TRAIN} noisy two-moons points (MLP 2-{WIDTH}-{WIDTH}-2)",
    )

    none = stats["none"]
    others = [
        f"{stats[m]['accuracy_gap']:.3f} with {m} ({stats[m]['test_loss']:.2f})"
        for m in METHODS[1:]
    ]
    conclusion = (
        f"Without regularization the train/test accuracy gap is {none['accuracy_gap']:.3f} "
        f"(test loss {none['test_loss']:.2f}); it is {', '.join(others[:-1])} and {others[-1]}."
    )
    return C.result(
        "regularization",
        (["regularizer", "train acc", "test acc", "gap", "train loss", "test loss"], rows),
        path,
        conclusion,
        stats=stats,
    )
