"""Optimizer: parameter groups over flat buffers, zero_grad, state dicts.

Each parameter group's trainable parameters are laid out in one flat buffer per
dtype (:func:`fastdl.flat.flatten`), so a step is one fused kernel launch per
(group, dtype), and ``zero_grad`` writes nothing: it marks gradients stale, so the
next backward overwrites them (see :mod:`fastdl.autograd`). Per-parameter state (``exp_avg``,
``momentum_buffer``, ...) is a view into a flat state buffer of the same layout;
``state_dict()`` shows it per parameter, as PyTorch does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.flat import FlatBuffer, flatten
from fastdl.tensor import Tensor


class _Chunk:
    """One flat buffer of a group, with its flat state arrays by name."""

    def __init__(self, flat: FlatBuffer, initial: dict[str, float]) -> None:
        self.flat = flat
        self.state = {name: _filled(flat, v) for name, v in initial.items()}
        # Steps taken per parameter; the fused path runs while they agree.
        self.steps = np.zeros(len(flat.params), np.int64)


def _filled(flat: FlatBuffer, value: float) -> Any:
    """A state array laid out as ``flat``, on its device, holding ``value``."""
    return flat.backend().full((len(flat),), value, flat.values.dtype)


def _host_copy(array: Any) -> np.ndarray:
    """A NumPy copy of a host or device array (state dicts hold host arrays)."""
    return backends.of(array).to_host(array, copy=True)


class Optimizer:
    """Base class: holds ``param_groups`` and per-parameter ``state``.

    Subclasses set ``state_names`` (the per-parameter state arrays, zeros before the
    first step), or override ``_initial_state(group)`` where a group's options decide
    which arrays it needs or their starting value, and implement
    ``_update(group, chunk, where, step)``: one kernel call on the ``where`` slice of
    the chunk's flat buffers.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._chunks: list[list[_Chunk]] = []
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
        self._validate(group)
        trainable = [p for p in params if p.requires_grad]
        initial = self._initial_state(group)
        chunks = [_Chunk(flat, initial) for flat in flatten(trainable)] if trainable else []
        self.param_groups.append(group)
        self._chunks.append(chunks)

    def _initial_state(self, group: dict[str, Any]) -> dict[str, float]:
        """The state arrays ``group``'s parameters carry, by name, and their value
        before the first step."""
        return dict.fromkeys(self.state_names, 0.0)

    def _validate(self, group: dict[str, Any]) -> None:
        if group.get("lr", 0) < 0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if group.get("weight_decay", 0) < 0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    @property
    def state(self) -> dict[Tensor, dict[str, Any]]:
        """Per-parameter state: views into the flat state buffers (stepped ones only)."""
        out: dict[Tensor, dict[str, Any]] = {}
        for chunks in self._chunks:
            for chunk in chunks:
                for i, p in enumerate(chunk.flat.params):
                    if chunk.steps[i] == 0:
                        continue
                    entry: dict[str, Any] = {"step": int(chunk.steps[i])}
                    for name, buf in chunk.state.items():
                        entry[name] = buf[chunk.flat.slice(i)].reshape(p.shape)
                    out[p] = entry
        return out

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Reset every gradient to zero.

        The default (``set_to_none=False``) differs from PyTorch's: gradients are views
        into the flat buffer, and zeroing keeps them so. The zeros are not written:
        each gradient is marked stale, the next backward overwrites it, and reading
        ``p.grad`` before that sees zeros. ``set_to_none=True`` drops the gradients,
        and the next step then skips parameters whose gradient stays None.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                else:
                    p._mark_grad_stale()

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
            if all(has_grad) and np.all(chunk.steps == chunk.steps[0]):
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

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [...]}`` as in PyTorch, with
        NumPy array copies; parameters are numbered across groups in order."""
        state: dict[int, dict[str, Any]] = {}
        for index, chunk, pos in self._indexed():
            if chunk.steps[pos] == 0:
                continue
            entry: dict[str, Any] = {"step": int(chunk.steps[pos])}
            shape = chunk.flat.params[pos].shape
            for name, buf in chunk.state.items():
                entry[name] = _host_copy(buf[chunk.flat.slice(pos)].reshape(shape))
            state[index] = entry
        groups, start = [], 0
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state saved by ``state_dict``; everything is checked before anything
        is written, so a mismatch (or a saved hyper-parameter this optimizer rejects)
        leaves the optimizer as it was."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("state_dict must be a dict with keys 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(groups)} parameter groups, the optimizer has "
                f"{len(self.param_groups)}"
            )
        for saved, group in zip(groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    "loaded state dict has a parameter group of a different size "
                    f"({len(saved['params'])} vs {len(group['params'])})"
                )
        loaded = []  # the groups' hyper-parameters after loading
        for saved, group in zip(groups, self.param_groups):
            merged = {**group, **{k: v for k, v in saved.items() if k != "params"}}
            self._validate(merged)
            loaded.append(merged)
        # The saved options decide which state arrays each chunk needs (RMSprop's
        # momentum_buffer, Adam's max_exp_avg_sq, ...).
        initial = {
            id(chunk): self._initial_state(merged)
            for merged, chunks in zip(loaded, self._chunks)
            for chunk in chunks
        }
        state = {int(k): v for k, v in state_dict["state"].items()}
        writes = []
        for index, chunk, pos in self._indexed():
            entry = state.get(index)
            if entry is None:
                writes.append((chunk, pos, 0, None))
                continue
            shape = chunk.flat.params[pos].shape
            arrays = {}
            for name in initial[id(chunk)]:
                if name not in entry or "step" not in entry:
                    raise ValueError(f"state for parameter {index} lacks {name!r} or 'step'")
                array = np.asarray(entry[name])
                if array.shape != shape:
                    raise ValueError(
                        f"state {name!r} of parameter {index} has shape {array.shape}, "
                        f"expected {shape}"
                    )
                arrays[name] = array
            writes.append((chunk, pos, int(entry["step"]), arrays))
        for merged, chunks in zip(loaded, self._chunks):
            for chunk in chunks:
                self._match_state(merged, chunk)
        for chunk, pos, step, arrays in writes:
            chunk.steps[pos] = step
            where = chunk.flat.slice(pos)
            be = chunk.flat.backend()
            for name, buf in chunk.state.items():
                if arrays is None:
                    be.fill(buf[where], initial[id(chunk)][name])
                else:
                    source = np.ascontiguousarray(arrays[name], dtype=buf.dtype).reshape(-1)
                    be.copy(be.from_host(source), buf[where])
        for merged, group in zip(loaded, self.param_groups):
            group.update(merged)
