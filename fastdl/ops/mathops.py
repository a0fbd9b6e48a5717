"""The math functions of the torch namespace, gathered from their op families for
``fastdl/__init__.py``: elementwise and pointwise maths, reductions, scans, linear
algebra and comparisons.

Example::

    >>> import fastdl
    >>> fastdl.cumsum(fastdl.tensor([1, 2, 3]), dim=0).tolist()
    [1, 3, 6]
"""

from __future__ import annotations

from typing import Any

from fastdl.ops import elementwise as _ew
from fastdl.ops.elementwise import (
    abs,  # noqa: A004 - PyTorch's name
    add,
    clamp,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    pow,  # noqa: A004 - PyTorch's name
    sqrt,
    sub,
)
from fastdl.ops.linalg import addmm, bmm, dot, einsum, matmul, mm, outer
from fastdl.ops.pointwise import (
    allclose,
    ceil,
    cos,
    equal,
    erf,
    expm1,
    floor,
    isclose,
    isfinite,
    isinf,
    isnan,
    log1p,
    log2,
    nan_to_num,
    round,  # noqa: A004 - PyTorch's name
    rsqrt,
    sign,
    sin,
    trunc,
)
from fastdl.ops.reduce import (
    amax,
    amin,
    argmax,
    argmin,
    max,  # noqa: A004 - PyTorch's name
    mean,
    min,  # noqa: A004
    sum,  # noqa: A004
)
from fastdl.ops.reduce_math import logsumexp, norm, std, var
from fastdl.ops.scan import cumprod, cumsum, prod


def eq(input: Any, other: Any) -> Any:  # noqa: A002
    """``input == other`` elementwise (a bool tensor). Example: ``fastdl.eq(x, 0)``."""
    return _ew.compare(input, other, "eq")


def ne(input: Any, other: Any) -> Any:  # noqa: A002
    """``input != other`` elementwise."""
    return _ew.compare(input, other, "ne")


def lt(input: Any, other: Any) -> Any:  # noqa: A002
    """``input < other`` elementwise."""
    return _ew.compare(input, other, "lt")


def le(input: Any, other: Any) -> Any:  # noqa: A002
    """``input <= other`` elementwise."""
    return _ew.compare(input, other, "le")


def gt(input: Any, other: Any) -> Any:  # noqa: A002
    """``input > other`` elementwise."""
    return _ew.compare(input, other, "gt")


def ge(input: Any, other: Any) -> Any:  # noqa: A002
    """``input >= other`` elementwise."""
    return _ew.compare(input, other, "ge")


__all__ = [
    "abs", "add", "addmm", "allclose", "amax", "amin", "argmax", "argmin", "bmm", "ceil",
    "clamp", "clip", "cos", "cumprod", "cumsum", "div", "dot", "einsum", "eq", "equal",
    "erf", "exp", "expm1", "floor", "ge", "gt", "isclose", "isfinite", "isinf", "isnan",
    "le", "log", "log1p", "log2", "logsumexp", "lt", "matmul", "max", "maximum", "mean",
    "min", "minimum", "mm", "mul", "nan_to_num", "ne", "norm", "outer", "pow", "prod",
    "round", "rsqrt", "sign", "sin", "sqrt", "std", "sub", "sum", "trunc", "var",
]  # fmt: skip
