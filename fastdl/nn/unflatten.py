"""Unflatten: one dim reshaped into several, shaped like ``torch.nn.Unflatten``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fastdl.errors import ShapeError
from fastdl.nn.module import Module
from fastdl.tensor import Tensor


class Unflatten(Module):
    """Reshape dim ``dim`` into ``unflattened_size`` (which may hold one -1).

    Example::

        nn.Unflatten(1, (2, 5))(fastdl.randn(3, 10)).shape     # (3, 2, 5)
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
            raise TypeError(f"Unflatten: dim must be an int, got {dim!r}")
        ok = isinstance(unflattened_size, Sequence) and len(unflattened_size) > 0
        ok = ok and all(
            isinstance(s, int | np.integer) and not isinstance(s, bool) for s in unflattened_size
        )
        if not ok:
            raise TypeError(
                f"Unflatten: unflattened_size must be a non-empty tuple of ints, got "
                f"{unflattened_size!r}"
            )
        self.dim, self.unflattened_size = int(dim), tuple(int(s) for s in unflattened_size)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        if not isinstance(input, Tensor):
            raise TypeError(f"Unflatten: input must be a Tensor, got {type(input).__name__}")
        if not -input.ndim <= self.dim < input.ndim:
            raise ShapeError(
                f"Unflatten: dim {self.dim} is out of range for input of shape {tuple(input.shape)}"
            )
        dim = self.dim % input.ndim
        sizes, size = self.unflattened_size, input.shape[dim]
        known = math.prod(s for s in sizes if s != -1)
        fits = sizes.count(-1) == 0 and known == size
        fits = fits or sizes.count(-1) == 1 and known > 0 and size % known == 0
        if not fits:
            raise ShapeError(
                f"Unflatten: unflattened_size {sizes} does not fit dim {self.dim} of size "
                f"{size} (input shape {tuple(input.shape)})"
            )
        shape = (*input.shape[:dim], *sizes, *input.shape[dim + 1 :])
        return input.reshape(shape)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
