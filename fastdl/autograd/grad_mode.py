"""Grad mode: whether ops record a graph (``no_grad``, ``enable_grad``,
``set_grad_enabled``), and anomaly detection (``detect_anomaly``). Both are per thread.

Example::

    with fastdl.no_grad():
        y = model(x)          # y.requires_grad is False
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_grad_mode = threading.local()


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward."""
    return getattr(_grad_mode, "enabled", True)


def set_grad_enabled(mode: bool) -> None:
    """Turn graph recording on or off for this thread (``torch.set_grad_enabled``)."""
    _grad_mode.enabled = bool(mode)


class _GradMode:
    _mode = True

    def __new__(cls, fn: Callable | None = None) -> Any:
        instance = super().__new__(cls)
        # `@no_grad` without parentheses decorates fn directly, as in PyTorch 2.
        return instance(fn) if callable(fn) else instance

    def __init__(self, fn: Callable | None = None) -> None:
        pass

    def __enter__(self) -> None:
        self._previous = is_grad_enabled()
        set_grad_enabled(self._mode)

    def __exit__(self, *exc: Any) -> None:
        set_grad_enabled(self._previous)

    def __call__(self, fn: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = fn.__doc__
        return wrapper


class no_grad(_GradMode):
    """Context manager (and decorator) that turns off graph recording.

    Example::

        with fastdl.no_grad():
            y = model(x)          # y.requires_grad is False
    """

    _mode = False


class enable_grad(_GradMode):
    """Context manager (and decorator) that turns graph recording back on."""

    _mode = True


_anomaly = threading.local()


def anomaly_enabled() -> bool:
    return getattr(_anomaly, "enabled", False)  # thread-local: off in new threads


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
