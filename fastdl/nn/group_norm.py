"""GroupNorm, InstanceNorm1d and InstanceNorm2d, shaped like ``torch.nn``."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from fastdl.errors import ShapeError
from fastdl.nn._checks import factory_kwargs, place
from fastdl.nn.module import Module
from fastdl.nn.norm import _BatchNorm
from fastdl.nn.parameter import Parameter
from fastdl.ops.group_norm import group_norm, instance_norm
from fastdl.tensor import Tensor


class GroupNorm(Module):
    """Normalise each group of ``num_channels / num_groups`` channels of each sample of
    (N, C, *) input, then scale and shift per channel (weight ones, bias zeros).

    Example::

        gn = fastdl.nn.GroupNorm(4, 16)
        gn(fastdl.randn(8, 16, 10, 10)).shape    # (8, 16, 10, 10)
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        for argument, value in (("num_groups", num_groups), ("num_channels", num_channels)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"GroupNorm: {argument} must be a positive int, got {value!r}")
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels must be divisible by num_groups, got num_channels="
                f"{num_channels}, num_groups={num_groups}"
            )
        device, dtype = factory_kwargs("GroupNorm", device, dtype)
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = float(eps), bool(affine)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_channels, dtype))
            self.bias = Parameter(np.zeros(self.num_channels, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        place(self, device)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        if isinstance(input, Tensor) and input.ndim >= 2 and input.shape[1] != self.num_channels:
            raise ShapeError(
                f"GroupNorm: expected {self.num_channels} channels (dim 1), got input of "
                f"shape {tuple(input.shape)}"
            )
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class _InstanceNorm(_BatchNorm):
    """Per-sample, per-channel normalization; running statistics only with
    ``track_running_stats=True`` (then used in eval mode), as PyTorch's."""

    spatial = 1

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002  (PyTorch's name)
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (self.spatial + 1, self.spatial + 2):
            raise ValueError(
                f"{name}: expected {self.spatial + 1}D or {self.spatial + 2}D input (got "
                f"{input.ndim}D input of shape {tuple(input.shape)})"
            )
        unbatched = input.ndim == self.spatial + 1
        channels = input.shape[0 if unbatched else 1]
        if channels != self.num_features:
            if self.affine:
                raise ValueError(
                    f"{name}: expected {self.num_features} channels, got input of shape "
                    f"{tuple(input.shape)}"
                )
            warnings.warn(
                f"{name}: input of shape {tuple(input.shape)} has {channels} channels, not "
                f"num_features={self.num_features}; affine=False, so the channels are "
                "normalised anyway",
                UserWarning,
                stacklevel=2,
            )
        x = input.unsqueeze(0) if unbatched else input
        out = instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization over (N, C, L) or (C, L) input.

    Example::

        fastdl.nn.InstanceNorm1d(16)(fastdl.randn(8, 16, 50)).shape   # (8, 16, 50)
    """

    spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization over (N, C, H, W) or (C, H, W) input.

    Example::

        fastdl.nn.InstanceNorm2d(3, affine=True)(fastdl.randn(4, 3, 32, 32)).shape
    """

    spatial = 2
