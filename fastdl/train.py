"""The training loop: ``fit`` and ``evaluate``, with history, progress bar and callbacks.

Example::

    history = fastdl.train.fit(model, nn.CrossEntropyLoss(), opt, train_loader,
                               epochs=10, val_loader=test_loader)
    history.epochs[-1]["val_accuracy"]
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from fastdl import dtypes
from fastdl.autograd import detect_anomaly as anomaly_mode
from fastdl.autograd import no_grad
from fastdl.nn.module import Module
from fastdl.tensor import Tensor


@dataclass
class History:
    """One dict per epoch: ``epoch, train_loss, train_accuracy, val_loss,
    val_accuracy, lr, seconds`` (accuracies are None when they do not apply;
    ``lr`` is the first parameter group's learning rate as the epoch began)."""

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
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs in a row (a NaN value counts as no improvement).

    Example::

        fit(..., val_loader=val, callbacks=[EarlyStopping(monitor="val_loss", patience=5)])
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "min",
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 0:
            raise ValueError(f"patience must be a non-negative int, got {patience!r}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be a non-negative number, got {min_delta!r}")
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.best: float | None = None
        self.waited = 0

    def __call__(self, history: History, model: Module, optimizer: Any) -> bool:
        value = history.epochs[-1].get(self.monitor)
        if value is None:
            raise ValueError(f"EarlyStopping: the history has no {self.monitor!r} to monitor")
        sign = 1 if self.mode == "min" else -1
        if not math.isnan(value) and (
            self.best is None or sign * (self.best - value) > self.min_delta
        ):
            self.best, self.waited = value, 0
            return False
        self.waited += 1
        return self.waited >= self.patience


def _trainable(optimizer: Any) -> list[Tensor]:
    """The optimizer's parameters that take gradients, in group order."""
    return [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]


def _check_finite_gradients(model: Module, params: list[Tensor]) -> None:
    """Raise FloatingPointError naming the first parameter with a NaN/Inf gradient."""
    for p in params:
        if p._grad is None or p._grad_stale:  # no gradient, or a zero one
            continue
        if not np.isfinite(p._grad._data).all():
            names = {id(q): name for name, q in model.named_parameters()}
            name = names.get(id(p), f"of shape {tuple(p.shape)}")
            raise FloatingPointError(f"non-finite gradient for parameter {name!r}")


def _forward_backward(
    model: Module,
    loss_fn: Callable,
    optimizer: Any,
    inputs: Any,
    target: Any,
    clip: Callable[[], Any] | None,
    detect_anomaly: bool,
    where: str,
) -> tuple[float, Tensor]:
    """One step up to (not including) ``optimizer.step()``: the loss value and output.

    With ``detect_anomaly`` a NaN/Inf in an op, the loss or a gradient raises
    FloatingPointError here, so the step that would use it never runs."""
    optimizer.zero_grad()
    try:
        with anomaly_mode() if detect_anomaly else contextlib.nullcontext():
            output = model(inputs)
            loss = loss_fn(output, target)
            loss_value = float(loss.item())
            if detect_anomaly and not math.isfinite(loss_value):
                op = loss.grad_fn.name if loss.grad_fn is not None else "loss_fn"
                raise FloatingPointError(f"Function '{op}' returned a {loss_value} loss")
            loss.backward()
        if clip is not None:
            clip()
        if detect_anomaly:
            _check_finite_gradients(model, _trainable(optimizer))
    except FloatingPointError as error:
        raise FloatingPointError(
            f"{error} (fit: {where}; the optimizer step was skipped, parameters hold "
            "the last good values)"
        ) from error
    return loss_value, output


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
    clip_grad_norm: float | None = None,
    detect_anomaly: bool = False,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Each step is ``zero_grad``, forward, loss, backward, then (with
    ``clip_grad_norm``) :func:`fastdl.nn.utils.clip_grad_norm_` over the
    optimizer's parameters, then ``optimizer.step()``. After each epoch the model is
    evaluated on ``val_loader`` (if given) and each callback is called as
    ``callback(history, model, optimizer)``; one returning True stops training (see
    :class:`EarlyStopping`). The progress bar is off when ``progress`` is False or
    the output is not a terminal.

    ``scheduler`` (see :mod:`fastdl.optim.lr_scheduler`) steps once per epoch, after
    validation; one whose class sets ``per_batch = True`` (:class:`OneCycleLR`) steps
    after every optimizer step instead, and :class:`ReduceLROnPlateau` steps with
    the epoch's ``val_loss`` (``train_loss`` without a ``val_loader``). Each epoch's
    record holds ``lr``, the first parameter group's learning rate at the start of
    the epoch.

    ``detect_anomaly=True`` runs each forward and backward under
    :class:`fastdl.autograd.detect_anomaly` and checks the loss and the gradients
    (after clipping) before each optimizer step: the first NaN/Inf raises
    ``FloatingPointError`` naming the op (``"Function 'Log' ..."``) with the epoch
    and batch, and the parameters and optimizer state stay those of the last good
    step. It slows training down; use it to debug.

    Example::

        sched = fastdl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
        history = fit(model, nn.CrossEntropyLoss(), opt, train_loader, epochs=20,
                      val_loader=val_loader, scheduler=sched, clip_grad_norm=1.0,
                      callbacks=[EarlyStopping(patience=3)])
    """
    from fastdl.optim.lr_scheduler import ReduceLROnPlateau

    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if clip_grad_norm is not None and not (
        isinstance(clip_grad_norm, numbers.Real)
        and not isinstance(clip_grad_norm, bool)
        and 0 < clip_grad_norm < math.inf
    ):
        raise ValueError(f"clip_grad_norm must be a positive number, got {clip_grad_norm!r}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}")
    callbacks = list(callbacks)
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise TypeError(f"callbacks[{i}] is a {type(cb).__name__}, not a callable")
    plateau = isinstance(scheduler, ReduceLROnPlateau)
    per_batch = scheduler is not None and getattr(scheduler, "per_batch", False)
    if per_batch and hasattr(scheduler, "total_steps") and hasattr(train_loader, "__len__"):
        needed = epochs * len(train_loader)
        left = scheduler.total_steps - scheduler.last_epoch
        if needed > left:  # fail now, not with an error in the middle of training
            raise ValueError(
                f"{type(scheduler).__name__} has {left} steps left, but {epochs} epochs of "
                f"{len(train_loader)} batches take {needed}: build it with "
                f"epochs={epochs}, steps_per_epoch={len(train_loader)}"
            )
    clip = None
    if clip_grad_norm is not None:
        from fastdl.nn.utils import clip_grad_norm_

        clip = functools.partial(clip_grad_norm_, _trainable(optimizer), clip_grad_norm)

    history = History()
    bar = tqdm(
        range(1, epochs + 1),
        desc="train",
        unit="epoch",
        disable=None if progress else True,
        leave=True,
    )
    try:
        for epoch in bar:
            start = time.perf_counter()
            lr = float(optimizer.param_groups[0]["lr"])
            model.train()
            meter = _Meter()
            for batch, (inputs, target) in enumerate(train_loader):
                where = f"epoch {epoch}, batch {batch}"
                loss_value, output = _forward_backward(
                    model, loss_fn, optimizer, inputs, target, clip, detect_anomaly, where
                )
                optimizer.step()
                if per_batch:
                    scheduler.step()
                meter.add(loss_value, output, target)
            train = meter.result()
            val = evaluate(model, val_loader, loss_fn) if val_loader is not None else {}
            if plateau:
                scheduler.step(val["loss"] if val_loader is not None else train["loss"])
            elif scheduler is not None and not per_batch:
                scheduler.step()
            history.epochs.append(
                {
                    "epoch": epoch,
                    "train_loss": train["loss"],
                    "train_accuracy": train["accuracy"],
                    "val_loss": val.get("loss"),
                    "val_accuracy": val.get("accuracy"),
                    "lr": lr,
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
    finally:
        bar.close()
    return history
