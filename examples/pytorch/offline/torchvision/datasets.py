"""``torchvision.datasets.MNIST`` served offline from scikit-learn's digits."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

_TRAIN = 1500  # the first 1500 of 1797 digits train, the rest test


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    # 8x8 values 0..16 -> 24x24 by pixel repetition, padded to MNIST's 28x28 uint8.
    big = np.kron(d.images, np.ones((3, 3))) * (255.0 / 16.0)
    images = np.pad(big, ((0, 0), (2, 2), (2, 2))).round().astype(np.uint8)
    return images, d.target.astype(np.int64)


class MNIST:
    """MNIST's interface (``(PIL-like image, int label)`` items) over the digits."""

    def __init__(
        self,
        root: str,
        train: bool = True,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
    ) -> None:
        images, labels = _digits()
        part = slice(0, _TRAIN) if train else slice(_TRAIN, None)
        self.data, self.targets = images[part], labels[part]
        self.transform, self.target_transform = transform, target_transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        img, target = self.data[i], int(self.targets[i])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target
