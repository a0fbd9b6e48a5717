"""Learning-rate schedulers with PyTorch's semantics (``torch.optim.lr_scheduler``).

A scheduler holds an optimizer and rewrites ``group["lr"]`` of each parameter
group when it steps. Construction records ``group["initial_lr"]`` (the base
learning rates, ``base_lrs``) and takes the first step, so ``last_epoch`` is 0
afterwards and the optimizer already holds the epoch-0 learning rate.

The per-epoch schedulers use PyTorch's *chainable* (recursive) forms: each step
multiplies the current ``group["lr"]``, so two schedulers on one optimizer
compose, as in PyTorch. Call ``scheduler.step()`` after ``optimizer.step()``:
once per epoch, except :class:`OneCycleLR` (once per batch; its class attribute
``per_batch`` is True) and :class:`ReduceLROnPlateau` (once per epoch with the
monitored value, ``step(val_loss)``). ``fastdl.train.fit`` does this for you.

Arguments are checked before anything is written, so a bad argument raises
``ValueError`` (with PyTorch's message where PyTorch checks the same thing) and
leaves the optimizer's learning rates as they were.

Example::

    opt = fastdl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = fastdl.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    for epoch in range(30):
        train_one_epoch(model, opt)
        sched.step()
    sched.get_last_lr()   # [0.0125]

Differences from PyTorch: ``step()`` takes no ``epoch`` argument (deprecated in
PyTorch); no warning about calling ``scheduler.step()`` before
``optimizer.step()``; constructing with ``last_epoch >= 0`` (resuming) leaves the
optimizer's learning rates as they are for every scheduler (PyTorch's StepLR and
MultiStepLR may decay once more there); ``state_dict()`` holds only plain
values (``milestones`` as a dict), so it saves with :func:`fastdl.save`.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from fastdl.optim.optimizer import Optimizer

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
]


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_last_epoch(last_epoch: Any) -> None:
    if not _is_int(last_epoch) or last_epoch < -1:
        raise ValueError(f"last_epoch must be an int >= -1, got {last_epoch!r}")


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """``value`` once per parameter group (a list or tuple must have one per group)."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has "
                f"{len(optimizer.param_groups)}."
            )
        return list(value)
    return [value] * len(optimizer.param_groups)


def _lrs(optimizer: Optimizer) -> list[float]:
    return [group["lr"] for group in optimizer.param_groups]


# --- checks of loaded state: each raises ValueError naming the key ------------------


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_at_least(low: int) -> Callable[[str, Any, Any], None]:
    def check(key: str, value: Any, scheduler: Any) -> None:
        if not _is_int(value) or not low <= value <= _MAX_COUNT:
            raise ValueError(f"{key} must be an int in [{low}, {_MAX_COUNT}], got {value!r}")

    return check


def _real_in(
    low: float, high: float = math.inf, open_low: bool = False, open_high: bool = False
) -> Callable[[str, Any, Any], None]:
    def check(key: str, value: Any, scheduler: Any) -> None:
        ok = _is_real(value) and math.isfinite(value)
        ok = ok and (value > low if open_low else value >= low)
        ok = ok and (value < high if open_high else value <= high)
        if not ok:
            raise ValueError(f"{key} must be a finite number in range, got {value!r}")

    return check


def _one_of(*choices: Any) -> Callable[[str, Any, Any], None]:
    def check(key: str, value: Any, scheduler: Any) -> None:
        if not any(value is c or (type(value) is type(c) and value == c) for c in choices):
            raise ValueError(f"{key} must be one of {choices}, got {value!r}")

    return check


def _per_group_lrs(key: str, value: Any, scheduler: Any) -> None:
    groups = len(scheduler.optimizer.param_groups)
    if not isinstance(value, list) or len(value) != groups:
        raise ValueError(f"{key} must be a list of {groups} learning rates, got {value!r}")
    for lr in value:
        _real_in(0.0)(key, lr, scheduler)


