"""Recording a step's kernel calls into a :class:`Tape` that replays them.

The one choke point every op, the engine, clipping and the optimizers go through to
reach a kernel is an attribute of a backend namespace (``ctx.backend.linear(...)``,
``flat.backend().adam_step(...)``, ``backend.add_into(...)``; see
:mod:`fastdl.backends`). While :class:`Recorder` is active it replaces those attributes
of every loaded backend with wrappers that run the call and append it to the tape, with
the very array objects it read and wrote; it restores them on exit. Nothing is
patched outside a recording.

Three kinds of value change from step to step and are therefore replay-time
arguments, not constants of the tape:

* the optimizer's step count, learning rate and other hyper-parameters: a call to
  an optimizer's ``_update`` is recorded as one unit that, on replay, advances the
  step counters as ``Optimizer.step`` does and calls ``_update`` again, which reads the
  parameter group (a scheduler's new ``lr``) and derives the bias corrections;
* a Philox draw (``Generator._reserve``): on replay the generator hands out its next
  ``(seed, offset)`` and advances exactly as in eager mode, and the kernel that
  consumed the draw receives them;
* the inputs, copied into the recorded input buffers before a replay.

What the tape cannot replay makes the recording *unsafe* (the caller then runs eager):
a host read of a tensor's value (``item``, ``numpy``, ``tolist``, ``bool``...), a
kernel returning a value to Python, ``LRScheduler.step`` or an optimizer written
outside the fused path, optimizer step hooks.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fastdl import backends
from fastdl.backends import spec

_PACKAGE = str(Path(__file__).resolve().parents[1])

# Array functions of a backend's namespace that return a view of their argument (no
# replay entry unless they had to copy), allocate without values, or only inspect.
_VIEWS = frozenset({"reshape", "permute", "broadcast_to", "expand_dims", "view"})
_NO_VALUES = frozenset({"empty", "owns", "is_contiguous"})
# Tensor methods that hand a tensor's value to Python.
HOST_READS = (
    "item",
    "numpy",
    "tolist",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "__array__",
    "__format__",
)


class Tape:
    """The recorded calls of one step, replayed by :meth:`run`.

    ``entries`` are ``(function, args)`` pairs called in order; the arrays in ``args``
    are the buffers of the recording (inputs, parameters, gradients, optimizer state
    and the step's intermediates), kept alive by the tape.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[Callable, tuple]] = []
        self.unsafe: list[str] = []  # why the tape must not be replayed
        self.host_read: str | None = None  # "file:line" of the first host read
        self.modules: list[Any] = []  # the modules called while recording
        self.optimizers: list[Any] = []
        self.generators: list[Any] = []
        self.chunks: list[Any] = []  # optimizer chunks whose step counters a replay moves

    def run(self) -> None:
        for fn, args in self.entries:
            fn(*args)

    def arrays(self) -> list[np.ndarray]:
        """The distinct root arrays (not views) the entries touch."""
        roots: dict[int, np.ndarray] = {}
        for _, args in self.entries:
            for a in _flat_args(args):
                if isinstance(a, np.ndarray):
                    r = root(a)
                    roots[id(r)] = r
        for chunk in self.chunks:  # what the optimizer units read and write
            for a in (chunk.flat.values, chunk.flat.grads, *chunk.state.values()):
                if isinstance(a, np.ndarray):
                    r = root(a)
                    roots[id(r)] = r
        return list(roots.values())


def root(a: np.ndarray) -> np.ndarray:
    """The array owning ``a``'s memory (``a`` itself when it is not a view)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _flat_args(args: Any):
    for a in args:
        if isinstance(a, tuple | list):
            yield from _flat_args(a)
        elif isinstance(a, _UpdateUnit):
            continue
        else:
            yield a


def _shares(result: Any, args: tuple) -> bool:
    if not isinstance(result, np.ndarray):
        return True
    return any(isinstance(a, np.ndarray) and np.may_share_memory(result, a) for a in args)


def _refresh(out: np.ndarray, fn: Callable, args: tuple, kwargs: dict) -> None:
    np.copyto(out, fn(*args, **kwargs))


def _fill(out: np.ndarray, value: Any) -> None:
    out.fill(value)


def _drawn(generator: Any, words: int, at: int, kernel: Callable, args: list) -> None:
    seed, offset = generator._reserve(words)
    args[at], args[at + 1] = seed, offset
    kernel(*args)


class _UpdateUnit:
    """One optimizer ``_update`` call, re-run on replay with the step count it would
    have in eager mode (``Optimizer.step``'s counter logic) and the group's values."""

    def __init__(self, update: Callable, opt: Any, group: dict, chunk: Any, where: slice):
        self.update, self.opt, self.group, self.chunk, self.where = update, opt, group, chunk, where
        self.index = None  # a parameter's position when the step went one by one
        if where != slice(None):
            self.index = next(
                i for i in range(len(chunk.flat.params)) if chunk.flat.slice(i) == where
            )

    def __call__(self) -> None:
        steps = self.chunk.steps
        if self.index is None:
            steps += 1
            step = int(steps[0])
        else:
            steps[self.index] += 1
            step = int(steps[self.index])
        self.update(self.opt, self.group, self.chunk, self.where, step)


def _caller_line(depth: int) -> str:
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


class Recorder:
    """Context manager: record the calls made on the current thread into ``tape``.

    Example::

        with Recorder(tape):
            loss = step(x, y)      # runs eagerly
        tape.run()                 # the same kernels again, on the same buffers
    """

    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        self.thread = threading.get_ident()
        self.depth = 0  # > 0 inside a recorded call: nested calls are part of it
        self.draw: tuple | None = None  # (generator, words, seed, offset) not yet consumed
        self.saved: list[tuple[Any, str, Any, bool]] = []  # (owner, name, old, in __dict__)

    # -- installing and removing the hooks -----------------------------------------

    def __enter__(self) -> Recorder:
        from fastdl.nn.module import Module
        from fastdl.optim.lr_scheduler import LRScheduler
        from fastdl.optim.optimizer import Optimizer
        from fastdl.random import Generator
        from fastdl.tensor import Tensor

        try:
            for backend in list(backends._loaded.values()):
                for name, fn in vars(backend).items():
                    if callable(fn) and name not in _NO_VALUES:
                        self._set(backend, name, self._wrap_call(name, fn))
            for name in HOST_READS:
                if hasattr(Tensor, name):
                    self._set(Tensor, name, self._wrap_host_read(getattr(Tensor, name)))
            self._set(Generator, "_reserve", self._wrap_reserve(Generator._reserve))
            self._set(Module, "__call__", self._wrap_module_call(Module.__call__))
            for cls in _with_own(Optimizer, "_update"):
                self._set(cls, "_update", self._wrap_update(cls.__dict__["_update"]))
            for cls in _with_own(Optimizer, "step"):
                self._set(cls, "step", self._wrap_step(cls.__dict__["step"]))
            for cls in _with_own(LRScheduler, "step"):
                self._set(cls, "step", self._wrap_scheduler_step(cls.__dict__["step"]))
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._restore()
        if self.draw is not None:
            self.tape.unsafe.append("a random draw was not consumed by a kernel")

    def _set(self, owner: Any, name: str, value: Any) -> None:
        inside = name in vars(owner)
        self.saved.append((owner, name, vars(owner).get(name), inside))
        setattr(owner, name, value)

    def _restore(self) -> None:
        for owner, name, old, inside in reversed(self.saved):
            if inside:
                setattr(owner, name, old)
            else:
                delattr(owner, name)
        self.saved.clear()

    def _ours(self) -> bool:
        return self.depth == 0 and threading.get_ident() == self.thread

    # -- the wrappers --------------------------------------------------------------

    def _wrap_call(self, name: str, fn: Callable) -> Callable:
        is_kernel = name in spec.NAMES

        def recorded(*args: Any, **kwargs: Any) -> Any:
            if not self._ours():
                return fn(*args, **kwargs)
            self.depth += 1
            try:
                result = fn(*args, **kwargs)
            finally:
                self.depth -= 1
            if is_kernel:
                self._kernel(name, fn, args, kwargs, result)
            else:
                self._array_function(name, fn, args, kwargs, result)
            return result

        return recorded

    def _kernel(self, name: str, fn: Callable, args: tuple, kwargs: dict, result: Any) -> None:
        tape = self.tape
        if result is not None:
            tape.unsafe.append(f"kernel {name!r} returned a value to Python")
        if kwargs:
            tape.entries.append((_refresh_call(fn, kwargs), args))
            return
        if self.draw is not None:
            generator, words, seed, offset = self.draw
            at = next(
                (
                    i
                    for i in range(len(args) - 1)
                    if _same(args[i], seed) and _same(args[i + 1], offset)
                ),
                None,
            )
            if at is None:
                tape.unsafe.append(f"kernel {name!r} ran while a random draw was pending")
            else:
                self.draw = None
                tape.entries.append((_drawn, (generator, words, at, fn, list(args))))
                return
        tape.entries.append((fn, args))

    def _array_function(
        self, name: str, fn: Callable, args: tuple, kwargs: dict, result: Any
    ) -> None:
        if name == "full":
            self.tape.entries.append(
                (_fill, (result, args[1] if len(args) > 1 else kwargs["value"]))
            )
        elif result is None:  # writes into its arguments (add_into)
            self.tape.entries.append((_refresh_call(fn, kwargs), args) if kwargs else (fn, args))
        elif name in _VIEWS and _shares(result, args):
            return
        elif isinstance(result, np.ndarray) and not _shares(result, args):
            self.tape.entries.append((_refresh, (result, fn, args, kwargs)))
        elif not isinstance(result, np.ndarray):
            self.tape.unsafe.append(f"array function {name!r} returned a non-array value")

    def _wrap_host_read(self, method: Callable) -> Callable:
        def read(tensor: Any, *args: Any, **kwargs: Any) -> Any:
            if self._ours() and self.tape.host_read is None:
                self.tape.host_read = _caller_line(2)
            return method(tensor, *args, **kwargs)

        read.__name__ = method.__name__
        return read

    def _wrap_reserve(self, reserve: Callable) -> Callable:
        def recorded(generator: Any, words: int) -> tuple[int, int]:
            seed, offset = reserve(generator, words)
            if self._ours():
                if self.draw is not None:
                    self.tape.unsafe.append("two random draws before one kernel")
                self.draw = (generator, words, seed, offset)
                if generator not in self.tape.generators:
                    self.tape.generators.append(generator)
            return seed, offset

        return recorded

    def _wrap_module_call(self, call: Callable) -> Callable:
        modules = self.tape.modules

        def recorded(module: Any, *args: Any, **kwargs: Any) -> Any:
            if self._ours() and all(m is not module for m in modules):
                modules.append(module)
            return call(module, *args, **kwargs)

        return recorded

    def _wrap_update(self, update: Callable) -> Callable:
        def recorded(opt: Any, group: dict, chunk: Any, where: slice, step: int) -> None:
            if not self._ours():
                return update(opt, group, chunk, where, step)
            unit = _UpdateUnit(update, opt, group, chunk, where)
            self.tape.entries.append((unit, ()))
            if all(c is not chunk for c in self.tape.chunks):
                self.tape.chunks.append(chunk)
            self.depth += 1
            try:
                return update(opt, group, chunk, where, step)
            finally:
                self.depth -= 1

        return recorded

    def _wrap_step(self, step: Callable) -> Callable:
        def recorded(opt: Any, *args: Any, **kwargs: Any) -> Any:
            if self._ours():
                if not opt._fused:
                    self.tape.unsafe.append(
                        f"{type(opt).__name__}.step runs outside the fused optimizer path"
                    )
                if any(opt.__dict__.get("_step_hooks", {}).values()):
                    self.tape.unsafe.append("an optimizer step hook runs Python code")
                if all(o is not opt for o in self.tape.optimizers):
                    self.tape.optimizers.append(opt)
            return step(opt, *args, **kwargs)

        return recorded

    def _wrap_scheduler_step(self, step: Callable) -> Callable:
        def recorded(scheduler: Any, *args: Any, **kwargs: Any) -> Any:
            if self._ours():
                self.tape.unsafe.append(
                    f"{type(scheduler).__name__}.step() changes Python state a replay "
                    "cannot repeat; call it outside the compiled function"
                )
            return step(scheduler, *args, **kwargs)

        return recorded


def _same(a: Any, b: int) -> bool:
    return isinstance(a, int | np.integer) and not isinstance(a, bool) and int(a) == b


def _refresh_call(fn: Callable, kwargs: dict) -> Callable:
    def call(*args: Any) -> None:
        fn(*args, **kwargs)

    return call


def _with_own(base: type, name: str) -> list[type]:
    """``base`` and its subclasses, transitively, that define ``name`` themselves."""
    found, stack, seen = [], [base], set()
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if name in vars(cls):
            found.append(cls)
        stack.extend(cls.__subclasses__())
    return found
