"""Bitwise ops (``&``, ``|``, ``^``, ``~``, ``<<``, ``>>``) on integer and bool tensors.

Integer tensors go to the ``bitwise`` kernels; bool tensors keep their logical forms
(``and`` as a product, ``or`` as a select, ``xor`` as inequality). Operands are promoted
as PyTorch does (int32 with int64 gives int64, a Python int keeps the tensor's dtype);
floating operands raise TypeError. Nothing here is differentiable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.errors import DeviceError
from fastdl.ops import elementwise as _ew
from fastdl.tensor import Tensor

_KERNELS = {
    "and": "bitwise_and",
    "or": "bitwise_or",
    "xor": "bitwise_xor",
    "left_shift": "bitwise_left_shift",
    "right_shift": "bitwise_right_shift",
}


def _dtype_of(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.dtype
    if isinstance(value, bool | np.bool_):
        return dtypes.bool_
    if isinstance(value, int | np.integer):
        return None  # a Python int takes the tensor's dtype
    raise TypeError(f"bitwise: operand must be a Tensor, bool or int, got {type(value).__name__}")


def _check_integral(dtype: Any, op: str, argument: str) -> None:
    if dtype is not None and not (dtype == dtypes.bool_ or np.dtype(dtype).kind in "iu"):
        raise TypeError(
            f"bitwise_{op}: {argument} must be an integer or bool tensor, got dtype {dtype}"
        )


def binary(a: Any, b: Any, op: str) -> Tensor:
    """``a <op> b`` for ``op`` in and, or, xor, left_shift, right_shift."""
    a_dtype, b_dtype = _dtype_of(a), _dtype_of(b)
    _check_integral(a_dtype, op, "input")
    _check_integral(b_dtype, op, "other")
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError(f"bitwise_{op}: expected at least one Tensor")
        a_dtype = b_dtype if a_dtype is None else a_dtype
    b_dtype = a_dtype if b_dtype is None else b_dtype
    a_dtype = b_dtype if a_dtype is None else a_dtype
    dtype = dtypes.promote(a_dtype, b_dtype)
    if dtype == dtypes.bool_ and op in ("and", "or", "xor"):
        return _logical(a, b, op)
    if dtype == dtypes.bool_:
        dtype = dtypes.int64  # bool shifted: as integers, as PyTorch
    a_raw, b_raw, device = _raw(a, dtype), _raw(b, dtype), _device(a, b, op)
    backend = backends.for_device(device)
    out = backend.empty(np.broadcast_shapes(a_raw.shape, b_raw.shape), dtype)
    getattr(backend, _KERNELS[op])(a_raw, b_raw, out)
    return Tensor._wrap(out)


def invert(x: Tensor) -> Tensor:
    """``~x``: logical not of a bool tensor, every bit flipped in an integer one."""
    if not isinstance(x, Tensor):
        raise TypeError(f"bitwise_not: input must be a Tensor, got {type(x).__name__}")
    _check_integral(x.dtype, "not", "input")
    if x.dtype == dtypes.bool_:
        return _ew.compare(x, False, "eq")
    backend = backends.for_device(x.device)
    out = backend.empty(x.shape, x.dtype)
    backend.bitwise_not(x._data, out)
    return Tensor._wrap(out)


def _logical(a: Any, b: Any, op: str) -> Tensor:
    if op == "and":
        return _ew.mul(a, b)
    if op == "or":
        return _ew.where(a, True, b) if isinstance(a, Tensor) else _ew.where(b, True, a)
    return _ew.compare(a, b, "ne")


def _raw(value: Any, dtype: Any) -> Any:
    if isinstance(value, Tensor):
        return (value if value.dtype == dtype else value.to(dtype))._data
    return np.asarray(value, dtype=dtype)


def _device(a: Any, b: Any, op: str) -> Any:
    tensors = [t for t in (a, b) if isinstance(t, Tensor)]
    if len(tensors) == 2 and tensors[0].device != tensors[1].device:
        raise DeviceError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{tensors[0].device} and {tensors[1].device}! (bitwise_{op})"
        )
    return tensors[0].device


def bitwise_and(input: Tensor, other: Any) -> Tensor:  # noqa: A002
    """``input & other``. Example: ``fastdl.bitwise_and(fastdl.tensor([12]), 10)`` is
    ``[8]``."""
    return binary(input, other, "and")


def bitwise_or(input: Tensor, other: Any) -> Tensor:  # noqa: A002
    """``input | other``. Example: ``fastdl.bitwise_or(fastdl.tensor([12]), 10)`` is
    ``[14]``."""
    return binary(input, other, "or")


def bitwise_xor(input: Tensor, other: Any) -> Tensor:  # noqa: A002
    """``input ^ other``. Example: ``fastdl.bitwise_xor(fastdl.tensor([12]), 10)`` is
    ``[6]``."""
    return binary(input, other, "xor")


def bitwise_not(input: Tensor) -> Tensor:  # noqa: A002
    """``~input``. Example: ``fastdl.bitwise_not(fastdl.tensor([0, 5]))`` is ``[-1, -6]``."""
    return invert(input)


def bitwise_left_shift(input: Tensor, other: Any) -> Tensor:  # noqa: A002
    """``input << other``. Example: ``fastdl.bitwise_left_shift(fastdl.tensor([3]), 2)`` is
    ``[12]``."""
    return binary(input, other, "left_shift")


def bitwise_right_shift(input: Tensor, other: Any) -> Tensor:  # noqa: A002
    """``input >> other`` (arithmetic for signed dtypes). Example:
    ``fastdl.bitwise_right_shift(fastdl.tensor([-8]), 1)`` is ``[-4]``."""
    return binary(input, other, "right_shift")


__all__ = [
    "bitwise_and",
    "bitwise_left_shift",
    "bitwise_not",
    "bitwise_or",
    "bitwise_right_shift",
    "bitwise_xor",
]
