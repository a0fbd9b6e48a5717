"""The few ``torchvision.transforms`` the examples use, producing fastdl Tensors."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import fastdl


class Compose:
    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x


class ToTensor:
    """uint8 ``(H, W)`` image -> float32 ``(1, H, W)`` Tensor in [0, 1]."""

    def __call__(self, img: np.ndarray) -> fastdl.Tensor:
        return fastdl.tensor(np.asarray(img, dtype=np.float32)[None] / 255.0)


class Normalize:
    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)

    def __call__(self, t: fastdl.Tensor) -> fastdl.Tensor:
        return fastdl.tensor((t.numpy() - self.mean) / self.std)


class Lambda:
    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, x: Any) -> Any:
        return self.fn(x)
