"""Checkpoints of a training run: save it whole, restore it all or nothing.

A training state holds the model, optimizer and scheduler state dicts, the random
generators, the data order, the :class:`History` so far, the callbacks' state and
where in the epoch the run stands; :func:`fastdl.train.fit` writes one every
``checkpoint_every`` steps and resumes from one with ``resume_from``.

Example::

    save_training_state("ckpt.fdl", model, opt, sched, loader, epoch=3, step=17)
    state = load_training_state("ckpt.fdl", model, opt, sched, loader)
    state.epoch, state.step          # (3, 17)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastdl.nn.module import Module


@dataclass
class History:
    """One dict per epoch: ``epoch, train_loss, train_accuracy, val_loss,
    val_accuracy, lr, seconds`` (accuracies are None when they do not apply;
    ``lr`` is the first parameter group's learning rate as the epoch began).
    A run with its own ``step`` records the names that step reports instead (see
    :func:`fastdl.train.fit`)."""

    epochs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": [dict(e) for e in self.epochs]}

    def __len__(self) -> int:
        return len(self.epochs)


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
        "model": {k: v.clone() for k, v in model.state_dict().items()},
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
