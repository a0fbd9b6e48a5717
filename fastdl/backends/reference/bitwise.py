"""Bitwise kernels in NumPy: one ufunc each."""

from __future__ import annotations

import numpy as np


def bitwise_and(a, b, out):
    np.bitwise_and(a, b, out=out)


def bitwise_or(a, b, out):
    np.bitwise_or(a, b, out=out)


def bitwise_xor(a, b, out):
    np.bitwise_xor(a, b, out=out)


def bitwise_left_shift(a, b, out):
    np.left_shift(a, b, out=out)


def bitwise_right_shift(a, b, out):
    np.right_shift(a, b, out=out)


def bitwise_not(x, out):
    np.invert(x, out=out)
