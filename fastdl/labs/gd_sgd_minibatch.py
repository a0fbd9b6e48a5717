"""gd-sgd-minibatch: full-batch, per-sample and mini-batch gradient descent.

Softmax regression (one ``Linear(64, 10)``, a convex problem) on the digits with
plain SGD at the same learning rate, for the same number of epochs, with batches
of all 1347 samples (gradient descent: one update per epoch), of 1 (stochastic
gradient descent: 1347 updates per epoch) and of 32 (mini-batch). The full
training loss is measured along the way, against the number of updates and
against the wall time spent updating (the time spent measuring is left out).
"""

from __future__ import annotations

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.labs import _common as C

LR = 0.1


def _checkpoints(total: int, per_epoch: int) -> set[int]:
    """Updates after which the loss is measured: log-spaced, plus every epoch end."""
    marks = set(np.unique(np.geomspace(1, total, 40).astype(int)).tolist())
    return marks | set(range(per_epoch, total + 1, per_epoch)) | {0}


def _step(model, loss_fn, X: np.ndarray, y: np.ndarray, opt=None) -> None:
    opt = opt or optim.SGD(model.parameters(), lr=LR)
    opt.zero_grad()
    loss_fn(model(fastdl.from_numpy(X)), fastdl.from_numpy(y)).backward()
    opt.step()


def run(quick: bool = False, out: str = "runs/lab-gd-sgd-minibatch", seed: int = 0) -> dict:
    epochs = 2 if quick else 20
    X, y, X_test, y_test = C.digits()
    loss_fn = nn.CrossEntropyLoss()
    regimes = {"full batch (GD)": len(X), "per sample (SGD)": 1, "mini-batch 32": 32}
    traces: dict[str, tuple[list[int], list[float], list[float]]] = {}
    rows = []
    for batch_size in regimes.values():  # warm up: load the kernels before any clock runs
        _step(nn.Linear(64, 10), loss_fn, X[:batch_size], y[:batch_size])
    for label, batch_size in regimes.items():
        fastdl.manual_seed(seed)
        model = nn.Linear(64, 10)
        opt = optim.SGD(model.parameters(), lr=LR)
        rng = np.random.default_rng(seed)
        per_epoch = -(-len(X) // batch_size)
        marks = _checkpoints(epochs * per_epoch, per_epoch)
        updates, losses, seconds = [0], [C.evaluate(model, X, y)[0]], [0.0]
        clock = C.Stopwatch()
        step = 0
        for _ in range(epochs):
            for idx in C.batches(len(X), batch_size, rng):
                with clock:
                    _step(model, loss_fn, X[idx], y[idx], opt)
                step += 1
                if step in marks:
                    updates.append(step)
                    losses.append(C.evaluate(model, X, y)[0])
                    seconds.append(clock.seconds)
        traces[label] = (updates, losses, seconds)
        test_acc = C.evaluate(model, X_test, y_test)[1]
        rows.append(
            [
                label,
                batch_size,
                step,
                losses[-1],
                test_acc,
                clock.seconds,
                1e6 * clock.seconds / step,
            ]
        )

    gd, sgd, mb = regimes
    budget = traces[mb][2][-1]  # the mini-batch run's whole time
    at_budget = {
        label: float(np.interp(budget, seconds, losses))
        for label, (_, losses, seconds) in traces.items()
    }

    fig, (ax_upd, ax_time) = plot.figure(2, 1, (12, 4.6))
    for label, (updates, losses, seconds) in traces.items():
        ax_upd.plot(updates[1:], losses[1:], marker=".", label=label)
        ax_time.plot(seconds[1:], losses[1:], marker=".", label=label)
    ax_time.axvline(budget, color="gray", linestyle=":", label="mini-batch run's time")
    ax_upd.set_xscale("log")
    ax_time.set_xscale("log")
    plot.style_axes(
        ax_upd,
        f"training loss against updates ({epochs} epochs each)",
        "updates (log scale)",
        "training loss (all 1347 samples)",
    )
    plot.style_axes(
        ax_time,
        "training loss against wall time",
        "seconds spent updating (log scale)",
        "training loss (all 1347 samples)",
    )
    path = plot.save_figure(
        fig,
        out,
        "gd-sgd-minibatch.png",
        f"Full-batch vs per-sample vs mini-batch SGD (lr {LR}, softmax regression on digits)",
    )

    final = {label: trace[1][-1] for label, trace in traces.items()}
    steps = {row[0]: row[2] for row in rows}
    secs = {row[0]: row[5] for row in rows}
    conclusion = (
        f"After {epochs} epochs at lr {LR} the training loss is {final[gd]:.3f} for full-batch "
        f"descent ({steps[gd]} updates), {final[mb]:.3f} for mini-batches of 32 ({steps[mb]}) and "
        f"{final[sgd]:.3f} per sample ({steps[sgd]}); in the {budget:.3f} s the mini-batch run "
        f"took, per-sample descent reached {at_budget[sgd]:.3f}."
    )
    return C.result(
        "gd-sgd-minibatch",
        (["regime", "batch", "updates", "train loss", "test acc", "seconds", "us/update"], rows),
        path,
        conclusion,
        final_loss=final,
        loss_at_minibatch_time=at_budget,
        updates=steps,
        seconds=secs,
        traces=traces,
    )
