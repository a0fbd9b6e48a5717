"""Grad mode: whether ops record a graph (``no_grad``, ``enable_grad``,
``set_grad_enabled``, ``inference_mode``), and anomaly detection
(``detect_anomaly``). Both are per thread.

Example::

    with fastdl.no_grad():
        y = model(x)          # y.requires_grad is False
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any


class _GradState(threading.local):
    # Class attributes are every thread's defaults; a thread's own values shadow them.
    # Ops read ``_grad_mode.enabled`` directly: one attribute read per op.
    enabled = True
    inference = False


_grad_mode = _GradState()


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward."""
    return _grad_mode.enabled


def _set_enabled(mode: bool) -> None:
    _grad_mode.enabled = bool(mode)


def is_inference_mode_enabled() -> bool:
    """Whether an :class:`inference_mode` block is running on this thread.

    Example::

        >>> with inference_mode():
        ...     is_inference_mode_enabled()
        True
    """
    return _grad_mode.inference


def _decorate(fn: Callable, make: Callable[[], Any]) -> Callable:
    """``fn`` run inside the context manager ``make()`` builds afresh for each call."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with make():
            return fn(*args, **kwargs)

    return wrapper


class _GradMode:
    _mode = True

    def __new__(cls, fn: Callable | None = None) -> Any:
        instance = object.__new__(cls)
        if fn is None:  # the usual `with no_grad():`
            return instance
        # `@no_grad` without parentheses decorates fn directly, as in PyTorch 2.
        return instance(fn) if callable(fn) else instance

    def __init__(self, fn: Callable | None = None) -> None:
        pass

    def __enter__(self) -> None:
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = self._mode

    def __exit__(self, *exc: Any) -> None:
        _grad_mode.enabled = self._previous

    def __call__(self, fn: Callable) -> Callable:
        return _decorate(fn, self.__class__)


class no_grad(_GradMode):
    """Context manager (and decorator) that turns off graph recording.

    Example::

        with fastdl.no_grad():
            y = model(x)          # y.requires_grad is False
    """

    _mode = False


class enable_grad(_GradMode):
    """Context manager (and decorator) that turns graph recording back on.

    Example::

        with fastdl.no_grad():
            with fastdl.enable_grad():
                y = x * 2         # recorded
    """

    _mode = True


class set_grad_enabled:
    """Turn graph recording on or off for this thread (``torch.set_grad_enabled``).

    A plain call sets the mode from now on; as a context manager it sets the mode for
    the block and restores the one before it on exit; as a decorator, for each call.

    Example::

        fastdl.set_grad_enabled(False)           # from now on
        with fastdl.set_grad_enabled(is_train):  # for a block
            loss = model(x).sum()
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._previous = is_grad_enabled()
        _set_enabled(self.mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        _set_enabled(self._previous)

    def __call__(self, fn: Callable) -> Callable:
        _set_enabled(self._previous)  # decorating changes nothing until fn runs
        mode = self.mode
        return _decorate(fn, lambda: set_grad_enabled(mode))

    def clone(self) -> set_grad_enabled:
        return set_grad_enabled(self.mode)


class inference_mode:
    """Context manager (and decorator) for inference: no graph is recorded, as under
    :class:`no_grad` (fastdl keeps no version counters, so the two cost the same).
    ``inference_mode(False)`` changes nothing inside an outer block's mode.

    Example::

        with fastdl.inference_mode():
            y = model(x)          # y.requires_grad is False

        @fastdl.inference_mode()
        def predict(x): ...
    """

    def __new__(cls, mode: Any = True) -> Any:
        instance = super().__new__(cls)
        instance.mode = True if callable(mode) else bool(mode)
        # `@inference_mode` without parentheses decorates the function directly.
        return instance(mode) if callable(mode) else instance

    def __enter__(self) -> None:
        self._previous = (is_grad_enabled(), is_inference_mode_enabled())
        if self.mode:
            _set_enabled(False)
            _grad_mode.inference = True

    def __exit__(self, *exc: Any) -> None:
        _set_enabled(self._previous[0])
        _grad_mode.inference = self._previous[1]

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode
        return _decorate(fn, lambda: inference_mode(mode))

    def clone(self) -> inference_mode:
        return inference_mode(self.mode)


class _AnomalyState(threading.local):
    enabled = False  # off in new threads


_anomaly = _AnomalyState()


def anomaly_enabled() -> bool:
    return _anomaly.enabled


class detect_anomaly:
    """Context manager that checks every op's output and every gradient for NaN/Inf.

    The first op that produces one raises ``FloatingPointError`` naming it, before
    anything downstream (an optimizer step) runs. Slows every op down; for debugging.

    Example::

        with fastdl.autograd.detect_anomaly():
            loss = model(x).log().sum()   # FloatingPointError: Function 'Log' ...
    """

    def __enter__(self) -> detect_anomaly:
        self._previous = anomaly_enabled()
        _anomaly.enabled = True
        return self

    def __exit__(self, *exc: Any) -> None:
        _anomaly.enabled = self._previous
