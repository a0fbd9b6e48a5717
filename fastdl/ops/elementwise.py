"""Elementwise ops with NumPy broadcasting: arithmetic, unary math, clamp, where, comparisons.

Gradients of broadcast inputs are summed back to the input's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.autograd.function import Function
from fastdl.errors import DeviceError
from fastdl.ops._out import check_out, write_out
from fastdl.ops._util import empty, full, run, unbroadcast
from fastdl.ops.reduce import sum_to
from fastdl.tensor import Tensor, tensor

# -- double backward helpers ----------------------------------------------------------


def _t(x: Any) -> Tensor:
    """An operand as a Tensor: raw arrays and numbers become constants."""
    return x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x))


def _sum_to(x: Tensor, like: Any) -> Tensor:
    return sum_to(x, np.shape(like._data if isinstance(like, Tensor) else like))


def _const(backend: Any, kernel: str, x: Any) -> Tensor:
    """A constant (non-differentiable) function of x, e.g. its sign or a mask."""
    raw = x._data if isinstance(x, Tensor) else np.asarray(x)
    return Tensor._wrap(run(getattr(backend, kernel), raw))


# -- binary arithmetic ---------------------------------------------------------


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return run(ctx.backend.add, a, b)

    @staticmethod
    def backward(ctx, grad):
        be = ctx.backend
        return unbroadcast(be, grad, ctx.shapes[0]), unbroadcast(be, grad, ctx.shapes[1])

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        a, b = inputs
        return _sum_to(grad, a), _sum_to(grad, b)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return run(ctx.backend.sub, a, b)

    @staticmethod
    def backward(ctx, grad):
        be = ctx.backend
        grad_b = run(be.neg, grad) if ctx.needs_input_grad[1] else None
        return (
            unbroadcast(be, grad, ctx.shapes[0]),
            None if grad_b is None else unbroadcast(be, grad_b, ctx.shapes[1]),
        )

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        a, b = inputs
        return _sum_to(grad, a), _sum_to(-grad, b)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return run(ctx.backend.mul, a, b)

    @staticmethod
    def backward(ctx, grad):
        be, (a, b) = ctx.backend, ctx.saved
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(be, run(be.mul, grad, b), a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(be, run(be.mul, grad, a), b.shape)
        return grad_a, grad_b

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        a, b = inputs
        need_a, need_b = ctx.needs_input_grad
        return (
            _sum_to(grad * _t(b), a) if need_a else None,
            _sum_to(grad * _t(a), b) if need_b else None,
        )


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = run(ctx.backend.div, a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        be, (a, b, out) = ctx.backend, ctx.saved
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(be, run(be.div, grad, b), a.shape)
        if ctx.needs_input_grad[1]:
            # d(a/b)/db = -(a/b)/b
            grad_b = run(be.neg, run(be.div, run(be.mul, grad, out), b))
            grad_b = unbroadcast(be, grad_b, b.shape)
        return grad_a, grad_b

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        a, b = _t(inputs[0]), _t(inputs[1])
        need_a, need_b = ctx.needs_input_grad
        return (
            _sum_to(grad / b, a) if need_a else None,
            _sum_to(-grad * a / (b * b), b) if need_b else None,
        )


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = run(ctx.backend.pow, a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        be, (a, b, out) = ctx.backend, ctx.saved
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            # d(a^b)/da = b * a^(b-1)
            b_minus_one = run(be.sub, b, np.ones((), b.dtype))
            grad_a = run(be.mul, run(be.mul, grad, b), run(be.pow, a, b_minus_one))
            grad_a = unbroadcast(be, grad_a, a.shape)
        if ctx.needs_input_grad[1]:
            # d(a^b)/db = a^b * log(a), defined for a > 0
            grad_b = run(be.mul, run(be.mul, grad, out), run(be.log, a))
            grad_b = unbroadcast(be, grad_b, b.shape)
        return grad_a, grad_b

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        a, b = _t(inputs[0]), _t(inputs[1])
        need_a, need_b = ctx.needs_input_grad
        return (
            _sum_to(grad * b * a ** (b - 1.0), a) if need_a else None,
            _sum_to(grad * a**b * a.log(), b) if need_b else None,
        )


# -- unary math ----------------------------------------------------------------


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return run(ctx.backend.neg, x)

    @staticmethod
    def backward(ctx, grad):
        return run(ctx.backend.neg, grad)

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return -grad


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = run(ctx.backend.exp, x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return run(ctx.backend.mul, grad, ctx.saved[0])

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return grad * inputs[0].exp()


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return run(ctx.backend.log, x)

    @staticmethod
    def backward(ctx, grad):
        return run(ctx.backend.div, grad, ctx.saved[0])

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return grad / inputs[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        out = run(ctx.backend.sqrt, x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        be = ctx.backend
        twice = run(be.mul, ctx.saved[0], np.full((), 2, grad.dtype))
        return run(be.div, grad, twice)

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return grad / (2.0 * inputs[0].sqrt())


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return run(ctx.backend.abs, x)

    @staticmethod
    def backward(ctx, grad):
        be = ctx.backend
        return run(be.mul, grad, run(be.sign, ctx.saved[0]))

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return grad * _const(ctx.backend, "sign", inputs[0])


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        out = empty(x.shape, x.dtype)
        ctx.backend.clamp(x, lo, hi, out)
        return out

    @staticmethod
    def inside(be: Any, x: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
        """Where lo <= x <= hi: there the gradient passes, as in PyTorch."""
        inside = full(x.shape, True, dtypes.bool_)
        for bound, op in ((lo, "ge"), (hi, "le")):
            if bound is not None:
                mask = empty(x.shape, dtypes.bool_)
                be.compare(x, np.asarray(bound, x.dtype), op, mask)
                be.mul(inside, mask, inside)
        return inside

    @staticmethod
    def backward(ctx, grad):
        be, (x,), (lo, hi) = ctx.backend, ctx.saved, ctx.bounds
        inside = Clamp.inside(be, x, lo, hi)
        return run(be.where, inside, grad, np.zeros((), grad.dtype)), None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        x, lo, hi = inputs
        inside = Clamp.inside(ctx.backend, x._data, lo, hi)
        return Where.apply(inside, grad, np.zeros((), grad.dtype)), None, None


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        ctx.shapes = (a.shape, b.shape)
        return run(ctx.backend.where, cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        be, cond = ctx.backend, ctx.cond
        zero = np.zeros((), grad.dtype)
        grad_a = grad_b = None
        if ctx.needs_input_grad[1]:
            grad_a = unbroadcast(be, run(be.where, cond, grad, zero), ctx.shapes[0])
        if ctx.needs_input_grad[2]:
            grad_b = unbroadcast(be, run(be.where, cond, zero, grad), ctx.shapes[1])
        return None, grad_a, grad_b

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        cond, a, b = inputs
        zero = np.zeros((), grad.dtype)
        need_a, need_b = ctx.needs_input_grad[1:]
        return (
            None,
            _sum_to(Where.apply(cond, grad, zero), a) if need_a else None,
            _sum_to(Where.apply(cond, zero, grad), b) if need_b else None,
        )


# -- public functions ------------------------------------------------------------


def _operands(a: Any, b: Any, op: str) -> tuple[Any, Any]:
    """Give both operands one dtype by PyTorch's promotion rules; numbers become
    0-d arrays, Tensors stay Tensors (cast when their dtype must change)."""
    a_is, b_is = isinstance(a, Tensor), isinstance(b, Tensor)
    if a_is and b_is:
        dtype = a._data.dtype
        if dtype == b._data.dtype and op != "div":  # the usual case: nothing to promote
            return a, b
        dtype = dtypes.promote(dtype, b.dtype)
    elif a_is:
        dtype = dtypes.promote_scalar(a.dtype, _scalar(b, op))
    elif b_is:
        dtype = dtypes.promote_scalar(b.dtype, _scalar(a, op))
    else:
        raise TypeError(f"{op}: expected at least one Tensor")
    if op == "div" and not dtypes.is_floating(dtype):
        dtype = dtypes.float32  # true division, as in PyTorch
    return _as(a, dtype), _as(b, dtype)


def _scalar(value: Any, op: str) -> Any:
    if isinstance(value, bool | int | float | np.integer | np.floating):
        return value
    if isinstance(value, np.ndarray):
        raise TypeError(
            f"{op}: cannot combine a Tensor with a NumPy array; wrap it with fastdl.tensor()"
        )
    raise TypeError(f"{op}: unsupported operand of type {type(value).__name__}")


def _as(value: Any, dtype: np.dtype) -> Any:
    if isinstance(value, Tensor):
        return value if value.dtype == dtype else value.to(dtype)
    return np.asarray(value, dtype=dtype)


def add(input: Any, other: Any, *, alpha: Any = 1, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input + alpha * other`` with broadcasting. Example: ``fastdl.add(x, y, alpha=0.5)``."""
    if alpha != 1:
        check_out(out, "add")
        other = mul(other, alpha)
    elif out is None:
        return Add.apply(*_operands(input, other, "add"))
    check_out(out, "add")
    return write_out(Add.apply(*_operands(input, other, "add")), out, "add")


