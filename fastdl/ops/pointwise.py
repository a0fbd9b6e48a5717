"""Pointwise maths with PyTorch's names: expm1 ... erf, rounding, rsqrt, sign, NaN
and infinity tests and repairs, and closeness (isclose, allclose, equal).

The smooth functions are one :class:`UnaryMath` op over a table of derivatives; the
rounding functions and ``sign`` have a zero gradient, as in PyTorch.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.autograd.grad_mode import no_grad
from fastdl.ops import elementwise as _ew
from fastdl.ops._out import check_out, write_out
from fastdl.ops._util import full, run
from fastdl.tensor import Tensor

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0


def _scalar_like(value: float, like: np.ndarray) -> np.ndarray:
    return np.asarray(value, like.dtype)


def _k(be: Any, kernel: str, *arrays: Any) -> Any:
    """A kernel's result in a new array (elementwise kernels)."""
    return run(getattr(be, kernel), *arrays)


def _no_derivative(kernel: str) -> Callable:
    def refuse(*args: Any) -> Any:
        raise RuntimeError(
            f"the derivative of {kernel} (polygamma(2, x)) is not implemented in fastdl"
        )

    return refuse


def _one_minus_square_root(be: Any, x: Any) -> Any:
    """``sqrt(1 - x * x)`` on raw arrays."""
    return _k(be, "sqrt", _k(be, "sub", _scalar_like(1.0, x), _k(be, "mul", x, x)))


# kernel -> the derivative as raw arrays (backend, x, out) and as differentiable ops (x).
_DERIVATIVES: dict[str, tuple[Callable, Callable]] = {
    "expm1": (
        lambda be, x, out: _k(be, "add", out, _scalar_like(1.0, out)),
        lambda x: x.exp(),
    ),
    "log1p": (
        lambda be, x, out: _k(
            be, "div", _scalar_like(1.0, x), _k(be, "add", x, _scalar_like(1.0, x))
        ),
        lambda x: 1.0 / (x + 1.0),
    ),
    "log2": (
        lambda be, x, out: _k(be, "div", _scalar_like(1.0 / math.log(2.0), x), x),
        lambda x: (1.0 / math.log(2.0)) / x,
    ),
    "sin": (lambda be, x, out: _k(be, "cos", x), lambda x: cos(x)),
    "cos": (lambda be, x, out: _k(be, "neg", _k(be, "sin", x)), lambda x: -sin(x)),
    "erf": (
        lambda be, x, out: _k(
            be,
            "mul",
            _k(be, "exp", _k(be, "neg", _k(be, "mul", x, x))),
            _scalar_like(_TWO_OVER_SQRT_PI, x),
        ),
        lambda x: _TWO_OVER_SQRT_PI * (-(x * x)).exp(),
    ),
    "tan": (
        lambda be, x, out: _k(be, "add", _k(be, "mul", out, out), _scalar_like(1.0, out)),
        lambda x: 1.0 + UnaryMath.apply(x, "tan") ** 2,
    ),
    "sinh": (lambda be, x, out: _k(be, "cosh", x), lambda x: UnaryMath.apply(x, "cosh")),
    "cosh": (lambda be, x, out: _k(be, "sinh", x), lambda x: UnaryMath.apply(x, "sinh")),
    "asin": (
        lambda be, x, out: _k(be, "div", _scalar_like(1.0, x), _one_minus_square_root(be, x)),
        lambda x: (1.0 - x * x) ** -0.5,
    ),
    "acos": (
        lambda be, x, out: _k(be, "div", _scalar_like(-1.0, x), _one_minus_square_root(be, x)),
        lambda x: -((1.0 - x * x) ** -0.5),
    ),
    "atan": (
        lambda be, x, out: _k(
            be,
            "div",
            _scalar_like(1.0, x),
            _k(be, "add", _k(be, "mul", x, x), _scalar_like(1.0, x)),
        ),
        lambda x: 1.0 / (1.0 + x * x),
    ),
    "lgamma": (lambda be, x, out: _k(be, "digamma", x), lambda x: UnaryMath.apply(x, "digamma")),
    "digamma": (
        lambda be, x, out: _k(be, "trigamma", x),
        lambda x: UnaryMath.apply(x, "trigamma"),
    ),
    "trigamma": (_no_derivative("trigamma"), _no_derivative("trigamma")),
    "erfinv": (
        lambda be, x, out: _k(
            be, "mul", _k(be, "exp", _k(be, "mul", out, out)), _scalar_like(_SQRT_PI_OVER_2, out)
        ),
        lambda x: _SQRT_PI_OVER_2 * (UnaryMath.apply(x, "erfinv") ** 2).exp(),
    ),
}
_FLAT = ("floor", "ceil", "trunc", "rint", "sign")  # piecewise constant: zero gradient


