"""Normalization layers: BatchNorm1d, BatchNorm2d and LayerNorm, shaped like ``torch.nn``."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.nn import functional as F
from fastdl.nn._checks import factory_kwargs, place
from fastdl.nn.module import Module
from fastdl.nn.parameter import Parameter
from fastdl.tensor import Tensor


class _BatchNorm(Module):
    """Per-channel normalization with batch statistics in training mode and running
    statistics in evaluation mode. ``momentum=None`` makes the running statistics a
    cumulative average (factor 1 / num_batches_tracked), as in PyTorch; ``bias=False``
    keeps the affine scale without its shift."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, int | np.integer) or num_features <= 0:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        device, dtype = factory_kwargs(name, device, dtype)
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(np.ones(num_features, dtype))
        else:
            self.register_parameter("weight", None)
        if self.affine and bias:
            self.bias = Parameter(np.zeros(num_features, dtype))
        else:
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.zeros((), dtypes.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        place(self, device)

    def _check_input_dim(self, x: Tensor) -> None:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__}: input must be a Tensor, got {type(x)}")
        self._check_input_dim(x)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}: expected {self.num_features} channels (dim 1), got "
                f"input of shape {tuple(x.shape)}"
            )
        counting = self.training and self.track_running_stats
        factor = 0.0 if self.momentum is None else self.momentum
        if counting and self.momentum is None:
            factor = 1.0 / (int(self.num_batches_tracked.item()) + 1)
        use_batch_stats = self.training or self.running_mean is None
        out = F.batch_norm(
            x,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
        )
        if counting:  # after F.batch_norm has accepted the input
            self.num_batches_tracked.add_(1)
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L) input, per channel C.

    Example::

        bn = fastdl.nn.BatchNorm1d(64)
        bn(fastdl.randn(32, 64)).shape      # (32, 64)
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.ndim not in (2, 3):
            raise ValueError(
                f"BatchNorm1d: expected 2D or 3D input (got {x.ndim}D input of shape "
                f"{tuple(x.shape)})"
            )


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, C, H, W) input, per channel C.

    Example::

        bn = fastdl.nn.BatchNorm2d(16)
        bn(fastdl.randn(8, 16, 28, 28)).shape   # (8, 16, 28, 28)
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.ndim != 4:
            raise ValueError(
                f"BatchNorm2d: expected 4D input (got {x.ndim}D input of shape {tuple(x.shape)})"
            )


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dims of each sample.

    Example::

        ln = fastdl.nn.LayerNorm(64)
        ln(fastdl.randn(8, 10, 64)).shape   # (8, 10, 64)
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        shape = (
            (normalized_shape,)
            if isinstance(normalized_shape, int | np.integer)
            else tuple(normalized_shape)
        )
        if not shape or any(not isinstance(n, int | np.integer) or n <= 0 for n in shape):
            raise ValueError(
                f"LayerNorm: normalized_shape must be a positive int or a non-empty tuple of "
                f"them, got {normalized_shape!r}"
            )
        device, dtype = factory_kwargs("LayerNorm", device, dtype)
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps, self.elementwise_affine = float(eps), bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype))
        else:
            self.register_parameter("weight", None)
        if self.elementwise_affine and bias:
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype))
        else:
            self.register_parameter("bias", None)
        place(self, device)

    def forward(self, x: Tensor) -> Tensor:
        shape = self.normalized_shape
        if not isinstance(x, Tensor) or tuple(x.shape[x.ndim - len(shape) :]) != shape:
            raise ValueError(
                f"LayerNorm: input of shape {tuple(getattr(x, 'shape', ()))} does not end in "
                f"normalized_shape {shape}"
            )
        return F.layer_norm(x, shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
