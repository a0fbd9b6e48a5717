"""Argument checks shared by the model builders."""

from __future__ import annotations

from collections.abc import Sequence


def positive_int(model: str, name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{model}: {name} must be a positive int, got {value!r}")
    return value


def image_shape(model: str, input_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(C, H, W)`` from ``input_shape``, or a ValueError naming the model."""
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and s >= 1 for s in shape):
        raise ValueError(f"{model}: input_shape must be (channels, height, width), got {shape}")
    return shape
