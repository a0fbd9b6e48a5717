"""The kernel registry: which backend serves which device, and ``use_backend()``.

A backend is a namespace of kernels named in :mod:`fastdl.backends.spec`. Ops ask
:func:`for_device` for the backend of their inputs' device and call kernels by
name (``backend.linear(x, w, b, out)``); they never branch on the device.

CPU tensors use the backend chosen by :func:`use_backend` (or ``FASTDL_BACKEND``),
``"numba"`` by default; ``"reference"`` is the pure-NumPy oracle. Tensors on a CUDA
device always use the ``"cuda"`` backend (numba-cuda; its GPU or the simulator).

Besides its kernels, every backend carries one namespace of array functions on its
device's arrays, so that code outside this package never names a device:

=================================  ==================================================
``device``                         the device name ("cpu", "cuda:0")
``owns(a)``                        whether ``a`` is an array of this device
``empty``, ``full``                ``(shape, dtype)``, ``(shape, value, dtype)``
``from_host(a)``, ``to_host(a)``   copies in and out (``to_host(a, copy=True)`` never
                                   aliases; the host's returns ``a`` itself otherwise)
``is_contiguous``, ``contiguous``  C order, and a dense copy when strided
``reshape``, ``permute``,          views where the layout allows (``reshape`` copies a
``broadcast_to``, ``expand_dims``  strided device array first)
``view(a, index)``                 ``a[index]`` for basic indices
``cast(a, dtype)``                 a new array of ``a``'s values in ``dtype``
``add_into(dst, src)``             ``dst += src``
=================================  ==================================================

The host's are NumPy's (:mod:`fastdl.backends.host`, shared by both CPU backends);
each device backend package exports ``kernels()``, ``arrays()`` and ``available()``.
:func:`of` finds the backend of an array. Ops allocate through
``fastdl.ops._util.empty``, which asks :func:`allocator`: while an op's forward or
backward runs on device arrays, the autograd engine makes the op's backend the active
one (:func:`activate`), so one op body serves host and device arrays; CPU ops leave it
unset and allocate with NumPy.
"""

from __future__ import annotations

import importlib
import os
import threading
from types import SimpleNamespace

from fastdl.backends import cudnn as cudnn  # torch.backends' flags
from fastdl.backends import host, spec
from fastdl.backends import mps as mps

_CPU_BACKENDS = ("numba", "reference")
_DEVICE_BACKENDS = ("cuda",)  # each serves the devices named after it ("cuda", "cuda:N")
_MODULES = {
    "numba": "fastdl.backends.cpu",
    "reference": "fastdl.backends.reference",
    "cuda": "fastdl.backends.cuda",
}
_HOST_TYPES = host.ARRAY_TYPES
_loaded: dict[str, SimpleNamespace] = {}
_by_array_type: dict[type, SimpleNamespace] = {}  # device array type -> its backend
_lock = threading.Lock()
_state = SimpleNamespace(cpu=None, cpu_backend=None)  # the name, and its namespace once got


class _Active(threading.local):
    backend: SimpleNamespace | None = None  # None: the CPU (NumPy allocations)


_active = _Active()


def _build(name: str) -> SimpleNamespace:
    module = importlib.import_module(_MODULES[name])
    kernels = module.kernels()
    # A kernel a backend lacks fails the conformance test; here it fails when called,
    # so the rest of the backend stays usable while the kernel is being written.
    for missing in set(spec.NAMES) - set(kernels):
        kernels[missing] = _missing(name, missing)
    arrays = module.arrays()
    clash = set(kernels) & set(arrays)
    if clash:
        raise RuntimeError(f"backend {name!r}: array functions shadow kernels {sorted(clash)}")
    return SimpleNamespace(name=name, **kernels, **arrays)


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
    kind = str(device).partition(":")[0]
    if kind in _DEVICE_BACKENDS:
        return get(kind)
    raise ValueError(f"unknown device {device!r}; expected 'cpu' or one of {_DEVICE_BACKENDS}")


def of(array: object) -> SimpleNamespace:
    """The backend serving where the raw ``array`` lives: the current CPU backend for a
    NumPy array or scalar, else the device backend that owns it.

    Example::

        >>> import numpy as np
        >>> of(np.zeros(3)).device
        'cpu'
    """
    if isinstance(array, _HOST_TYPES):
        backend = _state.cpu_backend
        if backend is None:
            backend = _state.cpu_backend = get(current())
        return backend
    backend = _by_array_type.get(type(array))
    return backend if backend is not None else _device_backend_of(array)


def _device_backend_of(array: object) -> SimpleNamespace:
    for name in _DEVICE_BACKENDS:
        try:
            backend = get(name)
        except ImportError:  # its toolkit is not installed: it owns no array here
            continue
        if backend.owns(array):
            _by_array_type[type(array)] = backend
            return backend
    raise TypeError(f"no backend serves arrays of type {type(array).__name__}")


def available() -> list[str]:
    """Names of the backends that can run here ("cuda" on a GPU or the simulator)."""
    devices = [n for n in _DEVICE_BACKENDS if importlib.import_module(_MODULES[n]).available()]
    return [*_CPU_BACKENDS, *devices]


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
        _select(name)

    def __enter__(self) -> use_backend:
        _select(self.name)
        return self

    def __exit__(self, *exc) -> None:
        _select(self._previous)


def _select(name: str) -> None:
    _state.cpu = name
    _state.cpu_backend = None


def for_host() -> SimpleNamespace:
    """The backend serving CPU tensors, as ``for_device("cpu")``, from the cache
    ``use_backend`` resets: what every op on host arrays asks for."""
    backend = _state.cpu_backend
    if backend is None:
        backend = _state.cpu_backend = get(current())
    return backend
