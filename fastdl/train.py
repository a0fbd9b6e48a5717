"""The training loop: ``fit`` and ``evaluate``, with history, progress bar and callbacks.

Example::

    history = fastdl.train.fit(model, nn.CrossEntropyLoss(), opt, train_loader,
                               epochs=10, val_loader=test_loader)
    history.epochs[-1]["val_accuracy"]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from fastdl import dtypes
from fastdl.autograd import no_grad
from fastdl.nn.module import Module
from fastdl.tensor import Tensor


@dataclass
class History:
    """One dict per epoch: ``epoch, train_loss, train_accuracy, val_loss,
    val_accuracy, seconds`` (accuracies are None when they do not apply)."""

    epochs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": [dict(e) for e in self.epochs]}

    def __len__(self) -> int:
        return len(self.epochs)


def _correct(output: Tensor, target: Tensor) -> int | None:
    """Correct predictions in a batch, or None when accuracy does not apply."""
    out, tgt = output._data, target._data
    if tgt.dtype == dtypes.int64 and out.ndim == 2 and tgt.shape == out.shape[:1]:
        return int(np.count_nonzero(out.argmax(axis=1) == tgt))
    if (
        out.ndim == 2
        and tgt.shape == out.shape
        and dtypes.is_floating(tgt.dtype)
        and out.shape[1] > 1
    ):
        return int(np.count_nonzero(out.argmax(axis=1) == tgt.argmax(axis=1)))
    return None


class _Meter:
    """Sample-weighted running loss and accuracy over an epoch."""

    def __init__(self) -> None:
        self.loss = 0.0
        self.samples = 0
        self.correct: int | None = 0

    def add(self, loss: float, output: Tensor, target: Tensor) -> None:
        n = target.shape[0] if target.ndim else 1
        self.loss += loss * n
        self.samples += n
        correct = _correct(output, target)
        self.correct = None if correct is None or self.correct is None else self.correct + correct

    def result(self) -> dict[str, float | None]:
        if self.samples == 0:
            return {"loss": math.nan, "accuracy": None}
        accuracy = None if self.correct is None else self.correct / self.samples
        return {"loss": self.loss / self.samples, "accuracy": accuracy}


def evaluate(model: Module, loader: Iterable, loss_fn: Callable) -> dict[str, float | None]:
    """Mean loss and accuracy of ``model`` over ``loader``, without recording a graph.

    Example::

        fastdl.train.evaluate(model, test_loader, nn.CrossEntropyLoss())
        # {"loss": 0.08, "accuracy": 0.975}
    """
    was_training = model.training
    model.eval()
    meter = _Meter()
    with no_grad():
        for inputs, target in loader:
            output = model(inputs)
            meter.add(float(loss_fn(output, target).item()), output, target)
    model.train(was_training)
    return meter.result()


class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "min",
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.best: float | None = None
        self.waited = 0

    def __call__(self, history: History, model: Module, optimizer: Any) -> bool:
        value = history.epochs[-1].get(self.monitor)
        if value is None:
            raise ValueError(f"EarlyStopping: the history has no {self.monitor!r} to monitor")
        sign = 1 if self.mode == "min" else -1
        if self.best is None or sign * (self.best - value) > self.min_delta:
            self.best, self.waited = value, 0
            return False
        self.waited += 1
        return self.waited >= self.patience


def fit(
    model: Module,
    loss_fn: Callable,
    optimizer: Any,
    train_loader: Iterable,
    epochs: int,
    val_loader: Iterable | None = None,
    scheduler: Any = None,
    callbacks: Iterable[Callable] = (),
    progress: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Each step is ``zero_grad``, forward, loss, backward, ``optimizer.step()``. After
    each epoch the model is evaluated on ``val_loader`` (if given), ``scheduler.step()``
    runs, and each callback is called as ``callback(history, model, optimizer)``;
    one returning True stops training (see :class:`EarlyStopping`). The progress bar
    is off when ``progress`` is False or the output is not a terminal.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    history = History()
    bar = tqdm(
        range(1, epochs + 1),
        desc="train",
        unit="epoch",
        disable=None if progress else True,
        leave=True,
    )
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        meter = _Meter()
        for inputs, target in train_loader:
            optimizer.zero_grad()
            output = model(inputs)
            loss = loss_fn(output, target)
            loss.backward()
            optimizer.step()
            meter.add(float(loss.item()), output, target)
        train = meter.result()
        val = evaluate(model, val_loader, loss_fn) if val_loader is not None else {}
        if scheduler is not None:
            scheduler.step()
        history.epochs.append(
            {
                "epoch": epoch,
                "train_loss": train["loss"],
                "train_accuracy": train["accuracy"],
                "val_loss": val.get("loss"),
                "val_accuracy": val.get("accuracy"),
                "seconds": time.perf_counter() - start,
            }
        )
        bar.set_postfix(
            {
                k: f"{v:.4f}"
                for k, v in history.epochs[-1].items()
                if k in ("train_loss", "val_loss", "val_accuracy") and v is not None
            }
        )
        if any([bool(cb(history, model, optimizer)) for cb in callbacks]):
            break
    bar.close()
    return history
