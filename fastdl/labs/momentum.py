"""momentum: plain SGD, momentum and Nesterov on an ill-conditioned quadratic.

``f(w) = (w1^2 + 40 w2^2) / 2`` has curvatures 1 and 40 (condition number 40). The
learning rate must stay below 2/40 for the steep direction, so plain gradient descent
creeps along the flat one; momentum (0.9) accumulates speed along it. Each method is
``fastdl.optim.SGD`` on one fastdl ``Parameter`` of shape (2,), same start, same
learning rate; the lab counts the steps until ``f < 1e-3``.
"""

from __future__ import annotations

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.labs import _common as C

CURVATURE = (1.0, 40.0)
START = (-4.0, 1.5)
LR = 0.03
TARGET = 1e-3


def descend(make_optimizer, steps: int) -> np.ndarray:
    """The path ``(steps + 1, 2)`` of an optimizer over ``f`` from ``START``."""
    w = nn.Parameter(np.array(START, np.float64))
    curvature = fastdl.tensor(CURVATURE, dtype=fastdl.float64)
    opt = make_optimizer([w])
    path = [w.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        ((curvature * w * w).sum() * 0.5).backward()
        opt.step()
        path.append(w.detach().numpy().copy())
    return np.array(path)


def objective(points: np.ndarray) -> np.ndarray:
    return 0.5 * (np.asarray(CURVATURE) * points**2).sum(-1)


def run(quick: bool = False, out: str = "runs/lab-momentum", seed: int = 0) -> dict:
    steps = 160 if quick else 250
    methods = {
        "SGD": lambda ps: optim.SGD(ps, lr=LR),
        "momentum 0.9": lambda ps: optim.SGD(ps, lr=LR, momentum=0.9),
        "Nesterov 0.9": lambda ps: optim.SGD(ps, lr=LR, momentum=0.9, nesterov=True),
    }
    paths = {label: descend(make, steps) for label, make in methods.items()}
    values = {label: objective(path) for label, path in paths.items()}
    reached = {
        label: int(np.argmax(f < TARGET)) if (f < TARGET).any() else None
        for label, f in values.items()
    }

    fig, (ax_path, ax_f) = plot.figure(2, 1, (14, 4.6))
    gx, gy = np.meshgrid(np.linspace(-4.5, 4.5, 200), np.linspace(-2.0, 2.0, 120))
    levels = np.geomspace(1e-2, objective(np.array([4.5, 2.0])), 14)
    ax_path.contour(
        gx, gy, objective(np.stack([gx, gy], -1)), levels=levels, colors="0.65", linewidths=0.7
    )
    shown = 60
    for label, path in paths.items():
        ax_path.plot(
            path[:shown, 0], path[:shown, 1], marker=".", markersize=4, linewidth=1, label=label
        )
    ax_path.plot(*START, "k*", markersize=10, label="start")
    ax_path.plot(0, 0, "kx", markersize=8, label="minimum")
    ax_path.set_aspect("equal")
    plot.style_axes(
        ax_path,
        f"first {shown} steps on f = (w1² + 40·w2²)/2, lr {LR}",
        "w1",
        "w2",
        loc="lower right",
    )
    for label, f in values.items():
        ax_f.plot(range(len(f)), f, label=label)
    ax_f.axhline(TARGET, color="gray", linestyle=":", label=f"target f = {TARGET:g}")
    ax_f.set_yscale("log")
    plot.style_axes(ax_f, "objective against step", "step", "f(w) (log scale)")
    path = plot.save_figure(
        fig, out, "momentum.png", "Momentum on an ill-conditioned quadratic (condition number 40)"
    )

    def steps_text(label: str) -> str:
        return f">{steps}" if reached[label] is None else str(reached[label])

    rows = [[label, steps_text(label), float(values[label][-1])] for label in methods]
    conclusion = (
        f"To reach f < {TARGET:g} from the same start at lr {LR}, plain SGD needed "
        f"{steps_text('SGD')} steps, momentum {steps_text('momentum 0.9')} and Nesterov "
        f"{steps_text('Nesterov 0.9')}."
    )
    return C.result(
        "momentum",
        (["method", f"steps to f<{TARGET:g}", f"f after {steps} steps"], rows),
        path,
        conclusion,
        steps_to_target={k: (steps + 1 if v is None else v) for k, v in reached.items()},
        final_value={k: float(v[-1]) for k, v in values.items()},
        paths=paths,
    )
