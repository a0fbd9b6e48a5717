"""The training loop: ``fit`` and ``evaluate``, with history, progress bar and callbacks.

Example::

    history = fastdl.train.fit(model, nn.CrossEntropyLoss(), opt, train_loader,
                               epochs=10, val_loader=val_loader)
    history.epochs[-1]["val_accuracy"]

Checkpoint and resume (bit-identical on the same backend)::

    fit(..., checkpoint_every=100, checkpoint_path="run/ckpt.fdl")   # killed at step 250
    fit(..., checkpoint_every=100, checkpoint_path="run/ckpt.fdl", resume_from="run/ckpt.fdl")

or by hand: :func:`save_training_state` / :func:`load_training_state` (defined in
:mod:`fastdl.checkpoint`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from fastdl import dtypes
from fastdl.autograd import detect_anomaly as anomaly_mode
from fastdl.autograd import no_grad
from fastdl.checkpoint import (
    History,
    TrainingState,
    load_training_state,
    save_training_state,
    training_state_dict,
)
from fastdl.nn.module import Module
from fastdl.tensor import Tensor

__all__ = [
    "EarlyStopping",
    "History",
    "TrainingState",
    "evaluate",
    "fit",
    "load_training_state",
    "save_training_state",
    "train_epoch",
    "training_state_dict",
]


def _correct(output: Tensor, target: Tensor) -> int | Tensor | None:
    """Correct predictions in a batch, or None when accuracy does not apply (on a GPU a
    0-d int64 device tensor, so reading it waits until the epoch's end)."""
    classes = target.dtype == dtypes.int64 and output.ndim == 2
    if classes and target.shape == output.shape[:1]:
        labels = target
    elif (
        output.ndim == 2
        and target.shape == output.shape
        and dtypes.is_floating(target.dtype)
        and output.shape[1] > 1
    ):
        labels = target.argmax(1)
    else:
        return None
    if output.device != "cpu":  # count where the output is: no host copy per batch
        with no_grad():
            return (output.detach().argmax(1) == labels).to(dtypes.int64).sum()
    return int(np.count_nonzero(output._data.argmax(axis=1) == labels._data))


class _Meter:
    """Sample-weighted running loss and accuracy over an epoch.

    Losses and counts of a model on a GPU arrive as device tensors and are summed there:
    the meter reads them once, in ``settle()`` (a host copy costs a synchronisation)."""

    def __init__(self) -> None:
        self.loss = 0.0
        self.samples = 0
        self.correct: int | None = 0
        self._device_loss: Tensor | None = None
        self._device_correct: Tensor | None = None

    def add(self, loss: float | Tensor, output: Tensor, target: Tensor) -> None:
        n = target.shape[0] if target.ndim else 1
        if isinstance(loss, Tensor):
            with no_grad():
                weighted = loss.detach().to(dtypes.float64) * n
                self._device_loss = _plus(self._device_loss, weighted)
        else:
            self.loss += loss * n
        self.samples += n
        correct = _correct(output, target)
        if correct is None or self.correct is None:
            self.correct = None
        elif isinstance(correct, Tensor):
            with no_grad():
                self._device_correct = _plus(self._device_correct, correct)
        else:
            self.correct += correct

    def settle(self) -> None:
        """Fold the device sums into ``loss`` and ``correct`` (one read each)."""
        if self._device_loss is not None:
            self.loss += float(self._device_loss.item())
            self._device_loss = None
        if self._device_correct is not None:
            if self.correct is not None:
                self.correct += int(self._device_correct.item())
            self._device_correct = None

    def result(self) -> dict[str, float | None]:
        self.settle()
        if self.samples == 0:
            return {"loss": math.nan, "accuracy": None}
        accuracy = None if self.correct is None else self.correct / self.samples
        return {"loss": self.loss / self.samples, "accuracy": accuracy}


def _plus(total: Tensor | None, value: Tensor) -> Tensor:
    return value if total is None else total + value


def _on_device_of(model: Module, batch: Any) -> Any:
    """``batch`` (a Tensor, or a tuple/list of them) moved to the model's device."""
    device = next((p.device for p in model.parameters()), None)
    if device is None or device == "cpu":
        return batch
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, tuple | list):
        return type(batch)(_on_device_of(model, b) for b in batch)
    return batch


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
            inputs, target = _on_device_of(model, inputs), _on_device_of(model, target)
            output = model(inputs)
            loss = loss_fn(output, target)
            meter.add(loss if loss.device != "cpu" else float(loss.item()), output, target)
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

    def state_dict(self) -> dict[str, Any]:
        """``{"best", "waited"}``, saved in training checkpoints."""
        return {"best": self.best, "waited": self.waited}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best, waited = state["best"], state["waited"]
        if not (best is None or isinstance(best, float)) or not _is_int(waited):
            raise ValueError(f"EarlyStopping: bad state {state!r}")
        self.best, self.waited = best, waited


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
) -> tuple[float | Tensor, Tensor]:
    """One step up to (not including) ``optimizer.step()``: the loss value (a 0-d device
    tensor for a model on a GPU, unless anomalies are checked) and the output.

    With ``detect_anomaly`` a NaN/Inf in an op, the loss or a gradient raises
    FloatingPointError here, so the step that would use it never runs."""
    optimizer.zero_grad()
    try:
        with anomaly_mode() if detect_anomaly else contextlib.nullcontext():
            output = model(inputs)
            loss = loss_fn(output, target)
            # On a device the loss stays there (the meter sums it) unless it must be checked.
            on_device = loss.device != "cpu"
            loss_value = loss.detach() if on_device and not detect_anomaly else loss.item()
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


