"""vanishing-gradients: per-layer gradient norms in a deep MLP, by activation.

A 15-layer MLP (width 64) on the digits, initialised for each activation as
recommended (Xavier normal with ``nn.init.calculate_gain``: 1 for sigmoid, 5/3 for
tanh, sqrt(2) for ReLU and LeakyReLU). One backward pass of the cross-entropy of a
batch gives each layer's weight-gradient norm, read with
:class:`fastdl.diagnostics.GradientMonitor`. The sigmoid's slope is at most 1/4, so
its gradient shrinks by a constant factor per layer on the way back to layer 1;
then a short SGD run shows which nets learn.
"""

from __future__ import annotations

import math

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.diagnostics import GradientMonitor
from fastdl.labs import _common as C

ACTIVATIONS = {
    "sigmoid": (nn.Sigmoid, "sigmoid"),
    "tanh": (nn.Tanh, "tanh"),
    "relu": (nn.ReLU, "relu"),
    "leaky_relu": (nn.LeakyReLU, "leaky_relu"),
}


def deep_mlp(activation: str, depth: int, width: int = 64) -> nn.Sequential:
    """``depth`` Linear layers (64 -> width ... -> 10), Xavier-normal weights with the
    activation's gain, zero biases."""
    cls, gain_name = ACTIVATIONS[activation]
    gain = nn.init.calculate_gain(gain_name)
    sizes = [64] + [width] * (depth - 1) + [10]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        linear = nn.Linear(a, b)
        nn.init.xavier_normal_(linear.weight, gain=gain)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < depth - 1:
            layers.append(cls())
    return nn.Sequential(*layers)


def run(quick: bool = False, out: str = "runs/lab-vanishing-gradients", seed: int = 0) -> dict:
    depth = 15
    steps = 100 if quick else 400
    X_train, y_train, X_test, y_test = C.digits()
    batch = np.random.default_rng(seed).permutation(len(X_train))[:256]
    xb, yb = fastdl.from_numpy(X_train[batch]), fastdl.from_numpy(y_train[batch])
    loss_fn = nn.CrossEntropyLoss()

    norms: dict[str, list[float]] = {}
    curves: dict[str, list[float]] = {}
    accuracy: dict[str, float] = {}
    for activation in ACTIVATIONS:
        fastdl.manual_seed(seed)
        model = deep_mlp(activation, depth)
        monitor = GradientMonitor(model, warn=False)
        loss_fn(model(xb), yb).backward()
        record = monitor.step()
        norms[activation] = [record[name]["grad_norm"] for name in monitor.layers]

        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        rng = np.random.default_rng(seed)
        curve = []
        while len(curve) < steps:
            for idx in C.batches(len(X_train), 64, rng)[: steps - len(curve)]:
                opt.zero_grad()
                loss = loss_fn(
                    model(fastdl.from_numpy(X_train[idx])), fastdl.from_numpy(y_train[idx])
                )
                loss.backward()
                opt.step()
                curve.append(float(loss.item()))
        curves[activation] = curve
        accuracy[activation] = C.evaluate(model, X_test, y_test)[1]

    fig, (ax_norm, ax_loss) = plot.figure(2, 1, (12, 4.6))
    layers = range(1, depth + 1)
    for activation, values in norms.items():
        ax_norm.plot(layers, values, marker="o", markersize=3, label=activation)
    ax_norm.set_yscale("log")
    ax_norm.set_xticks(list(layers))
    plot.style_axes(
        ax_norm,
        f"weight-gradient norm per layer at initialisation ({depth} layers)",
        "layer (1 = next to the input)",
        "||dL/dW||",
    )
    for activation, curve in curves.items():
        ax_loss.plot(range(1, len(curve) + 1), curve, label=activation, alpha=0.85)
    ax_loss.set_ylim(0, 4)
    ax_loss.axhline(math.log(10), color="gray", linestyle=":", label="chance (ln 10)")
    plot.style_axes(
        ax_loss, "training loss, SGD lr 0.01 momentum 0.9, batch 64", "step", "cross-entropy"
    )
    path = plot.save_figure(
        fig, out, "vanishing-gradients.png", "Vanishing gradients: sigmoid vs tanh vs ReLU"
    )

    rows = [
        [a, v[0], v[-1], v[-1] / v[0] if v[0] > 0 else math.inf, curves[a][-1], accuracy[a]]
        for a, v in norms.items()
    ]
    first = {a: v[0] for a, v in norms.items()}
    conclusion = (
        f"At initialisation the layer-1 gradient norm with ReLU is "
        f"{C.times(first['relu'], first['sigmoid'])} that with sigmoid (which is "
        f"{C.times(norms['sigmoid'][-1], first['sigmoid'])} smaller than at layer {depth}), "
        f"and after {steps} SGD steps the sigmoid net's test accuracy is "
        f"{accuracy['sigmoid']:.2f} against {accuracy['relu']:.2f} with ReLU."
    )
    return C.result(
        "vanishing-gradients",
        (
            [
                "activation",
                "layer-1 grad",
                f"layer-{depth} grad",
                f"layer-{depth}/layer-1",
                "final loss",
                "test acc",
            ],
            rows,
        ),
        path,
        conclusion,
        grad_norms=norms,
        first_layer_norm=first,
        final_loss={a: c[-1] for a, c in curves.items()},
        test_accuracy=accuracy,
    )
