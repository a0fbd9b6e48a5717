"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, as ``torch.nn``.

The window arguments are kept as given (an int or a pair), as PyTorch keeps them, and
checked at construction; the input is checked at each call. Errors name the layer.
"""

from __future__ import annotations

from typing import Any

from fastdl.nn.module import Module
from fastdl.ops import pool
from fastdl.tensor import Tensor


class MaxPool2d(Module):
    """2-D max pooling over ``(N, C, H, W)`` or ``(C, H, W)`` input; ``stride`` defaults
    to ``kernel_size``. See ``fastdl.nn.functional.max_pool2d``.

    Example::

        pool = fastdl.nn.MaxPool2d(2)
        pool(fastdl.randn(64, 6, 24, 24)).shape     # (64, 6, 12, 12)
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = bool(return_indices), bool(ceil_mode)
        pool.check_window("MaxPool2d", kernel_size, self.stride, padding, dilation)

    def forward(self, x: Tensor) -> Any:
        return pool.max_pool2d_named(
            "MaxPool2d",
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """2-D average pooling over ``(N, C, H, W)`` or ``(C, H, W)`` input; ``stride``
    defaults to ``kernel_size``. See ``fastdl.nn.functional.avg_pool2d``.

    Example::

        pool = fastdl.nn.AvgPool2d(3, stride=2, padding=1)
        pool(fastdl.randn(8, 16, 32, 32)).shape     # (8, 16, 16, 16)
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        self.divisor_override = divisor_override
        pool.check_window("AvgPool2d", kernel_size, self.stride, padding)
        pool.check_divisor("AvgPool2d", divisor_override)

    def forward(self, x: Tensor) -> Tensor:
        return pool.avg_pool2d_named(
            "AvgPool2d",
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` (an int, or a pair whose None entries
    keep the input's size). See ``fastdl.nn.functional.adaptive_avg_pool2d``.

    Example::

        pool = fastdl.nn.AdaptiveAvgPool2d((None, 1))
        pool(fastdl.randn(8, 16, 7, 5)).shape       # (8, 16, 7, 1)
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        pool.check_output_size("AdaptiveAvgPool2d", output_size)
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return pool.adaptive_avg_pool2d_named("AdaptiveAvgPool2d", x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed ``output_size`` over adaptive bins; ``return_indices`` as
    ``MaxPool2d``. See ``fastdl.nn.functional.adaptive_max_pool2d``.

    Example::

        pool = fastdl.nn.AdaptiveMaxPool2d(1)
        pool(fastdl.randn(8, 16, 7, 7)).shape       # (8, 16, 1, 1)
    """

    def __init__(
        self, output_size: int | tuple[int | None, int | None], return_indices: bool = False
    ) -> None:
        super().__init__()
        pool.check_output_size("AdaptiveMaxPool2d", output_size)
        self.output_size, self.return_indices = output_size, bool(return_indices)

    def forward(self, x: Tensor) -> Any:
        return pool.adaptive_max_pool2d_named(
            "AdaptiveMaxPool2d", x, self.output_size, self.return_indices
        )

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