def _milestones(key: str, value: Any, scheduler: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a dict of epoch -> count, got {value!r}")
    for epoch, count in value.items():
        epoch = int(epoch) if isinstance(epoch, str) and epoch.isdigit() else epoch
        _int_at_least(0)(key, epoch, scheduler)
        _int_at_least(1)(key, count, scheduler)


def _phases(key: str, value: Any, scheduler: Any) -> None:
    names = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
    fields = {"end_step", "start_lr", "end_lr", "start_momentum", "end_momentum"}
    if not isinstance(value, list) or not value:
        raise ValueError(f"{key} must be a non-empty list of phases, got {value!r}")
    for phase in value:
        if not isinstance(phase, dict) or set(phase) != fields:
            raise ValueError(f"{key} has a malformed phase {phase!r}")
        _real_in(-1.0, _MAX_COUNT)(f"{key} end_step", phase["end_step"], scheduler)
        for field in fields - {"end_step"}:
            if phase[field] not in names:
                raise ValueError(f"{key} {field} must be one of {names}, got {phase[field]!r}")


def _optional_min_lr(key: str, value: Any, scheduler: Any) -> None:
    if value is not None:
        _real_in(0.0)(key, value, scheduler)


def _best(key: str, value: Any, scheduler: Any) -> None:
    if not _is_real(value) or math.isnan(value):
        raise ValueError(f"{key} must be a number, got {value!r}")


_MAX_COUNT = 2**62
_FLAG = _one_of(True, False)


class LRScheduler:
    """Base class: holds ``optimizer``, ``base_lrs`` and ``last_epoch``.

    Subclasses implement ``get_lr()``, the learning rates for ``last_epoch`` (just
    incremented by ``step()``), computed from the current ``group["lr"]`` values.
    ``last_epoch=-1`` starts a schedule; a value >= 0 resumes one and needs
    ``initial_lr`` in every group (restore the optimizer's state dict first).
    """

    per_batch = False  # fit() steps this scheduler once per epoch
    # How load_state_dict checks each saved attribute; subclasses add theirs.
    _state_checks: dict[str, Callable[[str, Any, Any], None]] = {
        "base_lrs": _per_group_lrs,
        "_last_lr": _per_group_lrs,
        "last_epoch": _int_at_least(-1),
        "_step_count": _int_at_least(0),
        "_is_initial": _FLAG,
    }

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        _check_last_epoch(last_epoch)
        if last_epoch != -1:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when "
                        "resuming scheduler with last_epoch >= 0; load the optimizer's "
                        "state dict first"
                    )
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rate of each group for ``last_epoch``; use ``get_last_lr()`` to read."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch (one batch for :class:`OneCycleLR`) and set each group's lr."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = _lrs(self.optimizer)

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as plain values (saves with ``fastdl.save``)."""
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k != "optimizer"})

    def check_state_dict(self, state_dict: Any) -> None:
        """Raise ValueError (naming the key) unless ``load_state_dict(state_dict)``
        would succeed; changes nothing."""
        self._validated_state(state_dict)

    def _validated_state(self, state_dict: Any) -> dict[str, Any]:
        """A checked deep copy of ``state_dict`` to apply: only attributes this
        scheduler has, each of the type and range its constructor accepts."""
        if not isinstance(state_dict, dict):
            raise ValueError(f"scheduler state must be a dict, got {type(state_dict).__name__}")
        state = copy.deepcopy({k: v for k, v in state_dict.items() if k != "optimizer"})
        checks: dict[str, Callable[[str, Any, Any], None]] = {}
        for cls in reversed(type(self).__mro__):
            checks.update(vars(cls).get("_state_checks", {}))
        for key, value in state.items():
            if not isinstance(key, str) or (key not in checks and key not in self.__dict__):
                raise ValueError(f"{type(self).__name__} state has unknown key {key!r}")
            if key in checks:
                checks[key](key, value, self)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` returned (load the optimizer's state dict too).

        Every value is checked first (:meth:`check_state_dict`), so a bad state raises
        ValueError naming the key and leaves the scheduler as it was.
        """
        self.__dict__.update(self._validated_state(state_dict))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()})"


class StepLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` every ``step_size`` epochs:
    ``lr = base_lr * gamma ** (epoch // step_size)``.

    Example::

        sched = StepLR(opt, step_size=30, gamma=0.1)   # 0.1 -> 0.01 at epoch 30
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if not _is_int(step_size) or step_size < 1:
            raise ValueError(f"step_size must be a positive int, got {step_size!r}")
        if not gamma >= 0:
            raise ValueError(f"gamma must be a non-negative number, got {gamma!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    _state_checks = {"step_size": _int_at_least(1), "gamma": _real_in(0.0)}

    def get_lr(self) -> list[float]:
        if self._is_initial or self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _lrs(self.optimizer)
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class MultiStepLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` at each epoch in ``milestones``
    (by ``gamma ** k`` for a milestone listed ``k`` times; a milestone 0 applies at
    construction, as in PyTorch).

    Example::

        sched = MultiStepLR(opt, milestones=[30, 80], gamma=0.1)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        milestones = list(milestones)
        for m in milestones:
            if not _is_int(m) or m < 0:
                raise ValueError(f"milestones must be non-negative ints, got {milestones!r}")
        if not gamma >= 0:
            raise ValueError(f"gamma must be a non-negative number, got {gamma!r}")
        self.milestones = dict(Counter(milestones))
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        resuming = self._is_initial and self.last_epoch > 0
        if resuming or self.last_epoch not in self.milestones:
            return _lrs(self.optimizer)
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    _state_checks = {"milestones": _milestones, "gamma": _real_in(0.0)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.milestones = {int(k): int(v) for k, v in self.milestones.items()}


class ExponentialLR(LRScheduler):
    """Multiply each group's lr by ``gamma`` every epoch: ``lr = base_lr * gamma ** epoch``.

    Example::

        sched = ExponentialLR(opt, gamma=0.9)
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        if not gamma >= 0:
            raise ValueError(f"gamma must be a non-negative number, got {gamma!r}")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    _state_checks = {"gamma": _real_in(0.0)}

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return _lrs(self.optimizer)
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``base_lr`` to ``eta_min`` over ``T_max`` epochs:
    ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    Computed with PyTorch's recursive form (so it chains with other schedulers);
    past ``T_max`` it rises again, as PyTorch's does (a cosine without restarts).

    Example::

        sched = CosineAnnealingLR(opt, T_max=50, eta_min=1e-5)
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        if not _is_int(T_max) or T_max < 1:
            raise ValueError(f"T_max must be a positive int, got {T_max!r}")
        if not eta_min >= 0:
            raise ValueError(f"eta_min must be a non-negative number, got {eta_min!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    _state_checks = {"T_max": _int_at_least(1), "eta_min": _real_in(0.0)}

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        epoch, T_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return _lrs(self.optimizer)
        if (epoch - 1 - T_max) % (2 * T_max) == 0:  # at the trough, the ratio below is 0/0
            return [
                group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
                for base_lr, group in zip(self.base_lrs, groups)
            ]
        ratio = (1 + math.cos(math.pi * epoch / T_max)) / (
            1 + math.cos(math.pi * (epoch - 1) / T_max)
        )
        return [ratio * (group["lr"] - eta_min) + eta_min for group in groups]


class LinearLR(LRScheduler):
    """Scale each group's lr by a factor going linearly from ``start_factor`` to
    ``end_factor`` over ``total_iters`` epochs (a warm-up with the defaults):
    ``lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)``.

    Example::

        sched = LinearLR(opt, start_factor=0.1, total_iters=5)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or not start_factor > 0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or "
                "equal to 1."
            )
        if end_factor > 1.0 or not end_factor >= 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        if not _is_int(total_iters) or total_iters < 1:
            raise ValueError(f"total_iters must be a positive int, got {total_iters!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    _state_checks = {
        "start_factor": _real_in(0.0, 1.0, open_low=True),
        "end_factor": _real_in(0.0, 1.0),
        "total_iters": _int_at_least(1),
    }

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        delta = self.end_factor - self.start_factor
        factor = 1.0 + delta / (
            self.total_iters * self.start_factor + (self.last_epoch - 1) * delta
        )
        return [group["lr"] * factor for group in groups]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), stepped once per *batch*.

    The lr rises from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of ``total_steps`` (or ``epochs * steps_per_epoch``), then
    anneals to ``initial_lr / final_div_factor`` (``anneal_strategy`` ``"cos"`` or
    ``"linear"``); with ``three_phase`` it first comes back down to the initial
    lr symmetrically, then anneals. With ``cycle_momentum`` (default) momentum —
    SGD's ``momentum`` or Adam's ``beta1`` — moves inversely between
    ``max_momentum`` and ``base_momentum``; an optimizer with neither needs
    ``cycle_momentum=False``. Stepping past ``total_steps`` raises ValueError.

    Example::

        sched = OneCycleLR(opt, max_lr=0.1, epochs=10, steps_per_epoch=len(loader))
    """

    per_batch = True  # fit() steps this scheduler after every optimizer step

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        _check_last_epoch(last_epoch)
        if total_steps is not None:
            if not _is_int(total_steps) or total_steps <= 0:
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        elif epochs is not None and steps_per_epoch is not None:
            if not _is_int(epochs) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not _is_int(steps_per_epoch) or steps_per_epoch <= 0:
                raise ValueError(
                    f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}"
                )
            total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        if not div_factor > 0 or not final_div_factor > 0:
            raise ValueError(
                f"div_factor and final_div_factor must be positive, got {div_factor} "
                f"and {final_div_factor}"
            )
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        use_beta1 = "betas" in optimizer.defaults
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and not use_beta1:
                raise ValueError(
                    "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
                )
            max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            base_momentums = _per_group("base_momentum", optimizer, base_momentum)
        if last_epoch != -1:
            keys = ["initial_lr", "max_lr", "min_lr"]
            keys += ["max_momentum", "base_momentum"] if cycle_momentum else []
            for i, group in enumerate(optimizer.param_groups):
                missing = [k for k in keys if k not in group]
                if missing:
                    raise KeyError(
                        f"param_groups[{i}] lacks {missing} when resuming OneCycleLR with "
                        "last_epoch >= 0; load the optimizer's state dict first"
                    )
        # Everything is checked: from here on the optimizer's groups change.
        self.total_steps = total_steps
        self._anneal_func_type = anneal_strategy
        self.cycle_momentum = cycle_momentum
        self.use_beta1 = use_beta1
        if three_phase:
            self._schedule_phases = [
                {
                    "end_step": float(pct_start * total_steps) - 1,
                    "start_lr": "initial_lr",
                    "end_lr": "max_lr",
                    "start_momentum": "max_momentum",
                    "end_momentum": "base_momentum",
                },
                {
                    "end_step": float(2 * pct_start * total_steps) - 2,
                    "start_lr": "max_lr",
                    "end_lr": "initial_lr",
                    "start_momentum": "base_momentum",
                    "end_momentum": "max_momentum",
                },
                {
                    "end_step": total_steps - 1,
                    "start_lr": "initial_lr",
                    "end_lr": "min_lr",
                    "start_momentum": "max_momentum",
                    "end_momentum": "max_momentum",
                },
            ]
        else:
            self._schedule_phases = [
                {
                    "end_step": float(pct_start * total_steps) - 1,
                    "start_lr": "initial_lr",
                    "end_lr": "max_lr",
                    "start_momentum": "max_momentum",
                    "end_momentum": "base_momentum",
                },
                {
                    "end_step": total_steps - 1,
                    "start_lr": "max_lr",
                    "end_lr": "min_lr",
                    "start_momentum": "base_momentum",
                    "end_momentum": "max_momentum",
                },
            ]
        if last_epoch == -1:
            for i, group in enumerate(optimizer.param_groups):
                group["initial_lr"] = max_lrs[i] / div_factor
                group["max_lr"] = max_lrs[i]
                group["min_lr"] = group["initial_lr"] / final_div_factor
                if cycle_momentum:
                    if use_beta1:
                        group["betas"] = (max_momentums[i], *group["betas"][1:])
                    else:
                        group["momentum"] = max_momentums[i]
                    group["max_momentum"] = max_momentums[i]
                    group["base_momentum"] = base_momentums[i]
        super().__init__(optimizer, last_epoch)

    _state_checks = {
        "total_steps": _int_at_least(1),
        "_anneal_func_type": _one_of("cos", "linear"),
        "cycle_momentum": _FLAG,
        "use_beta1": _FLAG,
        "_schedule_phases": _phases,
    }

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(
                f"Tried to step {step_num} times. The specified number of total steps is "
                f"{self.total_steps}"
            )
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    span = end_step - start_step
                    # PyTorch divides by zero here when a phase is empty; take its end.
                    pct = (step_num - start_step) / span if span != 0 else 1.0
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                    break
                start_step = end_step
            lrs.append(lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (momentum, *group["betas"][1:])
                else:
                    group["momentum"] = momentum
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Multiply each group's lr by ``factor`` once the monitored value has not
    improved for more than ``patience`` epochs; call ``step(value)`` once per epoch.

    Improvement means ``value < best * (1 - threshold)`` (mode ``"min"``,
    threshold_mode ``"rel"``), ``value < best - threshold`` (``"abs"``), and
    mirrored for mode ``"max"``. After a reduction ``cooldown`` epochs pass
    before bad epochs count again; lr never goes below ``min_lr`` (a number or
    one per group), and a change smaller than ``eps`` is skipped. A NaN value
    counts as no improvement.

    Example::

        sched = ReduceLROnPlateau(opt, factor=0.5, patience=3)
        for epoch in range(100):
            train_one_epoch(...)
            sched.step(validation_loss)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        if not factor >= 0:
            raise ValueError(f"factor must be in [0, 1), got {factor!r}")
        _check_optimizer(optimizer)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(
                    f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}"
                )
            default_min_lr, min_lrs = None, list(min_lr)
        else:
            default_min_lr, min_lrs = min_lr, [min_lr] * len(optimizer.param_groups)
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode} is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {threshold_mode} is unknown!")
        if not _is_int(patience) or patience < 0:
            raise ValueError(f"patience must be a non-negative int, got {patience!r}")
        if not _is_int(cooldown) or cooldown < 0:
            raise ValueError(f"cooldown must be a non-negative int, got {cooldown!r}")
        self.optimizer = optimizer
        self.factor = factor
        self.default_min_lr = default_min_lr
        self.min_lrs = min_lrs
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self._last_lr = _lrs(optimizer)
        self._reset()

    _state_checks = {
        "factor": _real_in(0.0, 1.0, open_high=True),
        "min_lrs": _per_group_lrs,
        "default_min_lr": _optional_min_lr,
        "patience": _int_at_least(0),
        "cooldown": _int_at_least(0),
        "eps": _real_in(0.0),
        "mode": _one_of("min", "max"),
        "threshold": _real_in(-math.inf),
        "threshold_mode": _one_of("rel", "abs"),
        "mode_worse": _one_of(math.inf, -math.inf),
        "last_epoch": _int_at_least(0),
        "best": _best,
        "cooldown_counter": _int_at_least(0),
        "num_bad_epochs": _int_at_least(0),
    }

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        """Record one epoch's monitored value (a number or a one-element Tensor)."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _lrs(self.optimizer)

    def _reduce_lr(self) -> None:
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The number of param groups in the `optimizer` "
                    f"({len(self.optimizer.param_groups)}) differs from when "
                    f"`ReduceLROnPlateau` was initialized ({len(self.min_lrs)}); set "
                    "`min_lrs` to one value per group"
                )
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def get_lr(self) -> list[float]:
        return _lrs(self.optimizer)