class UnaryMath(Function):
    """``kernel(x)`` for a kernel of :data:`_DERIVATIVES` or :data:`_FLAT`."""

    @staticmethod
    def forward(ctx, x, kernel):
        out = _k(ctx.backend, kernel, x)
        ctx.kernel = kernel
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        be, (x, out) = ctx.backend, ctx.saved
        if ctx.kernel in _FLAT:
            return full(grad.shape, 0, grad.dtype), None
        derivative = _DERIVATIVES[ctx.kernel][0](be, x, out)
        return _k(be, "mul", grad, derivative), None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        if ctx.kernel in _FLAT:
            return grad * 0.0, None
        return grad * _DERIVATIVES[ctx.kernel][1](inputs[0]), None


def _unary(x: Tensor, kernel: str, out: Tensor | None) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{kernel}: input must be a Tensor, got {type(x).__name__}")
    check_out(out, kernel)
    return write_out(UnaryMath.apply(_ew._floating(x), kernel), out, kernel)


def expm1(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``exp(x) - 1``, accurate near 0. Example: ``fastdl.expm1(fastdl.tensor([1e-10]))``."""
    return _unary(input, "expm1", out)


def log1p(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``log(1 + x)``, accurate near 0. Example: ``fastdl.log1p(fastdl.tensor([1e-10]))``."""
    return _unary(input, "log1p", out)


def log2(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Base-2 logarithm. Example: ``fastdl.log2(fastdl.tensor([8.0]))`` is ``[3.]``."""
    return _unary(input, "log2", out)


def sin(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Sine. Example: ``fastdl.sin(fastdl.tensor([0.0]))``."""
    return _unary(input, "sin", out)


def cos(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Cosine. Example: ``fastdl.cos(fastdl.tensor([0.0]))``."""
    return _unary(input, "cos", out)


def erf(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The error function. Example: ``fastdl.erf(fastdl.tensor([0.5]))``."""
    return _unary(input, "erf", out)


def _rounded(x: Tensor, kernel: str, name: str, out: Tensor | None) -> Tensor:
    """Integer and bool tensors are already whole: returned as they are (a copy)."""
    check_out(out, name)
    if not dtypes.is_floating(x.dtype):
        return write_out(x.clone(), out, name)
    return write_out(UnaryMath.apply(x, kernel), out, name)


def floor(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Round down. Example: ``fastdl.floor(fastdl.tensor([-1.5]))`` is ``[-2.]``."""
    return _rounded(input, "floor", "floor", out)


def ceil(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Round up. Example: ``fastdl.ceil(fastdl.tensor([-1.5]))`` is ``[-1.]``."""
    return _rounded(input, "ceil", "ceil", out)


def trunc(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Round toward zero. Example: ``fastdl.trunc(fastdl.tensor([-1.5]))`` is ``[-1.]``."""
    return _rounded(input, "trunc", "trunc", out)


def round(input: Tensor, *, decimals: int = 0, out: Tensor | None = None) -> Tensor:  # noqa: A001, A002
    """Round to ``decimals`` places, halves to even as in PyTorch.

    Example: ``fastdl.round(fastdl.tensor([2.5, 0.125]), decimals=0)`` is ``[2., 0.]``.
    """
    if decimals == 0:
        return _rounded(input, "rint", "round", out)
    check_out(out, "round")
    if not dtypes.is_floating(input.dtype):
        return write_out(input.clone(), out, "round")
    scale = 10.0 ** builtins.abs(decimals)
    if decimals > 0:
        result = UnaryMath.apply(input * scale, "rint") / scale
    else:
        result = UnaryMath.apply(input / scale, "rint") * scale
    return write_out(result, out, "round")


def sign(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """-1, 0 or 1 by the sign of each element. Example: ``fastdl.sign(fastdl.tensor([-2.0]))``."""
    check_out(out, "sign")
    if input.dtype == dtypes.bool_:
        return write_out(input.clone(), out, "sign")
    return write_out(UnaryMath.apply(input, "sign"), out, "sign")


def rsqrt(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``1 / sqrt(x)``. Example: ``fastdl.rsqrt(fastdl.tensor([4.0]))`` is ``[0.5]``."""
    check_out(out, "rsqrt")
    return write_out(1.0 / _ew.sqrt(input), out, "rsqrt")


# -- NaN and infinity ------------------------------------------------------------------


def isnan(input: Tensor) -> Tensor:  # noqa: A002
    """Where the elements are NaN (a bool tensor). Example: ``fastdl.isnan(x).any()``."""
    return _ew.compare(input, input, "ne")


def isinf(input: Tensor) -> Tensor:  # noqa: A002
    """Where the elements are +inf or -inf. Example: ``fastdl.isinf(fastdl.tensor([1.0]))``."""
    if not dtypes.is_floating(input.dtype):
        return _ew.compare(input, input, "ne")  # all False
    with no_grad():
        return _ew.compare(_ew.abs(input), math.inf, "eq")


def isfinite(input: Tensor) -> Tensor:  # noqa: A002
    """Where the elements are neither NaN nor infinite."""
    if not dtypes.is_floating(input.dtype):
        return _ew.compare(input, input, "eq")  # all True
    with no_grad():
        return _ew.compare(_ew.abs(input), math.inf, "lt")  # NaN compares False


def nan_to_num(
    input: Tensor,  # noqa: A002
    nan: float = 0.0,
    posinf: float | None = None,
    neginf: float | None = None,
    *,
    out: Tensor | None = None,
) -> Tensor:
    """NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (the dtype's largest and
    smallest values by default); differentiable where the input was finite.

    Example: ``fastdl.nan_to_num(fastdl.tensor([float("nan"), 1.0]))`` is ``[0., 1.]``.
    """
    check_out(out, "nan_to_num")
    if not dtypes.is_floating(input.dtype):
        return write_out(input.clone(), out, "nan_to_num")
    info = np.finfo(input.dtype)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    result = input
    for mask, value in (
        (isnan(input), nan),
        (_ew.compare(input, math.inf, "eq"), posinf),
        (_ew.compare(input, -math.inf, "eq"), neginf),
    ):
        result = _ew.where(mask, value, result)
    return write_out(result, out, "nan_to_num")


# -- closeness -------------------------------------------------------------------------


def _and(a: Tensor, b: Tensor) -> Tensor:
    return _ew.where(a, b, False)


def _or(a: Tensor, b: Tensor) -> Tensor:
    return _ew.where(a, True, b)


def isclose(
    input: Tensor,  # noqa: A002
    other: Tensor,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    equal_nan: bool = False,
) -> Tensor:
    """Where ``|input - other| <= atol + rtol * |other|`` (equal infinities are close;
    NaNs only with ``equal_nan``), as a bool tensor.

    Example: ``fastdl.isclose(fastdl.tensor([1.0]), fastdl.tensor([1.0 + 1e-9]))``.
    """
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("isclose: input and other must be Tensors")
    if input.dtype != other.dtype:
        raise TypeError(
            f"isclose: input ({input.dtype}) and other ({other.dtype}) must have the same dtype"
        )
    if rtol < 0 or atol < 0:
        raise ValueError(f"isclose: rtol ({rtol}) and atol ({atol}) must be non-negative")
    with no_grad():
        close = _ew.compare(input, other, "eq")
        if dtypes.is_floating(input.dtype):
            with np.errstate(invalid="ignore"):  # inf - inf: NaN, then not "within"
                gap = _ew.abs(input - other)
            bound = atol + rtol * _ew.abs(other)
            within = _and(_ew.compare(gap, bound, "le"), isfinite(gap))
            close = _or(close, within)
            if equal_nan:
                close = _or(close, _and(isnan(input), isnan(other)))
    return close


def allclose(
    input: Tensor,  # noqa: A002
    other: Tensor,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    equal_nan: bool = False,
) -> bool:
    """Whether every element pair is close (see :func:`isclose`).

    Example: ``fastdl.allclose(fastdl.ones(3), fastdl.ones(3) + 1e-9)`` is True.
    """
    close = isclose(input, other, rtol, atol, equal_nan)
    return bool(close.cpu().numpy().all())


def equal(input: Tensor, other: Tensor) -> bool:  # noqa: A002
    """Whether both tensors have one shape and the same elements (NaN is unequal).

    Example: ``fastdl.equal(fastdl.ones(2), fastdl.ones(2))`` is True.
    """
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("equal: input and other must be Tensors")
    if input.shape != other.shape:
        return False
    return bool(_ew.compare(input, other, "eq").cpu().numpy().all())
