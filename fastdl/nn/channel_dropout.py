"""Channel dropout layers: Dropout1d and Dropout2d, shaped like ``torch.nn``."""

from __future__ import annotations

from fastdl.nn.module import Module
from fastdl.ops.channel_dropout import dropout1d, dropout2d
from fastdl.tensor import Tensor


class _ChannelDropout(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")
        self.p, self.inplace = float(p), bool(inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_ChannelDropout):
    """In training mode zero whole channels of (N, C, L) or (C, L) input with probability
    ``p`` and scale the rest by 1/(1-p); in eval mode the identity.

    Example: ``nn.Dropout1d(0.2)(fastdl.randn(8, 16, 100))``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        return dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_ChannelDropout):
    """In training mode zero whole channels of (N, C, H, W) input with probability ``p``
    and scale the rest by 1/(1-p); in eval mode the identity.

    Example: ``nn.Dropout2d(0.2)(fastdl.randn(8, 16, 28, 28))``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        return dropout2d(input, self.p, self.training, self.inplace)
