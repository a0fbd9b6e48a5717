"""Generic kernels: broadcast arithmetic, reductions, matmul, copies and indexing.

Each writes into a caller-allocated ``out``. The Numba backend shares these by
name (see ``fastdl.backends.cpu.SHARED_WITH_REFERENCE``): a NumPy ufunc with
``out=`` is already one vectorised pass.
"""

from __future__ import annotations

import numpy as np

_COMPARE = {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}


def add(a, b, out):
    np.add(a, b, out=out)


def sub(a, b, out):
    np.subtract(a, b, out=out)


def mul(a, b, out):
    np.multiply(a, b, out=out)


def div(a, b, out):
    np.divide(a, b, out=out)


def pow(a, b, out):  # noqa: A001 - the kernel's name in the spec
    np.power(a, b, out=out)


def neg(x, out):
    np.negative(x, out=out)


def exp(x, out):
    np.exp(x, out=out)


def log(x, out):
    np.log(x, out=out)


def sqrt(x, out):
    np.sqrt(x, out=out)


def abs(x, out):  # noqa: A001
    np.absolute(x, out=out)


def sign(x, out):
    np.sign(x, out=out)


def clamp(x, lo, hi, out):
    if lo is None and hi is None:
        np.copyto(out, x)
    elif lo is None:
        np.minimum(x, hi, out=out)
    elif hi is None:
        np.maximum(x, lo, out=out)
    else:
        np.clip(x, lo, hi, out=out)


def compare(a, b, op, out):
    _COMPARE[op](a, b, out=out)


def where(cond, a, b, out):
    out[...] = np.where(cond, a, b)


def sum(x, axes, keepdims, out):  # noqa: A001
    # np.sum's own body, without its Python wrapper (microseconds on a small array)
    np.add.reduce(x, axis=tuple(axes), keepdims=keepdims, out=out)


def mean(x, axes, keepdims, out):
    np.mean(x, axis=tuple(axes), keepdims=keepdims, out=out)


def max(x, axis, values, indices):  # noqa: A001
    np.argmax(x, axis=axis, out=indices)
    values[...] = np.take_along_axis(x, np.expand_dims(indices, axis), axis).squeeze(axis)


def argmax(x, axis, out):
    np.argmax(x, axis=axis, out=out)


def matmul(a, b, out):
    np.matmul(a, b, out=out)


def copy(src, out):
    np.copyto(out, src, casting="unsafe")


def fill(out, value):
    out.fill(value)


def gather(x, index, out):
    out[...] = x[index]


def index_add(out, index, values):
    np.add.at(out, index, values)
