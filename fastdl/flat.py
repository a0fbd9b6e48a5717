"""Flat parameter and gradient buffers.

:func:`flatten` lays parameters of one dtype out in one contiguous values buffer
and one gradient buffer, and rebinds each parameter's storage and ``.grad`` as
views into them (a parameter without a gradient keeps reading ``.grad`` as None; its
view waits for the first backward). Then zeroing gradients is one fill and an optimizer step is one
fused kernel over the whole buffer. Calling it again on parameters that already
form one contiguous run of a buffer does nothing. Buffers live where their
parameters do: parameters on a GPU get device buffers (one per device and dtype).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl import backends
from fastdl.tensor import Tensor

# id(values buffer) -> FlatBuffer, so a second flatten() finds the first one.
_REGISTRY: weakref.WeakValueDictionary[int, FlatBuffer] = weakref.WeakValueDictionary()
# Arrays without a NumPy ``.base`` (device arrays) are found by the first parameter's id
# (checked for identity on lookup; Tensor's elementwise == rules out weak-keyed dicts).
_BY_FIRST_PARAM: weakref.WeakValueDictionary[int, FlatBuffer] = weakref.WeakValueDictionary()


class FlatBuffer:
    """Parameters of one dtype sharing a values buffer and a gradient buffer.

    ``values[offsets[i]:offsets[i+1]]`` is parameter ``i``'s storage (reshaped), and
    the same slice of ``grads`` its gradient.
    """

    def __init__(self, params: Sequence[Tensor]) -> None:
        self.params = list(params)
        self.device = self.params[0].device
        sizes = [p._data.size for p in self.params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        dtype = self.params[0].dtype
        be = self.backend()
        self.values = be.empty((int(self.offsets[-1]),), dtype)
        self.grads = be.full((int(self.offsets[-1]),), 0, dtype)
        self.empty = be.empty((0,), dtype)  # stands in for an optimizer's unused state
        self.value_views: list[Any] = []
        self.grad_views: list[Any] = []
        for i, p in enumerate(self.params):
            value = self.values[self.offsets[i] : self.offsets[i + 1]].reshape(p.shape)
            grad = self.grads[self.offsets[i] : self.offsets[i + 1]].reshape(p.shape)
            be.copy(p._data, value)
            had_grad = p.grad is not None
            if had_grad:
                be.copy(p.grad._data, grad)
            p._data = value
            p.grad = Tensor._wrap(grad)
            if not had_grad:  # stays None, and the first backward writes into the view
                p._mark_grad_stale(to_none=True)
            self.value_views.append(value)
            self.grad_views.append(grad)
        _REGISTRY[id(self.values)] = self
        _BY_FIRST_PARAM[id(self.params[0])] = self

    def backend(self) -> Any:
        """The kernels for this buffer's device (the CPU backend chosen at call time)."""
        return backends.for_device(self.device)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def slice(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def sync(self) -> list[bool]:
        """Re-attach storage the user rebound (``p.data = ...``, ``p.grad = ...``) and
        report, per parameter, whether it has a gradient.

        A parameter whose shape or dtype changed after flattening (``module.to(...)``)
        cannot be re-attached: that raises, as the optimizer must be rebuilt.
        """
        has_grad = []
        be = None
        for p, value, grad in zip(self.params, self.value_views, self.grad_views):
            if p._data is not value:
                if (
                    p._data.shape != value.shape
                    or p._data.dtype != value.dtype
                    or p.device != self.device
                ):
                    raise RuntimeError(
                        f"a parameter changed from {value.shape} {value.dtype} on "
                        f"{self.device} to {p._data.shape} {p._data.dtype} on {p.device} "
                        "after the optimizer was built; build the optimizer after "
                        "model.to(...)"
                    )
                be = be or self.backend()
                be.copy(p._data, value)
                p._data = value
            if not p._has_grad or not p.requires_grad:  # frozen after flattening: skipped
                has_grad.append(False)
                continue
            current = p.grad  # a gradient still stale here is zero: this writes the zeros
            if current._data is not grad:
                be = be or self.backend()
                be.copy(current._data, grad)
                p.grad = Tensor._wrap(grad)
            has_grad.append(True)
        return has_grad


def _existing(params: Sequence[Tensor]) -> FlatBuffer | None:
    """The FlatBuffer these parameters already form, in this order, if any."""
    base = getattr(params[0]._data, "base", None)  # a NumPy view's buffer
    found = _REGISTRY.get(id(base)) if base is not None else None
    if found is None:
        found = _BY_FIRST_PARAM.get(id(params[0]))
        if found is not None and found.value_views[0] is not params[0]._data:
            found = None
    if found is None or len(found.params) != len(params):
        return None
    if all(a is b for a, b in zip(found.params, params)):
        return found
    return None


def flatten(params: Sequence[Tensor]) -> list[FlatBuffer]:
    """Lay ``params`` out in one flat buffer per dtype; returns the buffers.

    Example::

        buffers = fastdl.flat.flatten(model.parameters())
        buffers[0].grads.fill(0)        # zero every gradient at once
    """
    by_dtype: dict[tuple[str, np.dtype], list[Tensor]] = {}
    for p in params:
        by_dtype.setdefault((p.device, p.dtype), []).append(p)
    buffers = []
    for group in by_dtype.values():
        buffers.append(_existing(group) or FlatBuffer(group))
    return buffers
