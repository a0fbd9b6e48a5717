"""More elementwise maths of the torch namespace: remainders and rounded division,
``neg`` ... ``frac``, interpolation (``lerp``, ``addcmul``, ``addcdiv``), angles,
``logit``/``xlogy``, the trigonometric and hyperbolic functions and their inverses,
``atan2``, ``hypot`` and ``logaddexp``.

Everything here composes existing differentiable ops; the trigonometric and hyperbolic
functions are kernels of the ``pointwise`` family (see :mod:`fastdl.ops.pointwise`).

Example::

    >>> import fastdl
    >>> fastdl.remainder(fastdl.tensor([-3.0, 3.0]), 2).tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.autograd.grad_mode import no_grad
from fastdl.ops import elementwise as _ew
from fastdl.ops import pointwise as _pw
from fastdl.ops._out import check_out, write_out
from fastdl.ops._util import run, unbroadcast
from fastdl.tensor import Tensor, _backend_of

_NUMBER = (bool, int, float, np.bool_, np.integer, np.floating)


def _tensor_arg(value: Any, name: str, argument: str = "input") -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name}: {argument} must be a Tensor, got {type(value).__name__}")
    return value


def _tensor_or_number(value: Any, name: str, argument: str) -> Any:
    if not isinstance(value, (Tensor, *_NUMBER)):
        raise TypeError(
            f"{name}: {argument} must be a Tensor or a number, got {type(value).__name__}"
        )
    return value


def _floating(x: Any) -> Any:
    """A Tensor in a floating dtype (float32 for integers and bools); numbers as float."""
    if isinstance(x, Tensor):
        return _ew._floating(x)
    return float(x)


# -- rounded division and remainders -----------------------------------------------------


def floor_divide(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input / other`` rounded down (integers stay integers), as ``//``.

    Example: ``fastdl.floor_divide(fastdl.tensor([-7, 7]), 2)`` is ``[-4, 3]``.
    """
    _tensor_or_number(input, "floor_divide", "input")
    _tensor_or_number(other, "floor_divide", "other")
    return _ew.div(input, other, rounding_mode="floor", out=out)


def true_divide(dividend: Any, divisor: Any, *, out: Tensor | None = None) -> Tensor:
    """``dividend / divisor`` in floating point (alias of :func:`fastdl.div`).

    Example: ``fastdl.true_divide(fastdl.tensor([3]), 2)`` is ``[1.5]``.
    """
    return _ew.div(dividend, divisor, out=out)


