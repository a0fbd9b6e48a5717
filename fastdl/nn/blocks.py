"""Composite blocks built from the layers: the ResNet ``BasicBlock``."""

from __future__ import annotations

from fastdl.nn import functional as F
from fastdl.nn._checks import positive_int
from fastdl.nn.containers import Sequential
from fastdl.nn.module import Module
from fastdl.tensor import Tensor


class BasicBlock(Module):
    """ResNet's basic block: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    Two 3x3 convolutions (the first with ``stride``), each followed by batch
    normalisation. The shortcut is the identity when the shapes agree; when
    ``stride != 1`` or the channel counts differ it is a 1x1 convolution with the
    same stride followed by batch normalisation, built here in ``__init__`` as
    ``downsample`` (torchvision's names, so ``state_dict`` keys match it).

    Example::

        block = nn.BasicBlock(16, 32, stride=2)
        y = block(fastdl.randn(4, 16, 8, 8))   # (4, 32, 4, 4)
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        from fastdl.nn.conv import Conv2d
        from fastdl.nn.norm import BatchNorm2d

        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("stride", stride),
        ):
            positive_int("BasicBlock", name, value)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(out_channels)
        self.conv2 = Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = Sequential(
                Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(out + skip)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"
