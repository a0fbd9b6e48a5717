"""newton: Newton's method against gradient descent on logistic regression.

Logistic regression (``nn.Linear(d, 1)`` in float64 + ``BCEWithLogitsLoss``) on a
synthetic, overlapping two-class problem whose features have scales from 0.2 to 3,
so the loss is ill-conditioned. Gradient descent uses the classic safe step
``1 / L``, with ``L = lambda_max(X^T X) / (4 n)`` the largest curvature the loss can
have; :class:`fastdl.optim.Newton` takes full steps ``-H^-1 g`` with the exact
Hessian (d + 1 backward passes each). Measured: the iterations and the wall time
until the loss is within 1e-10 of its minimum (found by Newton itself), and the
cost of one iteration of each as the number of parameters grows (a Newton step
needs a backward pass per parameter and an O(d^3) solve, which is why it is kept
for small models).
"""

from __future__ import annotations

import math

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.autograd import no_grad
from fastdl.labs import _common as C

TOL = 1e-10


def make_problem(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scales = np.geomspace(0.2, 3.0, d)
    X = rng.standard_normal((n, d)) * scales
    w = rng.standard_normal(d) / scales
    p = 1.0 / (1.0 + np.exp(-0.7 * (X @ w)))
    y = (rng.random(n) < p).astype(np.float64).reshape(-1, 1)
    return X, y


def _model(d: int) -> nn.Linear:
    model = nn.Linear(d, 1, dtype=fastdl.float64)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    return model


class Problem:
    """Logistic regression on ``make_problem(n, d, seed)``: the loss and one step of
    each method."""

    def __init__(self, n: int, d: int, seed: int) -> None:
        self.X_np, y_np = make_problem(n, d, seed)
        self.d = d
        self.X, self.y = fastdl.from_numpy(self.X_np), fastdl.from_numpy(y_np)
        self.loss_fn = nn.BCEWithLogitsLoss()

    def loss(self, model: nn.Module) -> float:
        with no_grad():
            return float(self.loss_fn(model(self.X), self.y).item())

    def newton_step(self, model: nn.Module, opt: optim.Newton) -> None:
        opt.step(lambda: self.loss_fn(model(self.X), self.y))

    def gd_step(self, model: nn.Module, opt: optim.SGD) -> None:
        opt.zero_grad()
        self.loss_fn(model(self.X), self.y).backward()
        opt.step()

    def _start(self, method: str, lr: float):
        """A fresh model at w = 0, its optimizer and the step function of ``method``."""
        model = _model(self.d)
        if method == "newton":
            return model, optim.Newton(model.parameters(), max_params=10_000), self.newton_step
        return model, optim.SGD(model.parameters(), lr=lr), self.gd_step

    def descend(
        self, method: str, lr: float, max_iters: int, f_star: float
    ) -> tuple[list[float], list[float]]:
        """Iterate from w = 0 until the loss is within TOL of ``f_star``: the gaps and
        the cumulative seconds spent in steps."""
        model, opt, step = self._start(method, lr)
        clock = C.Stopwatch()
        gaps, seconds = [self.loss(model) - f_star], [0.0]
        while gaps[-1] > TOL and len(gaps) <= max_iters:
            with clock:
                step(model, opt)
            gaps.append(self.loss(model) - f_star)
            seconds.append(clock.seconds)
        return gaps, seconds

    def seconds_per_step(self, method: str, repeats: int) -> float:
        """Mean wall time of one step (after a warm-up step)."""
        model, opt, step = self._start(method, 0.1)
        step(model, opt)  # warm-up
        clock = C.Stopwatch()
        with clock:
            for _ in range(repeats):
                step(model, opt)
        return clock.seconds / repeats


def run(quick: bool = False, out: str = "runs/lab-newton", seed: int = 0) -> dict:
    n, d = (400, 10) if quick else (1000, 20)
    max_gd = 5000 if quick else 20000
    problem = Problem(n, d, seed)

    # The minimum: Newton converges to it to machine precision in a few steps.
    reference = _model(d)
    newton = optim.Newton(reference.parameters())
    for _ in range(25):
        problem.newton_step(reference, newton)
    f_star = problem.loss(reference)

    with_bias = np.hstack([problem.X_np, np.ones((n, 1))])
    curvature = float(np.linalg.eigvalsh(with_bias.T @ with_bias / n).max()) / 4
    lr = 1.0 / curvature
    runs = {
        "Newton": problem.descend("newton", 1.0, 100, f_star),
        f"gradient descent (lr 1/L = {lr:.3g})": problem.descend("gd", lr, max_gd, f_star),
    }
    iterations, seconds, rows = {}, {}, []
    for label, (gaps, secs) in runs.items():
        done = gaps[-1] <= TOL
        iterations[label] = len(gaps) - 1 if done else math.inf
        seconds[label] = secs[-1]
        its = len(gaps) - 1
        rows.append(
            [
                label,
                str(its) if done else f">{its}",
                secs[-1],
                1e3 * secs[-1] / max(its, 1),
                gaps[-1],
            ]
        )

    dims = (5, 20, 80) if quick else (5, 10, 20, 40, 80, 160)
    costs: dict[str, list[float]] = {"Newton": [], "gradient descent": []}
    for size in dims:
        sized = Problem(n, size, seed)
        costs["Newton"].append(sized.seconds_per_step("newton", 3))
        costs["gradient descent"].append(sized.seconds_per_step("gd", 30))

    fig, (ax_it, ax_time, ax_cost) = plot.figure(3, 1, (16, 4.6))
    for label, (gaps, secs) in runs.items():
        clipped = np.maximum(gaps, 1e-16)
        ax_it.plot(range(len(gaps)), clipped, marker="o" if len(gaps) < 30 else None, label=label)
        ax_time.plot(secs, clipped, marker="o" if len(gaps) < 30 else None, label=label)
    for ax in (ax_it, ax_time):
        ax.axhline(TOL, color="gray", linestyle=":", label=f"tolerance {TOL:g}")
        ax.set_yscale("log")
    ax_it.set_xscale("symlog", linthresh=10)
    ax_it.set_xlim(left=0)
    plot.style_axes(
        ax_it,
        "loss gap against iterations",
        "iteration (log scale after 10)",
        "loss - minimum (log scale)",
    )
    plot.style_axes(ax_time, "loss gap against wall time", "seconds", "loss - minimum (log scale)")
    for label, values in costs.items():
        ax_cost.plot([d + 1 for d in dims], values, marker="o", label=label)
    ax_cost.set_xscale("log")
    ax_cost.set_yscale("log")
    plot.style_axes(
        ax_cost,
        f"cost of one iteration (n={n})",
        "parameters (d + 1)",
        "seconds per iteration (log scale)",
    )
    path = plot.save_figure(
        fig, out, "newton.png", f"Newton vs gradient descent: logistic regression, n={n}, d={d}"
    )

    newton_label, gd_label = runs
    conclusion = (
        f"To get within {TOL:g} of the minimum Newton's method took {iterations[newton_label]} "
        f"iterations ({seconds[newton_label]:.3f} s) and gradient descent "
        + (
            f"{iterations[gd_label]}"
            if math.isfinite(iterations[gd_label])
            else f"more than {max_gd}"
        )
        + f" ({seconds[gd_label]:.3f} s), though one Newton step costs "
        + C.times(costs["Newton"][-1], costs["gradient descent"][-1])
        + f" a gradient step at {dims[-1] + 1} parameters."
    )
    return C.result(
        "newton",
        (["method", f"iterations to {TOL:g}", "seconds", "ms/iteration", "final gap"], rows),
        path,
        conclusion,
        iterations={"newton": iterations[newton_label], "gd": iterations[gd_label]},
        seconds={"newton": seconds[newton_label], "gd": seconds[gd_label]},
        minimum=f_star,
        lr=lr,
        cost_per_iteration={"dims": list(dims), **costs},
    )
