"""Delivering gradients into leaves' ``.grad``, and the two shortcuts that save a copy.

**Stale buffers.** ``zero_grad`` does not fill a gradient with zeros: it marks the leaf
``_grad_stale``. Invariant: *a stale leaf's* ``.grad`` *buffer holds garbage and means
zero.* So the first gradient to arrive overwrites the buffer instead of adding to it,
and a Function with ``writes_leaf_grads = True`` is offered the buffer
(``ctx.grad_buffers[i]``, from :func:`stale_buffers`) to compute input ``i``'s
gradient straight into it: a Linear layer's weight gradient goes from the matmul into
the flat gradient buffer with no temporary. Returning that very buffer as the
gradient says the write happened (:func:`wrote_in_place` then clears the mark). A
buffer is offered to one input of one node only, so two writers never share it.
Reading ``Tensor.grad`` while stale writes the zeros first. ``zero_grad(set_to_none=True)``
marks the buffer stale with ``GRAD_NONE`` instead: ``.grad`` reads as None, and the next
gradient still lands in the kept buffer (an optimizer's flat buffer stays one).

**Ownership.** ``ctx.give(array)`` hands the engine a gradient. Invariant: *a given
array was allocated by that backward, is referenced nowhere else, and is the
gradient of exactly one input* (:func:`owned` checks the last part). Only such an
array may become a leaf's ``.grad`` without a copy; any other is copied, so a leaf's
gradient never aliases another tensor's storage.

Everything else is plain accumulation, ``leaf.grad += g``, in place, so a gradient
that is a view into a flat buffer stays one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import backends
from fastdl.tensor import Tensor


def stale_buffers(node: Any) -> tuple:
    """Per input of ``node``: the stale gradient buffer of a leaf the op may compute
    into, or None. A buffer is offered once per node, so two inputs never share it."""
    offered, seen = [], set()
    for inp, parent in zip(node.inputs, node.parents):
        if (
            parent is None
            and isinstance(inp, Tensor)
            and inp._grad_stale
            and inp.requires_grad
            and id(inp) not in seen
        ):
            seen.add(id(inp))
            offered.append(inp._grad._data)
        else:
            offered.append(None)
    return tuple(offered)


def wrote_in_place(tensor: Tensor, grad: Any) -> bool:
    """Whether ``grad`` is ``tensor``'s own stale buffer, which the op has written: the
    gradient is then delivered, and the buffer no longer stale."""
    if tensor._grad_stale and grad is tensor._grad._data:
        tensor._grad_stale = False
        return True
    return False


def owned(grad: Any, given: set[int], grads: tuple) -> bool:
    """Whether ``grad`` was handed over with ``ctx.give`` (its id is in ``given``) and is
    the gradient of one input only (``grads``: all the node's input gradients)."""
    if id(grad) not in given:
        return False
    count = 0
    for other in grads:
        if other is grad:
            count += 1
    return count == 1


def accumulate(leaf: Tensor, grad: Any, owned: bool = False) -> None:
    """``leaf.grad += grad`` (``grad`` broadcast to the leaf's shape), honouring a stale
    buffer and adopting an owned array (see the module docstring)."""
    if isinstance(grad, Tensor):  # create_graph: the gradient keeps its graph
        if grad.shape != leaf.shape:
            grad = grad + Tensor._wrap(np.zeros(leaf.shape, grad.dtype))
        current = leaf.grad
        leaf._grad = grad if current is None else current + grad
        leaf._grad_stale = False
        return
    be = backends.of(grad)
    if grad.shape != leaf.shape:
        grad = be.broadcast_to(grad, leaf.shape)
    if leaf._grad is None:
        if owned and be.is_contiguous(grad):
            leaf._grad = Tensor._wrap(grad)
        else:
            copy = be.empty(leaf.shape, leaf.dtype)
            be.copy(grad, copy)
            leaf._grad = Tensor._wrap(copy)
    elif leaf._grad_stale:  # logically zero: overwrite instead of adding
        be.copy(grad, leaf._grad._data)
        leaf._grad_stale = False
    else:
        be.add_into(leaf._grad._data, grad)
