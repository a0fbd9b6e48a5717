"""Argument checks shared by modules and model builders."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import device as _device
from fastdl import dtypes


def positive_int(owner: str, name: str, value: object) -> int:
    """``value`` if it is an int >= 1 (bools refused), else a ValueError naming ``owner``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return value


def factory_kwargs(owner: str, device: Any, dtype: Any) -> tuple[Any, np.dtype]:
    """A layer's ``device=`` and ``dtype=`` checked: the device (None:
    ``fastdl.get_default_device()``) and a floating dtype (None:
    ``fastdl.get_default_dtype()``), as PyTorch's factory keywords. Raises before the
    layer allocates anything."""
    device = _device.get_default_device() if device is None else _device.resolve(device)
    dtype = dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)
    if not dtypes.is_floating(dtype):
        raise TypeError(f"{owner}: dtype must be a floating dtype (float32, float64), got {dtype}")
    return device, dtype


def place(module: Any, device: Any) -> None:
    """Move a freshly built layer to ``device`` (from :func:`factory_kwargs`) unless it
    is the host, where layers are built."""
    if device is not None and device.type != "cpu":
        module.to(device)
