"""linear-collapse: a deep net without activations is one linear map.

Four ``Linear`` layers with nothing between them compute ``W4 W3 W2 W1 x + b``: the
lab multiplies the trained weights out into one matrix and checks that it gives the
same outputs, then shows that such a net cannot fit the three-arm spirals, which the
same net with ReLUs between the layers fits almost perfectly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.autograd import no_grad
from fastdl.labs import _common as C

SIZES = (2, 64, 64, 64, 3)


def deep_net(activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(SIZES, SIZES[1:])):
        layers.append(nn.Linear(a, b))
        if activation and i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def compose(model: nn.Sequential) -> tuple[np.ndarray, np.ndarray]:
    """The single ``(W, b)`` with ``model(x) == x @ W.T + b`` for a stack of Linears."""
    W = np.eye(SIZES[0])
    b = np.zeros(SIZES[0])
    for layer in model:
        w = layer.weight.detach().numpy().astype(np.float64)
        W = w @ W
        b = w @ b + layer.bias.detach().numpy().astype(np.float64)
    return W, b


def _regions(ax: Any, predict, X: np.ndarray, y: np.ndarray, title: str) -> None:
    grid = np.linspace(-1.15, 1.15, 160)
    gx, gy = np.meshgrid(grid, grid)
    points = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)
    classes = predict(points).reshape(gx.shape)
    from matplotlib.colors import ListedColormap

    light = ListedColormap(["#f6c4c4", "#c4d7f6", "#c8ecc8"])
    ax.contourf(gx, gy, classes, levels=[-0.5, 0.5, 1.5, 2.5], cmap=light)
    for k, colour in enumerate(("tab:red", "tab:blue", "tab:green")):
        ax.scatter(*X[y == k].T, s=8, color=colour, label=f"class {k}")
    ax.set_aspect("equal")
    plot.style_axes(ax, title, "x1", "x2", loc="lower right")


def run(quick: bool = False, out: str = "runs/lab-linear-collapse", seed: int = 0) -> dict:
    epochs = 120 if quick else 400
    X, y = C.spirals(600, seed)
    X_train, y_train, X_test, y_test = X[:450], y[:450], X[450:], y[450:]
    builders = {
        "4 Linear, no activation": lambda: deep_net(activation=False),
        "1 Linear (softmax regression)": lambda: nn.Linear(SIZES[0], SIZES[-1]),
        "4 Linear with ReLU": lambda: deep_net(activation=True),
    }
    models, curves, rows, accuracy = {}, {}, [], {}
    for index, (label, build) in enumerate(builders.items()):
        fastdl.manual_seed(seed + index)
        model = models[label] = build()
        opt = optim.Adam(model.parameters(), lr=1e-2)
        rng = np.random.default_rng(seed)
        curves[label] = [
            C.train_epoch(model, opt, X_train, y_train, len(X_train), rng) for _ in range(epochs)
        ]
        train_loss, train_acc = C.evaluate(model, X_train, y_train)
        _, test_acc = C.evaluate(model, X_test, y_test)
        accuracy[label] = (train_acc, test_acc)
        rows.append([label, train_loss, train_acc, test_acc])

    linear = models["4 Linear, no activation"]
    relu = models["4 Linear with ReLU"]
    W, b = compose(linear)
    with no_grad():
        net_out = linear(fastdl.from_numpy(X)).numpy().astype(np.float64)
    map_out = X.astype(np.float64) @ W.T + b
    max_diff = float(np.abs(net_out - map_out).max())
    same_predictions = float((net_out.argmax(1) == map_out.argmax(1)).mean())
    lin_acc, relu_acc = accuracy["4 Linear, no activation"][0], accuracy["4 Linear with ReLU"][0]
    single_acc = accuracy["1 Linear (softmax regression)"][0]

    fig, axes = plot.figure(3, 1, (16, 5))

    def predict_with(model):
        def predict(points: np.ndarray) -> np.ndarray:
            with no_grad():
                return model(fastdl.from_numpy(points)).numpy().argmax(1)

        return predict

    _regions(
        axes[0],
        lambda p: (p.astype(np.float64) @ W.T + b).argmax(1),
        X_train,
        y_train,
        f"no activation = one matrix W (3x2): train acc {lin_acc:.2f}\n"
        f"max |net(x) - (Wx+b)| = {max_diff:.1e}",
    )
    _regions(
        axes[1],
        predict_with(relu),
        X_train,
        y_train,
        f"with ReLU: train acc {relu_acc:.2f}",
    )
    for label, curve in curves.items():
        axes[2].plot(range(1, epochs + 1), curve, label=label)
    axes[2].set_yscale("log")
    plot.style_axes(axes[2], "training loss (full-batch Adam, lr 0.01)", "epoch", "cross-entropy")
    path = plot.save_figure(
        fig, out, "linear-collapse.png", "Linear collapse: depth without activations adds nothing"
    )

    conclusion = (
        f"The 4-layer net without activations equals one 3x2 matrix (outputs within "
        f"{max_diff:.1e}, {100 * same_predictions:.0f}% same predictions) and fits the spirals "
        f"to {lin_acc:.2f} training accuracy, like a single Linear ({single_acc:.2f}), while "
        f"with ReLU it reaches {relu_acc:.2f}."
    )
    return C.result(
        "linear-collapse",
        (["model", "train loss", "train acc", "test acc"], rows),
        path,
        conclusion,
        max_abs_diff=max_diff,
        same_predictions=same_predictions,
        composed_weight=W,
        composed_bias=b,
        linear_accuracy=lin_acc,
        single_linear_accuracy=single_acc,
        relu_accuracy=relu_acc,
        test_accuracy={k: v[1] for k, v in accuracy.items()},
    )
