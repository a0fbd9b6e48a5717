"""The kernel registry: which backend serves which device, and ``use_backend()``.

A backend is a namespace of kernels named in :mod:`fastdl.backends.spec`. Ops ask
:func:`for_device` for the backend of their inputs' device and call kernels by
name (``backend.linear(x, w, b, out)``); they never branch on the device.

CPU tensors use the backend chosen by :func:`use_backend` (or ``FASTDL_BACKEND``),
``"numba"`` by default; ``"reference"`` is the pure-NumPy oracle. Tensors on a CUDA
device always use the ``"cuda"`` backend (numba-cuda; its GPU or the simulator).

Besides its kernels, every backend carries the memory functions ops allocate with:
``device``, ``empty(shape, dtype)``, ``full(shape, value, dtype)`` and ``from_host`` /
``to_host``. Ops allocate through ``fastdl.ops._util.empty``, which asks
:func:`allocator`: while an op's forward or backward runs on device arrays, the
autograd engine makes the op's backend the active one (:func:`activate`), so one op
body serves host and device arrays; CPU ops leave it unset and allocate with NumPy.
"""

from __future__ import annotations

import importlib
import os
import threading
from types import SimpleNamespace

import numpy as np

from fastdl.backends import spec

_CPU_BACKENDS = ("numba", "reference")
_MODULES = {
    "numba": "fastdl.backends.cpu",
    "reference": "fastdl.backends.reference",
    "cuda": "fastdl.backends.cuda",
}
_loaded: dict[str, SimpleNamespace] = {}
_lock = threading.Lock()
_state = SimpleNamespace(cpu=None)


class _Active(threading.local):
    backend: SimpleNamespace | None = None  # None: the CPU (NumPy allocations)


_active = _Active()


def _host_memory() -> dict:
    return {
        "device": "cpu",
        "empty": np.empty,
        "full": np.full,
        "from_host": lambda array: array,
        "to_host": lambda array: array,
    }


def _build(name: str) -> SimpleNamespace:
    module = importlib.import_module(_MODULES[name])
    kernels = module.kernels()
    # A kernel a backend lacks fails the conformance test; here it fails when called,
    # so the rest of the backend stays usable while the kernel is being written.
    for missing in set(spec.NAMES) - set(kernels):
        kernels[missing] = _missing(name, missing)
    memory = module.memory() if name == "cuda" else _host_memory()
    return SimpleNamespace(name=name, **kernels, **memory)


def _missing(backend: str, kernel: str):
    def raise_missing(*args, **kwargs):
        raise NotImplementedError(f"backend {backend!r} does not implement kernel {kernel!r}")

    return raise_missing


def get(name: str) -> SimpleNamespace:
    """Return the backend called ``name`` ("numba", "reference" or "cuda"), loading it
    once."""
    loaded = _loaded.get(name)
    if loaded is not None:
        return loaded
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; expected one of {tuple(_MODULES)}")
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
    """The backend serving tensors on ``device`` ("cpu", or "cuda"/"cuda:N")."""
    if device == "cpu":
        return get(current())
    if str(device).startswith("cuda"):
        return get("cuda")
    raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda'")


def available() -> list[str]:
    """Names of the backends that can run here ("cuda" on a GPU or the simulator)."""
    from fastdl import cuda

    return [*_CPU_BACKENDS, *(["cuda"] if cuda.device_count() else [])]


def allocator() -> SimpleNamespace:
    """The backend whose memory ops allocate from now: the running device op's (see
    :func:`activate`), else the CPU backend."""
    backend = _active.backend
    return backend if backend is not None else get(current())


def active() -> SimpleNamespace | None:
    """The device backend activated for the running op, or None (the CPU)."""
    return _active.backend


def activate(backend: SimpleNamespace | None) -> SimpleNamespace | None:
    """Make ``backend`` (None: the CPU) the one ops allocate from; returns the previous
    one, for the caller to restore. The engine brackets each op's forward and backward
    with it."""
    previous = _active.backend
    _active.backend = backend
    return previous


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
