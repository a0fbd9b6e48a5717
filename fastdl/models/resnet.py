"""A small ResNet of ``BasicBlock`` stages."""

from __future__ import annotations

from collections.abc import Sequence

from fastdl import nn
from fastdl.models._checks import image_shape, positive_int
from fastdl.nn.blocks import BasicBlock
from fastdl.tensor import Tensor


class ResNet(nn.Module):
    """Stem (conv 3x3 + BN + ReLU), one stage of ``BasicBlock`` s per width (each stage
    after the first halves the resolution), global average pooling, a linear head.

    Attribute names follow torchvision (``conv1``, ``bn1``, ``layer1``.., ``fc``).

    Example::

        net = ResNet(in_channels=1, num_classes=10, widths=(16, 32), blocks=(1, 1))
        logits = net(fastdl.randn(8, 1, 8, 8))   # (8, 10)
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
        blocks: Sequence[int] = (1, 1, 1),
    ) -> None:
        super().__init__()
        positive_int("ResNet", "in_channels", in_channels)
        positive_int("ResNet", "num_classes", num_classes)
        widths, blocks = tuple(widths), tuple(blocks)
        if not widths or len(widths) != len(blocks):
            raise ValueError(
                f"ResNet: widths and blocks must be non-empty and of equal length, got "
                f"{widths} and {blocks}"
            )
        for w, b in zip(widths, blocks):
            positive_int("ResNet", "widths", w)
            positive_int("ResNet", "blocks", b)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        channels = widths[0]
        for index, (width, count) in enumerate(zip(widths, blocks)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(channels, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(count - 1)]
            setattr(self, f"layer{index + 1}", nn.Sequential(*stage))
            channels = width
        self.num_stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for index in range(self.num_stages):
            x = getattr(self, f"layer{index + 1}")(x)
        return self.fc(self.flatten(self.avgpool(x)))


def resnet(
    input_shape: Sequence[int] = (1, 8, 8),
    num_classes: int = 10,
    widths: Sequence[int] = (16, 32),
    blocks: Sequence[int] = (1, 1),
) -> ResNet:
    """A small ResNet for ``input_shape = (C, H, W)``; see ``ResNet``.

    Example::

        net = resnet((1, 8, 8))   # the model of ``fastdl train --model resnet``
    """
    channels, height, width = image_shape("resnet", input_shape)
    stages = len(tuple(widths))
    if min(height, width) < 2 ** (stages - 1):
        raise ValueError(
            f"resnet: input_shape {tuple(input_shape)} is too small for {stages} stages "
            f"(each after the first halves the resolution)"
        )
    return ResNet(channels, num_classes, widths, blocks)