def _compiled_step(
    model: Module, loss_fn: Callable, optimizer: Any, clip: Callable[[], Any] | None
) -> Callable[[Any, Any], tuple[Tensor, Tensor]]:
    """fit's step from ``zero_grad`` to ``optimizer.step()`` under :func:`fastdl.compile`,
    returning the loss and the output, detached."""
    from fastdl.compiler import compile as compile_step

    def train_step(inputs: Any, target: Any) -> tuple[Tensor, Tensor]:
        optimizer.zero_grad()
        output = model(inputs)
        loss = loss_fn(output, target)
        loss.backward()
        if clip is not None:
            clip()
        optimizer.step()
        return loss.detach(), output.detach()

    return compile_step(train_step)


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
    checkpoint_every: int | None = None,
    checkpoint_path: Any = None,
    resume_from: Any = None,
    checkpoint_extra: dict[str, Any] | None = None,
    step: Callable[[Any], Mapping[str, float]] | None = None,
    validate: Callable[[Module], Mapping[str, Any]] | None = None,
    compile: bool = False,  # noqa: A002  (torch's name)
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Batches are moved to the model's device (a model on a GPU trains there; its losses
    and accuracy counts are summed on the GPU and read once per epoch). Each step is
    ``zero_grad``, forward, loss, backward, then (with
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

    Checkpoints: with ``checkpoint_path`` the full training state (see
    :func:`save_training_state`, with ``checkpoint_extra`` as extra keys) is written
    there atomically every ``checkpoint_every`` optimizer steps (mid-epoch too) and
    once when training ends. ``resume_from`` (a checkpoint path, or the
    :class:`TrainingState` that :func:`load_training_state` returned after restoring
    the objects) restores it all first and continues at the same epoch and batch,
    with the same remaining batches and random numbers: on the same backend the
    final parameters are bit-identical to those of an uninterrupted run. Both need
    a ``train_loader`` with ``state_dict``/``load_state_dict`` (a DataLoader).

    A model trained by another rule than one loss and one optimizer (a VAE's ELBO
    terms, a GAN's two optimizers) brings its own ``step``: fit calls
    ``step(batch)`` for each batch instead of the step above, and the step does its
    own ``zero_grad``, backward and optimizer updates (and clipping, if it clips).
    It returns its metrics as a dict of floats; each epoch's record holds their
    means over the epoch's samples under the same names, in place of
    ``train_loss``/``train_accuracy``. ``loss_fn`` is then unused (pass None), and
    ``optimizer`` may be None when the step owns several (the record then has no
    ``lr``); clipping, anomaly checks and checkpoints belong to the step.

    ``compile=True`` runs fit's own step (zero_grad to ``optimizer.step()``) through
    :func:`fastdl.compile`: recorded once per batch shape, then replayed (bit-identical
    results); it has no effect with ``detect_anomaly`` or a ``step`` of one's own.

    ``validate(model)``, if given, is called after each epoch's training in place
    of evaluating ``val_loader`` and its dict joins the epoch's record (a
    ``val_loss`` there is what :class:`ReduceLROnPlateau` and
    :class:`EarlyStopping` watch by default).

    Example::

        sched = fastdl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
        history = fit(model, nn.CrossEntropyLoss(), opt, train_loader, epochs=20,
                      val_loader=val_loader, scheduler=sched, clip_grad_norm=1.0,
                      callbacks=[EarlyStopping(patience=3)])
        # survive a crash: checkpoint every 100 steps, then resume after it
        fit(..., checkpoint_every=100, checkpoint_path="run/ckpt.fdl")
        fit(..., checkpoint_every=100, checkpoint_path="run/ckpt.fdl",
            resume_from="run/ckpt.fdl")
        # a step of its own: here a VAE's negative ELBO, with both terms recorded
        def elbo_step(batch):
            opt.zero_grad()
            recon, mu, logvar = vae(batch[0])
            nll = reconstruction_loss(recon, batch[0]).mean()
            kl = kl_divergence(mu, logvar).mean()
            (nll + kl).backward()
            opt.step()
            return {"train_reconstruction": nll.item(), "train_kl": kl.item()}
        fit(vae, None, opt, loader, epochs=10, step=elbo_step)
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
    if step is not None:
        _check_own_step(
            step, clip_grad_norm, detect_anomaly, checkpoint_path, resume_from, val_loader
        )
    elif optimizer is None:
        raise TypeError("fit: optimizer is None; only a run with its own step may omit it")
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
    if checkpoint_every is not None and not (_is_int(checkpoint_every) and checkpoint_every > 0):
        raise ValueError(f"checkpoint_every must be a positive int, got {checkpoint_every!r}")
    if checkpoint_every is not None and checkpoint_path is None:
        raise ValueError("checkpoint_every needs a checkpoint_path")
    if (checkpoint_path is not None or resume_from is not None) and not callable(
        getattr(train_loader, "load_state_dict", None)
    ):
        raise TypeError(
            "checkpoints need a train_loader with state_dict/load_state_dict (a DataLoader), "
            f"got {type(train_loader).__name__}"
        )
    clip = None
    if clip_grad_norm is not None:
        from fastdl.nn.utils import clip_grad_norm_

        clip = functools.partial(clip_grad_norm_, _trainable(optimizer), clip_grad_norm)

    compiled = None
    if compile and step is None and not detect_anomaly:
        compiled = _compiled_step(model, loss_fn, optimizer, clip)

    history, resumed = History(), TrainingState()
    if isinstance(resume_from, TrainingState):  # already restored by load_training_state
        resumed, history = resume_from, resume_from.history
    elif resume_from is not None:
        resumed = load_training_state(
            resume_from, model, optimizer, scheduler, train_loader, callbacks=callbacks
        )
        history = resumed.history
    global_step = resumed.global_step

    def checkpoint(epoch: int, taken: int, meter: dict[str, Any] | None) -> None:
        save_training_state(
            checkpoint_path, model, optimizer, scheduler, train_loader, epoch=epoch,
            step=taken, global_step=global_step, history=history, callbacks=callbacks,
            extra=checkpoint_extra, meter=meter,
        )  # fmt: skip

    bar = tqdm(
        range(resumed.epoch, epochs + 1),
        desc="train",
        unit="epoch",
        disable=None if progress else True,
        leave=True,
    )
    try:
        for epoch in bar:
            start = time.perf_counter()
            lr = None if optimizer is None else float(optimizer.param_groups[0]["lr"])
            model.train()
            if step is not None:
                metrics, taken = _own_step_epoch(
                    step, model, train_loader, scheduler if per_batch else None
                )
                global_step += taken
            else:
                meter, first = _Meter(), 0
                if epoch == resumed.epoch and resumed.meter is not None:  # mid-epoch resume
                    saved, first = resumed.meter, resumed.step
                    meter.loss, meter.samples, meter.correct = (
                        saved["loss"],
                        saved["samples"],
                        saved["correct"],
                    )
                    lr = saved["lr"]
                for batch, (inputs, target) in enumerate(train_loader, start=first):
                    inputs, target = _on_device_of(model, inputs), _on_device_of(model, target)
                    where = f"epoch {epoch}, batch {batch}"
                    if compiled is not None:
                        loss_value, output = compiled(inputs, target)
                        if loss_value.device == "cpu":
                            loss_value = float(loss_value.item())
                    else:
                        loss_value, output = _forward_backward(
                            model, loss_fn, optimizer, inputs, target, clip, detect_anomaly, where
                        )
                        optimizer.step()
                    if per_batch:
                        scheduler.step()
                    meter.add(loss_value, output, target)
                    global_step += 1
                    if checkpoint_every is not None and global_step % checkpoint_every == 0:
                        checkpoint(epoch, batch + 1, _meter_state(meter, lr))
                train = meter.result()
                metrics = {"train_loss": train["loss"], "train_accuracy": train["accuracy"]}
            if validate is not None:
                val = dict(validate(model))
            elif val_loader is not None:
                scores = evaluate(model, val_loader, loss_fn)
                val = {"val_loss": scores["loss"], "val_accuracy": scores["accuracy"]}
            else:
                val = {} if step is not None else {"val_loss": None, "val_accuracy": None}
            if plateau:
                scheduler.step(_plateau_value(metrics, val))
            elif scheduler is not None and not per_batch:
                scheduler.step()
            record = {"epoch": epoch, **metrics, **val}
            if lr is not None:
                record["lr"] = lr
            record["seconds"] = time.perf_counter() - start
            history.epochs.append(record)
            shown = ("train_loss", "val_loss", "val_accuracy") if step is None else metrics
            bar.set_postfix(
                {k: f"{v:.4f}" for k, v in record.items() if k in shown and v is not None}
            )
            if any([bool(cb(history, model, optimizer)) for cb in callbacks]):
                break
    finally:
        bar.close()
    if checkpoint_path is not None:
        checkpoint(len(history) + 1, 0, None)
    return history


def train_epoch(
    model: Module,
    loss_fn: Callable,
    optimizer: Any,
    batches: Iterable,
    penalty: Callable[[], Tensor] | None = None,
    record: list[float] | None = None,
) -> float:
    """One epoch of plain steps over ``batches`` (``(inputs, target)`` pairs): the mean
    loss per sample, without the ``penalty``.

    Each step is ``zero_grad``, forward, loss, plus ``penalty()`` when given (an L1
    or L2 term), backward, ``optimizer.step()``; ``record``, if given, receives each
    batch's loss. No history, device moves or callbacks: for experiments that drive
    epochs themselves; :func:`fit` is the full loop.

    Example::

        pairs = [(fastdl.tensor(X[i:i + 32]), fastdl.tensor(y[i:i + 32]))
                 for i in range(0, len(X), 32)]
        train_epoch(model, nn.CrossEntropyLoss(), opt, pairs)   # 0.41
    """
    model.train()
    total, count = 0.0, 0
    for inputs, target in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), target)
        value = float(loss.item())
        if penalty is not None:
            loss = loss + penalty()
        loss.backward()
        optimizer.step()
        if record is not None:
            record.append(value)
        n = target.shape[0] if target.ndim else 1
        total += value * n
        count += n
    return total / count


