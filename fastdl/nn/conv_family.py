"""Conv1d, ConvTranspose1d and ConvTranspose2d, shaped like ``torch.nn``.

Each runs on conv2d's kernels (see :mod:`fastdl.ops.conv_family`); parameters,
initialisation and ``state_dict`` keys (``weight``, ``bias``) are PyTorch's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl.nn import init
from fastdl.nn._checks import factory_kwargs, place
from fastdl.nn.module import Module
from fastdl.nn.parameter import Parameter
from fastdl.ops.conv import check_padding, pair
from fastdl.ops.conv_family import (
    _conv1d,
    _conv_transpose1d,
    _conv_transpose2d,
    _one,
    transposed_size,
)
from fastdl.ops.padding import pad
from fastdl.tensor import Tensor

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _positive(name: str, **values: Any) -> None:
    for argument, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"{name}: {argument} must be a positive int, got {value!r}")


class _ConvBase(Module):
    """Parameters and initialisation shared by the layers of this module.

    ``weight_shape`` is (out, in / groups, *kernel) for a convolution and
    (in, out / groups, *kernel) for a transposed one, as PyTorch lays them out."""

    def _setup(
        self,
        in_channels: int,
        out_channels: int,
        groups: int,
        bias: bool,
        padding_mode: str,
        transposed: bool,
        device: Any,
        dtype: Any,
    ) -> None:
        name = type(self).__name__
        _positive(name, in_channels=in_channels, out_channels=out_channels, groups=groups)
        for argument, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value % groups:
                raise ValueError(
                    f"{name}: {argument} must be divisible by groups, got {argument}={value}, "
                    f"groups={groups}"
                )
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}"
            )
        if transposed and padding_mode != "zeros":
            raise ValueError(
                f'{name}: only "zeros" padding_mode is supported, got {padding_mode!r}'
            )
        device, dtype = factory_kwargs(name, device, dtype)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.groups, self.padding_mode, self.transposed = int(groups), padding_mode, transposed
        lead = (in_channels, out_channels // groups) if transposed else (
            out_channels, in_channels // groups
        )  # fmt: skip
        self.weight = Parameter(np.empty((*lead, *self.kernel_size), dtype))
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
            bound = 1.0 / math.sqrt(self.weight.shape[1] * math.prod(self.kernel_size))
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        ones = (1,) * len(self.kernel_size)
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * len(ones):
            s += f", padding={self.padding}"
        if self.dilation != ones:
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0,) * len(ones)) != (0,) * len(ones):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvBase):
    """1-D convolution over (N, C, L) or (C, L) input with weight (out, in / groups, k).

    Arguments and defaults are PyTorch's; ``padding`` is an int, a 1-tuple, "valid" or
    "same" (stride 1), and ``padding_mode`` any of "zeros", "reflect", "replicate",
    "circular". Initialised as PyTorch does, from fastdl's generator.

    Example::

        conv = fastdl.nn.Conv1d(4, 16, kernel_size=3, padding=1)
        conv(fastdl.randn(8, 4, 100)).shape     # (8, 16, 100)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] | str = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.kernel_size = (_one(kernel_size, "kernel_size", "Conv1d", 1),)
        self.stride = (_one(stride, "stride", "Conv1d", 1),)
        if isinstance(padding, str):
            self.padding = check_padding(padding, (1, self.stride[0]), "Conv1d")
        else:
            self.padding = (_one(padding, "padding", "Conv1d", 0),)
        self.dilation = (_one(dilation, "dilation", "Conv1d", 1),)
        self._setup(in_channels, out_channels, groups, bias, padding_mode, False, device, dtype)

    def _explicit_padding(self) -> tuple[int, int]:
        """(left, right) padding for a non-zeros padding_mode."""
        if self.padding == "valid":
            return 0, 0
        if self.padding == "same":
            total = self.dilation[0] * (self.kernel_size[0] - 1)
            return total // 2, total - total // 2
        return self.padding[0], self.padding[0]

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        x, padding = input, self.padding
        if self.padding_mode != "zeros":
            x = pad(input, self._explicit_padding(), mode=self.padding_mode)
            padding = 0
        return _conv1d(
            x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups,
            "Conv1d",
        )  # fmt: skip


