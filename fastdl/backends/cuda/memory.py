"""Device memory of the CUDA backend: the caching allocator and the counted host <->
device copies.

``empty(shape, dtype)`` draws a block from a pool of freed blocks of the same size class
and, when the array (and every view of it) is garbage-collected, puts the block back in
the pool instead of freeing it, so a training step that repeats the same shapes asks the
driver for nothing after its first round. ``memory_stats()["num_device_alloc"]`` counts
the driver allocations; ``copy_stats()`` counts the copies. :mod:`fastdl.cuda` re-exports
the public names.

Example::

    >>> x = empty((256, 128), np.float32)   # doctest: +SKIP
    >>> memory_stats()["allocated_bytes"]    # doctest: +SKIP
    131072
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import deque
from typing import Any

import numpy as np

from fastdl.backends.cuda import runtime

# Size classes. Requests up to SMALL_LIMIT round up to a multiple of SMALL_ROUND (the
# waste stays under 512 B, and every block keeps the 256 B alignment cudaMalloc gives,
# enough for vectorised loads); larger ones round up to LARGE_ROUND, the granule in
# which the driver maps large allocations anyway, so the rounding costs no physical
# memory and sizes that differ by less than a granule share blocks. Blocks are reused
# only by an exact class match (no splitting): a training step repeats its shapes, so
# exact classes already reach zero driver allocations after the first step.
SMALL_LIMIT = 1 << 20
SMALL_ROUND = 512
LARGE_ROUND = 2 << 20


def round_size(nbytes: int) -> int:
    """The size class (bytes) a request of ``nbytes`` is served from."""
    step = SMALL_ROUND if nbytes <= SMALL_LIMIT else LARGE_ROUND
    return max(step, -(-int(nbytes) // step) * step)


class _GpuMemory:
    """Blocks from the driver (through numba-cuda), handed out as DeviceNDArray memory.

    A hand-out is an ``AutoFreePointer`` over the block, owned the way numba-cuda's own
    memory manager owns its allocations: views of the array count references to it, and
    when the last one dies its finalizer runs, which returns the block to the pool.
    (numba-cuda's External Memory Management plugin would route every numba allocation
    through the pool, but it must be set before the CUDA context exists, takes over the
    whole process and has no simulator counterpart; a pool of our own has none of that.)
    """

    def __init__(self) -> None:
        from numba import cuda
        from numba.cuda.cudadrv.devicearray import DeviceNDArray
        from numba.cuda.cudadrv.driver import AutoFreePointer

        self._cuda, self._pointer, self._array = cuda, AutoFreePointer, DeviceNDArray

    def device(self) -> int:
        return int(self._cuda.current_context().device.id)

    def malloc(self, size: int):
        return self._cuda.current_context().memalloc(size)

    def flush(self) -> None:
        """Hand numba-cuda's deferred frees to the driver now."""
        manager = self._cuda.current_context().memory_manager
        deallocs = getattr(manager, "deallocations", None)
        if deallocs is not None:
            deallocs.clear()

    def hand_out(self, block, size: int, release) -> tuple[Any, Any]:
        """(memory for ``array``, the object whose end means the block is free again)."""
        context = weakref.proxy(self._cuda.current_context())
        pointer = self._pointer(context, block.device_pointer, size, finalizer=release)
        return pointer.own(), pointer

    def array(self, memory, shape: tuple[int, ...], dtype: np.dtype):
        strides = _c_strides(shape, dtype.itemsize)
        return self._array(shape, strides, dtype, gpu_data=memory)


class _SimulatedMemory:
    """The simulator's device memory is host memory: blocks are NumPy byte arrays."""

    def __init__(self) -> None:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        self._array = FakeCUDAArray

    def device(self) -> int:
        return 0

    def malloc(self, size: int):
        return np.empty(size, np.uint8)

    def flush(self) -> None:
        pass

    def hand_out(self, block, size: int, release) -> tuple[Any, Any]:
        view = _HostView(block)
        weakref.finalize(view, release)
        return view, None

    def array(self, memory, shape: tuple[int, ...], dtype: np.dtype):
        count = int(np.prod(shape))
        return self._array(np.asarray(memory).view(dtype)[:count].reshape(shape))


class _HostView:
    """A block seen through ``__array_interface__``: every NumPy view of the hand-out
    keeps this object (its base) alive, so its end means no view is left."""

    def __init__(self, block: np.ndarray) -> None:
        self.block = block
        self.__array_interface__ = {
            "data": (block.ctypes.data, False),
            "shape": block.shape,
            "typestr": "|u1",
            "version": 3,
        }


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for extent in reversed(shape):
        strides.append(step)
        step *= max(extent, 1)
    return tuple(reversed(strides))


