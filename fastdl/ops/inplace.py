"""In-place ops as PyTorch has them: ``x.add_(y)``, ``x += y``, ``relu_``, ``copy_``, ``fill_``.

An in-place op writes into the tensor's own storage, so every alias (``.data``,
views, a flat parameter buffer) sees the new values, and bumps the storage's version
counter. Under ``no_grad`` (or when nothing involved requires grad) that is all. When
the op must be recorded (grad mode on, and the tensor or an operand requires grad) it
runs out of place on the tensor's old value, the result is written into the storage,
and the tensor is rebound to the result's graph node, so gradients flow as if the op
had been out of place. An op whose backward needs the old value runs on a clone of
it, and an op that overwrote an array another node saved makes that node's backward
raise (:func:`fastdl.autograd.engine.check_saved`) instead of giving wrong gradients.

Example::

    w = fastdl.randn(3, requires_grad=True)
    (w * w).sum().backward()
    with fastdl.no_grad():
        w -= 0.1 * w.grad            # w stays the same leaf, requiring grad
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd.function import Function
from fastdl.autograd.grad_mode import is_grad_enabled, no_grad
from fastdl.errors import ShapeError
from fastdl.ops import shape as _shape
from fastdl.ops._util import empty, unbroadcast
from fastdl.tensor import Tensor, _backend_of, views_of


class Overwrite(Function):
    """``old``'s values replaced by ``new`` (broadcast): the gradient reaches ``new`` only."""

    @staticmethod
    def forward(ctx, old, new):
        ctx.new_shape = new.shape
        out = empty(old.shape, old.dtype)
        ctx.backend.copy(new, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[1]:
            return None, None
        return None, unbroadcast(ctx.backend, grad, ctx.new_shape)

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        if not ctx.needs_input_grad[1]:
            return None, None
        from fastdl.ops.reduce import sum_to

        return None, sum_to(grad, ctx.new_shape)


def check_leaf(t: Tensor, name: str) -> None:
    """PyTorch's refusal of an in-place op on a leaf (or a view of one) requiring grad."""
    if not is_grad_enabled():
        return
    if t.requires_grad and t._node is None:
        raise RuntimeError(
            f"{name}: a leaf Variable that requires grad is being used in an in-place "
            "operation; wrap it in fastdl.no_grad() or use the out-of-place form"
        )
    base = t._base
    if base is not None and base.requires_grad and base._node is None:
        raise RuntimeError(
            f"{name}: a view of a leaf Variable that requires grad is being used in an "
            "in-place operation"
        )


def records(t: Tensor, operands: tuple) -> bool:
    """Whether an in-place op on ``t`` with ``operands`` must enter the graph."""
    if not is_grad_enabled():
        return False
    return t.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in operands)


def apply(
    t: Tensor,
    name: str,
    compute: Callable[[Tensor], Tensor],
    operands: tuple = (),
    needs_old: bool = True,
) -> Tensor:
    """Write ``compute(t)`` into ``t``'s storage and return ``t``.

    ``needs_old``: whether ``compute``'s backward reads ``t``'s old values (then it
    runs on a clone of them when recorded, since the storage is about to change).
    """
    check_leaf(t, name)
    if not records(t, operands):
        with no_grad():
            result = compute(t)
        write(t, result, name)
        return t
    result = compute(_shape.clone(t) if needs_old else _alias(t))
    if result.dtype != t.dtype:
        _check_cast(result.dtype, t.dtype, name)
        result = result.to(t.dtype)
    write(t, result, name)
    rebind(t, result)
    return t


def overwrite(t: Tensor, name: str, new: Any) -> Tensor:
    """Replace ``t``'s values by ``new`` (an array or Tensor broadcast to ``t``'s shape,
    on ``t``'s device): ``fill_``, ``copy_`` and the random initialisers."""
    check_leaf(t, name)
    _check_broadcast(getattr(new, "shape", ()), t.shape, name)
    if not records(t, (new,)):
        raw = new._data if isinstance(new, Tensor) else new
        _backend_of(t).copy(raw, t._data)
        t._bump_version()
        return t
    result = Overwrite.apply(_alias(t), new)
    write(t, result, name)
    rebind(t, result)
    return t


def write(t: Tensor, result: Tensor, name: str) -> None:
    """Copy ``result``'s values into ``t``'s storage (same shape, castable dtype)."""
    _check_cast(result.dtype, t.dtype, name)
    if result.shape != t.shape:
        raise ShapeError(
            f"{name}: output with shape {t.shape} doesn't match the broadcast shape {result.shape}"
        )
    if result._data is not t._data:
        _backend_of(t).copy(result._data, t._data)
    t._bump_version()


def rebind(t: Tensor, result: Tensor) -> None:
    """Make ``t`` stand for ``result`` in the graph, each base it is a view of for the
    matching view of it, and every other view of that storage for its view of the
    written base (PyTorch's view rebase): a later use of a sibling view differentiates
    through the write."""
    t._node = result._node
    t.requires_grad = result.requires_grad
    written = {id(t)}
    view_of = t._view_of
    while view_of is not None:
        base, inverse = view_of
        with_graph = inverse(t)
        base._node = with_graph._node
        base.requires_grad = with_graph.requires_grad
        written.add(id(base))
        t, view_of = base, base._view_of
    _rebase_views(t, written)


def _rebase_views(root: Tensor, written: set) -> None:
    """Rebuild the graph of every view under ``root`` not in ``written`` from its
    (already rebuilt) base, walking down from ``root``."""
    stack = [root]
    while stack:
        base = stack.pop()
        for view, forward in views_of(base):
            if id(view) not in written:
                fresh = forward(base)
                view._node = fresh._node
                view.requires_grad = fresh.requires_grad
            stack.append(view)


def _alias(t: Tensor) -> Tensor:
    """A tensor object standing for ``t``'s value before the op (same storage and
    graph node, its own version counter): the recorded op's input."""
    alias = Tensor._wrap(t._data)
    alias._node = t._node
    alias.requires_grad = t.requires_grad
    return alias


def _check_cast(source: np.dtype, target: np.dtype, name: str) -> None:
    lossy = (dtypes.is_floating(source) and not dtypes.is_floating(target)) or (
        source == dtypes.int64 and target == dtypes.bool_
    )
    if lossy:
        raise RuntimeError(
            f"{name}: result type {source} can't be cast to the desired output type {target}"
        )


def _check_broadcast(source: tuple, target: tuple, name: str) -> None:
    try:
        shape = np.broadcast_shapes(tuple(source), tuple(target))
    except ValueError:
        shape = None
    if shape != tuple(target):
        raise ShapeError(f"{name}: src of shape {tuple(source)} cannot be broadcast to {target}")
