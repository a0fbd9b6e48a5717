"""Penalty terms to add to a loss: ``l1`` and ``l2`` (``fastdl.nn.regularizers``).

PyTorch has no such module (it offers L2 through ``weight_decay`` only); these
follow Keras's convention, without a factor 1/2:

* ``l1(model, strength)  = strength * sum |w|``, gradient ``strength * sign(w)``
  (0 where ``w == 0``);
* ``l2(model, strength)  = strength * sum w^2``, gradient ``2 * strength * w``.

So ``SGD(..., weight_decay=wd)`` moves the weights as adding ``l2(model, wd / 2)``
to the loss does (for Adam this holds too; AdamW's decoupled decay is different).

Given a Module, the penalty covers its weights: every parameter except those whose
name ends in ``bias`` (biases are not usually penalised); ``include_bias=True``
covers those too. Given a Tensor or an iterable of Tensors, it covers exactly those.
The terms are built from differentiable ops, so ``backward`` reaches the parameters.

Example::

    loss = criterion(model(x), y) + fastdl.nn.regularizers.l1(model, 1e-4)
    loss.backward()
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from fastdl.nn.module import Module
from fastdl.nn.utils import _tensors
from fastdl.tensor import Tensor

__all__ = ["l1", "l2"]


def _penalised(target: Module | Tensor | Iterable[Tensor], include_bias: bool) -> list[Tensor]:
    if isinstance(target, Module):
        return [
            p
            for name, p in target.named_parameters()
            if include_bias or name.rsplit(".", 1)[-1] != "bias"
        ]
    return _tensors(target, "params")


def _strength(strength: float) -> float:
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise TypeError(f"strength must be a number, got {type(strength).__name__}") from None
    if not value >= 0:
        raise ValueError(f"strength must be >= 0, got {strength!r}")
    return value


def _penalty(params: list[Tensor], strength: float, term) -> Tensor:
    if not params:
        return Tensor._wrap(np.asarray(0.0, np.float32))
    total = term(params[0])
    for p in params[1:]:
        total = total + term(p)
    return total * strength


def l1(
    target: Module | Tensor | Iterable[Tensor], strength: float, include_bias: bool = False
) -> Tensor:
    """``strength * sum |w|`` over a Module's weights (its biases too with
    ``include_bias=True``) or over the given tensors; a 0-d Tensor.

    Example::

        loss = loss + fastdl.nn.regularizers.l1(model, 1e-4)
    """
    strength = _strength(strength)
    return _penalty(_penalised(target, include_bias), strength, lambda p: p.abs().sum())


def l2(
    target: Module | Tensor | Iterable[Tensor], strength: float, include_bias: bool = False
) -> Tensor:
    """``strength * sum w^2`` (no factor 1/2) over a Module's weights (its biases too
    with ``include_bias=True``) or over the given tensors; a 0-d Tensor. Its gradient
    is ``2 * strength * w``, so ``l2(model, wd / 2)`` matches ``weight_decay=wd``.

    Example::

        loss = loss + fastdl.nn.regularizers.l2(model, 5e-4)
    """
    strength = _strength(strength)
    return _penalty(_penalised(target, include_bias), strength, lambda p: (p * p).sum())