# --- LambdaLR, MultiplicativeLR, ConstantLR, PolynomialLR, CosineAnnealingWarmRestarts,
# CyclicLR, and the combinators SequentialLR and ChainedScheduler ---------------------
# Their get_last_lr() sequences and state_dict layouts are PyTorch's (a LambdaLR saves no
# lambdas, only the __dict__ of callable objects).

import bisect  # noqa: E402
import types  # noqa: E402
from collections.abc import Sequence  # noqa: E402

__all__ += [
    "LambdaLR",
    "MultiplicativeLR",
    "ConstantLR",
    "PolynomialLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "SequentialLR",
    "ChainedScheduler",
]


def _lambdas(optimizer: Optimizer, lr_lambda: Any) -> list[Callable[[int], float]]:
    """One callable per parameter group (PyTorch's messages)."""
    if not isinstance(lr_lambda, (list, tuple)):
        lambdas = [lr_lambda] * len(optimizer.param_groups)
    else:
        if len(lr_lambda) != len(optimizer.param_groups):
            raise ValueError(
                f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}"
            )
        lambdas = list(lr_lambda)
    for fn in lambdas:
        if not callable(fn):
            raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
    return lambdas


class _LambdaState:
    """state_dict/load_state_dict of a scheduler holding ``lr_lambdas``: plain
    functions are not saved; a callable object's ``__dict__`` is, as in PyTorch."""

    lr_lambdas: list[Callable[[int], float]]

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state = copy.deepcopy(state)
        state["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else copy.deepcopy(fn.__dict__)
            for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            raise ValueError(f"scheduler state must be a dict, got {type(state_dict).__name__}")
        saved = state_dict.get("lr_lambdas", [None] * len(self.lr_lambdas))
        if not isinstance(saved, list) or len(saved) != len(self.lr_lambdas):
            raise ValueError(f"lr_lambdas must be a list of {len(self.lr_lambdas)} entries")
        if any(entry is not None and not isinstance(entry, dict) for entry in saved):
            raise ValueError("lr_lambdas entries must be None or dicts")
        rest = {k: v for k, v in state_dict.items() if k != "lr_lambdas"}
        LRScheduler.load_state_dict(self, rest)  # type: ignore[arg-type]
        for fn, entry in zip(self.lr_lambdas, saved):
            if entry is not None:
                fn.__dict__.update(copy.deepcopy(entry))


class LambdaLR(_LambdaState, LRScheduler):
    """``lr = base_lr * lr_lambda(epoch)`` (one function, or one per parameter group).

    Example::

        sched = LambdaLR(opt, lr_lambda=lambda epoch: 0.95**epoch)
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Any, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaState, LRScheduler):
    """Multiply each group's lr by ``lr_lambda(epoch)`` every epoch after the first.

    Example::

        sched = MultiplicativeLR(opt, lr_lambda=lambda epoch: 0.95)
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Any, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return _lrs(self.optimizer)
        groups = self.optimizer.param_groups
        return [group["lr"] * fn(self.last_epoch) for fn, group in zip(self.lr_lambdas, groups)]


class ConstantLR(LRScheduler):
    """Scale each group's lr by ``factor`` for the first ``total_iters`` epochs, then
    restore it: ``lr = base_lr * (factor if epoch < total_iters else 1)``.

    Example::

        sched = ConstantLR(opt, factor=0.5, total_iters=4)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if not _is_real(factor) or factor > 1.0 or not factor >= 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        if not _is_int(total_iters) or total_iters < 0:
            raise ValueError(f"total_iters must be a non-negative int, got {total_iters!r}")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    _state_checks = {"factor": _real_in(0.0, 1.0), "total_iters": _int_at_least(0)}

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in groups]
        if self.last_epoch != self.total_iters:
            return _lrs(self.optimizer)
        return [group["lr"] * (1.0 / self.factor) for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        after = self.last_epoch >= self.total_iters
        return [base * (self.factor + after * (1 - self.factor)) for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decay each group's lr polynomially to 0 over ``total_iters`` epochs:
    ``lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ** power``.

    Example::

        sched = PolynomialLR(opt, total_iters=10, power=2.0)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        if not _is_int(total_iters) or total_iters < 1:
            raise ValueError(f"total_iters must be a positive int, got {total_iters!r}")
        if not _is_real(power) or not math.isfinite(power):
            raise ValueError(f"power must be a finite number, got {power!r}")
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    _state_checks = {"total_iters": _int_at_least(1), "power": _real_in(-math.inf)}

    def get_lr(self) -> list[float]:
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        n, e = self.total_iters, self.last_epoch
        decay = ((1.0 - e / n) / (1.0 - (e - 1) / n)) ** self.power
        return [group["lr"] * decay for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        n = self.total_iters
        return [base * (1.0 - min(n, self.last_epoch) / n) ** self.power for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter): the lr falls
    from ``base_lr`` to ``eta_min`` over ``T_i`` epochs and restarts, with
    ``T_0, T_0 * T_mult, T_0 * T_mult^2, ...``:
    ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``.

    ``step(epoch)`` with a fractional epoch steps within an epoch, as PyTorch's.

    Example::

        sched = CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2)
        for epoch in range(30):
            for i, batch in enumerate(loader):
                ...
                sched.step(epoch + i / len(loader))
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if not _is_int(T_0) or T_0 <= 0:
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if not _is_int(T_mult) or T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not _is_real(eta_min):
            raise ValueError(
                f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}"
            )
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    _state_checks = {
        "T_0": _int_at_least(1),
        "T_mult": _int_at_least(1),
        "eta_min": _real_in(-math.inf),
        "T_cur": _real_in(-1.0),
        "T_i": _real_in(1.0),
    }

    def get_lr(self) -> list[float]:
        cosine = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:  # type: ignore[override]
        """Advance one epoch, or go to ``epoch`` (a number >= 0, fractional allowed)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if not _is_real(epoch) or not math.isfinite(epoch) or epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self._step_count += 1
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = _lrs(self.optimizer)


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith), stepped once per *batch*: the lr goes from
    ``base_lr`` up to ``max_lr`` over ``step_size_up`` steps and back over
    ``step_size_down`` (default: the same), the amplitude scaled per cycle by ``mode``
    (``"triangular"``: constant, ``"triangular2"``: halved each cycle,
    ``"exp_range"``: ``gamma ** iteration``) or a custom ``scale_fn`` of the cycle or
    the iteration (``scale_mode``). With ``cycle_momentum`` the momentum (SGD's
    ``momentum`` or Adam's ``beta1``) moves inversely between ``max_momentum`` and
    ``base_momentum``.

    Example::

        opt = fastdl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=200)
    """

    per_batch = True

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.8,
        max_momentum: float | list[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        for name, values in (("base_lr", base_lrs), ("max_lr", max_lrs)):
            for value in values:
                if not _is_real(value) or not math.isfinite(value) or value < 0:
                    raise ValueError(f"{name} must be finite non-negative numbers, got {value!r}")
        for name, size in (("step_size_up", step_size_up), ("step_size_down", step_size_down)):
            if size is not None and (not _is_real(size) or not size > 0):
                raise ValueError(f"{name} must be a positive number, got {size!r}")
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"scale_fn must be callable, got {type(scale_fn).__name__}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        use_beta1 = "betas" in optimizer.defaults
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and not use_beta1:
                raise ValueError(
                    "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
                )
            base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            max_momentums = _per_group("max_momentum", optimizer, max_momentum)
        self.optimizer = optimizer
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = max_lrs
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = use_beta1
            self.base_momentums = base_momentums
            self.max_momentums = max_momentums
            if last_epoch == -1:
                for high, low, group in zip(max_momentums, base_momentums, optimizer.param_groups):
                    if use_beta1:
                        group["betas"] = (high, *group["betas"][1:])
                    else:
                        group["momentum"] = high
                    group["max_momentum"] = high
                    group["base_momentum"] = low
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        if self._scale_fn_custom is not None:
            return
        if self.mode in ("triangular", "triangular2"):
            self.scale_mode = "cycle"
        elif self.mode == "exp_range":
            self.scale_mode = "iterations"

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at cycle (or iteration) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [
            base + (high - base) * scale_factor * scale
            for base, high in zip(self.base_lrs, self.max_lrs)
        ]
        if self.cycle_momentum:
            for group, low, high in zip(
                self.optimizer.param_groups, self.base_momentums, self.max_momentums
            ):
                momentum = high - (high - low) * scale_factor * scale
                if self.use_beta1:
                    group["betas"] = (momentum, *group["betas"][1:])
                else:
                    group["momentum"] = momentum
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = {
            k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_scale_fn_custom")
        }
        state = copy.deepcopy(state)
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = None
        if fn is not None and not isinstance(fn, types.FunctionType):
            state["_scale_fn_custom"] = copy.deepcopy(fn.__dict__)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            raise ValueError(f"scheduler state must be a dict, got {type(state_dict).__name__}")
        fn = state_dict.get("_scale_fn_custom")
        if fn is not None and (not isinstance(fn, dict) or self._scale_fn_custom is None):
            raise ValueError("_scale_fn_custom must be None or the dict of a callable object")
        rest = {k: v for k, v in state_dict.items() if k != "_scale_fn_custom"}
        super().load_state_dict(rest)
        if fn is not None:
            self._scale_fn_custom.__dict__.update(copy.deepcopy(fn))
        self._init_scale_fn()


# -- combinators -------------------------------------------------------------------------


def _closed_form_lr(scheduler: LRScheduler) -> list[float]:
    """The scheduler's lrs at its ``last_epoch`` from ``base_lrs`` (not from the current
    lrs), as PyTorch computes them when SequentialLR restarts a scheduler."""
    own = getattr(scheduler, "_get_closed_form_lr", None)
    if own is not None:
        return own()
    e, bases = scheduler.last_epoch, scheduler.base_lrs
    if isinstance(scheduler, StepLR):
        return [b * scheduler.gamma ** (e // scheduler.step_size) for b in bases]
    if isinstance(scheduler, MultiStepLR):
        marks = sorted(m for m, count in scheduler.milestones.items() for _ in range(count))
        return [b * scheduler.gamma ** bisect.bisect_right(marks, e) for b in bases]
    if isinstance(scheduler, ExponentialLR):
        return [b * scheduler.gamma**e for b in bases]
    if isinstance(scheduler, CosineAnnealingLR):
        eta_min, cosine = scheduler.eta_min, (1 + math.cos(math.pi * e / scheduler.T_max)) / 2
        return [eta_min + (b - eta_min) * cosine for b in bases]
    if isinstance(scheduler, LinearLR):
        s, f = scheduler.start_factor, scheduler.end_factor
        done = min(scheduler.total_iters, e) / scheduler.total_iters
        return [b * (s + (f - s) * done) for b in bases]
    return scheduler.get_lr()


def _check_members(owner: str, optimizer: Any, schedulers: Sequence[Any]) -> None:
    if len(schedulers) < 1:
        raise ValueError(f"{owner} expects at least one scheduler, but got no scheduler.")
    for i, scheduler in enumerate(schedulers):
        if not hasattr(scheduler, "optimizer"):
            raise TypeError(f"{owner} at index {i} should have `optimizer` as its attribute.")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(
                f"{owner} does not support `ReduceLROnPlateau` scheduler as it requires "
                "additional kwargs to be specified when calling `step`, but got one at index "
                f"{i} in the given schedulers sequence."
            )
        if optimizer is not scheduler.optimizer:
            raise ValueError(
                f"{owner} expects all schedulers to belong to the same optimizer, but got "
                f"scheduler {type(scheduler).__name__} at index {i} has "
                f"{scheduler.optimizer}, which is different from {type(optimizer).__name__}."
            )


def _initial_step(scheduler: LRScheduler) -> None:
    """Restart ``scheduler`` as its constructor does: step count 0, one initial step."""
    scheduler._step_count = 0
    scheduler._is_initial = True
    try:
        scheduler.step()
    finally:
        scheduler._is_initial = False


class _Combinator(LRScheduler):
    """state_dict/load_state_dict of a scheduler of schedulers: each one's own state
    under ``_schedulers``, as PyTorch."""

    _schedulers: list[LRScheduler]

    def state_dict(self) -> dict[str, Any]:
        skip = ("optimizer", "_schedulers")
        state = copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in skip})
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            raise ValueError(f"scheduler state must be a dict, got {type(state_dict).__name__}")
        saved = state_dict.get("_schedulers")
        if not isinstance(saved, list) or len(saved) != len(self._schedulers):
            raise ValueError(f"_schedulers must be a list of {len(self._schedulers)} states")
        rest = {k: v for k, v in state_dict.items() if k != "_schedulers"}
        for key in rest:
            if key not in self.__dict__:
                raise ValueError(f"{type(self).__name__} state has unknown key {key!r}")
        for scheduler, state in zip(self._schedulers, saved):
            scheduler.check_state_dict(state)
        for scheduler, state in zip(self._schedulers, saved):
            scheduler.load_state_dict(state)
        self.__dict__.update(copy.deepcopy(rest))

    def __repr__(self) -> str:
        inner = ", ".join(type(s).__name__ for s in self._schedulers)
        return f"{type(self).__name__}([{inner}], lr={self.get_last_lr()})"


class SequentialLR(_Combinator):
    """Run ``schedulers`` one after another, switching at the epochs in ``milestones``
    (one fewer than the schedulers); each starts from the base learning rates.

    Example::

        warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        decay = ExponentialLR(opt, gamma=0.9)
        sched = SequentialLR(opt, schedulers=[warmup, decay], milestones=[5])
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        schedulers = list(schedulers)
        _check_members(type(self).__name__, optimizer, schedulers)
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                f"than the number of milestone points, but got number of schedulers "
                f"{len(schedulers)} and the number of milestones to be equal to {len(milestones)}"
            )
        if any(not _is_int(m) or m < 0 for m in milestones):
            raise ValueError(f"milestones must be non-negative ints, got {milestones!r}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in schedulers:  # undo the step each took at construction
            _undo(scheduler)
        idx = bisect.bisect_right(milestones, 0)
        _initial_step(schedulers[idx])
        self._last_lr = schedulers[idx].get_last_lr()

    def step(self) -> None:
        """Advance one epoch: the current scheduler steps, or the next one starts."""
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler.last_epoch = 0
            for group, lr in zip(self.optimizer.param_groups, _closed_form_lr(scheduler)):
                group["lr"] = lr
            scheduler._last_lr = _lrs(self.optimizer)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


def _undo(scheduler: Any) -> None:
    """Take one epoch back from ``scheduler`` (and the schedulers inside it)."""
    if hasattr(scheduler, "_schedulers"):
        for inner in scheduler._schedulers:
            _undo(inner)
    elif hasattr(scheduler, "last_epoch"):
        scheduler.last_epoch -= 1


class ChainedScheduler(_Combinator):
    """Step every scheduler in ``schedulers`` at each ``step()``, so their factors
    compose (each multiplies the current lr).

    Example::

        sched = ChainedScheduler([ConstantLR(opt, factor=0.1, total_iters=2),
                                  ExponentialLR(opt, gamma=0.9)])
    """

    def __init__(
        self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None
    ) -> None:
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError(
                f"{type(self).__name__} expects at least one scheduler to be chained, but got "
                "no scheduler."
            )
        optimizer = optimizer or schedulers[0].optimizer
        _check_members(type(self).__name__, optimizer, schedulers)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = _lrs(schedulers[-1].optimizer)

    def step(self) -> None:
        """Step every scheduler once, in order."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _lrs(self._schedulers[-1].optimizer)
