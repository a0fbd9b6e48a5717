"""Helpers shared by the labs: figures, a table printer, tiny training loops.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, as
:mod:`fastdl.plot` does, so a lab never touches pyplot's global state.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import fastdl
from fastdl import nn
from fastdl.autograd import no_grad
from fastdl.tensor import Tensor

Row = Sequence[Any]


# -- results ----------------------------------------------------------------------------------


def result(
    name: str, table: tuple[Sequence[str], list[Row]], figure: str, conclusion: str, **measured: Any
) -> dict[str, Any]:
    """The dict every lab returns: its measured quantities plus ``table`` (headers,
    rows), ``figure`` (the PNG path) and ``conclusion`` (one sentence)."""
    return {"lab": name, "table": table, "figure": figure, "conclusion": conclusion, **measured}


def format_cell(value: Any) -> str:
    """A table cell: ints as they are, floats to 4 significant digits (scientific
    notation when very large or small), None as '-'."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return str(value)
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)


def format_table(headers: Sequence[str], rows: list[Row]) -> str:
    """A plain-text table: a header, a rule, one line per row, columns aligned
    (text to the left, numbers to the right)."""
    cells = [[format_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row[i], (int, float, np.number)) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def times(a: float, b: float) -> str:
    """``a / b`` written as a factor: '3.4x', '312x', '5.6e8x'."""
    if b == 0 or not math.isfinite(a / b):
        return "unboundedly many times"
    ratio = a / b
    if ratio >= 1e4:
        mantissa, exponent = f"{ratio:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}x"
    return f"{ratio:.3g}x" if ratio < 100 else f"{ratio:.0f}x"


# -- figures ----------------------------------------------------------------------------------


def figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] | None = None):
    """A constrained-layout Figure on an Agg canvas and its axes (a flat list)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    size = size or (5.2 * ncols, 4.2 * nrows)
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def save(fig: Any, out: str | os.PathLike, filename: str, title: str) -> str:
    """Give ``fig`` its title and write it as ``out/filename`` (PNG); returns the path."""
    os.makedirs(out, exist_ok=True)
    fig.suptitle(title, fontsize=12)
    path = os.path.join(os.fspath(out), filename)
    fig.savefig(path, format="png", dpi=100)
    return path


def style(
    ax: Any,
    title: str,
    xlabel: str,
    ylabel: str,
    legend: bool = True,
    integer_x: bool = False,
    **kw: Any,
) -> None:
    """Title, axis labels, a light grid and (if there are labelled artists) a legend;
    ``integer_x`` puts the x ticks on whole numbers (layers, epochs)."""
    if integer_x:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, which="both")
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, **kw)


# -- data and training ------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, ...]:
    arrays = tuple(fastdl.data.load_digits())
    for array in arrays:
        array.flags.writeable = False  # shared between labs
    return arrays


def digits(n_train: int | None = None, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The 8x8 digits split (1347 train, 450 test); with ``n_train`` a random subset of
    the training part (the test part stays whole)."""
    X_train, y_train, X_test, y_test = _digits()
    if n_train is not None and n_train < len(X_train):
        keep = np.random.default_rng(seed).permutation(len(X_train))[:n_train]
        X_train, y_train = X_train[keep], y_train[keep]
    return X_train, y_train, X_test, y_test


def spirals(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of the 3-arm spirals (CS231n's toy set)."""
    return fastdl.data.make_spirals(n_samples=n, n_classes=3, noise=0.2, seed=seed)


def batches(
    n: int, batch_size: int, rng: np.random.Generator, drop_last: bool = False
) -> list[np.ndarray]:
    """Index arrays of one shuffled epoch (without the last, smaller batch if
    ``drop_last``)."""
    order = rng.permutation(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i : i + batch_size] for i in range(0, stop, batch_size)]


def train_epoch(
    model: nn.Module,
    optimizer: Any,
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    loss_fn: Callable | None = None,
    penalty: Callable[[], Tensor] | None = None,
    record: list[float] | None = None,
    drop_last: bool = False,
) -> float:
    """One shuffled epoch of mini-batch training; the mean training loss (without the
    ``penalty``). ``record``, if given, receives each batch's loss."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.train()
    total, count = 0.0, 0
    for idx in batches(len(X), batch_size, rng, drop_last):
        optimizer.zero_grad()
        loss = loss_fn(model(fastdl.from_numpy(X[idx])), fastdl.from_numpy(y[idx]))
        value = float(loss.item())
        if penalty is not None:
            loss = loss + penalty()
        loss.backward()
        optimizer.step()
        if record is not None:
            record.append(value)
        total += value * len(idx)
        count += len(idx)
    return total / count


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average (shorter at the start), for noisy per-step curves."""
    values = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def evaluate(
    model: nn.Module, X: np.ndarray, y: np.ndarray, loss_fn: Callable | None = None
) -> tuple[float, float]:
    """(loss, accuracy) of a classifier on (X, y), in eval mode and without grad."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    with no_grad():
        logits = model(fastdl.from_numpy(X))
        loss = float(loss_fn(logits, fastdl.from_numpy(y)).item())
        accuracy = float((logits.numpy().argmax(axis=1) == y).mean())
    model.train(was_training)
    return loss, accuracy


class Stopwatch:
    """Accumulates wall time over the ``with`` blocks it is used in."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds += time.perf_counter() - self._start
