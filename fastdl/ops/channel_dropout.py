"""Channel dropout: ``dropout1d`` and ``dropout2d``, as ``torch.nn.functional``.

Whole channels are zeroed: the keep-mask has one entry per (sample, channel) and
broadcasts over the spatial dims, drawn from the same Philox generator as
:func:`fastdl.nn.functional.dropout`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl import random as _random
from fastdl.errors import ShapeError
from fastdl.ops import inplace as _inplace
from fastdl.tensor import Tensor


def _channel_dropout(x: Tensor, p: float, training: bool, inplace: bool, generator: Any) -> Tensor:
    """Dropout of dims 0..1 of ``x`` (N, C, *spatial) broadcast over the spatial dims."""
    if not training or p == 0.0:
        return x
    if inplace:
        return _inplace.apply(
            x, "dropout_", lambda s: _channel_dropout(s, p, True, False, generator)
        )
    if p == 1.0:
        return x * 0.0
    gen = generator or _random.default_generator
    shape = (*x.shape[:2],) + (1,) * (x.ndim - 2)
    keep = gen.bernoulli(shape, 1.0 - p, dtype=x.dtype, device=x.device)
    backends.for_device(x.device).mul(keep, np.asarray(1.0 / (1.0 - p), x.dtype), keep)
    return x * Tensor._wrap(keep)


def _check(x: Any, p: Any, name: str) -> None:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p!r}")
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{name}: input must be float32 or float64, got {x.dtype}")


def _unbatched(x: Tensor, p, training, inplace, generator) -> Tensor:
    """Channel dropout of a (C, *spatial) input, as a batch of one."""
    if inplace:
        return _inplace.apply(x, "dropout_", lambda s: _unbatched(s, p, training, False, generator))
    return _channel_dropout(x.unsqueeze(0), p, training, False, generator).squeeze(0)


def dropout1d(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    generator: Any = None,
) -> Tensor:
    """Zero whole channels of ``input`` (N, C, L) or (C, L) with probability ``p`` and
    scale the rest by 1/(1-p), as ``torch.nn.functional.dropout1d``.

    Example::

        y = fastdl.nn.functional.dropout1d(fastdl.randn(8, 16, 100), p=0.2)
    """
    _check(input, p, "dropout1d")
    if input.ndim not in (2, 3):
        raise ShapeError(
            f"dropout1d: expected 2-D (C, L) or 3-D (N, C, L) input, got input of shape "
            f"{tuple(input.shape)}"
        )
    if input.ndim == 2:
        return _unbatched(input, p, training, inplace, generator)
    return _channel_dropout(input, p, training, inplace, generator)


def dropout2d(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    generator: Any = None,
) -> Tensor:
    """Zero whole channels of ``input`` (N, C, H, W) with probability ``p`` and scale the
    rest by 1/(1-p), as ``torch.nn.functional.dropout2d``. As PyTorch does, a 3-D input
    is taken as (N, C, L), and an input of another rank (N, C, *rest) is dropped per
    (sample, channel), both with a warning.

    Example::

        y = fastdl.nn.functional.dropout2d(fastdl.randn(8, 16, 28, 28), p=0.2)
    """
    _check(input, p, "dropout2d")
    if input.ndim < 2:
        raise ShapeError(
            f"dropout2d: expected 3-D or 4-D (N, C, H, W) input, got input of shape "
            f"{tuple(input.shape)}"
        )
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior and "
            "silence this warning, please use dropout instead. Note that dropout2d exists to "
            "provide channel-wise dropout on inputs with 2 spatial dimensions, a channel "
            "dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            UserWarning,
            stacklevel=2,
        )
    elif input.ndim == 3:
        warnings.warn(
            "dropout2d: received a 3-D input; channel-wise 1-D dropout is applied, the input "
            "taken as (N, C, L). Use dropout1d for 3-D inputs.",
            UserWarning,
            stacklevel=2,
        )
    return _channel_dropout(input, p, training, inplace, generator)
