"""``fastdl.special``, torch.special's functions that compose existing differentiable
ops: ``expit``, ``logit``, ``erf``, ``erfc``, ``ndtr``, ``xlogy``, ``xlog1py``,
``entr``, ``sinc``, ``exp2``, ``expm1``, ``log1p``, ``softmax``, ``log_softmax`` and
``logsumexp``; and ``gammaln``, ``digamma``/``psi``, ``polygamma`` (n = 0, 1) and
``erfinv``, kernels of the pointwise family.

Example::

    >>> import fastdl
    >>> fastdl.special.expit(fastdl.tensor([0.0])).tolist()
    [0.5]
"""

from __future__ import annotations

import math
from typing import Any

from fastdl.autograd.grad_mode import no_grad
from fastdl.ops import activation as _act
from fastdl.ops import elementwise as _ew
from fastdl.ops import pointwise as _pw
from fastdl.ops._out import check_out, write_out
from fastdl.ops.math_more import digamma, erfinv, logit, polygamma, xlogy
from fastdl.ops.math_more import lgamma as gammaln
from fastdl.ops.pointwise import erf, expm1, log1p
from fastdl.ops.reduce_math import logsumexp
from fastdl.tensor import Tensor


def _floating(x: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"special.{name}: input must be a Tensor, got {type(x).__name__}")
    return _ew._floating(x)


def expit(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The logistic sigmoid ``1 / (1 + exp(-x))``. Example: ``special.expit(x)``."""
    check_out(out, "special.expit")
    return write_out(_act.sigmoid(_floating(input, "expit")), out, "special.expit")


def erfc(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``1 - erf(x)``. Example: ``fastdl.special.erfc(fastdl.tensor([0.0]))`` is ``[1.]``."""
    check_out(out, "special.erfc")
    return write_out(1.0 - erf(_floating(input, "erfc")), out, "special.erfc")


def ndtr(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The standard normal CDF. Example: ``fastdl.special.ndtr(fastdl.tensor([0.0]))``."""
    check_out(out, "special.ndtr")
    x = _floating(input, "ndtr")
    return write_out(0.5 * (1.0 + erf(x * (1.0 / math.sqrt(2.0)))), out, "special.ndtr")


def xlog1py(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input * log1p(other)``, 0 where ``input`` is 0 (unless ``other`` is NaN).

    Example: ``fastdl.special.xlog1py(fastdl.tensor([0.0]), fastdl.tensor([-1.0]))``.
    """
    check_out(out, "special.xlog1py")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("special.xlog1py: expected at least one Tensor")
    x = _ew._floating(input) if isinstance(input, Tensor) else float(input)
    y = _ew._floating(other) if isinstance(other, Tensor) else float(other)
    x = x if isinstance(x, Tensor) else y.new_tensor(x)
    y = y if isinstance(y, Tensor) else x.new_tensor(y)
    with no_grad():
        # as xlogy: where x is 0, log1p reads 0 in place of a y <= -1 or +inf
        awkward = _ew.where(_ew.compare(y, -1, "le"), True, _ew.compare(y, math.inf, "eq"))
        replace = _ew.where(_ew.compare(x, 0, "eq"), awkward, False)
        safe_y = _ew.where(replace, 0.0, y)
    y_used = _ew.where(replace, safe_y, y)
    return write_out(_ew.mul(x, log1p(y_used)), out, "special.xlog1py")


def entr(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``-x log x`` for ``x > 0``, 0 at 0, ``-inf`` below.

    Example: ``fastdl.special.entr(fastdl.tensor([0.5]))`` is ``[0.3466]``.
    """
    check_out(out, "special.entr")
    x = _floating(input, "entr")
    with no_grad():
        positive = _ew.compare(x, 0, "gt")
        safe = _ew.where(positive, x, 1.0)
    x_used = _ew.where(positive, x, safe)
    value = _ew.where(positive, -(x_used * _ew.log(x_used)), 0.0)
    result = _ew.where(_ew.compare(x, 0, "lt"), -math.inf, value)
    return write_out(result, out, "special.entr")


def sinc(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The normalised sinc ``sin(pi x) / (pi x)``, 1 at 0.

    Example: ``fastdl.special.sinc(fastdl.tensor([0.0, 0.5]))``.
    """
    check_out(out, "special.sinc")
    x = _floating(input, "sinc")
    with no_grad():
        zero = _ew.compare(x, 0, "eq")
        safe = _ew.where(zero, 1.0, x)
    angle = _ew.where(zero, safe, x) * math.pi
    return write_out(_ew.where(zero, 1.0, _pw.sin(angle) / angle), out, "special.sinc")


def exp2(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``2 ** x``. Example: ``fastdl.special.exp2(fastdl.tensor([3.0]))`` is ``[8.]``."""
    check_out(out, "special.exp2")
    return write_out(_ew.exp(_floating(input, "exp2") * math.log(2.0)), out, "special.exp2")


def softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:  # noqa: A002
    """Softmax over ``dim`` (after casting to ``dtype`` when given)."""
    x = input if dtype is None else input.to(dtype)
    return _act.softmax(x, dim)


def log_softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:  # noqa: A002
    """Log-softmax over ``dim`` (after casting to ``dtype`` when given)."""
    x = input if dtype is None else input.to(dtype)
    return _act.log_softmax(x, dim)


psi = digamma

__all__ = [
    "digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln",
    "log1p", "log_softmax", "logit", "logsumexp", "ndtr", "polygamma", "psi", "sinc",
    "softmax", "xlog1py", "xlogy",
]  # fmt: skip
