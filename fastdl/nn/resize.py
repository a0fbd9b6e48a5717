"""Resizing layers: Upsample, UpsamplingNearest2d, UpsamplingBilinear2d, PixelShuffle
and PixelUnshuffle, shaped like ``torch.nn``."""

from __future__ import annotations

from collections.abc import Sequence

from fastdl.nn.module import Module
from fastdl.ops.resize import interpolate, pixel_shuffle, pixel_unshuffle
from fastdl.tensor import Tensor


class Upsample(Module):
    """Resample the spatial dims to ``size`` or by ``scale_factor``; see
    :func:`fastdl.nn.functional.interpolate` for the modes.

    Example::

        up = fastdl.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        up(fastdl.randn(1, 3, 8, 8)).shape     # (1, 3, 16, 16)
    """

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple | list):
            self.scale_factor = tuple(float(s) for s in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        return interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        what = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else (
            f"size={self.size!r}"
        )  # fmt: skip
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of (N, C, H, W) input.

    Example: ``nn.UpsamplingNearest2d(scale_factor=2)(fastdl.ones(1, 1, 2, 2)).shape
    == (1, 1, 4, 4)``."""

    def __init__(
        self, size: int | Sequence[int] | None = None, scale_factor: float | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of (N, C, H, W) input with ``align_corners=True``, as PyTorch's.

    Example: ``nn.UpsamplingBilinear2d(size=(5, 5))(fastdl.ones(1, 1, 2, 2)).shape
    == (1, 1, 5, 5)``."""

    def __init__(
        self, size: int | Sequence[int] | None = None, scale_factor: float | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r) with r = ``upscale_factor``.

    Example: ``nn.PixelShuffle(2)(fastdl.ones(1, 12, 4, 4)).shape == (1, 3, 8, 8)``."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W) with r = ``downscale_factor``.

    Example: ``nn.PixelUnshuffle(2)(fastdl.ones(1, 3, 8, 8)).shape == (1, 12, 4, 4)``."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
