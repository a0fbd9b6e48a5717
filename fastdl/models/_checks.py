"""Argument checks shared by the model builders."""

from __future__ import annotations

from collections.abc import Sequence

from fastdl.nn._checks import positive_int

__all__ = ["image_shape", "positive_int"]


def image_shape(model: str, input_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(C, H, W)`` from ``input_shape``, or a ValueError naming the model."""
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and s >= 1 for s in shape):
        raise ValueError(f"{model}: input_shape must be (channels, height, width), got {shape}")
    return shape
