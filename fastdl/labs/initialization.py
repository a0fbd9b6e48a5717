"""initialization: the variance of activations through 20 layers, by weight init.

A batch of N(0, 1) inputs goes through 20 ``Linear(256, 256)`` layers (zero biases),
each followed by tanh or ReLU, and the lab records the variance of every layer's
pre-activations. A layer multiplies that variance by ``fan_in * Var(W)`` times
what the nonlinearity keeps (about 1 for tanh near 0, 1/2 for ReLU), so:

* naive N(0, 1) weights multiply it by ~256 (tanh saturates at +-1, ReLU explodes);
* small N(0, 0.01^2) weights multiply it by 0.0256: it vanishes;
* Xavier, ``Var(W) = gain^2 * 2 / (fan_in + fan_out)``, keeps it for tanh with
  PyTorch's recommended gain 5/3 (with gain 1 tanh's compression slowly shrinks
  it), but halves it per layer with ReLU;
* He, ``Var(W) = 2 / fan_in``, keeps it with ReLU.

Computed in float64 so that the exploding case shows its size instead of inf.
"""

from __future__ import annotations

import numpy as np

import fastdl
from fastdl import nn, plot
from fastdl.autograd import no_grad
from fastdl.labs import _common as C

DEPTH, WIDTH = 20, 256
BAND = (0.1, 10.0)

INITS = {
    "naive N(0, 1)": lambda w: nn.init.normal_(w, 0.0, 1.0),
    "small N(0, 0.01²)": lambda w: nn.init.normal_(w, 0.0, 0.01),
    "Xavier, gain 1": lambda w: nn.init.xavier_normal_(w),
    "Xavier, gain 5/3": lambda w: nn.init.xavier_normal_(w, gain=nn.init.calculate_gain("tanh")),
    "He (Kaiming)": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
}
# Which inits each activation is shown with: the two failures and the textbook match.
PAIRS = {
    "tanh": ("naive N(0, 1)", "small N(0, 0.01²)", "Xavier, gain 1", "Xavier, gain 5/3"),
    "relu": ("naive N(0, 1)", "small N(0, 0.01²)", "Xavier, gain 1", "He (Kaiming)"),
}
RECOMMENDED = {"tanh": "Xavier, gain 5/3", "relu": "He (Kaiming)"}


def propagate(activation: str, init: str, x: fastdl.Tensor) -> tuple[list[float], list[float]]:
    """Per layer: the pre-activation variance and the fraction of saturated outputs
    (``|tanh| > 0.99``; for ReLU the fraction of zeros)."""
    variances, saturated = [], []
    with no_grad():
        for _ in range(DEPTH):
            layer = nn.Linear(WIDTH, WIDTH, dtype=fastdl.float64)
            INITS[init](layer.weight)
            nn.init.zeros_(layer.bias)
            z = layer(x)
            variances.append(float(z.numpy().var()))
            x = z.tanh() if activation == "tanh" else z.relu()
            y = x.numpy()
            saturated.append(
                float((np.abs(y) > 0.99).mean() if activation == "tanh" else (y == 0).mean())
            )
    return variances, saturated


def run(quick: bool = False, out: str = "runs/lab-initialization", seed: int = 0) -> dict:
    batch = 256 if quick else 1024
    fastdl.manual_seed(seed)
    x = fastdl.randn(batch, WIDTH, dtype=fastdl.float64)
    variances: dict[str, dict[str, list[float]]] = {}
    saturation: dict[str, dict[str, list[float]]] = {}
    rows = []
    for activation, inits in PAIRS.items():
        variances[activation], saturation[activation] = {}, {}
        for init in inits:
            fastdl.manual_seed(seed + 1)
            v, s = propagate(activation, init, x)
            variances[activation][init], saturation[activation][init] = v, s
            in_band = all(BAND[0] <= value <= BAND[1] for value in v)
            saturated = s[-1] if activation == "tanh" else None
            rows.append(
                [activation, init, v[0], v[9], v[-1], saturated, "yes" if in_band else "no"]
            )

    fig, axes = plot.figure(3, 1, (16, 4.6))
    layers = range(1, DEPTH + 1)
    for ax, activation in zip(axes[:2], PAIRS):
        for init, v in variances[activation].items():
            style = "-" if init == RECOMMENDED[activation] else "--"
            ax.plot(layers, v, style, marker="o", markersize=3, label=init)
        ax.axhspan(*BAND, color="tab:green", alpha=0.08, label=f"band [{BAND[0]:g}, {BAND[1]:g}]")
        ax.set_yscale("log")
        plot.style_axes(
            ax,
            f"{activation}: pre-activation variance per layer",
            "layer",
            "variance (log scale)",
            integer_x=True,
            loc="best",
        )
    for init, s in saturation["tanh"].items():
        axes[2].plot(layers, s, marker="o", markersize=3, label=init)
    axes[2].set_ylim(-0.02, 1.02)
    plot.style_axes(
        axes[2],
        "tanh: fraction of saturated outputs (|y| > 0.99)",
        "layer",
        "fraction saturated",
        integer_x=True,
    )
    path = plot.save_figure(
        fig,
        out,
        "initialization.png",
        f"Initialization: activation variance through {DEPTH} layers of width {WIDTH}",
    )

    relu, tanh = variances["relu"], variances["tanh"]
    last = {init: values[-1] for init, values in relu.items()}
    conclusion = (
        f"After {DEPTH} ReLU layers the pre-activation variance is {last['He (Kaiming)']:.3g} with "
        f"He init but {last['naive N(0, 1)']:.2g} with N(0, 1), {last['small N(0, 0.01²)']:.2g} "
        f"with N(0, 0.01²) and {last['Xavier, gain 1']:.2g} with Xavier; through tanh layers "
        f"Xavier (gain 5/3) keeps it at {tanh['Xavier, gain 5/3'][-1]:.3g}."
    )
    return C.result(
        "initialization",
        (
            [
                "activation",
                "init",
                "var L1",
                "var L10",
                f"var L{DEPTH}",
                f"tanh saturated L{DEPTH}",
                "in band",
            ],
            rows,
        ),
        path,
        conclusion,
        variances=variances,
        saturation=saturation,
        band=BAND,
    )