class CachingAllocator:
    """A pool of device blocks reused by size class; see the module docstring.

    Freed blocks come back through finalizers, which may run inside any allocation
    (garbage collection): they only append to a deque, and the pool takes them in
    under its lock on the next call. All fastdl kernels launch on the default stream,
    so a block handed out again is only touched after the kernels queued before it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._memory: _GpuMemory | _SimulatedMemory | None = None
        self._free: dict[tuple[int, int], list[Any]] = {}
        self._returned: deque[tuple[int, tuple[int, int], Any]] = deque()
        self._live: dict[int, Any] = {}  # keeps the hand-outs' pointers alive
        self._keys = itertools.count()
        self.allocated = self.reserved = self.peak_allocated = self.peak_reserved = 0
        self.num_alloc = self.num_device_alloc = self.num_device_free = 0

    def _backend(self):
        if self._memory is None:
            runtime.require("empty")
            self._memory = _SimulatedMemory() if runtime.simulated() else _GpuMemory()
        return self._memory

    def empty(self, shape: tuple[int, ...], dtype: Any):
        """An uninitialised C-contiguous device array drawn from the pool."""
        memory = self._backend()
        dtype = np.dtype(dtype)
        shape = tuple(int(n) for n in shape)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if nbytes == 0:  # a null pointer: nothing to allocate
            return runtime.require("empty").device_array(shape, dtype)
        return memory.array(self.allocate(nbytes), shape, dtype)

    def allocate(self, nbytes: int):
        """Device memory of at least ``nbytes``, back in the pool once unreferenced."""
        memory = self._backend()
        size = round_size(nbytes)
        with self._lock:
            self._take_returned()
            slot = (memory.device(), size)
            blocks = self._free.get(slot)
            block = blocks.pop() if blocks else self._device_alloc(memory, size)
            key = next(self._keys)
            handed, keep = memory.hand_out(block, size, self._release_callback(key, slot, block))
            if keep is not None:
                self._live[key] = keep
            self.num_alloc += 1
            self.allocated += size
            self.peak_allocated = max(self.peak_allocated, self.allocated)
            return handed

    def _release_callback(self, key: int, slot: tuple[int, int], block: Any):
        returned = self._returned

        def release() -> None:
            returned.append((key, slot, block))

        return release

    def _device_alloc(self, memory, size: int):
        try:
            block = memory.malloc(size)
        except Exception:
            if not any(self._free.values()):
                raise
            self._release_free()  # out of memory, perhaps: give the cache back and retry
            memory.flush()
            block = memory.malloc(size)
        self.num_device_alloc += 1
        self.reserved += size
        self.peak_reserved = max(self.peak_reserved, self.reserved)
        return block

    def _take_returned(self) -> None:
        while self._returned:
            key, slot, block = self._returned.popleft()
            self._live.pop(key, None)
            self._free.setdefault(slot, []).append(block)
            self.allocated -= slot[1]

    def _release_free(self) -> None:
        for (_, size), blocks in self._free.items():
            self.num_device_free += len(blocks)
            self.reserved -= size * len(blocks)
        self._free.clear()

    def empty_cache(self) -> None:
        """Give every cached (unused) block back to the driver."""
        with self._lock:
            self._take_returned()
            self._release_free()
            if self._memory is not None:
                self._memory.flush()

    def stats(self) -> dict[str, int]:
        with self._lock:
            self._take_returned()
            return {
                "allocated_bytes": self.allocated,
                "reserved_bytes": self.reserved,
                "peak_allocated_bytes": self.peak_allocated,
                "peak_reserved_bytes": self.peak_reserved,
                "num_alloc": self.num_alloc,
                "num_device_alloc": self.num_device_alloc,
                "num_device_free": self.num_device_free,
            }

    def reset_peak(self) -> None:
        with self._lock:
            self._take_returned()
            self.peak_allocated, self.peak_reserved = self.allocated, self.reserved


_allocator = CachingAllocator()


def empty(shape: Any, dtype: Any = np.float32):
    """An uninitialised C-contiguous device array from the caching allocator.

    Example::

        >>> x = fastdl.cuda.empty((64, 32), np.float32)   # doctest: +SKIP
    """
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return _allocator.empty(shape, dtype)


def allocate(nbytes: int):
    """Raw device memory (numba's MemoryPointer kind; a host view under the simulator)."""
    return _allocator.allocate(nbytes)


def memory_stats() -> dict[str, int]:
    """Allocator counters: bytes allocated/reserved (current and peak), hand-outs
    (``num_alloc``), and driver allocations and frees (``num_device_alloc``/``_free``)."""
    return _allocator.stats()


def memory_allocated() -> int:
    """Bytes in blocks held by live arrays (rounded to the size class, as torch counts)."""
    return memory_stats()["allocated_bytes"]


def max_memory_allocated() -> int:
    """Peak of ``memory_allocated()`` since the start or ``reset_peak_memory_stats()``."""
    return memory_stats()["peak_allocated_bytes"]


def memory_reserved() -> int:
    """Bytes held from the driver: blocks in use plus the cached free ones."""
    return memory_stats()["reserved_bytes"]


def max_memory_reserved() -> int:
    """Peak of ``memory_reserved()`` since the start or ``reset_peak_memory_stats()``."""
    return memory_stats()["peak_reserved_bytes"]


def reset_peak_memory_stats() -> None:
    """Restart the peaks from the current values."""
    _allocator.reset_peak()


def empty_cache() -> None:
    """Free the cached blocks no array uses (blocks in use stay allocated)."""
    _allocator.empty_cache()


# ---- host <-> device copies --------------------------------------------------------------

_copies = {"host_to_device": 0, "device_to_host": 0}


def to_device(array: np.ndarray):
    """A device copy of a host array, in memory from the caching allocator (counted in
    ``copy_stats()``; every host-to-device copy fastdl makes goes through here)."""
    host = np.asarray(array, order="C")  # keeps a 0-d array 0-d, as ascontiguousarray does not
    out = empty(host.shape, host.dtype)
    if host.size:
        out.copy_to_device(host)
    _copies["host_to_device"] += 1
    return out


def to_host(array) -> np.ndarray:
    """A host copy of a device array (counted in ``copy_stats()``; it waits for the
    kernels queued before it, as every device-to-host copy does)."""
    _copies["device_to_host"] += 1
    if not array.size:
        return np.empty(array.shape, array.dtype)
    if not array.is_c_contiguous():
        dense = empty(array.shape, array.dtype)
        from fastdl.backends.cuda import generic

        generic.copy(array, dense)
        array = dense
    return array.copy_to_host()


def copy_stats() -> dict[str, int]:
    """Host-to-device and device-to-host copies fastdl has made in this process."""
    return dict(_copies)
