"""Optimizer: parameter groups over flat buffers, zero_grad, state dicts.

Each parameter group's trainable parameters are laid out in one flat buffer per
dtype (:func:`fastdl.flat.flatten`), so a step is one fused kernel launch per
(group, dtype), and ``zero_grad`` writes nothing: it marks gradients stale (reading
as None, or zeros with ``set_to_none=False``), so the next backward overwrites them in
the flat buffer (see :mod:`fastdl.autograd.leaf_grads`). Per-parameter state
(``exp_avg``, ``momentum_buffer``, ...) is a view into a flat state buffer of the same
layout; ``state[p]`` and ``state_dict()`` show it per parameter, as PyTorch does. An
optimizer written the PyTorch way (overriding ``step``, keeping ``self.state[p]``) works
on the same base class.
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.flat import FlatBuffer, flatten
from fastdl.nn.module import RemovableHandle
from fastdl.optim.param_state import ParamState
from fastdl.tensor import Tensor


class _Chunk:
    """One flat buffer of a group, with its flat state arrays by name."""

    def __init__(
        self, flat: FlatBuffer, initial: dict[str, float], scalars: dict[str, float] | None = None
    ) -> None:
        self.flat = flat
        self.state = {name: _filled(flat, v) for name, v in initial.items()}
        # Steps taken per parameter; the fused path runs while they agree.
        self.steps = np.zeros(len(flat.params), np.int64)
        # Per-parameter numbers of the state (NAdam's mu_product, ASGD's eta and mu).
        self.scalars = {
            name: np.full(len(flat.params), v, np.float64) for name, v in (scalars or {}).items()
        }

    def positions(self, where: slice) -> np.ndarray:
        """The parameter positions a step's ``where`` slice covers."""
        if where == slice(None):
            return np.arange(len(self.flat.params))
        offsets = self.flat.offsets
        return np.flatnonzero((offsets[:-1] == where.start) & (offsets[1:] == where.stop))

    def uniform_scalars(self) -> bool:
        """Whether every parameter holds the same state numbers (one fused call serves)."""
        return all(np.all(v == v[0]) for v in self.scalars.values())


def _filled(flat: FlatBuffer, value: float) -> Any:
    """A state array laid out as ``flat``, on its device, holding ``value``."""
    return flat.backend().full((len(flat),), value, flat.values.dtype)


def _host_copy(array: Any) -> np.ndarray:
    """A NumPy copy of a host or device array (state dicts hold host arrays)."""
    return backends.of(array).to_host(array, copy=True)


# The largest step count a state dict may hold (the step counters are int64).
MAX_STEP = 2**62


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_hyperparameter(
    group: dict[str, Any],
    key: str,
    label: str,
    low: float = 0.0,
    high: float = math.inf,
    high_inclusive: bool = False,
) -> None:
    """Raise ``ValueError("Invalid <label>: <value>")`` (PyTorch's wording) unless
    ``group[key]`` is a finite real number in ``[low, high)`` (``[low, high]`` with
    ``high_inclusive``); an absent key passes."""
    if key not in group:
        return
    value = group[key]
    ok = _is_real(value) and math.isfinite(value) and low <= value
    ok = ok and (value <= high if high_inclusive else value < high)
    if not ok:
        raise ValueError(f"Invalid {label}: {value}")


def check_flag(group: dict[str, Any], key: str) -> None:
    """Raise ValueError unless ``group[key]`` (when present) is a bool (or 0 or 1)."""
    if key in group and not (
        isinstance(group[key], (bool, np.bool_))
        or (type(group[key]) is int and group[key] in (0, 1))
    ):
        raise ValueError(f"Invalid {key} value: {group[key]!r}; expected a bool")


def _check_finite_numbers(group: dict[str, Any]) -> None:
    """Every other real-valued option (``initial_lr``, ``max_lr``, ...) must be finite."""
    for key, value in group.items():
        values = value if isinstance(value, (list, tuple)) and key != "params" else [value]
        for v in values:
            if _is_real(v) and not math.isfinite(v):
                raise ValueError(f"Invalid {key} value: {value}")


