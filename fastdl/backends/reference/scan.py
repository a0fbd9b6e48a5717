"""Scan kernels in NumPy: a reverse scan is the forward scan of the flipped array."""

from __future__ import annotations

import numpy as np


def cumsum(x, axis, reverse, out):
    if reverse:
        np.cumsum(np.flip(x, axis), axis=axis, out=np.flip(out, axis))
    else:
        np.cumsum(x, axis=axis, out=out)


def cumprod(x, axis, reverse, out):
    if reverse:
        np.cumprod(np.flip(x, axis), axis=axis, out=np.flip(out, axis))
    else:
        np.cumprod(x, axis=axis, out=out)
