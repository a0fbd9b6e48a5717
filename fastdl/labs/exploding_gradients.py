"""exploding-gradients: a recurrent net on long sequences, with and without clipping.

An ``nn.RNN`` (tanh, 32 units, orthogonal recurrent weights) reads sequences of 50
N(0, 1) numbers and a ``Linear`` on its last hidden state predicts their (scaled)
sum; plain SGD at lr 0.3, the same batches for both runs. Backpropagation through
time multiplies the gradient by the recurrent Jacobian once per step, so now and
then it comes back enormous (a "cliff" of the loss surface) and a single step
throws the weights far away. ``nn.utils.clip_grad_norm_(params, 0.25)`` rescales
such a gradient to norm 0.25 before the step, keeping its direction. Measured per
step: the loss and the gradient norm before clipping.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.labs import _common as C

LENGTH, HIDDEN, BATCH = 50, 32, 32
LR, MAX_NORM = 0.3, 0.25


class SumReader(nn.Module):
    """RNN over the sequence, Linear on the final hidden state."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(1, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, 1)
        nn.init.orthogonal_(self.rnn.weight_hh_l0)

    def forward(self, x: fastdl.Tensor) -> fastdl.Tensor:
        _, h_n = self.rnn(x)
        return self.fc(h_n[-1])


def batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((BATCH, LENGTH, 1)).astype(np.float32)
    return x, x.sum(axis=1) / np.float32(math.sqrt(LENGTH))


def train(clip: float | None, steps: int, seed: int) -> tuple[list[float], list[float]]:
    """Per-step losses and gradient norms (before clipping); stops at the first
    non-finite loss or gradient."""
    fastdl.manual_seed(seed)
    model = SumReader()
    opt = optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.MSELoss()
    rng = np.random.default_rng(seed)
    losses, norms = [], []
    for _ in range(steps):
        x, y = batch(rng)
        opt.zero_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow on the way to inf
            loss = loss_fn(model(fastdl.from_numpy(x)), fastdl.from_numpy(y))
            loss.backward()
            norm = nn.utils.clip_grad_norm_(model.parameters(), math.inf if clip is None else clip)
        losses.append(float(loss.item()))
        norms.append(float(norm.item()))
        if not (math.isfinite(losses[-1]) and math.isfinite(norms[-1])):
            break
        opt.step()
    return losses, norms


def run(quick: bool = False, out: str = "runs/lab-exploding-gradients", seed: int = 0) -> dict:
    steps = 80 if quick else 400
    runs = {
        "no clipping": train(None, steps, seed),
        f"clip_grad_norm_({MAX_NORM})": train(MAX_NORM, steps, seed),
    }
    plain, clipped = runs

    def summary(losses: list[float], norms: list[float]) -> dict[str, float]:
        finite = [v for v in losses if math.isfinite(v)]
        tail = losses[-10:]
        return {
            "steps": len(losses),
            "first_loss": losses[0],
            "final_loss": float(np.mean(tail)) if all(math.isfinite(v) for v in tail) else math.nan,
            "max_loss": max(finite) if finite else math.nan,
            "max_grad_norm": max((v for v in norms if math.isfinite(v)), default=math.nan),
            "finite": all(math.isfinite(v) for v in losses + norms),
        }

    stats = {label: summary(*values) for label, values in runs.items()}
    rows = [
        [
            label,
            s["steps"],
            s["first_loss"],
            s["final_loss"],
            s["max_loss"],
            s["max_grad_norm"],
            "yes" if s["finite"] else "no",
        ]
        for label, s in stats.items()
    ]

    fig, (ax_loss, ax_norm) = plot.figure(2, 1, (12, 4.6))
    for label, (losses, norms) in runs.items():
        xs = range(1, len(losses) + 1)
        ax_loss.plot(xs, np.where(np.isfinite(losses), losses, np.nan), label=label)
        ax_norm.plot(xs, np.where(np.isfinite(norms), norms, np.nan), label=label)
        if not stats[label]["finite"]:
            for ax in (ax_loss, ax_norm):
                ax.axvline(
                    len(losses),
                    color="tab:red",
                    linestyle=":",
                    label=f"{label}: NaN/inf at step {len(losses)}",
                )
    ax_norm.axhline(MAX_NORM, color="gray", linestyle="--", label=f"max_norm {MAX_NORM}")
    for ax in (ax_loss, ax_norm):
        ax.set_yscale("log")
    plot.style_axes(ax_loss, "training loss per step", "step", "MSE (log scale)")
    plot.style_axes(
        ax_norm, "gradient norm before clipping", "step", "total gradient norm (log scale)"
    )
    path = plot.save_figure(
        fig,
        out,
        "exploding-gradients.png",
        f"Exploding gradients: tanh RNN on sequences of {LENGTH}, SGD lr {LR}",
    )

    p, c = stats[plain], stats[clipped]
    peak = f"gradient norms up to {p['max_grad_norm']:.3g}"
    if p["finite"]:
        fate = f"ended at loss {p['final_loss']:.3g} with {peak}"
    else:
        fate = f"blew up to NaN/inf at step {p['steps']} after {peak}"
    conclusion = (
        f"Without clipping the RNN {fate}, while with clip_grad_norm_({MAX_NORM}) the loss stayed "
        f"finite for all {c['steps']} steps and went from {c['first_loss']:.3g} to "
        f"{c['final_loss']:.3g}."
    )
    return C.result(
        "exploding-gradients",
        (
            [
                "run",
                "steps",
                "first loss",
                "last-10 loss",
                "max loss",
                "max finite grad norm",
                "finite",
            ],
            rows,
        ),
        path,
        conclusion,
        stats=stats,
        losses={k: v[0] for k, v in runs.items()},
        grad_norms={k: v[1] for k, v in runs.items()},
    )