class Fmod(Function):
    """``fmod(a, b)`` by the pointwise kernel (exact); the gradient is 1 in ``a`` and
    ``-trunc(a / b)`` in ``b``."""

    @staticmethod
    def forward(ctx, a, b):
        out = run(ctx.backend.fmod, a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        be, (a, b, out) = ctx.backend, ctx.saved
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(be, grad, a.shape)
        if ctx.needs_input_grad[1]:
            quotient = Fmod.quotient(be, a, b, out)
            grad_b = unbroadcast(be, run(be.neg, run(be.mul, grad, quotient)), b.shape)
        return grad_a, grad_b

    @staticmethod
    def quotient(be: Any, a: Any, b: Any, out: Any) -> Any:
        """``trunc(a / b)`` as ``(a - fmod(a, b)) / b``, rounded to the whole number it is."""
        return run(be.rint, run(be.div, run(be.sub, a, out), b))

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        a, b = (_ew._t(x) for x in inputs)
        need_a, need_b = ctx.needs_input_grad
        quotient = None
        if need_b:
            be = _backend_of(grad)
            fmod_ab = run(be.fmod, a._data, b._data)
            quotient = Tensor._wrap(Fmod.quotient(be, a._data, b._data, fmod_ab))
        return (
            _ew._sum_to(grad, a) if need_a else None,
            _ew._sum_to(-grad * quotient, b) if need_b else None,
        )


def _floating_operands(input: Any, other: Any, name: str) -> tuple[Tensor, Tensor] | None:  # noqa: A002
    """Both operands as Tensors of their promoted dtype when it is floating, else None."""
    a, b = _ew._operands(input, other, name)
    dtype = a.dtype if isinstance(a, Tensor) else b.dtype
    if not dtypes.is_floating(dtype):
        return None
    a = a if isinstance(a, Tensor) else b.new_tensor(a)
    b = b if isinstance(b, Tensor) else a.new_tensor(b)
    return a, b


def _rounded_remainder(input: Any, other: Any, mode: str, name: str) -> Tensor:  # noqa: A002
    _tensor_or_number(input, name, "input")
    _tensor_or_number(other, name, "other")
    operands = _floating_operands(input, other, name)
    if operands is not None:
        a, b = operands
        exact = Fmod.apply(a, b)
        if mode == "trunc":
            return exact
        # the sign of other: add other where the fmod is non-zero and of the other sign
        with no_grad():
            nonzero = _ew.compare(exact, 0, "ne")
            flipped = _ew.compare(_ew.compare(exact, 0, "lt"), _ew.compare(b, 0, "lt"), "ne")
            shift = _ew.where(nonzero, flipped, False)
        return _ew.where(shift, _ew.add(exact, b), exact)
    quotient = _ew.div(input, other, rounding_mode=mode)
    result = _ew.sub(input, _ew.mul(quotient, other))
    if isinstance(quotient, Tensor) and not dtypes.is_floating(quotient.dtype):
        return result.to(quotient.dtype)
    return result


def remainder(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input - floor(input / other) * other``: the sign of ``other``, as Python's
    ``%`` and ``torch.remainder`` (floating operands exactly, through the ``fmod``
    kernel). Differentiable in both (``-floor(input / other)`` in ``other``).

    Example: ``fastdl.remainder(fastdl.tensor([-3, 3]), 2)`` is ``[1, 1]``.
    """
    check_out(out, "remainder")
    return write_out(_rounded_remainder(input, other, "floor", "remainder"), out, "remainder")


def fmod(input: Tensor, other: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input - trunc(input / other) * other``, exact: the sign of ``input``, as C's fmod.

    Example: ``fastdl.fmod(fastdl.tensor([-3.0, 3.0]), 2)`` is ``[-1., 1.]``.
    """
    _tensor_arg(input, "fmod")
    check_out(out, "fmod")
    return write_out(_rounded_remainder(input, other, "trunc", "fmod"), out, "fmod")


# -- simple unary maths ----------------------------------------------------------------


def neg(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``-input``. Example: ``fastdl.neg(fastdl.tensor([1.0, -2.0]))`` is ``[-1., 2.]``."""
    _tensor_arg(input, "neg")
    if input.dtype == dtypes.bool_:
        raise TypeError("neg: negation of a bool tensor is not supported; use ~ or logical_not")
    check_out(out, "neg")
    return write_out(_ew.neg(input), out, "neg")


negative = neg


def square(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input * input``. Example: ``fastdl.square(fastdl.tensor([3]))`` is ``[9]``."""
    _tensor_arg(input, "square")
    check_out(out, "square")
    x = input.to(dtypes.int64) if input.dtype == dtypes.bool_ else input
    return write_out(_ew.mul(x, x), out, "square")


def reciprocal(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``1 / input`` (float32 for integer input). Example: ``fastdl.reciprocal(x)``."""
    _tensor_arg(input, "reciprocal")
    check_out(out, "reciprocal")
    return write_out(_ew.div(1.0, _floating(input)), out, "reciprocal")


def frac(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The fractional part, ``input - trunc(input)`` (floating tensors only).

    Example: ``fastdl.frac(fastdl.tensor([-1.25, 2.5]))`` is ``[-0.25, 0.5]``.
    """
    _tensor_arg(input, "frac")
    if not dtypes.is_floating(input.dtype):
        raise TypeError(f"frac: expected a floating point tensor, got {input.dtype}")
    check_out(out, "frac")
    return write_out(_ew.sub(input, _pw.trunc(input)), out, "frac")


def sgn(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The sign of each element (:func:`fastdl.sign`; fastdl has no complex dtypes).

    Example: ``fastdl.sgn(fastdl.tensor([-2.0, 0.0]))`` is ``[-1., 0.]``.
    """
    _tensor_arg(input, "sgn")
    return _pw.sign(input, out=out)


def clamp_min(input: Tensor, min: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``max(input, min)``. Example: ``fastdl.clamp_min(x, 0.0)``."""
    _tensor_arg(input, "clamp_min")
    if min is None:
        raise TypeError("clamp_min: min must be a number or a Tensor, got None")
    return _ew.clamp(input, min=min, out=out)


def clamp_max(input: Tensor, max: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``min(input, max)``. Example: ``fastdl.clamp_max(x, 1.0)``."""
    _tensor_arg(input, "clamp_max")
    if max is None:
        raise TypeError("clamp_max: max must be a number or a Tensor, got None")
    return _ew.clamp(input, max=max, out=out)


def deg2rad(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Degrees to radians. Example: ``fastdl.deg2rad(fastdl.tensor([180.0]))`` is ``[pi]``."""
    _tensor_arg(input, "deg2rad")
    check_out(out, "deg2rad")
    return write_out(_ew.mul(_floating(input), math.pi / 180.0), out, "deg2rad")


def rad2deg(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Radians to degrees. Example: ``fastdl.rad2deg(fastdl.tensor([math.pi]))``."""
    _tensor_arg(input, "rad2deg")
    check_out(out, "rad2deg")
    return write_out(_ew.mul(_floating(input), 180.0 / math.pi), out, "rad2deg")


def float_power(input: Any, exponent: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input ** exponent`` computed in float64, as ``torch.float_power``.

    Example: ``fastdl.float_power(fastdl.tensor([2]), 3)`` is ``[8.]`` (float64).
    """
    _tensor_or_number(input, "float_power", "input")
    _tensor_or_number(exponent, "float_power", "exponent")
    check_out(out, "float_power")
    base = input.to(dtypes.float64) if isinstance(input, Tensor) else float(input)
    power = exponent.to(dtypes.float64) if isinstance(exponent, Tensor) else float(exponent)
    if not isinstance(base, Tensor):
        base = np.float64(base)
        return write_out(_ew.pow(power.new_tensor(base), power), out, "float_power")
    return write_out(_ew.pow(base, power), out, "float_power")


# -- interpolation ---------------------------------------------------------------------


def lerp(input: Tensor, end: Tensor, weight: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input + weight * (end - input)``; ``weight`` a number or a Tensor (broadcast).

    Example: ``fastdl.lerp(fastdl.zeros(2), fastdl.ones(2), 0.25)`` is ``[0.25, 0.25]``.
    """
    _tensor_arg(input, "lerp")
    _tensor_arg(end, "lerp", "end")
    _tensor_or_number(weight, "lerp", "weight")
    if input.dtype != end.dtype:
        raise TypeError(
            f"lerp: expected input ({input.dtype}) and end ({end.dtype}) of the same dtype"
        )
    if not dtypes.is_floating(input.dtype):
        raise TypeError(f"lerp: expected floating point tensors, got {input.dtype}")
    check_out(out, "lerp")
    return write_out(_ew.add(input, _ew.mul(weight, _ew.sub(end, input))), out, "lerp")


def addcmul(
    input: Tensor,  # noqa: A002
    tensor1: Tensor,
    tensor2: Tensor,
    *,
    value: Any = 1,
    out: Tensor | None = None,
) -> Tensor:
    """``input + value * tensor1 * tensor2`` (broadcast).

    Example: ``fastdl.addcmul(x, a, b, value=0.5)``.
    """
    _tensor_arg(input, "addcmul")
    _tensor_arg(tensor1, "addcmul", "tensor1")
    _tensor_arg(tensor2, "addcmul", "tensor2")
    check_out(out, "addcmul")
    product = _ew.mul(tensor1, tensor2)
    return write_out(_ew.add(input, product, alpha=value), out, "addcmul")


def addcdiv(
    input: Tensor,  # noqa: A002
    tensor1: Tensor,
    tensor2: Tensor,
    *,
    value: Any = 1,
    out: Tensor | None = None,
) -> Tensor:
    """``input + value * tensor1 / tensor2`` (broadcast); integer ``tensor1`` and
    ``tensor2`` are refused, as in PyTorch.

    Example: ``fastdl.addcdiv(x, a, b, value=0.5)``.
    """
    _tensor_arg(input, "addcdiv")
    _tensor_arg(tensor1, "addcdiv", "tensor1")
    _tensor_arg(tensor2, "addcdiv", "tensor2")
    if not dtypes.is_floating(tensor1.dtype) and not dtypes.is_floating(tensor2.dtype):
        raise TypeError(
            f"addcdiv: integer division of tensors is not supported (tensor1 {tensor1.dtype}, "
            f"tensor2 {tensor2.dtype}); use floating point tensors"
        )
    check_out(out, "addcdiv")
    quotient = _ew.div(tensor1, tensor2)
    return write_out(_ew.add(input, quotient, alpha=value), out, "addcdiv")


# -- logs ------------------------------------------------------------------------------


def logit(input: Tensor, eps: float | None = None, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``log(p / (1 - p))``, with ``p`` clamped to ``[eps, 1 - eps]`` when ``eps`` is given.

    Example: ``fastdl.logit(fastdl.tensor([0.5]))`` is ``[0.]``.
    """
    _tensor_arg(input, "logit")
    check_out(out, "logit")
    p = _floating(input)
    if eps is not None:
        p = _ew.clamp(p, float(eps), 1.0 - float(eps))
    return write_out(_ew.log(_ew.div(p, _ew.sub(1.0, p))), out, "logit")


def xlogy(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input * log(other)``, 0 where ``input`` is 0 (unless ``other`` is NaN).

    Example: ``fastdl.xlogy(fastdl.tensor([0.0, 2.0]), fastdl.tensor([0.0, 1.0]))`` is
    ``[0., 0.]``.
    """
    _tensor_or_number(input, "xlogy", "input")
    _tensor_or_number(other, "xlogy", "other")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("xlogy: expected at least one Tensor")
    check_out(out, "xlogy")
    x, y = _floating(input), _floating(other)
    x = x if isinstance(x, Tensor) else y.new_tensor(x)
    y = y if isinstance(y, Tensor) else x.new_tensor(y)
    with no_grad():
        # where x is 0 the product is 0 (unless y is NaN): there the log reads 1 in
        # place of a y whose log is -inf, NaN or inf, keeping the gradient in x log(y)
        awkward = _ew.where(_ew.compare(y, 0, "le"), True, _ew.compare(y, math.inf, "eq"))
        replace = _ew.where(_ew.compare(x, 0, "eq"), awkward, False)
        safe_y = _ew.where(replace, 1.0, y)
    y_used = _ew.where(replace, safe_y, y)
    return write_out(_ew.mul(x, _ew.log(y_used)), out, "xlogy")


def logaddexp(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``log(exp(input) + exp(other))`` without overflow.

    Example: ``fastdl.logaddexp(fastdl.tensor([0.0]), fastdl.tensor([0.0]))`` is ``[log 2]``.
    """
    _tensor_arg(input, "logaddexp")
    _tensor_arg(other, "logaddexp", "other")
    check_out(out, "logaddexp")
    a, b = _floating(input), _floating(other)
    top = _ew.maximum(a, b)
    gap = _ew.neg(_ew.abs(_ew.sub(a, b)))
    return write_out(_ew.add(top, _pw.log1p(_ew.exp(gap))), out, "logaddexp")


# -- trigonometric and hyperbolic functions -------------------------------------------


def tan(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Tangent. Example: ``fastdl.tan(fastdl.tensor([0.0]))`` is ``[0.]``."""
    return _pw._unary(input, "tan", out)


def sinh(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Hyperbolic sine. Example: ``fastdl.sinh(fastdl.tensor([0.0]))`` is ``[0.]``."""
    return _pw._unary(input, "sinh", out)


def cosh(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Hyperbolic cosine. Example: ``fastdl.cosh(fastdl.tensor([0.0]))`` is ``[1.]``."""
    return _pw._unary(input, "cosh", out)


def asin(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Inverse sine (NaN outside [-1, 1]). Example: ``fastdl.asin(fastdl.tensor([1.0]))``."""
    return _pw._unary(input, "asin", out)


def acos(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Inverse cosine (NaN outside [-1, 1]). Example: ``fastdl.acos(fastdl.tensor([1.0]))``."""
    return _pw._unary(input, "acos", out)


def atan(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Inverse tangent. Example: ``fastdl.atan(fastdl.tensor([1.0]))`` is ``[pi / 4]``."""
    return _pw._unary(input, "atan", out)


arcsin, arccos, arctan = asin, acos, atan


# -- gamma-function family and erfinv ------------------------------------------------------


def lgamma(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``log(|Gamma(x)|)``. Example: ``fastdl.lgamma(fastdl.tensor([4.0]))`` is ``[log 6]``."""
    return _pw._unary(input, "lgamma", out)


def digamma(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The derivative of :func:`lgamma` (``-inf`` at 0, NaN at negative integers);
    differentiable once. Example: ``fastdl.digamma(fastdl.tensor([1.0]))`` is ``[-0.5772]``.
    """
    return _pw._unary(input, "digamma", out)


def polygamma(n: int, input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The ``n``-th derivative of :func:`digamma`; fastdl has ``n`` 0 and 1.

    Example: ``fastdl.polygamma(1, fastdl.tensor([1.0]))`` is ``[pi**2 / 6]``.
    """
    if n not in (0, 1) or isinstance(n, bool):
        raise ValueError(f"polygamma: fastdl supports n = 0 and n = 1, got {n!r}")
    return _pw._unary(input, "digamma" if n == 0 else "trigamma", out)


def erfinv(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The inverse error function on [-1, 1] (``+-inf`` at ``+-1``, NaN outside).

    Example: ``fastdl.erfinv(fastdl.tensor([0.0]))`` is ``[0.]``.
    """
    return _pw._unary(input, "erfinv", out)


def atan2(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The angle of the point ``(other, input)``, in ``[-pi, pi]``: ``atan(input / other)``
    moved to the right quadrant.

    Example: ``fastdl.atan2(fastdl.tensor([1.0]), fastdl.tensor([-1.0]))`` is ``[3 pi / 4]``.
    """
    _tensor_arg(input, "atan2")
    _tensor_arg(other, "atan2", "other")
    check_out(out, "atan2")
    y, x = _floating(input), _floating(other)
    with no_grad():
        x_zero = _ew.compare(x, 0, "eq")
        left = _ew.compare(x, 0, "lt")
        y_down = _ew.compare(y, 0, "lt")
        # +-pi in the left half-plane (the sign of y; y = 0 counts as up), 0 elsewhere
        half_turn = _ew.where(y_down, y.new_tensor(-math.pi), y.new_tensor(math.pi))
        turn = _ew.where(left, half_turn, 0.0)
        safe_x = _ew.where(x_zero, 1.0, x)
    x_used = _ew.where(x_zero, safe_x, x)
    angle = _ew.add(atan(_ew.div(y, x_used)), turn)
    # On the y axis: +-pi/2 by the sign of y (0 at the origin), with the derivative
    # -1 / y in x and 0 in y that atan2 has there.
    with no_grad():
        axis = _ew.mul(_pw.sign(y), math.pi / 2)
        safe_y = _ew.where(_ew.compare(y, 0, "eq"), 1.0, y)
    on_axis = _ew.sub(axis, _ew.div(x, safe_y))
    return write_out(_ew.where(x_zero, on_axis, angle), out, "atan2")


arctan2 = atan2


def hypot(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``sqrt(input ** 2 + other ** 2)``. Example: ``fastdl.hypot(x, y)``."""
    _tensor_arg(input, "hypot")
    _tensor_arg(other, "hypot", "other")
    check_out(out, "hypot")
    a, b = _floating(input), _floating(other)
    return write_out(_ew.sqrt(_ew.add(_ew.mul(a, a), _ew.mul(b, b))), out, "hypot")


__all__ = [
    "acos", "addcdiv", "addcmul", "arccos", "arcsin", "arctan", "arctan2", "asin", "atan",
    "atan2", "clamp_max", "clamp_min", "cosh", "deg2rad", "digamma", "erfinv",
    "float_power", "lgamma", "polygamma",
    "floor_divide", "fmod", "frac", "hypot", "lerp", "logaddexp", "logit", "neg", "negative",
    "rad2deg", "reciprocal", "remainder", "sgn", "sinh", "square", "tan", "true_divide",
    "xlogy",
]  # fmt: skip
