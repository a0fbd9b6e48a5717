"""Convolution layers: Conv2d, shaped like ``torch.nn.Conv2d``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastdl.nn import init
from fastdl.nn._checks import factory_kwargs, place
from fastdl.nn.module import Module
from fastdl.nn.parameter import Parameter
from fastdl.ops.conv import _conv2d, check_padding, pair
from fastdl.tensor import Tensor

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2d(Module):
    """2-D convolution over (N, C, H, W) input with weight (out, in / groups, kH, kW).

    Arguments and defaults are PyTorch's. ``padding`` is an int, a pair, "valid" or
    "same" (stride 1 only; an odd total padding puts the extra row/column below/right).
    Only ``padding_mode="zeros"`` is implemented; fastdl refuses an unbatched 3-D input
    (PyTorch accepts it). Initialised as PyTorch does, from fastdl's generator:
    weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in / groups * kH * kW.

    Example::

        conv = fastdl.nn.Conv2d(3, 16, kernel_size=3, padding=1)
        conv(fastdl.randn(8, 3, 32, 32)).shape     # (8, 16, 32, 32)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        for argument, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
                raise ValueError(f"Conv2d: {argument} must be a positive int, got {value!r}")
        if in_channels % groups:
            raise ValueError(
                f"Conv2d: in_channels must be divisible by groups, got in_channels="
                f"{in_channels}, groups={groups}"
            )
        if out_channels % groups:
            raise ValueError(
                f"Conv2d: out_channels must be divisible by groups, got out_channels="
                f"{out_channels}, groups={groups}"
            )
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"Conv2d: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"Conv2d: padding_mode={padding_mode!r} is not implemented in fastdl; only "
                "'zeros' is"
            )
        device, dtype = factory_kwargs("Conv2d", device, dtype)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride = pair(stride, "stride", "Conv2d", 1)
        self.padding = check_padding(padding, self.stride, "Conv2d")
        self.dilation = pair(dilation, "dilation", "Conv2d", 1)
        self.groups, self.padding_mode = int(groups), padding_mode
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype))
        if bias:
            self.bias = Parameter(np.empty((self.out_channels,), dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        place(self, device)

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return _conv2d(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            "Conv2d",
        )

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
