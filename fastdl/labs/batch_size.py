"""batch-size: seconds per epoch and test accuracy across batch sizes.

The same MLP 64-128-10 (ReLU) on the digits, trained for the same number of epochs
with SGD (lr 0.01, momentum 0.9) at batch sizes from 1 sample to the whole training
set. Small batches make many cheap, noisy updates per epoch; large batches make few,
each of which uses the hardware better (more samples per second), so an epoch is
faster but it makes less progress.
"""

from __future__ import annotations

import numpy as np

import fastdl
from fastdl import nn, optim, plot
from fastdl.labs import _common as C


def run(quick: bool = False, out: str = "runs/lab-batch-size", seed: int = 0) -> dict:
    epochs = 3 if quick else 10
    sizes = (4, 64, 1347) if quick else (1, 4, 16, 64, 256, 1347)
    X_train, y_train, X_test, y_test = C.digits()
    warm = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    C.train_epoch(
        warm, optim.SGD(warm.parameters(), lr=0.0), X_train, y_train, 256, np.random.default_rng(0)
    )

    rows, accuracy, per_epoch, samples_per_s, curves = [], {}, {}, {}, {}
    for size in sizes:
        fastdl.manual_seed(seed)
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        rng = np.random.default_rng(seed)
        clock = C.Stopwatch()
        curve = []
        for _ in range(epochs):
            with clock:
                C.train_epoch(model, opt, X_train, y_train, size, rng)
            curve.append(C.evaluate(model, X_test, y_test)[1])
        curves[size] = curve
        accuracy[size] = curve[-1]
        per_epoch[size] = clock.seconds / epochs
        samples_per_s[size] = len(X_train) / per_epoch[size]
        updates = epochs * -(-len(X_train) // size)
        rows.append([size, updates, per_epoch[size], samples_per_s[size], accuracy[size]])

    fig, (ax_time, ax_acc, ax_curve) = plot.figure(3, 1, (15, 4.4))
    ax_time.plot(sizes, [per_epoch[s] for s in sizes], marker="o", color="tab:blue")
    ax_time.set_xscale("log")
    ax_time.set_yscale("log")
    plot.style_axes(
        ax_time, "wall time per epoch (measured, noisy)", "batch size", "seconds per epoch"
    )
    ax_acc.plot(sizes, [accuracy[s] for s in sizes], marker="o", color="tab:green")
    ax_acc.set_xscale("log")
    plot.style_axes(ax_acc, f"test accuracy after {epochs} epochs", "batch size", "test accuracy")
    for size in sizes:
        ax_curve.plot(range(1, epochs + 1), curves[size], marker=".", label=f"batch {size}")
    plot.style_axes(ax_curve, "test accuracy per epoch", "epoch", "test accuracy")
    path = plot.save_figure(
        fig,
        out,
        "batch-size.png",
        "Batch size: fast epochs or many updates (SGD lr 0.01, momentum 0.9)",
    )

    small, large = sizes[0], sizes[-1]
    conclusion = (
        f"With {epochs} epochs each, batch {small} took {per_epoch[small]:.3f} s per epoch and "
        f"reached {accuracy[small]:.3f} test accuracy, the full batch of {large} took "
        f"{per_epoch[large]:.4f} s per epoch ({C.times(per_epoch[small], per_epoch[large])} less) "
        f"and reached {accuracy[large]:.3f}."
    )
    return C.result(
        "batch-size",
        (["batch", "updates", "s/epoch", "samples/s", "test acc"], rows),
        path,
        conclusion,
        test_accuracy=accuracy,
        seconds_per_epoch=per_epoch,
        samples_per_second=samples_per_s,
    )