def _step_tensor(count: Any) -> Tensor:
    """A step count as PyTorch keeps it: a 0-d float32 Tensor (on the host)."""
    return Tensor._wrap(np.array(float(count), dtype=np.float32))


def _step_count(value: Any, index: int) -> int:
    """A saved ``step`` as an int: an int (older fastdl files), or a 0-d tensor of any
    library (PyTorch and fastdl keep it as a float tensor)."""
    if not isinstance(value, np.ndarray) and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    ):
        step = int(value)
    elif _is_real(value) and math.isfinite(value) and float(value).is_integer():
        step = int(value)
    else:
        raise ValueError(f"state for parameter {index}: 'step' must be an integer, got {value!r}")
    if not 0 <= step <= MAX_STEP:
        raise ValueError(
            f"state for parameter {index}: 'step' must be in [0, {MAX_STEP}], got {step}"
        )
    return step


def _state_array(value: Any, name: str, index: int, shape: tuple, dtype: Any) -> np.ndarray:
    """A saved state array as a contiguous NumPy array of ``dtype``: real, finite
    (after the cast), of ``shape``."""
    where = f"state {name!r} of parameter {index}"
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    elif hasattr(value, "__array__") and not isinstance(value, np.ndarray | np.generic):
        value = np.asarray(value)  # another library's tensor (PyTorch's)
    if not isinstance(value, (np.ndarray, np.generic, numbers.Real)):
        raise ValueError(f"{where} must be an array, got {type(value).__name__}")
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{where} must hold real numbers, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{where} has shape {array.shape}, expected {shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        array = np.ascontiguousarray(array, dtype=dtype).reshape(-1)
    if not np.isfinite(array).all():
        raise ValueError(f"{where} holds non-finite values (or overflows {np.dtype(dtype)})")
    return array


def _state_number(value: Any, name: str, index: int) -> float:
    """A saved per-parameter state number (PyTorch saves a 0-d tensor) as a finite float."""
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    if not _is_real(value) or not math.isfinite(float(value)):
        raise ValueError(
            f"state {name!r} of parameter {index} must be a finite number, got {value!r}"
        )
    return float(value)


def _with_step_hooks(step: Callable) -> Callable:
    """Wrap an optimizer's ``step`` to run its step pre- and post-hooks around it (once,
    when a subclass's ``step`` calls ``super().step()``)."""

    @functools.wraps(step)
    def stepped(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        hooks = self.__dict__.get("_step_hooks")
        if not hooks or self.__dict__.get("_in_hooked_step"):
            return step(self, *args, **kwargs)
        self._in_hooked_step = True
        try:
            for hook in list(hooks["pre"].values()):
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "an optimizer step pre-hook must return None or (args, kwargs), "
                            f"got {type(result).__name__}"
                        )
                    args, kwargs = result
            out = step(self, *args, **kwargs)
            for hook in list(hooks["post"].values()):
                hook(self, args, kwargs)
            return out
        finally:
            self._in_hooked_step = False

    stepped._runs_step_hooks = True  # type: ignore[attr-defined]
    return stepped


def _restored(entry: dict[str, Any], p: Tensor) -> dict[str, Any]:
    """A saved state entry of an optimizer written the PyTorch way, for parameter ``p``:
    arrays and tensors become tensors on ``p``'s device, floating ones of its dtype
    (except ``step``), as PyTorch casts them."""
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if isinstance(value, Tensor):
            value = value.detach()._host()
        if isinstance(value, np.ndarray):
            array = np.array(value, copy=True)
            if array.dtype.kind == "f" and key != "step":
                array = array.astype(p.dtype)
            value = Tensor._wrap(backends.of(p._data).from_host(array))
        else:
            value = copy.deepcopy(value)
        out[key] = value
    return out


class Optimizer:
    """Base class: holds ``param_groups`` and per-parameter ``state``.

    fastdl's optimizers set ``state_names`` (the per-parameter state arrays, zeros
    before the first step), or override ``_initial_state(group)`` where a group's
    options decide which arrays it needs or their starting value, and implement
    ``_update(group, chunk, where, step)``: one kernel call on the ``where`` slice of
    the chunk's flat buffers. State that is one number per parameter (NAdam's
    ``mu_product``) comes from ``_initial_scalars(group)`` and lives in
    ``chunk.scalars[name][chunk.positions(where)]``.

    An optimizer written the PyTorch way works too: it overrides ``step`` and keeps
    its state in ``self.state[p]`` (a dict per parameter, empty until first set).

    Example::

        class PlainSGD(fastdl.optim.Optimizer):
            def __init__(self, params, lr=0.1):
                super().__init__(params, dict(lr=lr))

            @fastdl.no_grad()
            def step(self, closure=None):
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.add_(p.grad, alpha=-group["lr"])
    """

    state_names: tuple[str, ...] = ()
    # State arrays that are sums of squares: a negative value is corrupt state.
    nonnegative_state: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_runs_step_hooks", False):
            cls.step = _with_step_hooks(step)

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._chunks: list[list[_Chunk]] = []
        self._where: dict[int, tuple[_Chunk, int]] = {}  # id(param) -> its chunk, position
        self.state = ParamState(self._fused_state, self._stepped_params)
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}"
            )
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"params[{i}] is a {type(p).__name__}, not a Tensor")
            if not p.is_leaf:
                raise ValueError(f"params[{i}] is not a leaf tensor; optimizers need leaves")
            if not dtypes.is_floating(p.dtype):
                raise TypeError(f"params[{i}] has dtype {p.dtype}; expected a floating dtype")
            if id(p) in seen:
                raise ValueError("some parameters appear in more than one parameter group")
            seen.add(id(p))
        group = {**self.defaults, **param_group, "params": params}
        self._check_group(group)
        trainable = [p for p in params if p.requires_grad]
        initial = self._initial_state(group)
        scalars = self._initial_scalars(group)
        chunks = (
            [_Chunk(flat, initial, scalars) for flat in flatten(trainable)] if trainable else []
        )
        for chunk in chunks:
            for pos, p in enumerate(chunk.flat.params):
                self._where[id(p)] = (chunk, pos)
        self.param_groups.append(group)
        self._chunks.append(chunks)

    def _initial_state(self, group: dict[str, Any]) -> dict[str, float]:
        """The state arrays ``group``'s parameters carry, by name, and their value
        before the first step."""
        return dict.fromkeys(self.state_names, 0.0)

    def _initial_scalars(self, group: dict[str, Any]) -> dict[str, float]:
        """The per-parameter numbers of the state (not arrays), by name, and their
        value before the first step; none by default."""
        return {}

    def _validate(self, group: dict[str, Any]) -> None:
        """Raise ValueError unless ``group``'s options are ones a step can use (finite
        and in range); subclasses add their own options."""
        check_hyperparameter(group, "lr", "learning rate")
        check_hyperparameter(group, "weight_decay", "weight_decay value")
        check_flag(group, "maximize")

    def _check_group(self, group: dict[str, Any]) -> None:
        """``_validate``, then: every other real-valued option is finite too."""
        self._validate(group)
        _check_finite_numbers(group)

    @property
    def _fused(self) -> bool:
        """Whether this optimizer steps through ``_update`` on the flat buffers (else it
        is written the PyTorch way, keeping its own ``state``)."""
        return type(self)._update is not Optimizer._update

    def _fused_state(self, p: Tensor) -> dict[str, Any] | None:
        """``p``'s state as views into the flat state buffers, or None when ``p`` has
        not been stepped by the fused path."""
        found = self._where.get(id(p))
        if found is None:
            return None
        chunk, pos = found
        if chunk.flat.params[pos] is not p or chunk.steps[pos] == 0:
            return None
        entry: dict[str, Any] = {"step": _step_tensor(chunk.steps[pos])}
        where = chunk.flat.slice(pos)
        for name, buf in chunk.state.items():
            entry[name] = Tensor._wrap(buf[where].reshape(p.shape))
        for name, values in chunk.scalars.items():
            entry[name] = float(values[pos])
        return entry

    def _stepped_params(self) -> Iterator[Tensor]:
        for chunks in self._chunks:
            for chunk in chunks:
                for pos, p in enumerate(chunk.flat.params):
                    if chunk.steps[pos]:
                        yield p

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every gradient: to None (the default, as PyTorch >= 2.0), or to zeros
        with ``set_to_none=False``.

        Nothing is written either way: each gradient is marked stale and keeps its
        view into the flat gradient buffer, so the next backward writes straight into
        that buffer and the step stays one fused kernel. Until then ``p.grad`` reads as
        None (or as zeros). A reference kept to an old ``p.grad`` sees the next
        gradient: ``clone()`` it to keep its values. A step skips parameters whose
        gradient is None.

        Example::

            opt.zero_grad()
            loss.backward()
            opt.step()
        """
        for group in self.param_groups:
            for p in group["params"]:
                p._mark_grad_stale(to_none=set_to_none)

    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` before every ``step``; it may return
        None or new ``(args, kwargs)`` for the step.

        Example::

            handle = opt.register_step_pre_hook(lambda opt, args, kwargs: print("step"))
            handle.remove()
        """
        return self._add_step_hook("pre", hook)

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` after every ``step``."""
        return self._add_step_hook("post", hook)

    def _add_step_hook(self, kind: str, hook: Callable) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        hooks = self.__dict__.setdefault("_step_hooks", {"pre": {}, "post": {}})
        handle = RemovableHandle(self, kind)  # type: ignore[arg-type]
        hooks[kind][handle.id] = hook
        return handle

    def _remove_hook(self, kind: str, hook_id: int) -> None:
        self.__dict__.get("_step_hooks", {}).get(kind, {}).pop(hook_id, None)

    @_with_step_hooks
    def step(self, closure: Any = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            from fastdl.autograd import enable_grad

            with enable_grad():
                loss = closure()
        # Re-attach every buffer first: one that cannot be must fail the step before any
        # parameter moves.
        plan = [
            (group, chunk, chunk.flat.sync())
            for group, chunks in zip(self.param_groups, self._chunks)
            for chunk in chunks
        ]
        for group, chunk, _ in plan:
            self._match_state(group, chunk)
        for group, chunk, has_grad in plan:
            if not any(has_grad):
                continue
            if all(has_grad) and np.all(chunk.steps == chunk.steps[0]) and chunk.uniform_scalars():
                chunk.steps += 1
                self._update(group, chunk, slice(None), int(chunk.steps[0]))
                continue
            for i, present in enumerate(has_grad):  # parameter by parameter
                if present:
                    chunk.steps[i] += 1
                    self._update(group, chunk, chunk.flat.slice(i), int(chunk.steps[i]))
        return loss

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        raise NotImplementedError

    def _match_state(self, group: dict[str, Any], chunk: _Chunk) -> None:
        """Give ``chunk`` the state arrays its group's options now need (an option such
        as SGD's momentum changed since the last step): new arrays start at their
        initial value, arrays no longer needed are dropped."""
        initial = self._initial_state(group)
        if initial.keys() == chunk.state.keys():
            return
        chunk.state = {
            name: chunk.state[name] if name in chunk.state else _filled(chunk.flat, value)
            for name, value in initial.items()
        }

    # -- state dicts -----------------------------------------------------------------

    def _indexed(self):
        """(global index, chunk, position in chunk) for every trainable parameter."""
        index = {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        for chunks in self._chunks:
            for chunk in chunks:
                for pos, p in enumerate(chunk.flat.params):
                    yield index[id(p)], chunk, pos

    def _params_by_index(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [...]}`` as in PyTorch, with
        NumPy array copies; parameters are numbered across groups in order.

        Example::

            fastdl.save(opt.state_dict(), "opt.fdl")
        """
        state = self._fused_state_dict() if self._fused else self._own_state_dict()
        groups, start = [], 0
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def _own_state_dict(self) -> dict[int, dict[str, Any]]:
        """The state an optimizer written the PyTorch way keeps in ``self.state``:
        tensors as NumPy copies, other values deep-copied."""
        state: dict[int, dict[str, Any]] = {}
        for index, p in enumerate(self._params_by_index()):
            entry = self.state._own.get(p)
            if entry:
                state[index] = {
                    k: _host_copy(v._data) if isinstance(v, Tensor) else copy.deepcopy(v)
                    for k, v in entry.items()
                }
        return state

    def _fused_state_dict(self) -> dict[int, dict[str, Any]]:
        state: dict[int, dict[str, Any]] = {}
        for index, chunk, pos in self._indexed():
            if chunk.steps[pos] == 0:
                continue
            entry: dict[str, Any] = {"step": _step_tensor(chunk.steps[pos])}
            shape = chunk.flat.params[pos].shape
            for name, buf in chunk.state.items():
                entry[name] = _host_copy(buf[chunk.flat.slice(pos)].reshape(shape))
            for name, values in chunk.scalars.items():
                entry[name] = float(values[pos])
            state[index] = entry
        return state

    def check_state_dict(self, state_dict: Any) -> None:
        """Raise ValueError (naming the entry) unless ``load_state_dict(state_dict)``
        would succeed; changes nothing. Lets a caller restoring several objects check
        them all before writing any."""
        self._validated_state(state_dict)

    def _validated_state(self, state_dict: Any) -> tuple[list[dict[str, Any]], list[tuple]]:
        """The groups' options after loading and the per-parameter writes
        ``(chunk, pos, step, arrays or None)``, all checked; writes nothing."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("state_dict must be a dict with keys 'state' and 'param_groups'")
        groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)):
            raise ValueError(
                f"state_dict 'param_groups' must be a list, got {type(groups).__name__}"
            )
        if not isinstance(saved_state, dict):
            raise ValueError(f"state_dict 'state' must be a dict, got {type(saved_state).__name__}")
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(groups)} parameter groups, the optimizer has "
                f"{len(self.param_groups)}"
            )
        for i, (saved, group) in enumerate(zip(groups, self.param_groups)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                raise ValueError(f"param_groups[{i}] must be a dict with a 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    "loaded state dict has a parameter group of a different size "
                    f"({len(saved['params'])} vs {len(group['params'])})"
                )
        loaded = []  # the groups' hyper-parameters after loading
        for i, (saved, group) in enumerate(zip(groups, self.param_groups)):
            merged = {**group, **{k: v for k, v in saved.items() if k != "params"}}
            try:
                self._check_group(merged)
            except (TypeError, KeyError) as exc:
                raise ValueError(f"param_groups[{i}]: invalid options: {exc}") from exc
            except ValueError as exc:
                raise ValueError(f"param_groups[{i}]: {exc}") from exc
            loaded.append(merged)
        count = sum(len(g["params"]) for g in self.param_groups)
        state: dict[int, Any] = {}
        for key, entry in saved_state.items():
            index = key
            if isinstance(key, str) and key.isdigit():
                index = int(key)
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
                raise ValueError(
                    f"state_dict 'state' has key {key!r}; expected parameter indices 0..{count - 1}"
                )
            if not isinstance(entry, dict):
                raise ValueError(
                    f"state for parameter {index} must be a dict, got {type(entry).__name__}"
                )
            state[index] = entry
        if not self._fused:
            params = self._params_by_index()
            return loaded, [(params[i], _restored(entry, params[i])) for i, entry in state.items()]
        # The saved options decide which state arrays each chunk needs (RMSprop's
        # momentum_buffer, Adam's max_exp_avg_sq, ...).
        initial = {
            id(chunk): self._initial_state(merged)
            for merged, chunks in zip(loaded, self._chunks)
            for chunk in chunks
        }
        writes = []
        for index, chunk, pos in self._indexed():
            entry = state.get(index)
            if entry is None:
                writes.append((chunk, pos, 0, None))
                continue
            if "step" not in entry:
                raise ValueError(f"state for parameter {index} lacks 'step'")
            step = _step_count(entry["step"], index)
            shape = tuple(chunk.flat.params[pos].shape)
            arrays = {}
            for name in initial[id(chunk)]:
                if name not in entry:
                    raise ValueError(f"state for parameter {index} lacks {name!r}")
                array = _state_array(entry[name], name, index, shape, chunk.flat.values.dtype)
                if name in self.nonnegative_state and (array < 0).any():
                    raise ValueError(
                        f"state {name!r} of parameter {index} holds negative values; "
                        "it is a sum of squares"
                    )
                arrays[name] = array
            for name in chunk.scalars:
                if name not in entry:
                    raise ValueError(f"state for parameter {index} lacks {name!r}")
                arrays[name] = _state_number(entry[name], name, index)
            writes.append((chunk, pos, step, arrays))
        return loaded, writes

    def _snapshot(self) -> Callable[[], None]:
        """A function that puts the groups' options, the step counts and the state
        arrays back exactly as they are now, without checks (a caller restoring
        several objects rolls this one back with it when another fails)."""
        groups = [
            {k: v if k == "params" else copy.deepcopy(v) for k, v in group.items()}
            for group in self.param_groups
        ]
        chunks = [
            (chunk, dict(chunk.state), {n: _host_copy(b) for n, b in chunk.state.items()},
             chunk.steps.copy(), {n: v.copy() for n, v in chunk.scalars.items()})
            for chunks in self._chunks
            for chunk in chunks
        ]  # fmt: skip

        def restore() -> None:
            for group, saved in zip(self.param_groups, groups):
                group.clear()
                group.update(saved)
            for chunk, arrays, values, steps, scalars in chunks:
                chunk.scalars = scalars
                be = chunk.flat.backend()
                chunk.state = arrays
                for name, buf in arrays.items():
                    be.copy(be.from_host(values[name]), buf)
                chunk.steps[:] = steps

        return restore

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state saved by ``state_dict``. Everything is checked first
        (:meth:`check_state_dict`: group options finite and in range, steps, array
        types, shapes and finiteness), so a bad state dict raises ValueError naming
        the entry and leaves the optimizer as it was.

        Example::

            opt.load_state_dict(fastdl.load("opt.fdl"))
        """
        loaded, writes = self._validated_state(state_dict)
        if not self._fused:
            self.state._own.clear()
            for p, entry in writes:
                self.state[p] = entry
            for merged, group in zip(loaded, self.param_groups):
                group.update(merged)
            return
        initial = {
            id(chunk): self._initial_state(merged)
            for merged, chunks in zip(loaded, self._chunks)
            for chunk in chunks
        }
        for merged, chunks in zip(loaded, self._chunks):
            for chunk in chunks:
                self._match_state(merged, chunk)
        scalars = {
            id(chunk): self._initial_scalars(merged)
            for merged, chunks in zip(loaded, self._chunks)
            for chunk in chunks
        }
        for chunk, pos, step, arrays in writes:
            chunk.steps[pos] = step
            for name, values in chunk.scalars.items():
                values[pos] = scalars[id(chunk)][name] if arrays is None else arrays[name]
            where = chunk.flat.slice(pos)
            be = chunk.flat.backend()
            for name, buf in chunk.state.items():
                if arrays is None:
                    be.fill(buf[where], initial[id(chunk)][name])
                else:
                    be.copy(be.from_host(arrays[name]), buf[where])
        for merged, group in zip(loaded, self.param_groups):
            group.update(merged)
