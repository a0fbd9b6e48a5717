"""``fastdl.compile``: run a function (or a module's forward) eagerly once per
signature while recording its kernel calls, check the recording against a second
eager call, then replay it.

A signature is the inputs' shapes, dtypes, devices and ``requires_grad``, the other
arguments' values, grad mode and the CPU backend; before a replay the modules the
recording called must have the same training mode and the parameters the same
gradient buffers and stale marks as when it was checked. Per call:

1. no recording for the signature: run eagerly, recording (:class:`~.tape.Recorder`)
   on private copies of the input tensors, which become the tape's input buffers;
2. a recording not yet checked: run eagerly, then restore the state from before that
   run and replay the recording instead; parameters, gradients, optimizer state,
   module buffers, generator states, step counters and outputs must agree bit for
   bit. If they do the recording is used from then on; if not, the eager call's
   recording becomes the candidate (three tries, then eager for good, with a warning);
3. a checked recording: copy the inputs into its input buffers, replay, and return
   fresh tensors holding copies of the recorded outputs' buffers (no autograd graph).

A host read, or anything :class:`~.tape.Recorder` marks unsafe, makes the signature
run eagerly for good, with one warning naming the reason (for a host read, the
``file:line`` of the read).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from fastdl import backends
from fastdl.autograd.grad_mode import is_grad_enabled
from fastdl.compiler.tape import Recorder, Tape, root
from fastdl.tensor import Tensor

MAX_SIGNATURES = 8  # torch._dynamo's cache_size_limit
MAX_TRIES = 3


class _Signature:
    """What one signature has: its candidate or checked tape, and its state."""

    def __init__(self) -> None:
        self.tape: Tape | None = None
        self.checked = False
        self.eager = False  # run eagerly for good
        self.tries = 0


class CompiledFunction:
    """The callable ``fastdl.compile(fn)`` returns (see :func:`fastdl.compile`)."""

    def __init__(self, fn: Callable) -> None:
        self._fn = fn
        self._signatures: dict[Any, _Signature] = {}
        self._warned: set[str] = set()
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tensors: list[Tensor] = []
        try:
            key = (
                _key(args, tensors),
                _key(kwargs, tensors) if kwargs else None,
                is_grad_enabled(),
                backends.current(),
            )
            hash(key)
        except TypeError:  # an argument compile cannot key on: run as written
            return self._fn(*args, **kwargs)
        if any(not isinstance(t._data, np.ndarray) or t._node is not None for t in tensors):
            return self._fn(*args, **kwargs)  # device arrays, or inputs inside a graph
        sig = self._signatures.get(key)
        if sig is None:
            if len(self._signatures) >= MAX_SIGNATURES:
                self._warn("signatures", f"more than {MAX_SIGNATURES} input signatures")
                return self._fn(*args, **kwargs)
            sig = self._signatures[key] = _Signature()
        if sig.eager:
            return self._fn(*args, **kwargs)
        tape = sig.tape
        if tape is not None and sig.checked:
            if _guards_hold(tape):
                return _replay(tape, tensors)
            sig.checked, sig.tape, tape = False, None, None
        if tape is None:
            sig.tape, out = self._record(args, kwargs, sig)
            return out
        return self._check(sig, args, kwargs, tensors)

    # -- recording and checking ----------------------------------------------------

    def _record(self, args: tuple, kwargs: dict, sig: _Signature) -> tuple[Tape | None, Any]:
        tape = Tape()
        inputs: list[Tensor] = []
        private_args, private_kwargs = _private((args, kwargs), inputs)
        with Recorder(tape):
            out = self._fn(*private_args, **private_kwargs)
        if tape.host_read is not None:
            sig.eager = True
            self._warn(
                tape.host_read,
                f"a host read of a tensor value at {tape.host_read} makes this function "
                "run eagerly",
            )
            return None, out
        if tape.unsafe:
            sig.eager = True
            self._warn(tape.unsafe[0], f"{tape.unsafe[0]}; running eagerly")
            return None, out
        tape.inputs = [t._data for t in inputs]
        tape.outputs = _output_spec(out)
        return tape, _unaliased(out)

    def _check(self, sig: _Signature, args: tuple, kwargs: dict, tensors: list) -> Any:
        tape = sig.tape
        assert tape is not None
        before = _State.capture(tape)
        candidate, out = self._record(args, kwargs, sig)
        if sig.eager:
            return out
        after = _State.capture(tape)
        before.restore()
        _replay_into(tape, tensors)
        ok = after.matches(before) and _outputs_equal(tape.outputs, out)
        if ok:
            tape.guards = before.guards
            tape.bound = before.bound
            tape.post = after.grads
            after.restore_grads()
            sig.checked = True
            return out
        after.restore()
        sig.tries += 1
        if sig.tries >= MAX_TRIES:
            sig.eager, sig.tape = True, None
            self._warn("mismatch", "its replay does not reproduce eager results; running eagerly")
        else:
            sig.tape = candidate
        return out

    def _warn(self, what: str, message: str) -> None:
        if what in self._warned:
            return
        self._warned.add(what)
        name = getattr(self._fn, "__qualname__", type(self._fn).__name__)
        warnings.warn(f"fastdl.compile({name}): {message}", RuntimeWarning, stacklevel=4)


class _State:
    """The state a step changes, for the tape's buffers: a copy of every root array,
    generator states, optimizer step counters, parameters' gradient marks, and the
    guards (modules' training modes, the arrays of parameters and buffers)."""

    def __init__(self) -> None:
        self.roots: list[tuple[np.ndarray, np.ndarray]] = []
        self.external: set[int] = set()
        self.generators: list[tuple[Any, int, int]] = []
        self.steps: list[tuple[Any, np.ndarray]] = []
        self.grads: list[tuple[Tensor, Any, Any]] = []
        self.guards: list[tuple[Any, bool]] = []
        self.bound: list[tuple[Tensor, Any]] = []  # parameters and buffers, with their arrays

    @classmethod
    def capture(cls, tape: Tape) -> _State:
        state = cls()
        state.roots = [(r, r.copy()) for r in tape.arrays()]
        for p in _params(tape):
            for a in (p._data, p._grad._data if p._grad is not None else None):
                if isinstance(a, np.ndarray):
                    state.external.add(id(root(a)))
            state.grads.append((p, p._grad, p._grad_stale))
            state.bound.append((p, p._data))
        for m in tape.modules:
            for b in m.buffers():
                if isinstance(b._data, np.ndarray):
                    state.external.add(id(root(b._data)))
                state.bound.append((b, b._data))
            state.guards.append((m, m.training))
        for chunk in tape.chunks:
            state.steps.append((chunk, chunk.steps.copy()))
            for a in (chunk.flat.values, chunk.flat.grads, *chunk.state.values()):
                if isinstance(a, np.ndarray):
                    state.external.add(id(root(a)))
        state.generators = [(g, g._seed, g._offset) for g in tape.generators]
        return state

    def restore(self) -> None:
        for r, saved in self.roots:
            np.copyto(r, saved)
        for g, seed, offset in self.generators:
            g._seed, g._offset = seed, offset
        for chunk, steps in self.steps:
            chunk.steps[...] = steps
        self.restore_grads()

    def restore_grads(self) -> None:
        for p, grad, stale in self.grads:
            p._grad, p._grad_stale = grad, stale

    def matches(self, before: _State) -> bool:
        """Whether the state now (after a replay from ``before``) equals this one
        (after the eager run from ``before``)."""
        for (r, eager), (_, start) in zip(self.roots, before.roots, strict=True):
            written = id(r) in self.external or not _bits_equal(eager, start)
            if written and not _bits_equal(r, eager):
                return False
        for g, seed, offset in self.generators:
            if (g._seed, g._offset) != (seed, offset):
                return False
        return all(np.array_equal(chunk.steps, steps) for chunk, steps in self.steps)


def _params(tape: Tape) -> list[Tensor]:
    found: dict[int, Tensor] = {}
    for m in tape.modules:
        for p in m.parameters():
            found[id(p)] = p
    for opt in tape.optimizers:
        for group in opt.param_groups:
            for p in group["params"]:
                found[id(p)] = p
    return list(found.values())


def _guards_hold(tape: Tape) -> bool:
    for m, training in tape.guards:
        if m.training is not training:
            return False
    for t, data in tape.bound:  # rebound storage (load_state_dict, .to()): record again
        if t._data is not data:
            return False
    for p, grad, stale in tape.post:
        if p._grad is not grad or p._grad_stale != stale:
            return False
    return True


def _replay_into(tape: Tape, tensors: list[Tensor]) -> None:
    for buffer, t in zip(tape.inputs, tensors, strict=True):
        np.copyto(buffer, t._data)
    tape.run()


def _replay(tape: Tape, tensors: list[Tensor]) -> Any:
    _replay_into(tape, tensors)
    for p, grad, stale in tape.post:
        p._grad, p._grad_stale = grad, stale
    return _rebuild(tape.outputs)


# -- arguments and outputs -------------------------------------------------------------


def _key(value: Any, tensors: list[Tensor]) -> Any:
    """A hashable description of ``value`` (Tensors by their metadata, collected into
    ``tensors`` in order)."""
    if isinstance(value, Tensor):
        tensors.append(value)
        data = value._data
        return (data.shape, data.dtype, value.requires_grad)
    if isinstance(value, tuple | list):
        return (type(value), *[_key(v, tensors) for v in value])
    if isinstance(value, dict):
        return (dict, *[(k, _key(v, tensors)) for k, v in value.items()])
    return value


def _private(value: Any, inputs: list[Tensor]) -> Any:
    """``value`` with every Tensor replaced by a private copy (collected in ``inputs``)."""
    if isinstance(value, Tensor):
        t = Tensor._wrap(np.array(value._data, order="C", copy=True))
        if value.requires_grad:
            t.requires_grad_(True)
        inputs.append(t)
        return t
    if isinstance(value, tuple | list):
        return type(value)(_private(v, inputs) for v in value)
    if isinstance(value, dict):
        return {k: _private(v, inputs) for k, v in value.items()}
    return value


class _Out:
    """A recorded output tensor: the buffer a replay refreshes."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _output_spec(value: Any) -> Any:
    if isinstance(value, Tensor):
        return _Out(value._data)
    if isinstance(value, tuple | list):
        return type(value)(_output_spec(v) for v in value)
    if isinstance(value, dict):
        return {k: _output_spec(v) for k, v in value.items()}
    return value


def _unaliased(value: Any) -> Any:
    """``value`` with every Tensor copied (through ``clone`` where it is in a graph), so
    that a replay, which rewrites the recorded buffers, leaves it alone."""
    if isinstance(value, Tensor):
        return value.clone() if value.requires_grad else Tensor._wrap(value._data.copy())
    if isinstance(value, tuple | list):
        return type(value)(_unaliased(v) for v in value)
    if isinstance(value, dict):
        return {k: _unaliased(v) for k, v in value.items()}
    return value


def _rebuild(spec: Any) -> Any:
    if isinstance(spec, _Out):
        return Tensor._wrap(spec.array.copy())
    if isinstance(spec, tuple | list):
        return type(spec)(_rebuild(v) for v in spec)
    if isinstance(spec, dict):
        return {k: _rebuild(v) for k, v in spec.items()}
    return spec


def _outputs_equal(spec: Any, value: Any) -> bool:
    if isinstance(spec, _Out):
        return isinstance(value, Tensor) and _bits_equal(spec.array, value._data)
    if isinstance(spec, tuple | list):
        return (
            isinstance(value, tuple | list)
            and len(spec) == len(value)
            and all(_outputs_equal(s, v) for s, v in zip(spec, value))
        )
    if isinstance(spec, dict):
        return (
            isinstance(value, dict)
            and spec.keys() == value.keys()
            and all(_outputs_equal(spec[k], value[k]) for k in spec)
        )
    return not isinstance(value, Tensor)


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
