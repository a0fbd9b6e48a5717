"""CUDA bitwise kernels: one thread per element, through the generic elementwise
launcher (broadcasting and strides as there), in the operands' integer dtype."""

from __future__ import annotations

from fastdl.backends.cuda import generic


def _and(x, y):
    return x & y


def _or(x, y):
    return x | y


def _xor(x, y):
    return x ^ y


def _left_shift(x, y):
    return x << y


def _right_shift(x, y):
    return x >> y


def _not(x):
    return ~x


def bitwise_and(a, b, out):
    """out = a & b (broadcast)."""
    generic._binary(_and, a, b, out)


def bitwise_or(a, b, out):
    """out = a | b (broadcast)."""
    generic._binary(_or, a, b, out)


def bitwise_xor(a, b, out):
    """out = a ^ b (broadcast)."""
    generic._binary(_xor, a, b, out)


def bitwise_left_shift(a, b, out):
    """out = a << b (broadcast)."""
    generic._binary(_left_shift, a, b, out)


def bitwise_right_shift(a, b, out):
    """out = a >> b (broadcast)."""
    generic._binary(_right_shift, a, b, out)


def bitwise_not(x, out):
    """out = ~x."""
    generic._unary(_not, x, out)