def _meter_state(meter: _Meter, lr: float) -> dict[str, Any]:
    meter.settle()
    return {"loss": meter.loss, "samples": meter.samples, "correct": meter.correct, "lr": lr}


def _check_own_step(
    step: Any,
    clip_grad_norm: Any,
    detect_anomaly: bool,
    checkpoint_path: Any,
    resume_from: Any,
    val_loader: Any,
) -> None:
    """A run with its own ``step``: the options that belong to the built-in step."""
    if not callable(step):
        raise TypeError(f"step must be callable, got {type(step).__name__}")
    given = [
        name
        for name, value in (
            ("clip_grad_norm", clip_grad_norm),
            ("detect_anomaly", detect_anomaly or None),
            ("checkpoint_path", checkpoint_path),
            ("resume_from", resume_from),
            ("val_loader", val_loader),
        )
        if value is not None
    ]
    if given:
        raise ValueError(
            f"fit: {', '.join(given)} apply to the built-in step, not to a step of its own "
            "(clip inside the step; validate with validate=)"
        )


def _batch_size(batch: Any) -> int:
    """Samples in ``batch``: the length of its first tensor."""
    first = batch[0] if isinstance(batch, tuple | list) else batch
    shape = getattr(first, "shape", ())
    return shape[0] if len(shape) else 1


def _own_step_epoch(
    step: Callable[[Any], Mapping[str, float]], model: Module, loader: Iterable, scheduler: Any
) -> tuple[dict[str, float], int]:
    """One epoch of ``step(batch)``: each metric's mean over the epoch's samples, and the
    number of steps taken. ``scheduler``, if given, steps after every batch."""
    sums: dict[str, float] = {}
    samples = steps = 0
    for batch in loader:
        metrics = step(_on_device_of(model, batch))
        if scheduler is not None:
            scheduler.step()
        n = _batch_size(batch)
        for name, value in metrics.items():
            sums[name] = sums.get(name, 0.0) + float(value) * n
        samples += n
        steps += 1
    return {name: total / samples for name, total in sums.items()}, steps


def _plateau_value(metrics: Mapping[str, Any], val: Mapping[str, Any]) -> float:
    """What ReduceLROnPlateau watches: the epoch's ``val_loss``, else its ``train_loss``."""
    value = val.get("val_loss")
    if value is None:
        value = metrics.get("train_loss")
    if value is None:
        raise ValueError(
            "ReduceLROnPlateau steps with the epoch's val_loss or train_loss; the record has "
            f"neither (keys: {', '.join([*metrics, *val])})"
        )
    return value
