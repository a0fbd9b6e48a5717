"""Weight initialisation (``fastdl.nn.init``), drawing from fastdl's Philox generator.

Names, signatures, gains and fan conventions follow ``torch.nn.init``. A weight of
shape ``(out, in, *kernel)`` (Linear: ``(out_features, in_features)``; Conv:
``(out_channels, in_channels / groups, kH, kW)``) has ``fan_in = in * prod(kernel)``
and ``fan_out = out * prod(kernel)``. Every random initialiser draws from
``generator`` (default: the one :func:`fastdl.manual_seed` seeds), so the same seed
gives the same weights on every backend; the numbers differ from PyTorch's, whose
generator is another one.

Example::

    fastdl.manual_seed(0)
    fastdl.nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from fastdl import random as _random
from fastdl.autograd import no_grad
from fastdl.tensor import Tensor

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity``, as ``torch.nn.init.calculate_gain``:
    1 for linear, conv and sigmoid, 5/3 for tanh, sqrt(2) for relu,
    sqrt(2 / (1 + slope^2)) for leaky_relu (``param`` is the slope, default 0.01),
    3/4 for selu.

    Example::

        gain = fastdl.nn.init.calculate_gain("leaky_relu", 0.2)
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fans(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out): dims 1 and 0 times the receptive field, the product of dims 2:."""
    if tensor.ndim < 2:
        raise ValueError(
            f"fan in and fan out need a tensor with at least 2 dimensions, got {tensor.shape}"
        )
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _is_empty(tensor: Tensor) -> bool:
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def _generator(generator: Any) -> Any:
    return generator or _random.default_generator


def _write(tensor: Tensor, values: np.ndarray) -> Tensor:
    with no_grad():
        tensor._data[...] = values.reshape(tensor.shape)
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` with samples from U(a, b).

    Example::

        fastdl.nn.init.uniform_(w, -0.1, 0.1)
    """
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` with samples from N(mean, std^2).

    Example::

        fastdl.nn.init.normal_(w, std=0.02)
    """
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Any = None,
) -> Tensor:
    """Fill ``tensor`` with samples from N(mean, std^2) truncated to [a, b].

    As PyTorch: when [a, b] holds more than 30% of the mass, normal draws outside it
    are redrawn; otherwise uniform proposals on [a, b] are accepted with probability
    pdf(x) / max pdf. Bounds are compared in the tensor's dtype.

    Example::

        fastdl.nn.init.trunc_normal_(w, std=0.02)
    """
    mean, std, a, b = float(mean), float(std), float(a), float(b)
    if not std > 0:
        raise ValueError(f"trunc_normal_: std must be > 0, got {std}")
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    gen, dtype, n = _generator(generator), tensor.dtype, tensor.numel()
    lo, hi = dtype.type(a), dtype.type(b)

    def cdf(z: float) -> float:
        return (1.0 + math.erf(z / math.sqrt(2.0))) / 2.0

    values = np.empty(n, dtype)
    pending = np.arange(n)
    if cdf((b - mean) / std) - cdf((a - mean) / std) > 0.3:
        while pending.size:
            draws = gen.normal(pending.size, dtype, mean, std)
            inside = (draws >= lo) & (draws <= hi)
            values[pending[inside]] = draws[inside]
            pending = pending[~inside]
    else:
        mode = max(a, min(mean, b))
        log_peak = -0.5 * ((mode - mean) / std) ** 2
        while pending.size:
            draws = gen.uniform(pending.size, dtype, a, b)
            u = gen.uniform(pending.size, np.float64)
            log_pdf = -0.5 * ((draws.astype(np.float64) - mean) / std) ** 2 - log_peak
            with np.errstate(divide="ignore"):
                accept = np.log(u) <= log_pdf
            values[pending[accept]] = draws[accept]
            pending = pending[~accept]
    return _write(tensor, values)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val``. Example: ``fastdl.nn.init.constant_(b, 0.1)``."""
    with no_grad():
        return tensor.fill_(val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 0. Example: ``fastdl.nn.init.zeros_(layer.bias)``."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 1. Example: ``fastdl.nn.init.ones_(w)``."""
    return constant_(tensor, 1.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill the 2-D ``tensor`` with the identity (ones on the main diagonal).

    Example::

        fastdl.nn.init.eye_(fastdl.nn.Linear(5, 5).weight)
    """
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tensor.shape}")
    return _write(tensor, np.eye(*tensor.shape, dtype=tensor.dtype))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill the 3-, 4- or 5-D convolution weight ``tensor`` with the Dirac delta, so the
    convolution passes as many input channels through as it can (per group).

    Example::

        fastdl.nn.init.dirac_(w)          # w of shape (out, in, kH, kW)
    """
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only 3-, 4- or 5-D tensors are supported, got {tensor.shape}")
    if tensor.shape[0] % groups != 0:
        raise ValueError(f"dirac_: dim 0 ({tensor.shape[0]}) must be divisible by groups")
    per_group = tensor.shape[0] // groups
    centre = tuple(s // 2 for s in tensor.shape[2:])
    values = np.zeros(tensor.shape, tensor.dtype)
    for g in range(groups):
        for d in range(min(per_group, tensor.shape[1])):
            values[(g * per_group + d, d, *centre)] = 1
    return _write(tensor, values)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot/Xavier uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)), so
    Var(W) = gain^2 * 2 / (fan_in + fan_out).

    Example::

        fastdl.nn.init.xavier_uniform_(w, gain=fastdl.nn.init.calculate_gain("tanh"))
    """
    if _is_empty(tensor):
        return tensor
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot/Xavier normal: N(0, gain^2 * 2 / (fan_in + fan_out)).

    Example::

        fastdl.nn.init.xavier_normal_(w)
    """
    if _is_empty(tensor):
        return tensor
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan), fan = fan_in or fan_out by
    ``mode``, gain = ``calculate_gain(nonlinearity, a)`` (``a``: the leaky_relu slope).
    For ReLU, Var(W) = 2 / fan.

    Example::

        fastdl.nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity="relu")
    """
    if _is_empty(tensor):
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He normal: N(0, gain^2 / fan), fan and gain as in :func:`kaiming_uniform_`.

    Example::

        fastdl.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    """
    if _is_empty(tensor):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` (2-D or more; trailing dims flattened) with a (semi-)orthogonal
    matrix times ``gain``: rows orthonormal when rows <= cols, columns otherwise.

    As PyTorch: the QR decomposition of a standard normal matrix, with Q's columns
    multiplied by the signs of R's diagonal so that Q is uniform (Haar) over the
    orthogonal matrices. The normal draws come from fastdl's generator in the
    tensor's dtype; the QR runs in float64.

    Example::

        fastdl.nn.init.orthogonal_(w)
    """
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: need a tensor with 2 or more dims, got {tensor.shape}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _generator(generator).normal((rows, cols), tensor.dtype).astype(np.float64)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, (gain * q).astype(tensor.dtype))
