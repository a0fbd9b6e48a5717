"""Tensor factories of the torch namespace that are not random: ``empty``, the
``*_like`` family, ``linspace``, ``logspace``, ``eye``, ``as_tensor``, ``meshgrid``,
``is_tensor``, ``numel`` and the legacy constructors (``FloatTensor``, ``LongTensor``...).

Every factory takes PyTorch's keywords: ``dtype`` (default: the input's for the
``*_like`` family, else :func:`fastdl.get_default_dtype` for floating results),
``device`` (default: :func:`fastdl.get_default_device`) and ``requires_grad``. Values
are written on the host where they need computing and copied to the device once.

Example::

    >>> import fastdl
    >>> x = fastdl.linspace(0, 1, steps=5)
    >>> fastdl.zeros_like(x).shape
    (5,)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.device import device as _device_name
from fastdl.device import resolve as _resolve
from fastdl.tensor import (
    Tensor,
    _factory,
    _filled,
    _float_dtype,
    _shape_arg,
    _size_keyword,
    from_numpy,
    ones,
    tensor,
)

__all__ = [
    "BoolTensor",
    "DoubleTensor",
    "FloatTensor",
    "LongTensor",
    "as_tensor",
    "empty",
    "empty_like",
    "eye",
    "full_like",
    "is_tensor",
    "linspace",
    "logspace",
    "meshgrid",
    "numel",
    "ones_like",
    "zeros_like",
]


def _check_tensor(value: Any, argument: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{argument} must be a Tensor, got {type(value).__name__}")
    return value


def empty(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **torch_only: Any,
) -> Tensor:
    """An uninitialised tensor of ``size`` (varargs or one sequence): write it before
    reading it.

    Example::

        >>> import fastdl
        >>> fastdl.empty(2, 3).shape
        (2, 3)
    """
    shape = _shape_arg(size, _size_keyword(torch_only, "empty"))
    resolved = _resolve(device)
    array = backends.for_device(resolved).empty(shape, _float_dtype(dtype))
    return Tensor(array, requires_grad=requires_grad)


def _like(x: Any, dtype: Any, device: Any, who: str) -> tuple[np.dtype, Any]:
    _check_tensor(x, f"{who}: input")
    resolved = x.dtype if dtype is None else dtypes.as_dtype(dtype)
    return resolved, x.device if device is None else device


def empty_like(
    input: Tensor,  # noqa: A002 - PyTorch's keyword
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """An uninitialised tensor of ``input``'s shape, dtype and device.

    Example::

        >>> import fastdl
        >>> fastdl.empty_like(fastdl.ones(2, 2)).shape
        (2, 2)
    """
    dtype, device = _like(input, dtype, device, "empty_like")
    array = backends.for_device(_resolve(device)).empty(input.shape, dtype)
    return Tensor(array, requires_grad=requires_grad)


def zeros_like(
    input: Tensor,  # noqa: A002 - PyTorch's keyword
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Zeros of ``input``'s shape, dtype and device.

    Example::

        >>> import fastdl
        >>> fastdl.zeros_like(fastdl.ones(3)).tolist()
        [0.0, 0.0, 0.0]
    """
    dtype, device = _like(input, dtype, device, "zeros_like")
    return _filled(input.shape, 0, dtype, requires_grad, device)


