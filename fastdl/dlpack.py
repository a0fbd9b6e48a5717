"""Zero-copy interop for fastdl's raw arrays: DLPack and ``__cuda_array_interface__``.

A tensor stores a NumPy array on the CPU and a numba-cuda device array on ``cuda``;
``Tensor.__dlpack__``, ``__dlpack_device__``, ``__cuda_array_interface__`` and
``fastdl.from_dlpack`` delegate here. Nothing is copied: an exported capsule or an
imported array keeps the memory's owner alive for as long as it lives.

* CPU: NumPy's own ``__dlpack__`` and ``np.from_dlpack``.
* GPU: export goes through cuda.core's ``StridedMemoryView`` over the array's CUDA
  Array Interface; import takes ``__cuda_array_interface__`` objects (CuPy, PyTorch,
  numba) through numba-cuda, and DLPack-only CUDA objects through
  ``StridedMemoryView.from_dlpack``.
* Streams: fastdl launches on numba-cuda's default stream, the legacy default stream
  (the per-thread one under ``NUMBA_CUDA_PER_THREAD_DEFAULT_STREAM=1``). A DLPack
  consumer on another stream (``stream`` > 2) is made to wait for it with an event;
  ``None``, 1 and 2 need nothing (those streams are ordered with the legacy default
  stream), -1 asks for nothing and 0 is refused as ambiguous. On import fastdl asks
  the producer to order its work before the default stream. Like numba and PyTorch,
  ``__cuda_array_interface__`` names no stream: synchronize
  (``fastdl.cuda.synchronize()``) before using it from a non-blocking stream.
* CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``): its device arrays live in host memory,
  so they export as CPU DLPack (device ``(1, 0)``) through the NumPy array inside, and
  their ``__cuda_array_interface__`` (version 3) holds that host address, which
  ``import_dlpack`` reads back under the simulator only. Real CUDA objects cannot
  exist there.

Importing this module, and any CPU call, imports nothing from numba-cuda.

Example::

    >>> import numpy as np
    >>> from fastdl import dlpack
    >>> a = np.zeros(3, np.float32)
    >>> b = dlpack.import_dlpack(a)   # a view: no copy
    >>> b[0] = 1.0
    >>> float(a[0])
    1.0
    >>> dlpack.dlpack_device(a)
    (1, 0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import dtypes

KDL_CPU = 1
KDL_CUDA = 2
KDL_CUDA_HOST = 3
KDL_CUDA_MANAGED = 13
_HOST_READABLE = (KDL_CPU, KDL_CUDA_HOST, KDL_CUDA_MANAGED)  # what np.from_dlpack takes

__all__ = ["cuda_array_interface", "dlpack_device", "export_dlpack", "import_dlpack"]

# Stream values shared by DLPack and the CUDA Array Interface.
NO_SYNC = -1
LEGACY_DEFAULT_STREAM = 1
PER_THREAD_DEFAULT_STREAM = 2


# ---- export ----------------------------------------------------------------------------


def export_dlpack(
    raw: Any,
    *,
    stream: int | None = None,
    max_version: tuple[int, int] | None = None,
    dl_device: tuple[int, int] | None = None,
    copy: bool | None = None,
) -> Any:
    """A DLPack capsule over ``raw`` (what ``Tensor.__dlpack__`` returns).

    The arguments are those of the DLPack protocol's ``__dlpack__``. A device array
    exports without a copy unless ``copy=True``, or ``dl_device=(1, 0)`` asks for the
    data on the host (a host copy).

    Example::

        >>> cap = export_dlpack(np.arange(3.0), max_version=(1, 0))
    """
    if isinstance(raw, np.ndarray):
        return _export_host(raw, stream, max_version, dl_device, copy)
    _require_device_array(raw, "export_dlpack")
    if _fastdl_cuda().simulated():
        return _export_host(raw._ary, stream, max_version, dl_device, copy)
    return _export_gpu(raw, stream, max_version, dl_device, copy)


def _export_host(array: np.ndarray, stream, max_version, dl_device, copy) -> Any:
    if stream == NO_SYNC:  # as PyTorch: "no synchronization" means None off the GPU
        stream = None
    return array.__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)


def _export_gpu(raw: Any, stream, max_version, dl_device, copy) -> Any:
    from cuda.core.utils import StridedMemoryView

    consumer = _consumer_wait(stream)
    if dl_device is not None and tuple(dl_device) != dlpack_device(raw):
        if tuple(dl_device) != (KDL_CPU, 0) or copy is False:
            raise BufferError(
                f"__dlpack__: a CUDA tensor exports to its own device or, with a copy, "
                f"to the CPU (1, 0); got dl_device={tuple(dl_device)}, copy={copy}"
            )
        return raw.copy_to_host().__dlpack__(max_version=max_version)
    if copy:
        raw = _device_copy(raw)
    # The view names our stream as the producer's, so that cuda.core records an event
    # on it and makes the consumer's stream wait (skipped when consumer is -1). The
    # view holds ``_Producer``, which holds raw: the capsule keeps the memory alive.
    producer = _Producer(raw, _default_stream())
    view = StridedMemoryView.from_cuda_array_interface(producer, consumer)
    return view.__dlpack__(max_version=max_version)


def _consumer_wait(stream: Any) -> int:
    """The consumer stream cuda.core must order after ours, or -1 when none must be."""
    if stream is not None and not isinstance(stream, int):
        raise TypeError(f"__dlpack__: stream must be an int or None, got {type(stream).__name__}")
    if stream == 0:
        raise ValueError("__dlpack__: stream=0 is ambiguous; pass 1 for the legacy default stream")
    if stream is None or stream in (NO_SYNC, LEGACY_DEFAULT_STREAM, PER_THREAD_DEFAULT_STREAM):
        return NO_SYNC  # ordered with the default stream fastdl launches on, or opted out
    return stream


class _Producer:
    """``raw`` behind a CUDA Array Interface that names the stream fastdl launched on."""

    def __init__(self, raw: Any, stream: int) -> None:
        self.raw = raw
        self.__cuda_array_interface__ = dict(raw.__cuda_array_interface__, stream=stream)


def _device_copy(raw: Any) -> Any:
    """A new device array with ``raw``'s values (through the host if ``raw`` is strided)."""
    cuda = _numba_cuda()
    if not raw.is_c_contiguous():
        return cuda.to_device(np.ascontiguousarray(raw.copy_to_host()))
    out = cuda.device_array(raw.shape, raw.dtype)
    out.copy_to_device(raw)
    return out