def sub(input: Any, other: Any, *, alpha: Any = 1, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input - alpha * other`` with broadcasting. Example: ``fastdl.sub(x, 1.0)``."""
    if alpha != 1:
        check_out(out, "sub")
        other = mul(other, alpha)
    elif out is None:
        return Sub.apply(*_operands(input, other, "sub"))
    check_out(out, "sub")
    return write_out(Sub.apply(*_operands(input, other, "sub")), out, "sub")


def mul(input: Any, other: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input * other`` with broadcasting. Example: ``fastdl.mul(x, 2.0)``."""
    if out is None:
        return Mul.apply(*_operands(input, other, "mul"))
    check_out(out, "mul")
    return write_out(Mul.apply(*_operands(input, other, "mul")), out, "mul")


_ROUNDING = {"trunc": "trunc", "floor": "floor"}


def div(
    input: Any,  # noqa: A002
    other: Any,
    *,
    rounding_mode: str | None = None,
    out: Tensor | None = None,
) -> Tensor:
    """``input / other``: true division, or rounded toward zero (``rounding_mode="trunc"``)
    or down (``"floor"``); integer operands then give an integer result, as in PyTorch.

    Example: ``fastdl.div(fastdl.tensor([-7]), 2, rounding_mode="floor")`` is ``[-4]``.
    """
    if rounding_mode is not None and rounding_mode not in _ROUNDING:
        raise ValueError(
            f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}"
        )
    check_out(out, "div")
    if rounding_mode is None:
        return write_out(Div.apply(*_operands(input, other, "div")), out, "div")
    a, b = _operands(input, other, "floor_divide")
    integral = not dtypes.is_floating(_operand_dtype(a, b))
    if integral:  # exact up to 2**53, through float64 as NumPy's floor_divide on floats
        a, b = _as(a, dtypes.float64), _as(b, dtypes.float64)
    from fastdl.ops import pointwise  # pointwise builds on this module

    quotient = Div.apply(a, b)
    rounded = pointwise.UnaryMath.apply(quotient, _ROUNDING[rounding_mode])
    return write_out(rounded.to(dtypes.int64) if integral else rounded, out, "div")


