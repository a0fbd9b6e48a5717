"""The dtypes fastdl tensors hold, and PyTorch's rules for inferring and promoting them.

Dtypes are NumPy dtype objects, so ``t.dtype == fastdl.float32`` and
``t.numpy().dtype == t.dtype`` both hold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)
float = float32  # noqa: A001 - PyTorch's alias
double = float64
long = int64

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


def as_dtype(dtype: Any, argument: str = "dtype") -> np.dtype:
    """Normalise a dtype given as a name, NumPy type or dtype; refuse unsupported ones."""
    if isinstance(dtype, str) and dtype in _NAMES:
        return _NAMES[dtype]
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{argument} must be a dtype, got {dtype!r}") from None
    if resolved not in SUPPORTED:
        raise TypeError(
            f"{argument} {resolved} is not supported; expected one of float32, float64, int64, bool"
        )
    return resolved


def is_floating(dtype: np.dtype) -> bool:
    return dtype in FLOATING


def infer(data: Any) -> np.dtype:
    """The dtype PyTorch would give ``tensor(data)``: Python floats -> float32, ints ->
    int64, bools -> bool; NumPy arrays keep float32/float64/int64/bool, other integer
    kinds become int64 and other floats float32."""
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
        return float32
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
    within its category, a float scalar lifts an integer tensor to float32."""
    if isinstance(scalar, bool):
        return tensor_dtype
    if isinstance(scalar, int | np.integer):
        return int64 if tensor_dtype == bool_ else tensor_dtype
    if is_floating(tensor_dtype):
        return tensor_dtype
    return float32