# ---- device and CUDA Array Interface ---------------------------------------------------


def dlpack_device(raw: Any) -> tuple[int, int]:
    """``(device_type, device_id)``: ``(1, 0)`` on the CPU and under the simulator,
    ``(2, ordinal)`` on a GPU (kDLCUDA).

    Example::

        >>> dlpack_device(np.zeros(2))
        (1, 0)
    """
    if isinstance(raw, np.ndarray):
        return (KDL_CPU, 0)
    _require_device_array(raw, "dlpack_device")
    if _fastdl_cuda().simulated():
        return (KDL_CPU, 0)
    return (KDL_CUDA, int(raw.gpu_data.context.device.id))


def cuda_array_interface(raw: Any) -> dict:
    """The ``__cuda_array_interface__`` (version 3) of a device array.

    On a GPU it is numba-cuda's own. Under the simulator it describes the host buffer
    (its address in ``data``), which only the simulator's ``import_dlpack`` can read.
    A CPU array has none: AttributeError, as for a CPU tensor in PyTorch.

    Example::

        >>> cuda_array_interface(fastdl.cuda.empty((2, 3)))["shape"]  # doctest: +SKIP
        (2, 3)
    """
    if isinstance(raw, np.ndarray):
        raise AttributeError(
            "Can't get __cuda_array_interface__ on a CPU tensor; use tensor.to('cuda') "
            "to copy it to device memory"
        )
    _require_device_array(raw, "cuda_array_interface")
    if not _fastdl_cuda().simulated():
        return raw.__cuda_array_interface__
    host = raw._ary
    return {
        "data": (host.ctypes.data, not host.flags.writeable),
        "shape": tuple(host.shape),
        "strides": None if host.flags.c_contiguous else tuple(host.strides),
        "typestr": host.dtype.str,
        "stream": None,
        "version": 3,
    }


# ---- import ----------------------------------------------------------------------------