def _operand_dtype(a: Any, b: Any) -> np.dtype:
    return a.dtype if isinstance(a, Tensor) else b.dtype


def pow(input: Any, exponent: Any, *, out: Tensor | None = None) -> Tensor:  # noqa: A001, A002
    """``input ** exponent``; either may be a number. Example: ``fastdl.pow(x, 2)``."""
    check_out(out, "pow")
    return write_out(Pow.apply(*_operands(input, exponent, "pow")), out, "pow")


def neg(x: Tensor) -> Tensor:
    return Neg.apply(x)


def _floating(x: Tensor) -> Tensor:
    return x if dtypes.is_floating(x.dtype) else x.to(dtypes.float32)


def exp(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Elementwise exp. Example: ``fastdl.exp(fastdl.tensor([1.0]))``."""
    check_out(out, "exp")
    return write_out(Exp.apply(_floating(input)), out, "exp")


def log(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Elementwise log. Example: ``fastdl.log(fastdl.tensor([1.0]))``."""
    check_out(out, "log")
    return write_out(Log.apply(_floating(input)), out, "log")


def sqrt(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Elementwise sqrt. Example: ``fastdl.sqrt(fastdl.tensor([1.0]))``."""
    check_out(out, "sqrt")
    return write_out(Sqrt.apply(_floating(input)), out, "sqrt")


def abs(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A001, A002
    """Elementwise absolute value. Example: ``fastdl.abs(fastdl.tensor([-1.0]))``."""
    check_out(out, "abs")
    return write_out(Abs.apply(input), out, "abs")


def clamp(
    input: Tensor,  # noqa: A002
    min: Any = None,  # noqa: A002
    max: Any = None,  # noqa: A002
    *,
    out: Tensor | None = None,
) -> Tensor:
    """Clamp every element into ``[min, max]``; each bound is a number, a Tensor
    (broadcast) or None (no bound), not both None. Tensor bounds get gradients where
    they are the result, as in PyTorch. With number bounds the result's dtype follows
    PyTorch's promotion: a float bound lifts an integer or bool tensor to float32, an
    int bound lifts a bool tensor to int64.

    Example: ``fastdl.clamp(fastdl.tensor([-2.0, 0.5, 3.0]), min=-1, max=1)``.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"clamp: input must be a Tensor, got {type(input).__name__}")
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    check_out(out, "clamp")
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        return write_out(Clamp.apply(_promoted_for_bounds(input, min, max), min, max), out, "clamp")
    result = input
    if min is not None:  # NaN compares False, so it passes through
        result = where(compare(result, min, "lt"), min, result)
    if max is not None:
        result = where(compare(result, max, "gt"), max, result)
    return write_out(result, out, "clamp")


def _promoted_for_bounds(x: Tensor, min: Any, max: Any) -> Tensor:  # noqa: A002
    """``x`` in the dtype PyTorch gives ``clamp(x, min, max)`` for number bounds, with
    the bounds checked against it."""
    dtype = x.dtype
    for argument, bound in (("min", min), ("max", max)):
        if bound is None:
            continue
        if not isinstance(bound, bool | int | float | np.bool_ | np.integer | np.floating):
            raise TypeError(
                f"clamp: {argument} must be a real number, a Tensor or None, "
                f"got {type(bound).__name__}"
            )
        dtype = dtypes.promote(dtype, dtypes.promote_scalar(x.dtype, bound))
    if dtype.kind == "i":
        info = np.iinfo(dtype)
        for argument, bound in (("min", min), ("max", max)):
            if bound is not None and not info.min <= bound <= info.max:
                raise ValueError(f"clamp: {argument}={bound} does not fit the input's {dtype}")
    return x if dtype == x.dtype else x.to(dtype)


clip = clamp


def maximum(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The elementwise larger of two tensors; NaN propagates, and a tie splits the
    gradient evenly between them, as in PyTorch. Example: ``fastdl.maximum(x, y)``."""
    check_out(out, "maximum")
    return write_out(_extreme(input, other, "gt", "lt"), out, "maximum")


def minimum(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The elementwise smaller of two tensors (see :func:`maximum`)."""
    check_out(out, "minimum")
    return write_out(_extreme(input, other, "lt", "gt"), out, "minimum")


def _extreme(a: Tensor, b: Tensor, wins: str, loses: str) -> Tensor:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("maximum/minimum: input and other must be Tensors")
    a, b = _operands(a, b, "maximum")
    # Ties (and NaN, which compares False both ways) take the mean: the tie's value
    # itself, NaN where either is NaN, and half the gradient each.
    tie = (a + b) * 0.5 if dtypes.is_floating(a.dtype) else a
    return where(compare(a, b, wins), a, where(compare(a, b, loses), b, tie))


def where(condition: Tensor, a: Any, b: Any) -> Tensor:
    """Elementwise ``a if condition else b`` with broadcasting."""
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {cond.dtype}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = tensor(_scalar(a, "where"))
    a, b = _operands(a, b, "where")
    return Where.apply(cond, a, b)


def compare(a: Any, b: Any, op: str) -> Tensor:
    """Elementwise comparison (``op`` one of eq, ne, lt, le, gt, ge) -> bool tensor."""
    a, b = _operands(a, b, op)
    a_raw = a._data if isinstance(a, Tensor) else a
    b_raw = b._data if isinstance(b, Tensor) else b
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.device != b.device:
        raise DeviceError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{a.device} and {b.device}! ({op})"
        )
    backend = backends.for_device(a.device if isinstance(a, Tensor) else b.device)
    out = backend.empty(np.broadcast_shapes(a_raw.shape, b_raw.shape), dtypes.bool_)
    backend.compare(a_raw, b_raw, op, out)
    return Tensor._wrap(out)
