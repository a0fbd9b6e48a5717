"""Padding layers: ZeroPad1d/2d, ConstantPad1d/2d, ReflectionPad1d/2d, ReplicationPad1d/2d
and CircularPad1d/2d, shaped like ``torch.nn``; each calls
:func:`fastdl.nn.functional.pad`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastdl.nn.module import Module
from fastdl.ops.padding import pad
from fastdl.tensor import Tensor


def _padding(value: int | Sequence[int], dims: int, owner: str) -> tuple[int, ...]:
    """An int (every side) or a tuple of 2 * dims ints, in F.pad's order."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return (int(value),) * (2 * dims)
    ok = isinstance(value, Sequence) and len(value) == 2 * dims
    ok = ok and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)
    if not ok:
        raise TypeError(
            f"{owner}: padding must be an int or a tuple of {2 * dims} ints, got {value!r}"
        )
    return tuple(int(v) for v in value)


class _Pad(Module):
    """F.pad with a fixed padding and mode."""

    mode = "constant"
    dims = 1

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__()
        self.padding = _padding(padding, self.dims, type(self).__name__)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        return pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPad(_Pad):
    def __init__(self, padding: int | Sequence[int], value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        return pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPad):
    """Pad the last dim with ``value``: ``padding`` an int or (left, right).

    Example: ``nn.ConstantPad1d((1, 2), 3.5)(fastdl.zeros(2, 3, 4)).shape == (2, 3, 7)``."""

    dims = 1


class ConstantPad2d(_ConstantPad):
    """Pad the last two dims with ``value``: ``padding`` an int or (left, right, top, bottom).

    Example: ``nn.ConstantPad2d(1, -1.0)(fastdl.zeros(2, 3, 4, 4)).shape == (2, 3, 6, 6)``."""

    dims = 2


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros: ``padding`` an int or (left, right).

    Example: ``nn.ZeroPad1d(2)(fastdl.ones(1, 3, 4)).shape == (1, 3, 8)``."""

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dims with zeros: ``padding`` an int or (left, right, top, bottom).

    Example: ``nn.ZeroPad2d((1, 1, 2, 0))(fastdl.ones(1, 3, 4, 4)).shape == (1, 3, 6, 6)``."""

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_Pad):
    """Mirror the last dim of (C, W) or (N, C, W) input without repeating the edge.

    Example: ``nn.ReflectionPad1d(2)(fastdl.ones(1, 3, 4)).shape == (1, 3, 8)``."""

    mode, dims = "reflect", 1


class ReflectionPad2d(_Pad):
    """Mirror the last two dims of (C, H, W) or (N, C, H, W) input without repeating the edge.

    Example: ``nn.ReflectionPad2d(1)(fastdl.ones(1, 3, 4, 4)).shape == (1, 3, 6, 6)``."""

    mode, dims = "reflect", 2


class ReplicationPad1d(_Pad):
    """Repeat the edge of the last dim of (C, W) or (N, C, W) input.

    Example: ``nn.ReplicationPad1d((0, 3))(fastdl.ones(1, 3, 4)).shape == (1, 3, 7)``."""

    mode, dims = "replicate", 1


class ReplicationPad2d(_Pad):
    """Repeat the edges of the last two dims of (C, H, W) or (N, C, H, W) input.

    Example: ``nn.ReplicationPad2d(1)(fastdl.ones(1, 3, 4, 4)).shape == (1, 3, 6, 6)``."""

    mode, dims = "replicate", 2


class CircularPad1d(_Pad):
    """Wrap the last dim of (C, W) or (N, C, W) input around.

    Example: ``nn.CircularPad1d(1)(fastdl.ones(1, 3, 4)).shape == (1, 3, 6)``."""

    mode, dims = "circular", 1


class CircularPad2d(_Pad):
    """Wrap the last two dims of (C, H, W) or (N, C, H, W) input around.

    Example: ``nn.CircularPad2d(1)(fastdl.ones(1, 3, 4, 4)).shape == (1, 3, 6, 6)``."""

    mode, dims = "circular", 2
