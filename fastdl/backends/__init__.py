"""The kernel registry: which backend serves which device, and ``use_backend()``.

A backend is a namespace of kernels named in :mod:`fastdl.backends.spec`. Ops ask
:func:`for_device` for the backend of their inputs' device and call kernels by
name (``backend.linear(x, w, b, out)``); they never branch on the device.

CPU tensors use the backend chosen by :func:`use_backend` (or ``FASTDL_BACKEND``),
``"numba"`` by default; ``"reference"`` is the pure-NumPy oracle.
"""

from __future__ import annotations

import importlib
import os
import threading
from types import SimpleNamespace

from fastdl.backends import spec

_CPU_BACKENDS = ("numba", "reference")
_loaded: dict[str, SimpleNamespace] = {}
_lock = threading.Lock()
_state = SimpleNamespace(cpu=None)


def _build(name: str) -> SimpleNamespace:
    module = importlib.import_module(
        "fastdl.backends.reference" if name == "reference" else "fastdl.backends.cpu"
    )
    kernels = module.kernels()
    # A kernel a backend lacks fails the conformance test; here it fails when called,
    # so the rest of the backend stays usable while the kernel is being written.
    for missing in set(spec.NAMES) - set(kernels):
        kernels[missing] = _missing(name, missing)
    return SimpleNamespace(name=name, **kernels)


def _missing(backend: str, kernel: str):
    def raise_missing(*args, **kwargs):
        raise NotImplementedError(f"backend {backend!r} does not implement kernel {kernel!r}")

    return raise_missing


def get(name: str) -> SimpleNamespace:
    """Return the backend called ``name`` ("numba" or "reference"), loading it once."""
    if name not in _CPU_BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {_CPU_BACKENDS}")
    with _lock:
        if name not in _loaded:
            _loaded[name] = _build(name)
        return _loaded[name]


def current() -> str:
    """The name of the backend serving CPU tensors."""
    if _state.cpu is None:
        chosen = os.environ.get("FASTDL_BACKEND", "numba")
        if chosen not in _CPU_BACKENDS:
            raise ValueError(
                f"FASTDL_BACKEND={chosen!r} is not a CPU backend; expected one of {_CPU_BACKENDS}"
            )
        _state.cpu = chosen
    return _state.cpu


def for_device(device: str = "cpu") -> SimpleNamespace:
    """The backend serving tensors on ``device``."""
    if device != "cpu":
        raise ValueError(f"device {device!r} is not supported yet; expected 'cpu'")
    return get(current())


def available() -> list[str]:
    """Names of the backends that can run here."""
    return list(_CPU_BACKENDS)


class use_backend:
    """Select the CPU backend: a setter and a context manager.

    Example::

        fastdl.use_backend("reference")          # from now on
        with fastdl.use_backend("numba"):        # for a block
            model(x).sum().backward()
    """

    def __init__(self, name: str) -> None:
        if name not in _CPU_BACKENDS:
            raise ValueError(f"unknown backend {name!r}; expected one of {_CPU_BACKENDS}")
        self._previous = current()
        self.name = name
        _state.cpu = name

    def __enter__(self) -> use_backend:
        _state.cpu = self.name
        return self

    def __exit__(self, *exc) -> None:
        _state.cpu = self._previous
