"""``fastdl.accelerator``: the device-agnostic face of the GPU, named as ``torch.accelerator``.

The accelerator is the CUDA GPU when one works (:func:`fastdl.cuda.is_available`);
under the CUDA simulator, or without a GPU, there is none: scripts written as ::

    accel = fastdl.accelerator
    device = accel.current_accelerator() if accel.is_available() else "cpu"

then run on the CPU. Nothing here imports numba-cuda until a function is called.

Example::

    >>> import fastdl
    >>> fastdl.accelerator.is_available() in (True, False)
    True
"""

from __future__ import annotations

from fastdl.device import device

__all__ = [
    "current_accelerator",
    "current_device_index",
    "device_count",
    "is_available",
    "synchronize",
]


def is_available() -> bool:
    """Whether a GPU is there to run on (False under the CUDA simulator).

    Example::

        >>> is_available() in (True, False)
        True
    """
    from fastdl import cuda

    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> device | None:
    """The accelerator's device (``device(type='cuda')``) when there is a GPU, else None.
    ``check_available`` is PyTorch's keyword: None is returned either way without one.

    Example::

        >>> d = current_accelerator()
        >>> d is None or d.type == "cuda"
        True
    """
    return device("cuda") if is_available() else None


def device_count() -> int:
    """The number of GPUs to run on (0 without an accelerator).

    Example::

        >>> device_count() >= 0
        True
    """
    from fastdl import cuda

    return cuda.device_count() if is_available() else 0


def current_device_index() -> int:
    """The index of the GPU kernels launch on; RuntimeError without an accelerator.

    Example::

        >>> current_device_index() if is_available() else 0
        0
    """
    if not is_available():
        raise RuntimeError("current_device_index: there is no accelerator (no CUDA GPU)")
    from fastdl import cuda

    return cuda.current_device()


def synchronize() -> None:
    """Wait for the accelerator's queued work; nothing to wait for without one.

    Example::

        >>> synchronize()
    """
    if is_available():
        from fastdl import cuda

        cuda.synchronize()