def import_dlpack(obj: Any) -> Any:
    """The raw array of ``obj``, without a copy: a NumPy array for host data, a
    numba-cuda device array for CUDA data (what ``fastdl.from_dlpack`` wraps).

    Takes numba device arrays as they are, ``__cuda_array_interface__`` objects (CuPy,
    PyTorch CUDA tensors), and DLPack objects on the CPU or a CUDA device. Dtypes are
    fastdl's: float32, float64, int64, bool; others raise TypeError.

    Example::

        >>> a = np.arange(4, dtype=np.int64)
        >>> np.shares_memory(import_dlpack(a), a)
        True
    """
    if getattr(type(obj), "__cuda_ndarray__", False):  # numba's (or the simulator's)
        _check_dtype(obj.dtype)
        return obj
    if hasattr(obj, "__cuda_array_interface__"):
        return _import_cuda_array_interface(obj)
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__"):
        device_type, _ = obj.__dlpack_device__()
        if device_type == KDL_CUDA:
            return _import_cuda_dlpack(obj)
        if device_type in _HOST_READABLE:
            array = np.from_dlpack(obj)
            _check_dtype(array.dtype)
            return array
        raise TypeError(
            f"from_dlpack: DLPack device type {int(device_type)} is not supported; "
            "expected CPU (1) or CUDA (2)"
        )
    raise TypeError(
        "from_dlpack expects an object with __dlpack__ or __cuda_array_interface__, "
        f"got {type(obj).__name__}"
    )


def _import_cuda_array_interface(obj: Any) -> Any:
    # PyTorch's interface is version 2 and names no stream: like numba, we then assume
    # its work is ordered with the default stream (true unless it uses a side stream).
    interface = obj.__cuda_array_interface__
    _check_dtype(np.dtype(interface["typestr"]))
    cuda = _numba_cuda()
    if _fastdl_cuda().simulated():
        return _simulated_array(interface, obj)
    # sync=True waits for the producer's stream, if it names one (CAI v3).
    return cuda.from_cuda_array_interface(interface, owner=obj, sync=True)


def _import_cuda_dlpack(obj: Any) -> Any:
    from cuda.core.utils import StridedMemoryView

    cuda = _numba_cuda()
    if _fastdl_cuda().simulated():
        raise RuntimeError("from_dlpack: CUDA DLPack data needs a GPU (the simulator is active)")
    # The producer orders its pending work before our default stream.
    view = StridedMemoryView.from_dlpack(obj, _default_stream())
    dtype = _check_dtype(view.dtype)
    strides = None if view.strides is None else tuple(s * dtype.itemsize for s in view.strides)
    interface = {
        "data": (view.ptr, view.readonly),
        "shape": tuple(view.shape),
        "strides": strides,
        "typestr": dtype.str,
        "version": 3,
    }
    with cuda.gpus[view.device_id]:  # the array belongs to the data's device context
        # The view owns the capsule (and so the producer's memory): the array keeps it.
        return cuda.from_cuda_array_interface(interface, owner=view, sync=False)


class _HostBuffer:
    """Host memory described by a simulator CUDA Array Interface, seen by NumPy; the
    array's base, so it keeps ``owner`` alive."""

    def __init__(self, interface: dict, owner: Any) -> None:
        self.owner = owner
        self.__array_interface__ = {
            key: interface[key] for key in ("data", "shape", "strides", "typestr")
        } | {"version": 3}


def _simulated_array(interface: dict, owner: Any) -> Any:
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    return FakeCUDAArray(np.asarray(_HostBuffer(interface, owner)))


# ---- helpers ---------------------------------------------------------------------------


def _check_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in dtypes.SUPPORTED:
        raise TypeError(
            f"from_dlpack: dtype {dtype} is not supported; expected float32, float64, int64 or bool"
        )
    return dtype


def _require_device_array(raw: Any, what: str) -> None:
    if not getattr(type(raw), "__cuda_ndarray__", False):
        raise TypeError(
            f"{what} expects a NumPy array or a numba-cuda device array, got {type(raw).__name__}"
        )


def _fastdl_cuda():
    from fastdl.backends.cuda import runtime

    return runtime


def _numba_cuda():
    """numba.cuda, or a RuntimeError naming why CUDA data cannot be handled here."""
    return _fastdl_cuda().require("from_dlpack")


def _default_stream() -> int:
    """The DLPack/CAI number of the stream fastdl launches on (numba's default)."""
    from numba.cuda.core import config

    if config.CUDA_PER_THREAD_DEFAULT_STREAM:
        return PER_THREAD_DEFAULT_STREAM
    return LEGACY_DEFAULT_STREAM
