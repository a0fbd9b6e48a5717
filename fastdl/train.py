"""The training loop: ``fit`` and ``evaluate``, with history, progress bar and callbacks.

Example::

    history = fastdl.train.fit(model, nn.CrossEntropyLoss(), opt, train_loader,
                               epochs=10, val_loader=test_loader)
    history.epochs[-1]["val_accuracy"]

Checkpoint and resume (bit-identical on the same backend)::

    fit(..., checkpoint_every=100, checkpoint_path="run/ckpt.fdl")   # killed at step 250
    fit(..., checkpoint_every=100, checkpoint_path="run/ckpt.fdl", resume_from="run/ckpt.fdl")

or by hand: :func:`save_training_state` / :func:`load_training_state`.
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

    Example::

        sched = fastdl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
        history = fit(model, nn.CrossEntropyLoss(), opt, train_loader, epochs=20,
                      val_loader=val_loader, scheduler=sched, clip_grad_norm=1.0,
                      callbacks=[EarlyStopping(patience=3)])
        # survive a crash: checkpoint every 100 steps, then resume after it
        fit(..., checkpoint_every=100, checkpoint_path="run/ckpt.fdl")
        fit(..., checkpoint_every=100, checkpoint_path="run/ckpt.fdl",
            resume_from="run/ckpt.fdl")
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

    history, resumed = History(), TrainingState()
    if isinstance(resume_from, TrainingState):  # already restored by load_training_state
        resumed, history = resume_from, resume_from.history
    elif resume_from is not None:
        resumed = load_training_state(
            resume_from, model, optimizer, scheduler, train_loader, callbacks=callbacks
        )
        history = resumed.history
    global_step = resumed.global_step

    def checkpoint(epoch: int, step: int, meter: dict[str, Any] | None) -> None:
        save_training_state(
            checkpoint_path, model, optimizer, scheduler, train_loader, epoch=epoch,
            step=step, global_step=global_step, history=history, callbacks=callbacks,
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
            lr = float(optimizer.param_groups[0]["lr"])
            model.train()
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
    if checkpoint_path is not None:
        checkpoint(len(history) + 1, 0, None)
    return history


# --- checkpoint and resume ------------------------------------------------------------

TRAINING_STATE_FORMAT = "fastdl-training-state"
_RESERVED = (
    "format", "model", "optimizer", "scheduler", "history", "epoch", "step", "global_step",
    "meter", "rng", "loader", "callbacks",
)  # fmt: skip


@dataclass
class TrainingState:
    """Where a training run stands, as :func:`load_training_state` restored it.

    ``epoch`` is the epoch in progress (1-based, as in :class:`History`), or the next
    one to start when ``step`` is 0; ``step`` counts the batches of that epoch
    already taken; ``global_step`` the optimizer steps since training began;
    ``extra`` holds the keys the caller saved besides the training state (the
    CLI's ``"config"``)."""

    epoch: int = 1
    step: int = 0
    global_step: int = 0
    history: History = field(default_factory=History)
    extra: dict[str, Any] = field(default_factory=dict)
    meter: dict[str, Any] | None = None  # the running loss of the epoch in progress


def _meter_state(meter: _Meter, lr: float) -> dict[str, Any]:
    meter.settle()
    return {"loss": meter.loss, "samples": meter.samples, "correct": meter.correct, "lr": lr}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _generators(generators: dict[str, Any] | None) -> dict[str, Any]:
    """The generators a training state holds: fastdl's default one (dropout, init),
    plus any the caller names."""
    from fastdl import random as _random

    named = dict(generators or {})
    if "default" in named:
        raise ValueError("generators: the name 'default' is taken by fastdl's default generator")
    return {"default": _random.default_generator, **named}


def training_state_dict(
    model: Module,
    optimizer: Any,
    scheduler: Any = None,
    loader: Any = None,
    *,
    epoch: int = 1,
    step: int = 0,
    global_step: int = 0,
    history: History | None = None,
    generators: dict[str, Any] | None = None,
    callbacks: Iterable[Any] = (),
    extra: dict[str, Any] | None = None,
    meter: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full training state as a dict that :func:`fastdl.save` writes (see
    :func:`save_training_state`)."""
    extra = dict(extra or {})
    clash = [k for k in extra if k in _RESERVED]
    if clash:
        raise ValueError(f"extra keys {clash} clash with the training state's own keys")
    return {
        "format": TRAINING_STATE_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "history": (history or History()).to_dict(),
        "epoch": int(epoch),
        "step": int(step),
        "global_step": int(global_step),
        "meter": meter,
        "rng": {name: g.get_state() for name, g in _generators(generators).items()},
        "loader": None if loader is None else loader.state_dict(),
        "callbacks": [
            cb.state_dict() if callable(getattr(cb, "state_dict", None)) else None
            for cb in callbacks
        ],
        **extra,
    }


def save_training_state(
    path: Any, model: Module, optimizer: Any, *args: Any, **kwargs: Any
) -> None:
    """Write a full training state to ``path`` atomically (a :func:`fastdl.save` file).

    It holds the model, optimizer and scheduler state dicts, the state of fastdl's
    default generator (dropout masks) and of ``generators`` (a dict name ->
    :class:`fastdl.Generator`), ``epoch`` (in progress, 1-based) and ``step`` (its
    batches already taken), the data order (``loader.state_dict()``: the shuffle
    generator, the epoch's index order and position), ``history``, the state of
    callbacks that have ``state_dict`` (:class:`EarlyStopping`) and the ``extra``
    keys. Arguments are those of :func:`training_state_dict`. ``fit`` does this
    for you with ``checkpoint_every``/``checkpoint_path``.

    Example::

        save_training_state("ckpt.fdl", model, opt, sched, loader, epoch=3, step=17)
        # later, after building the same model, optimizer, scheduler and loader:
        state = load_training_state("ckpt.fdl", model, opt, sched, loader)
        state.epoch, state.step          # (3, 17): the loader yields batch 17 next
    """
    from fastdl.serialization import save

    save(training_state_dict(model, optimizer, *args, **kwargs), path)


def _check_model_state(model: Module, saved: Any) -> None:
    if not isinstance(saved, dict):
        raise ValueError("'model' is not a state dict")
    expected = model.state_dict()
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    if missing or unexpected:
        raise ValueError(f"model keys differ: missing {missing}, unexpected {unexpected}")
    for name, value in saved.items():
        shape = tuple(getattr(value, "shape", ()))
        if not hasattr(value, "shape") or shape != tuple(expected[name].shape):
            raise ValueError(
                f"model entry {name!r} has shape {shape}, expected {tuple(expected[name].shape)}"
            )


def _check_state(state: Any, scheduler: Any, loader: Any, gens: dict, callbacks: list) -> None:
    """Structure checks that need no model: raise ValueError naming the problem."""
    if not isinstance(state, dict) or state.get("format") != TRAINING_STATE_FORMAT:
        raise ValueError("not a fastdl training state (no 'format': 'fastdl-training-state')")
    missing = [k for k in _RESERVED if k not in state]
    if missing:
        raise ValueError(f"training state lacks {missing}")
    for key, low in (("epoch", 1), ("step", 0), ("global_step", 0)):
        if not _is_int(state[key]) or state[key] < low:
            raise ValueError(f"{key} must be an int >= {low}, got {state[key]!r}")
    if (state["scheduler"] is None) != (scheduler is None):
        which = "has no" if state["scheduler"] is None else "has a"
        raise ValueError(f"the checkpoint {which} scheduler state, unlike this run")
    if scheduler is not None and (
        not isinstance(state["scheduler"], dict)
        or set(state["scheduler"]) != set(scheduler.state_dict())
    ):
        raise ValueError(f"scheduler state does not fit {type(scheduler).__name__}")
    rng = state["rng"]
    if not isinstance(rng, dict) or set(rng) != set(gens):
        raise ValueError(f"generator states {sorted(rng) if isinstance(rng, dict) else rng!r} "
                         f"do not match the generators {sorted(gens)}")  # fmt: skip
    for name, value in rng.items():
        if not (isinstance(value, np.ndarray) and value.dtype == np.uint64 and value.shape == (2,)):
            raise ValueError(f"generator state {name!r} is not a uint64 [seed, offset] array")
    if loader is not None:
        saved = state["loader"]
        if not isinstance(saved, dict):
            raise ValueError("the checkpoint has no data-loader state")
        if saved.get("order") is None and state["step"] not in (0,):
            raise ValueError(f"step {state['step']} but no epoch in progress in the loader state")
        if saved.get("order") is not None and saved.get("position") != state["step"]:
            raise ValueError(
                f"loader position {saved.get('position')!r} differs from step {state['step']}"
            )
    if not isinstance(state["callbacks"], list) or len(state["callbacks"]) != len(callbacks):
        raise ValueError("callback states do not match the callbacks given")
    if not isinstance(state["history"], dict) or not isinstance(
        state["history"].get("epochs"), list
    ):
        raise ValueError("history is malformed")
    if state["meter"] is not None and not (
        isinstance(state["meter"], dict)
        and {"loss", "samples", "correct", "lr"} <= set(state["meter"])
    ):
        raise ValueError("meter is malformed")  # fmt: skip


def load_training_state(
    source: Any,
    model: Module,
    optimizer: Any,
    scheduler: Any = None,
    loader: Any = None,
    *,
    generators: dict[str, Any] | None = None,
    callbacks: Iterable[Any] = (),
) -> TrainingState:
    """Restore a state written by :func:`save_training_state` (``source`` is its path,
    or the dict :func:`fastdl.load` returned) into the given objects.

    All or nothing: the file is read and checked whole (a truncated or corrupted
    file, a wrong shape or a missing piece raises ValueError naming the problem)
    before anything is touched, and if restoring any piece still fails, the model,
    optimizer, scheduler, loader, generators and callbacks are put back as they were.

    Example::

        model, opt = build()                  # same architecture and optimizer
        state = load_training_state("ckpt.fdl", model, opt, sched, loader)
        fit(..., resume_from="ckpt.fdl")      # or let fit do all of it
    """
    import copy

    from fastdl.serialization import load

    where = "training state"
    if not isinstance(source, dict):
        where = str(source)
        source = load(source)
    callbacks = list(callbacks)
    gens = _generators(generators)
    try:
        _check_state(source, scheduler, loader, gens, callbacks)
        _check_model_state(model, source["model"])
    except ValueError as error:
        raise ValueError(f"{where}: cannot resume: {error}; nothing was changed") from None

    backup = {
        "model": {
            k: np.array(getattr(v, "_data", v), copy=True) for k, v in model.state_dict().items()
        },
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "rng": {name: g.get_state() for name, g in gens.items()},
        "loader": None if loader is None else copy.copy(loader.__dict__),
        "callbacks": [copy.deepcopy(getattr(cb, "__dict__", None)) for cb in callbacks],
    }
    try:
        model.load_state_dict(source["model"])
        optimizer.load_state_dict(source["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(source["scheduler"])
        if loader is not None:
            loader.load_state_dict(source["loader"])
        for name, g in gens.items():
            g.set_state(source["rng"][name])
        for cb, saved in zip(callbacks, source["callbacks"]):
            if saved is not None and callable(getattr(cb, "load_state_dict", None)):
                cb.load_state_dict(saved)
    except (ValueError, TypeError, KeyError) as error:
        model.load_state_dict(backup["model"])
        optimizer.load_state_dict(backup["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(backup["scheduler"])
        if loader is not None:
            loader.__dict__.clear()
            loader.__dict__.update(backup["loader"])
        for name, g in gens.items():
            g.set_state(backup["rng"][name])
        for cb, saved in zip(callbacks, backup["callbacks"]):
            if saved is not None:
                cb.__dict__.clear()
                cb.__dict__.update(saved)
        raise ValueError(f"{where}: cannot resume: {error}; nothing was changed") from None
    history = History([dict(e) for e in source["history"]["epochs"]])
    extra = {k: v for k, v in source.items() if k not in _RESERVED}
    return TrainingState(
        source["epoch"], source["step"], source["global_step"], history, extra, source["meter"]
    )