def ones_like(
    input: Tensor,  # noqa: A002 - PyTorch's keyword
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Ones of ``input``'s shape, dtype and device.

    Example::

        >>> import fastdl
        >>> fastdl.ones_like(fastdl.zeros(2, dtype=fastdl.int64)).tolist()
        [1, 1]
    """
    dtype, device = _like(input, dtype, device, "ones_like")
    return _filled(input.shape, 1, dtype, requires_grad, device)


def full_like(
    input: Tensor,  # noqa: A002 - PyTorch's keyword
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """``fill_value`` everywhere, in ``input``'s shape, dtype and device.

    Example::

        >>> import fastdl
        >>> fastdl.full_like(fastdl.zeros(2), 7).tolist()
        [7.0, 7.0]
    """
    dtype, device = _like(input, dtype, device, "full_like")
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _filled(input.shape, fill_value, dtype, requires_grad, device)


def _number(value: Any, argument: str) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{argument} must be a number or a 1-element tensor")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__}")
    return float(value)


def _steps(steps: Any, who: str) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise TypeError(f"{who}: steps must be an int, got {type(steps).__name__}")
    if steps < 0:
        raise ValueError(f"{who}: steps must be non-negative, got {steps}")
    return int(steps)


def _from_float64(values: np.ndarray, dtype: Any, requires_grad: bool, device: Any) -> Tensor:
    """A tensor of float64 host ``values`` in ``dtype`` (integers truncate, as in PyTorch)."""
    return _factory(values.astype(_float_dtype(dtype)), requires_grad, device)


def linspace(
    start: Any,
    end: Any,
    steps: int,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    **torch_only: Any,
) -> Tensor:
    """``steps`` values evenly spaced from ``start`` to ``end``, both included.

    Example::

        >>> import fastdl
        >>> fastdl.linspace(0, 1, 5).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    _size_keyword(torch_only, "linspace")
    start, end = _number(start, "linspace: start"), _number(end, "linspace: end")
    values = np.linspace(start, end, _steps(steps, "linspace"), dtype=np.float64)
    return _from_float64(values, dtype, requires_grad, device)


def logspace(
    start: Any,
    end: Any,
    steps: int,
    base: float = 10.0,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    **torch_only: Any,
) -> Tensor:
    """``steps`` values ``base ** x`` for ``x`` evenly spaced from ``start`` to ``end``.

    Example::

        >>> import fastdl
        >>> fastdl.logspace(0, 2, 3).tolist()
        [1.0, 10.0, 100.0]
    """
    _size_keyword(torch_only, "logspace")
    start, end = _number(start, "logspace: start"), _number(end, "logspace: end")
    exponents = np.linspace(start, end, _steps(steps, "logspace"), dtype=np.float64)
    base = _number(base, "logspace: base")
    return _from_float64(np.power(base, exponents), dtype, requires_grad, device)


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    **torch_only: Any,
) -> Tensor:
    """The ``n`` x ``m`` identity (``m`` defaults to ``n``).

    Example::

        >>> import fastdl
        >>> fastdl.eye(2).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    _size_keyword(torch_only, "eye")
    rows, cols = _shape_arg((n, n if m is None else m))
    return _factory(np.eye(rows, cols, dtype=_float_dtype(dtype)), requires_grad, device)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory where it can: a Tensor of the asked dtype
    and device is returned itself (else converted with ``.to``, staying in the graph);
    a CPU NumPy array of a supported dtype is shared as :func:`from_numpy` does;
    anything else is copied as :func:`fastdl.tensor` does.

    Example::

        >>> import fastdl
        >>> import numpy as np
        >>> a = np.zeros(3)
        >>> t = fastdl.as_tensor(a)
        >>> a[0] = 5.0
        >>> t[0].item()
        5.0
    """
    target = None if dtype is None else dtypes.as_dtype(dtype)
    if isinstance(data, Tensor):
        to = {} if target is None else {"dtype": target}
        if device is not None:
            to["device"] = _resolve(device)
        return data.to(**to) if to else data
    resolved = _resolve(device)
    shareable = isinstance(data, np.ndarray) and data.dtype in dtypes.SUPPORTED
    if shareable and resolved.type == "cpu" and target in (None, data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=target, device=resolved)


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a fastdl Tensor.

    Example::

        >>> import fastdl
        >>> fastdl.is_tensor(fastdl.zeros(1)), fastdl.is_tensor([0.0])
        (True, False)
    """
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:  # noqa: A002 - PyTorch's keyword
    """The number of elements of ``input``.

    Example::

        >>> import fastdl
        >>> fastdl.numel(fastdl.zeros(2, 3))
        6
    """
    return _check_tensor(input, "numel: input").numel()


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors (``torch.meshgrid``): with ``indexing="ij"``
    (the default) output ``i`` varies along dimension ``i``; with ``"xy"`` the first
    two dimensions swap, as NumPy's ``meshgrid``. Differentiable in floating inputs.

    Example::

        >>> import fastdl
        >>> gx, gy = fastdl.meshgrid(fastdl.arange(3), fastdl.arange(2), indexing="xy")
        >>> gx.shape
        (2, 3)
    """
    if len(tensors) == 1 and isinstance(tensors[0], Sequence):
        tensors = tuple(tensors[0])
    indexing = "ij" if indexing is None else indexing
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if not tensors:
        raise ValueError("meshgrid: expects at least one tensor")
    for i, t in enumerate(tensors):
        _check_tensor(t, f"meshgrid: tensors[{i}]")
        if t.ndim > 1:
            raise ValueError(f"meshgrid: tensors[{i}] must be 0-D or 1-D, got shape {t.shape}")
        if t.device != tensors[0].device or t.dtype != tensors[0].dtype:
            raise ValueError(
                f"meshgrid: all tensors must have the same dtype and device; tensors[0] is "
                f"{tensors[0].dtype} on {tensors[0].device}, tensors[{i}] {t.dtype} on {t.device}"
            )
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(tensors)
    for t, axis in zip(tensors, axes):
        shape[axis] = t.numel()
    return tuple(_spread(t, axis, tuple(shape)) for t, axis in zip(tensors, axes))


