"""Dropout: inverted dropout with masks from the counter-based Philox generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl import random as _random
from fastdl.ops import inplace as _inplace
from fastdl.tensor import Tensor


def dropout(
    x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, generator: Any = None
) -> Tensor:
    """Zero each element with probability ``p`` and scale the survivors by 1/(1-p).

    This is *inverted* dropout, as in PyTorch: the scaling happens while training,
    so the expected activation is unchanged and evaluation is the identity. The
    original formulation (Srivastava et al., 2014) kept activations unscaled while
    training and instead multiplied the weights by the keep probability (1-p) at
    test time; both give the same expected pre-activations, but the inverted form
    leaves the trained weights usable as they are.

    The keep-mask comes from ``generator`` (default: ``fastdl.manual_seed``'s), so
    the same seed gives the same mask on every backend. With ``inplace`` the result
    is written into ``x`` (see :mod:`fastdl.ops.inplace`).

    Example::

        y = fastdl.nn.functional.dropout(x, p=0.2, training=model.training)
    """
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")
    if not isinstance(x, Tensor):
        raise TypeError(f"dropout: input must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"dropout: input must be float32 or float64, got {x.dtype}")
    if not training or p == 0.0:
        return x
    if inplace:  # the mask multiplies the old values, which the backward reads
        return _inplace.apply(x, "dropout_", lambda s: dropout(s, p, True, False, generator))
    if p == 1.0:
        return x * 0.0
    gen = generator or _random.default_generator
    keep = gen.bernoulli(x.shape, 1.0 - p, dtype=x.dtype, device=x.device)
    # The mask carries the 1/(1-p) scaling, so forward and backward are one Mul.
    backends.for_device(x.device).mul(keep, np.asarray(1.0 / (1.0 - p), x.dtype), keep)
    return x * Tensor._wrap(keep)
