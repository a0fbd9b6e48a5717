"""Devices: where a tensor's storage lives, named as in PyTorch ("cpu", "cuda", "cuda:0").

A :class:`device` is a ``str`` (so ``t.device == "cpu"`` reads naturally) with torch's
``type`` and ``index``. A tensor's device follows from its storage: a NumPy array is on
the CPU; a numba-cuda device array on ``cuda:0``. fastdl drives one GPU, the current one.

Example::

    >>> d = device("cuda:0")
    >>> d.type, d.index
    ('cuda', 0)
"""

from __future__ import annotations

from typing import Any

import numpy as np


class device(str):
    """A device name with ``type`` ("cpu" or "cuda") and ``index`` (None, or the GPU).

    Example::

        >>> device("cuda").type
        'cuda'
    """

    type: str
    index: int | None

    def __new__(cls, name: Any) -> device:
        if isinstance(name, device):
            return name
        if not isinstance(name, str):
            raise TypeError(f"device must be a str such as 'cpu' or 'cuda', got {name!r}")
        kind, _, index = name.partition(":")
        if kind not in ("cpu", "cuda") or (index and not index.isdigit()):
            raise ValueError(f"unknown device {name!r}; expected 'cpu', 'cuda' or 'cuda:N'")
        if kind == "cpu" and index not in ("", "0"):
            raise ValueError(f"unknown device {name!r}; the CPU is 'cpu'")
        self = super().__new__(cls, "cpu" if kind == "cpu" else name)
        self.type = kind
        self.index = int(index) if index and kind == "cuda" else None
        return self

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (
            f", index={self.index})" if self.index is not None else ")"
        )

    __hash__ = str.__hash__


CPU = device("cpu")
CUDA0 = device("cuda:0")


_default = {"device": CPU}  # where factories put tensors when no device is named


def set_default_device(name: Any) -> None:
    """Make factories (``zeros``, ``rand``, ``tensor``...) called without ``device=``
    place tensors on ``name`` ("cpu", "cuda"); None restores the CPU.

    Example::

        >>> import fastdl
        >>> fastdl.set_default_device("cpu")
        >>> fastdl.zeros(2).device.type
        'cpu'
    """
    _default["device"] = CPU if name is None else resolve(name)


def get_default_device() -> device:
    """The device factories use when none is named (the CPU unless changed).

    Example::

        >>> import fastdl
        >>> fastdl.get_default_device()
        device(type='cpu')
    """
    return _default["device"]


def resolve(name: Any) -> device:
    """The device a tensor placed on ``name`` lives on: "cpu", or "cuda:N" checked against
    the GPUs present ("cuda" is the current GPU); None is the default device. A
    RuntimeError names why CUDA is not usable here."""
    if name is None:
        return _default["device"]
    d = device(name)
    if d.type == "cpu":
        return CPU
    from fastdl import cuda

    count = cuda.device_count()
    if count == 0:
        raise RuntimeError(f"device {str(d)!r} is not available: {cuda.unavailable_reason()}")
    index = cuda.current_device() if d.index is None else d.index
    if index >= count:
        raise RuntimeError(
            f"device {str(d)!r} is not available: this machine has {count} CUDA device(s)"
        )
    if index != cuda.current_device():
        raise RuntimeError(
            f"device {str(d)!r}: fastdl drives the current GPU only (cuda:{cuda.current_device()})"
        )
    return CUDA0 if index == 0 else device(f"cuda:{index}")


def is_host(array: Any) -> bool:
    """Whether a raw array lives in host memory (a NumPy array or scalar)."""
    return isinstance(array, np.ndarray | np.generic)


def of(array: Any) -> device:
    """The device of a raw array: the CPU for NumPy arrays, else the current GPU."""
    return CPU if isinstance(array, np.ndarray | np.generic) else CUDA0
