"""Elementwise ops with NumPy broadcasting: arithmetic, unary math, clamp, where, comparisons.

Gradients of broadcast inputs are summed back to the input's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.autograd.function import Function
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
        dtype = dtypes.promote(a.dtype, b.dtype)
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


def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with broadcasting. Example: ``fastdl.add(x, 1.0)``."""
    return Add.apply(*_operands(a, b, "add"))


def sub(a: Any, b: Any) -> Tensor:
    return Sub.apply(*_operands(a, b, "sub"))


def mul(a: Any, b: Any) -> Tensor:
    return Mul.apply(*_operands(a, b, "mul"))


def div(a: Any, b: Any) -> Tensor:
    return Div.apply(*_operands(a, b, "div"))


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001
    return Pow.apply(*_operands(a, b, "pow"))


def neg(x: Tensor) -> Tensor:
    return Neg.apply(x)


def _floating(x: Tensor) -> Tensor:
    return x if dtypes.is_floating(x.dtype) else x.to(dtypes.float32)


def exp(x: Tensor) -> Tensor:
    return Exp.apply(_floating(x))


def log(x: Tensor) -> Tensor:
    return Log.apply(_floating(x))


def sqrt(x: Tensor) -> Tensor:
    return Sqrt.apply(_floating(x))


def abs(x: Tensor) -> Tensor:  # noqa: A001
    return Abs.apply(x)


def clamp(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clamp every element into ``[min, max]``; either bound may be None."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(x, min, max)


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
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{a.device} and {b.device}! ({op})"
        )
    backend = backends.for_device(a.device if isinstance(a, Tensor) else b.device)
    out = backend.empty(np.broadcast_shapes(a_raw.shape, b_raw.shape), dtypes.bool_)
    backend.compare(a_raw, b_raw, op, out)
    return Tensor._wrap(out)
