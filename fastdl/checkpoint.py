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

import copy
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastdl.nn.module import Module
from fastdl.random import Generator


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


# The largest epoch or step count a training state may hold (an int64 counter).
MAX_COUNT = 2**62


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
        "model": {k: v._host() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "history": (history or History()).to_dict(),
        "epoch": int(epoch),
        "step": int(step),
        "global_step": int(global_step),
        "meter": meter,
        "rng": {name: g._state_words() for name, g in _generators(generators).items()},
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
    """Every entry an array of the model's own shape and dtype; parameters finite."""
    if not isinstance(saved, dict):
        raise ValueError("'model' is not a state dict")
    expected = model.state_dict()
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    if missing or unexpected:
        raise ValueError(f"model keys differ: missing {missing}, unexpected {unexpected}")
    # Buffers may hold infinities on purpose (an attention mask); parameters may not.
    parameters = {name for name, _ in model.named_parameters()}
    for name, value in saved.items():
        want = expected[name]
        if not isinstance(value, np.ndarray):
            raise ValueError(f"model entry {name!r} is a {type(value).__name__}, not an array")
        if value.shape != tuple(want.shape):
            raise ValueError(
                f"model entry {name!r} has shape {value.shape}, expected {tuple(want.shape)}"
            )
        if value.dtype != want.dtype:
            raise ValueError(f"model entry {name!r} has dtype {value.dtype}, expected {want.dtype}")
        if name in parameters and value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"model entry {name!r} holds non-finite values")


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_history(saved: Any) -> History:
    """The saved history as a :class:`History`: a list of dicts of scalar values."""
    if not isinstance(saved, dict) or not isinstance(saved.get("epochs"), list):
        raise ValueError("history is malformed: expected {'epochs': [...]}")
    for i, record in enumerate(saved["epochs"]):
        if not isinstance(record, dict):
            raise ValueError(f"history epoch {i} is a {type(record).__name__}, not a dict")
        for key, value in record.items():
            if not isinstance(key, str) or not (
                value is None or isinstance(value, (str, bool)) or _is_real(value)
            ):
                raise ValueError(f"history epoch {i} has entry {key!r}: {value!r}")
    return History([dict(record) for record in saved["epochs"]])


def _check_meter(meter: Any) -> None:
    """The running sums of the epoch in progress, as ``fit`` saves them."""
    if meter is None:
        return
    if not isinstance(meter, dict) or set(meter) != {"loss", "samples", "correct", "lr"}:
        raise ValueError("meter is malformed: expected the keys loss, samples, correct, lr")
    counts = [meter["samples"]] + ([] if meter["correct"] is None else [meter["correct"]])
    if not all(_is_int(c) and c >= 0 for c in counts):
        raise ValueError(f"meter counts must be ints >= 0, got {meter!r}")
    if not _is_real(meter["loss"]) or not (meter["lr"] is None or _is_real(meter["lr"])):
        raise ValueError(f"meter loss and lr must be numbers, got {meter!r}")


def _check_state(state: Any, scheduler: Any, loader: Any, gens: dict, callbacks: list) -> None:
    """Structure checks that need no model: raise ValueError naming the problem."""
    if not isinstance(state, dict) or state.get("format") != TRAINING_STATE_FORMAT:
        raise ValueError("not a fastdl training state (no 'format': 'fastdl-training-state')")
    missing = [k for k in _RESERVED if k not in state]
    if missing:
        raise ValueError(f"training state lacks {missing}")
    for key, low in (("epoch", 1), ("step", 0), ("global_step", 0)):
        if not _is_int(state[key]) or not low <= state[key] <= MAX_COUNT:
            raise ValueError(f"{key} must be an int in [{low}, {MAX_COUNT}], got {state[key]!r}")
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
    _check_meter(state["meter"])


def _check_whole(
    state: Any, model: Module, optimizer: Any, scheduler: Any, loader: Any, gens: dict,
    callbacks: list,
) -> History:  # fmt: skip
    """Every check that needs no write, the parts' own included; the saved history."""
    _check_state(state, scheduler, loader, gens, callbacks)
    _check_model_state(model, state["model"])
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        check = getattr(target, "check_state_dict", None)
        if callable(check):
            try:
                check(state[name])
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
    return _check_history(state["history"])


def _snapshot(
    model: Module, optimizer: Any, scheduler: Any, loader: Any, gens: dict, callbacks: list
) -> Callable[[], None]:
    """A function that puts every object back as it is now, bit for bit."""
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    if callable(getattr(optimizer, "_snapshot", None)):
        restore_optimizer = optimizer._snapshot()
    else:
        saved_optimizer = optimizer.state_dict()
        restore_optimizer = functools.partial(optimizer.load_state_dict, saved_optimizer)
    rng = {name: g._state_words() for name, g in gens.items()}
    # The scheduler's optimizer and the loader's data set stay the same objects.
    objects = [(scheduler, {"optimizer"}), (loader, None)] + [(cb, set()) for cb in callbacks]
    attributes = []
    for obj, deep in objects:
        if obj is None or not hasattr(obj, "__dict__"):
            continue
        if deep is None:  # the loader: shallow, but its fastdl generator changes in place
            saved = dict(obj.__dict__)
            inner = {k: v._state_words() for k, v in saved.items() if isinstance(v, Generator)}
        else:
            saved = {k: v if k in deep else copy.deepcopy(v) for k, v in obj.__dict__.items()}
            inner = {}
        attributes.append((obj, saved, inner))

    def restore() -> None:
        model.load_state_dict(weights)
        restore_optimizer()
        for name, g in gens.items():
            g.set_state(rng[name])
        for obj, saved, inner in attributes:
            obj.__dict__.clear()
            obj.__dict__.update(saved)
            for key, state in inner.items():
                saved[key].set_state(state)

    return restore


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
    from fastdl.serialization import load

    where = "training state"
    if not isinstance(source, dict):
        where = str(source)
        source = load(source)
    callbacks = list(callbacks)
    gens = _generators(generators)
    try:
        history = _check_whole(source, model, optimizer, scheduler, loader, gens, callbacks)
    except ValueError as error:
        raise ValueError(f"{where}: cannot resume: {error}; nothing was changed") from None

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("model", functools.partial(model.load_state_dict, source["model"])),
        ("optimizer", functools.partial(optimizer.load_state_dict, source["optimizer"])),
    ]
    if scheduler is not None:
        steps.append(
            ("scheduler", functools.partial(scheduler.load_state_dict, source["scheduler"]))
        )
    if loader is not None:
        steps.append(("loader", functools.partial(loader.load_state_dict, source["loader"])))
    for name, g in gens.items():
        steps.append((f"generator {name!r}", functools.partial(g.set_state, source["rng"][name])))
    for i, (cb, saved) in enumerate(zip(callbacks, source["callbacks"])):
        if saved is not None and callable(getattr(cb, "load_state_dict", None)):
            steps.append(
                (
                    f"callbacks[{i}] ({type(cb).__name__})",
                    functools.partial(cb.load_state_dict, saved),
                )
            )

    restore = _snapshot(model, optimizer, scheduler, loader, gens, callbacks)
    done = 0
    try:
        for _, step in steps:
            step()
            done += 1
    except BaseException as error:  # an interrupt too: never leave a half-restored run
        restore()
        if not isinstance(error, Exception):
            raise
        problem = error if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        raise ValueError(
            f"{where}: cannot resume: {steps[done][0]}: {problem}; nothing was changed"
        ) from None
    extra = {k: v for k, v in source.items() if k not in _RESERVED}
    return TrainingState(
        source["epoch"], source["step"], source["global_step"], history, extra, source["meter"]
    )
