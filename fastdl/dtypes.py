"""The dtypes fastdl tensors hold, and PyTorch's rules for inferring and promoting them.

Dtypes are NumPy dtype objects, so ``t.dtype == fastdl.float32`` and
``t.numpy().dtype == t.dtype`` both hold.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np


class UnsupportedDtype:
    """A PyTorch dtype NumPy has no type for (``bfloat16``): it can be named and
    compared, and creating a tensor with it raises a TypeError."""

    def __init__(self, name: str, itemsize: builtins.int) -> None:
        self.name = name
        self.itemsize = itemsize
        self.is_floating_point = True

    def __repr__(self) -> str:
        return f"fastdl.{self.name}"


float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)
float16 = np.dtype(np.float16)
bfloat16 = UnsupportedDtype("bfloat16", 2)
int32 = np.dtype(np.int32)
int16 = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)

# PyTorch's aliases. They shadow builtins in this module: its code says builtins.int.
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001 - torch.int is int32
short = int16
bool = bool_  # noqa: A001

SUPPORTED = (float32, float64, int64, bool_)
FLOATING = (float32, float64)
_NAMES = {
    "float32": float32,
    "float": float32,
    "float64": float64,
    "double": float64,
    "int64": int64,
    "long": int64,
    "bool": bool_,
}
_HALF_PRECISION = (float16,)


def as_dtype(dtype: Any, argument: str = "dtype") -> np.dtype:
    """Normalise a dtype given as a name, NumPy type or dtype; refuse unsupported ones."""
    if isinstance(dtype, str) and dtype in _NAMES:
        return _NAMES[dtype]
    if isinstance(dtype, UnsupportedDtype):
        raise TypeError(
            f"{argument} {dtype.name} is not supported: fastdl computes in float32 or float64"
        )
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{argument} must be a dtype, got {dtype!r}") from None
    if resolved in _HALF_PRECISION:
        raise TypeError(
            f"{argument} {resolved} (half) is not supported: fastdl computes in float32 or float64"
        )
    if resolved not in SUPPORTED:
        raise TypeError(
            f"{argument} {resolved} is not supported; expected one of float32, float64, int64, bool"
        )
    return resolved


_default = {"dtype": float32}  # per process, as in PyTorch (threads share it)


def set_default_dtype(d: Any) -> None:
    """Set the dtype that Python floats and the floating factories (``zeros``, ``rand``,
    ``linspace``...) give when no ``dtype`` is named: float32 (the start) or float64.

    Example::

        >>> import fastdl
        >>> fastdl.set_default_dtype(fastdl.float64)
        >>> fastdl.tensor([1.5]).dtype
        dtype('float64')
        >>> fastdl.set_default_dtype(fastdl.float32)
    """
    resolved = as_dtype(d, "set_default_dtype: d")
    if resolved not in FLOATING:
        raise TypeError(
            f"set_default_dtype: d must be a floating dtype (float32 or float64), got {resolved}"
        )
    _default["dtype"] = resolved


def get_default_dtype() -> np.dtype:
    """The default floating dtype (float32 unless :func:`set_default_dtype` changed it).

    Example::

        >>> import fastdl
        >>> fastdl.get_default_dtype()
        dtype('float32')
    """
    return _default["dtype"]


def is_floating(dtype: np.dtype) -> bool:
    return dtype in FLOATING


def infer(data: Any) -> np.dtype:
    """The dtype PyTorch would give ``tensor(data)``: Python floats -> the default dtype
    (float32 unless changed), ints -> int64, bools -> bool; NumPy arrays keep
    float32/float64/int64/bool, other integer kinds become int64 and other floats
    float32."""
    if isinstance(data, np.ndarray | np.generic):
        kind = data.dtype
        if kind in SUPPORTED:
            return kind
        if kind.kind in "iu":
            return int64
        if kind.kind == "f":
            return float32
        raise TypeError(f"data of dtype {kind} cannot become a tensor")
    array = np.asarray(data)
    if array.dtype == object:
        _check_int64_range(data)
    if array.dtype == np.bool_:
        return bool_
    if array.dtype.kind in "iu":
        return int64
    if array.dtype.kind == "f":
        return get_default_dtype()
    raise TypeError(f"data of type {type(data).__name__} cannot become a tensor")


def _check_int64_range(data: Any) -> None:
    """Raise ValueError if ``data`` is integers only, some beyond int64 (NumPy then
    falls back to an object array); anything else is left to the caller."""
    try:
        np.array(data, dtype=int64)
    except OverflowError:
        raise ValueError(
            "data holds an integer outside int64's range [-2**63, 2**63 - 1]"
        ) from None
    except (TypeError, ValueError):
        pass


def promote(a: np.dtype, b: np.dtype) -> np.dtype:
    """Result dtype of a binary op between two tensors."""
    if a == b:
        return a
    if a == bool_:
        return b
    if b == bool_:
        return a
    if is_floating(a) != is_floating(b):  # int64 with a float: the float wins, as in PyTorch
        return a if is_floating(a) else b
    return np.promote_types(a, b)


def promote_scalar(tensor_dtype: np.dtype, scalar: Any) -> np.dtype:
    """Result dtype of a tensor op with a Python number: the tensor's dtype wins
    within its category, a float scalar lifts an integer tensor to the default dtype."""
    if isinstance(scalar, builtins.bool):
        return tensor_dtype
    if isinstance(scalar, builtins.int | np.integer):
        return int64 if tensor_dtype == bool_ else tensor_dtype
    if is_floating(tensor_dtype):
        return tensor_dtype
    return get_default_dtype()