def _spread(t: Tensor, axis: int, shape: tuple) -> Tensor:
    """``t``'s values along ``axis`` of ``shape``, repeated along every other axis."""
    view = [1] * len(shape)
    view[axis] = shape[axis]
    if dtypes.is_floating(t.dtype):  # through ops, so the gradient sums over the copies
        return t.reshape(*view) * ones(shape, dtype=t.dtype, device=t.device)
    backend = backends.of(t._data)
    spread = backend.broadcast_to(backend.reshape(t._data, tuple(view)), shape)
    return Tensor._wrap(backend.contiguous(spread))


class _LegacyType(type):
    """``isinstance(t, fastdl.FloatTensor)`` asks for a Tensor of that dtype, as in
    PyTorch."""

    dtype: np.dtype

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


def _legacy(dtype: np.dtype, args: tuple, device: Any) -> Tensor:
    """PyTorch's legacy constructors: no argument gives an empty tensor, sizes an
    uninitialised tensor of that shape, one sequence (or array, or tensor) its values."""
    if device is not None and _device_name(device).type != "cpu":
        raise RuntimeError(f"legacy constructor expects device type cpu, got {device}")
    if not args:
        return Tensor(np.empty((0,), dtype))
    if len(args) == 1 and not isinstance(args[0], int | np.integer):
        return tensor(args[0], dtype=dtype, device="cpu")
    return Tensor(np.empty(_shape_arg(args), dtype))


class _Legacy(metaclass=_LegacyType):
    dtype = dtypes.float32

    def __new__(cls, *args: Any, device: Any = None) -> Tensor:  # type: ignore[misc]
        return _legacy(cls.dtype, args, device)


class FloatTensor(_Legacy):
    """Legacy constructor of float32 CPU tensors: ``FloatTensor([1, 2])`` copies data,
    ``FloatTensor(2, 3)`` is uninitialised; ``isinstance`` checks the dtype.

    Example::

        >>> import fastdl
        >>> fastdl.FloatTensor([1, 2]).tolist()
        [1.0, 2.0]
    """

    dtype = dtypes.float32


class DoubleTensor(_Legacy):
    """Legacy constructor of float64 CPU tensors (see :class:`FloatTensor`).

    Example::

        >>> import fastdl
        >>> fastdl.DoubleTensor([1]).dtype
        dtype('float64')
    """

    dtype = dtypes.float64


class LongTensor(_Legacy):
    """Legacy constructor of int64 CPU tensors (see :class:`FloatTensor`).

    Example::

        >>> import fastdl
        >>> fastdl.LongTensor([3, 1]).tolist()
        [3, 1]
    """

    dtype = dtypes.int64


class BoolTensor(_Legacy):
    """Legacy constructor of bool CPU tensors (see :class:`FloatTensor`).

    Example::

        >>> import fastdl
        >>> fastdl.BoolTensor([True, False]).tolist()
        [True, False]
    """

    dtype = dtypes.bool_
