"""LeNet-style convolutional networks."""

from __future__ import annotations

from collections.abc import Sequence

from fastdl import nn
from fastdl.models._checks import image_shape, positive_int


def lenet(input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10) -> nn.Sequential:
    """A LeNet-style CNN for ``input_shape = (C, H, W)``.

    Images of 16x16 and more get LeNet-5: conv 5x5 -> 6 (padding 2, so 28x28 stays
    28x28 as in the original 32x32 design), 2x2 max pool, conv 5x5 -> 16, 2x2 max
    pool, then dense 120 -> 84 -> ``num_classes``, with ReLU throughout. Smaller
    images (the 8x8 digits) get two stages of conv 3x3 (padding 1) + ReLU + 2x2 max
    pool, 16 then 32 channels, then dense 64 -> ``num_classes``.

    Example::

        net = lenet((1, 28, 28))
        logits = net(fastdl.randn(64, 1, 28, 28))   # (64, 10)
    """
    channels, height, width = image_shape("lenet", input_shape)
    positive_int("lenet", "num_classes", num_classes)
    if min(height, width) >= 16:
        h, w = (height // 2 - 4) // 2, (width // 2 - 4) // 2
        return nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * h * w, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )
    if min(height, width) < 4:
        raise ValueError(
            f"lenet: input_shape {tuple(input_shape)} is too small: two 2x2 pooling stages "
            "need images of at least 4x4"
        )
    h, w = height // 4, width // 4
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * h * w, 64),
        nn.ReLU(),
        nn.Linear(64, num_classes),
    )
