"""fastdl.cuda: the GPU, its memory and its kernel launches, named as in ``torch.cuda``.

``is_available()`` is True only with a real NVIDIA GPU and a working numba-cuda (the
``cuda`` extra). Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, which the test
session sets where there is no GPU) it is False, but the rest of this module works on
the one simulated device, so the CUDA code paths run in CI; ``simulated()`` says so.
Without either, the device queries raise a RuntimeError naming the reason.

Device memory comes from a caching allocator: ``empty(shape, dtype)`` draws a block
from a pool of freed blocks of the same size class and, when the array (and every view
of it) is garbage-collected, puts the block back in the pool instead of freeing it, so
a training step that repeats the same shapes asks the driver for nothing after its
first round. ``memory_stats()["num_device_alloc"]`` counts the driver allocations.

The allocator and the copies live in the CUDA backend
(:mod:`fastdl.backends.cuda.memory`), the runtime state in
:mod:`fastdl.backends.cuda.runtime`; this module is their public face. Importing it
imports nothing from numba-cuda; the first call that needs it does. ``import fastdl``
never imports numba-cuda.

Example::

    >>> import numpy as np, fastdl
    >>> x = fastdl.cuda.empty((256, 128), np.float32)   # doctest: +SKIP
    >>> fastdl.cuda.memory_allocated()                   # doctest: +SKIP
    131072
    >>> with fastdl.cuda.profile() as p:                 # doctest: +SKIP
    ...     ...  # a training step
    >>> p.launches, p.device_allocations                 # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastdl.backends.cuda import _launch, memory, runtime
from fastdl.backends.cuda.memory import (
    CachingAllocator,
    allocate,
    copy_stats,
    empty,
    empty_cache,
    max_memory_allocated,
    max_memory_reserved,
    memory_allocated,
    memory_reserved,
    memory_stats,
    reset_peak_memory_stats,
    round_size,
    to_device,
    to_host,
)
from fastdl.backends.cuda.runtime import (
    current_device,
    device_count,
    is_available,
    simulated,
    unavailable_reason,
)


@dataclass(frozen=True)
class DeviceProperties:
    """What ``get_device_properties`` reports (the fields of torch's namesake)."""

    name: str
    total_memory: int  # bytes
    major: int  # compute capability
    minor: int
    multi_processor_count: int


def _index(device: Any, what: str) -> int:
    """The device index of None (current), N, "cuda" or "cuda:N", checked."""
    if device is None:
        return current_device()
    text = str(device)
    if isinstance(device, (int, np.integer)):
        index = int(device)
    elif text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        index = int(text[5:] or current_device())
    else:
        raise ValueError(
            f"fastdl.cuda.{what}: expected a device index, cuda or cuda:N, got {device!r}"
        )
    count = device_count()
    if not 0 <= index < count:
        raise ValueError(f"fastdl.cuda.{what}: device {index} out of range ({count} device(s))")
    return index


def get_device_properties(device: Any = None) -> DeviceProperties:
    """Name, total memory and compute capability of a device (the current one by default)."""
    cuda = runtime.require("get_device_properties")
    index = _index(device, "get_device_properties")
    if simulated():
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")  # host memory
        major, minor = cuda.get_current_device().compute_capability
        return DeviceProperties("CUDA simulator", total, major, minor, 1)
    gpu = cuda.gpus[index]
    with gpu:  # the memory total needs the device's context
        total = cuda.current_context().get_memory_info().total
    name = gpu.name.decode() if isinstance(gpu.name, bytes) else str(gpu.name)
    major, minor = gpu.compute_capability
    return DeviceProperties(name, int(total), major, minor, int(gpu.MULTIPROCESSOR_COUNT))


def get_device_name(device: Any = None) -> str:
    """The device's name, e.g. ``NVIDIA H100 80GB HBM3``."""
    return get_device_properties(device).name


def get_device_capability(device: Any = None) -> tuple[int, int]:
    """The device's compute capability (major, minor), e.g. (9, 0) on an H100."""
    props = get_device_properties(device)
    return props.major, props.minor


def synchronize() -> None:
    """Wait for every kernel and copy queued on the current device to finish."""
    runtime.require("synchronize").synchronize()


def describe() -> str:
    """One line on the GPUs and numba-cuda: what ``fastdl info`` prints after ``CUDA:``."""
    state, reason = runtime._state()
    if importlib.util.find_spec("numba_cuda") is None:
        return reason
    version = f"numba-cuda {importlib.metadata.version('numba-cuda')}"
    if state == "none":
        return f"{reason}, {version}"
    if state == "simulator":
        return f"simulator (NUMBA_ENABLE_CUDASIM=1, no GPU used), {version}"
    gpus = []
    for index in range(device_count()):
        props = get_device_properties(index)
        gpus.append(
            f"{index} = {props.name} ({props.total_memory / 2**30:.1f} GiB, "
            f"compute capability {props.major}.{props.minor})"
        )
    return f"{len(gpus)} GPU(s): {'; '.join(gpus)}, {version}"


# ---- profiling -------------------------------------------------------------------------


@dataclass
class Profile:
    """What ``profile()`` counted in its block: kernel launches, driver allocations and
    host <-> device copies."""

    launches: int = 0
    device_allocations: int = 0
    host_to_device: int = 0
    device_to_host: int = 0


@contextlib.contextmanager
def profile():
    """Count the kernel launches, driver allocations and host <-> device copies made
    inside the block.

    Example::

        >>> with fastdl.cuda.profile() as p:   # doctest: +SKIP
        ...     loss = step()
        >>> p.launches, p.device_allocations, p.host_to_device   # doctest: +SKIP
        (14, 0, 0)
    """
    result = Profile()
    launches, allocations = _launch.launches(), memory._allocator.num_device_alloc
    copies = copy_stats()
    try:
        yield result
    finally:
        result.launches = _launch.launches() - launches
        now = copy_stats()
        result.device_allocations = memory._allocator.num_device_alloc - allocations
        result.host_to_device = now["host_to_device"] - copies["host_to_device"]
        result.device_to_host = now["device_to_host"] - copies["device_to_host"]


__all__ = [
    "CachingAllocator",
    "DeviceProperties",
    "Profile",
    "allocate",
    "copy_stats",
    "current_device",
    "describe",
    "device_count",
    "empty",
    "empty_cache",
    "get_device_capability",
    "get_device_name",
    "get_device_properties",
    "is_available",
    "max_memory_allocated",
    "max_memory_reserved",
    "memory_allocated",
    "memory_reserved",
    "memory_stats",
    "profile",
    "reset_peak_memory_stats",
    "round_size",
    "simulated",
    "synchronize",
    "to_device",
    "to_host",
    "unavailable_reason",
]
