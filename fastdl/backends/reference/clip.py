"""Gradient clipping kernels (NumPy reference): the norm of a flat gradient buffer.

Shape legend: ``P`` flat parameter count; ``x`` is (P,), ``out`` a (1,) float64 array.

Clipping itself needs no kernel of its own: ``nn.utils.clip_grad_norm_`` scales the
buffer with the generic ``mul`` kernel and ``clip_grad_value_`` bounds it with
``clamp``.
"""

from __future__ import annotations

import math

import numpy as np


def grad_norm(x, norm_type, out):
    magnitudes = np.abs(x.astype(np.float64))
    if magnitudes.size == 0:
        out[0] = 0.0
    elif norm_type == math.inf:
        out[0] = np.max(magnitudes)  # NaN if any element is NaN
    else:
        out[0] = np.sum(magnitudes**norm_type) ** (1.0 / norm_type)
