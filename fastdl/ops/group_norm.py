"""``group_norm`` and ``instance_norm``, as ``torch.nn.functional``.

Both normalise over the rows of a reshaped view with the ``layer_norm`` kernel pair:
group_norm over (N, G, C / G * spatial), instance_norm over (N, C, spatial); the
per-channel affine map follows as elementwise ops. Evaluation-mode instance_norm with
running statistics is batch_norm's evaluation path.
"""

from __future__ import annotations

import math
import numbers

from fastdl.autograd import no_grad
from fastdl.errors import ShapeError
from fastdl.ops.norm import _check_param, _check_tensor, batch_norm, layer_norm
from fastdl.tensor import Tensor


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """y * weight + bias, per channel (dim 1)."""
    shape = (-1,) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _check_eps(eps: float, name: str) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or eps < 0:
        raise ValueError(f"{name}: eps must be a non-negative number, got {eps!r}")
    return float(eps)


def group_norm(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each group of ``C / num_groups`` channels of each sample of ``input``
    (N, C, *), then scale and shift per channel, as ``torch.nn.functional.group_norm``.

    Example::

        y = fastdl.nn.functional.group_norm(fastdl.randn(4, 6, 5, 5), 3)
    """
    _check_tensor(input, "group_norm")
    if input.ndim < 2:
        raise ShapeError(
            f"group_norm: input must have at least 2 dims (N, C, *), got shape {tuple(input.shape)}"
        )
    eps = _check_eps(eps, "group_norm")
    n, c = input.shape[:2]
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1:
        raise ValueError(f"group_norm: num_groups must be a positive int, got {num_groups!r}")
    if c % num_groups:
        raise ValueError(
            f"group_norm: the {c} channels of input of shape {tuple(input.shape)} are not "
            f"divisible by num_groups={num_groups}"
        )
    _check_param(weight, (c,), input.dtype, "group_norm", "weight")
    _check_param(bias, (c,), input.dtype, "group_norm", "bias")
    if input.numel() == 0:
        return _affine(input * 1.0, weight, bias)
    row = c // num_groups * math.prod(input.shape[2:])
    y = layer_norm(input.reshape(n, num_groups, row), (row,), eps=eps).reshape(input.shape)
    return _affine(y, weight, bias)


def instance_norm(
    input: Tensor,  # noqa: A002  (PyTorch's name)
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel of each sample of ``input`` (N, C, *) over its spatial
    dims, then scale and shift per channel, as ``torch.nn.functional.instance_norm``.

    With ``use_input_stats`` the sample's statistics normalise and ``running_mean`` /
    ``running_var`` (when given) move towards their batch averages by ``momentum``
    (the variance unbiased); otherwise the running statistics normalise.

    Example::

        y = fastdl.nn.functional.instance_norm(fastdl.randn(4, 3, 8, 8))
    """
    _check_tensor(input, "instance_norm")
    if input.ndim < 3:
        raise ShapeError(
            f"instance_norm: input must have at least 3 dims (N, C, spatial...), got shape "
            f"{tuple(input.shape)}"
        )
    eps = _check_eps(eps, "instance_norm")
    n, c = input.shape[:2]
    for argument, p in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        _check_param(p, (c,), input.dtype, "instance_norm", argument)
    if (running_mean is None) != (running_var is None):
        raise ValueError("instance_norm: give both running_mean and running_var, or neither")
    if not use_input_stats:
        if running_mean is None:
            raise ValueError(
                "instance_norm: running_mean and running_var are required when "
                "use_input_stats=False"
            )
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    length = math.prod(input.shape[2:])
    if length <= 1:
        raise ValueError(
            f"instance_norm: expected more than 1 spatial element when training, got input "
            f"of shape {tuple(input.shape)}"
        )
    rows = input.reshape(n, c, length)
    y = layer_norm(rows, (length,), eps=eps).reshape(input.shape)
    if running_mean is not None:
        with no_grad():
            values = rows.detach()
            mean = values.mean(dim=2)
            centered = values - mean.unsqueeze(2)
            var = (centered * centered).sum(dim=2) * (1.0 / (length - 1))
            running_mean.copy_(running_mean * (1.0 - momentum) + mean.mean(dim=0) * momentum)
            running_var.copy_(running_var * (1.0 - momentum) + var.mean(dim=0) * momentum)
    return _affine(y, weight, bias)
