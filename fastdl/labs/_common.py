"""Helpers shared by the labs: results and tables, data, mini-batches, evaluation.

The labs draw with :mod:`fastdl.plot` (``figure``, ``style_axes``, ``save_figure``)
and train with :func:`fastdl.train.train_epoch`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import fastdl
from fastdl import nn, train
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
    """One shuffled epoch of mini-batch training on arrays (``rng`` draws the order):
    :func:`fastdl.train.train_epoch` over the batches of ``X``, ``y``."""
    pairs = (
        (fastdl.from_numpy(X[idx]), fastdl.from_numpy(y[idx]))
        for idx in batches(len(X), batch_size, rng, drop_last)
    )
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    return train.train_epoch(model, loss_fn, optimizer, pairs, penalty=penalty, record=record)


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