def _output_padding(
    module: Module, x: Tensor, output_size: Sequence[int] | None, spatial: int
) -> tuple[int, ...]:
    """output_padding from ``output_size`` (PyTorch's rule), else the module's."""
    if output_size is None:
        return module.output_padding
    name = type(module).__name__
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    size = tuple(int(s) for s in output_size)
    lead = 2 if x.ndim == spatial + 2 else 1
    if len(size) == lead + spatial:
        size = size[lead:]
    if len(size) != spatial:
        raise ValueError(
            f"{name}: output_size must have {spatial} or {lead + spatial} elements, got "
            f"{tuple(output_size)}"
        )
    result = []
    for d in range(spatial):
        least = transposed_size(
            x.shape[lead + d],
            module.stride[d],
            module.padding[d],
            module.dilation[d],
            module.kernel_size[d],
        )
        if not least <= size[d] <= least + module.stride[d] - 1:
            raise ValueError(
                f"{name}: requested output_size {tuple(output_size)} is out of range: dim {d} "
                f"must lie in [{least}, {least + module.stride[d] - 1}] for input of shape "
                f"{tuple(x.shape)}"
            )
        result.append(size[d] - least)
    return tuple(result)


class ConvTranspose1d(_ConvBase):
    """1-D transposed convolution over (N, C_in, L) or (C_in, L) input with weight
    (in, out / groups, k); the gradient of a Conv1d with the same arguments.

    Arguments and defaults are PyTorch's (``padding_mode`` "zeros" only); ``forward``
    takes ``output_size`` to pick among the lengths a stride allows.

    Example::

        up = fastdl.nn.ConvTranspose1d(8, 4, kernel_size=2, stride=2)
        up(fastdl.randn(2, 8, 10)).shape     # (2, 4, 20)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] = 0,
        output_padding: int | tuple[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int] = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = "ConvTranspose1d"
        self.kernel_size = (_one(kernel_size, "kernel_size", name, 1),)
        self.stride = (_one(stride, "stride", name, 1),)
        self.padding = (_one(padding, "padding", name, 0),)
        self.output_padding = (_one(output_padding, "output_padding", name, 0),)
        self.dilation = (_one(dilation, "dilation", name, 1),)
        self._setup(in_channels, out_channels, groups, bias, padding_mode, True, device, dtype)

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:  # noqa: A002
        output_padding = _output_padding(self, input, output_size, 1)
        return _conv_transpose1d(
            input, self.weight, self.bias, self.stride, self.padding, output_padding,
            self.groups, self.dilation, "ConvTranspose1d",
        )  # fmt: skip


class ConvTranspose2d(_ConvBase):
    """2-D transposed convolution over (N, C_in, H, W) or (C_in, H, W) input with weight
    (in, out / groups, kH, kW); the gradient of a Conv2d with the same arguments.

    Arguments and defaults are PyTorch's (``padding_mode`` "zeros" only); ``forward``
    takes ``output_size`` to pick among the sizes a stride allows.

    Example::

        up = fastdl.nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1)
        up(fastdl.randn(8, 64, 16, 16)).shape     # (8, 32, 32, 32)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = "ConvTranspose2d"
        self.kernel_size = pair(kernel_size, "kernel_size", name, 1)
        self.stride = pair(stride, "stride", name, 1)
        self.padding = pair(padding, "padding", name, 0)
        self.output_padding = pair(output_padding, "output_padding", name, 0)
        self.dilation = pair(dilation, "dilation", name, 1)
        self._setup(in_channels, out_channels, groups, bias, padding_mode, True, device, dtype)

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:  # noqa: A002
        output_padding = _output_padding(self, input, output_size, 2)
        return _conv_transpose2d(
            input, self.weight, self.bias, self.stride, self.padding, output_padding,
            self.groups, self.dilation, "ConvTranspose2d",
        )  # fmt: skip
