"""The kernel-level :class:`Function` every fastdl op derives from (a forward on raw
arrays and its backward), its per-call :class:`Context`, and the :class:`Node` that
``apply`` records on an output for the engine (:mod:`fastdl.autograd.engine`) to walk.
User code subclasses :class:`fastdl.autograd.Function` instead
(:mod:`fastdl.autograd.custom_function`, whose ``ctx`` is :class:`FunctionCtx` and whose
``backward`` may be decorated with :func:`once_differentiable`, both defined here
under PyTorch's names).

``apply`` unwraps Tensors to their arrays, finds the backend serving where they live
(one type check for host arrays; ``backends.of`` for a device's), runs ``forward`` with
that backend active for allocations when it is a device's, and wraps the result.

Example::

    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved
            return 2 * x * grad

    y = Square.apply(fastdl.tensor([3.0], requires_grad=True))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import backends
from fastdl import tensor as _tensor
from fastdl.autograd.grad_mode import _anomaly, _grad_mode, no_grad
from fastdl.backends.host import ARRAY_TYPES as _HOST_TYPES
from fastdl.errors import DeviceError
from fastdl.tensor import Tensor


class Context:
    """Per-call scratch space shared by a Function's forward and backward.

    ``backend`` serves the call's arrays; ``saved`` holds what ``save_for_backward``
    kept; ``grad_buffers`` (during ``backward`` of a Function with
    ``writes_leaf_grads``) and ``give`` are the two leaf-gradient shortcuts of
    :mod:`fastdl.autograd.leaf_grads`.
    """

    # Defaults live on the class, so that building a context (once per op call) sets
    # two attributes only; an instance's own value shadows each when it is written.
    saved: tuple = ()
    grad_buffers: tuple = ()
    fresh: set[int] | frozenset = frozenset()  # ids of the arrays handed over with ``give``

    def __init__(self, backend: Any, needs_input_grad: tuple[bool, ...]) -> None:
        self.backend = backend
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays

    def give(self, array: Any) -> Any:
        """Hand over a gradient ``backward`` allocated and keeps no other reference to;
        the engine may then adopt it as a leaf's ``.grad`` instead of copying it (see
        :func:`fastdl.autograd.leaf_grads.owned`). Returns ``array``."""
        if not self.fresh:
            self.fresh = set()
        self.fresh.add(id(array))
        return array


class Node:
    """One recorded call: the Function, its context and its input tensors."""

    __slots__ = ("function", "ctx", "inputs", "parents", "freed", "tick", "output", "hooks")

    def __init__(
        self,
        function: type,
        ctx: Context,
        inputs: tuple,
        output: Tensor,
        parents: tuple | None = None,
    ) -> None:
        self.function = function
        self.ctx = ctx
        self.inputs = inputs
        # The producing node of each input as it was when recorded: an in-place op
        # that later rebinds an input tensor must not rewire this graph. (``apply``
        # passes them in, read on its way through the inputs.)
        if parents is None:
            parents = tuple(getattr(t, "_node", None) for t in inputs)
        self.parents = parents
        self.freed = False
        # For the saved-tensor check: the in-place clock now, and the output's version
        # counter with the id of its array (not the array: the node must not keep it).
        self.tick = _tensor._clock[0]
        self.output = (output._version, id(output._data))
        self.hooks: dict | None = None  # the output tensor's hooks (Tensor.register_hook)

    @property
    def name(self) -> str:
        return self.function.__name__

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


class Function:
    """Base of every differentiable op.

    Subclasses define ``forward(ctx, *args)`` on raw arrays (Tensors in ``args`` are
    replaced by their arrays; other arguments pass through) returning one array, or
    a tuple whose first array is the differentiable output and whose others are
    returned as tensors without gradient (e.g. indices). ``backward(ctx, grad)``
    returns one gradient array (or None) per positional argument of ``forward``.
    """

    # True: backward may compute an input's gradient straight into ctx.grad_buffers[i]
    # (see fastdl.autograd.leaf_grads.stale_buffers).
    writes_leaf_grads = False

    @staticmethod
    def forward(ctx: Context, *args: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        raise NotImplementedError

    @classmethod
    def backward_graph(cls, ctx: Context, grad: Tensor, inputs: tuple) -> tuple:
        """The backward pass composed of differentiable ops on Tensors, used under
        ``create_graph=True``; ``inputs`` are the arguments ``apply`` received."""
        raise NotImplementedError(f"double backward is not implemented for {cls.__name__}")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        # The common call, host arrays only, passes in one loop of attribute reads;
        # anything on a device goes the general way (_apply_on_devices).
        raw = []
        needs = []
        parents = []
        any_needs = False
        for a in args:
            if isinstance(a, Tensor):
                data = a._data
                if not isinstance(data, _HOST_TYPES):
                    return _apply_on_devices(cls, args)
                requires_grad = a.requires_grad
                raw.append(data)
                needs.append(requires_grad)
                parents.append(a._node)
                any_needs = any_needs or requires_grad
            else:
                raw.append(a)
                needs.append(False)
                parents.append(None)
        ctx = Context(backends.for_host(), tuple(needs))
        if backends.active() is None:
            result = cls.forward(ctx, *raw)
        else:  # a CPU op inside a device op's forward or backward: allocate with NumPy
            previous = backends.activate(None)
            try:
                result = cls.forward(ctx, *raw)
            finally:
                backends.activate(previous)
        if _anomaly.enabled:
            _check_finite_output(cls.__name__, result)
        if isinstance(result, tuple):
            return _wrap_several(cls, ctx, args, result, any_needs and _grad_mode.enabled, parents)
        out = Tensor._wrap(result)
        if any_needs and _grad_mode.enabled:
            out.requires_grad = True
            out._node = Node(cls, ctx, args, out, tuple(parents))
        return out


def _apply_on_devices(cls: type, args: tuple) -> Any:
    """``Function.apply`` for a call with an array on a device: find the backend that owns
    the arrays (refusing two devices) and run the forward with it active."""
    raw = []
    needs = []
    on_host = False
    device = None  # the backend of the first device array, if any
    for a in args:
        if isinstance(a, Tensor):
            data = a._data
            raw.append(data)
            needs.append(a.requires_grad)
            if not isinstance(data, _HOST_TYPES):
                if device is None:
                    device = backends.of(data)
                elif not device.owns(data):
                    _mixed_devices(cls.__name__, args)
            elif data.ndim or a.requires_grad:
                on_host = True  # (a host scalar goes with tensors on any device, as in torch)
        else:
            raw.append(a)
            needs.append(False)
    if on_host:
        _mixed_devices(cls.__name__, args)
    ctx = Context(device, tuple(needs))
    previous = backends.activate(device)
    try:
        result = cls.forward(ctx, *raw)
    finally:
        backends.activate(previous)
    if _anomaly.enabled:
        _check_finite_output(cls.__name__, result)
    record = _grad_mode.enabled and any(needs)
    if isinstance(result, tuple):
        return _wrap_several(cls, ctx, args, result, record)
    out = Tensor._wrap(result)
    if record:
        out.requires_grad = True
        out._node = Node(cls, ctx, args, out)
    return out


def _wrap_several(
    cls: type, ctx: Context, args: tuple, result: tuple, record: bool, parents: list | None = None
) -> tuple:
    """A forward's tuple result as Tensors: the first differentiable (given its node when
    ``record``), the others without gradient."""
    first, *rest = result
    out = Tensor._wrap(first)
    if record:
        out.requires_grad = True
        out._node = Node(cls, ctx, args, out, None if parents is None else tuple(parents))
    return (out, *(Tensor._wrap(r) for r in rest)) if rest else out


# -- PyTorch's names in torch.autograd.function, used by fastdl.autograd.Function ------


class FunctionCtx:
    """The ``ctx`` a custom Function's ``forward`` and ``backward`` share.

    Any attribute may be set on it; the methods are PyTorch's.
    """

    def __init__(self, needs_input_grad: tuple[bool, ...] = ()) -> None:
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._saved: tuple = ()
        self._non_differentiable: set[int] = set()
        self._dirty: set[int] = set()

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep Tensors (or None) for ``backward``, where ``saved_tensors`` returns them."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save Tensors or None, but argument {i} is "
                    f"of type {type(t).__name__}"
                )
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        """What ``save_for_backward`` kept; an output of ``forward`` comes back as the
        Tensor ``apply`` returned (in the graph)."""
        if self._saved is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access "
                "saved tensors after they have already been freed). Specify "
                "retain_graph=True the first time."
            )
        return self._saved

    def mark_non_differentiable(self, *outputs: Tensor) -> None:
        """These outputs get no gradient (their ``backward`` gradient is zeros)."""
        self._non_differentiable.update(id(t) for t in outputs)

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Accepted for PyTorch's API: the inputs ``forward`` modified in place."""
        self._dirty.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """With False, ``backward`` receives None instead of zeros for outputs that got
        no gradient."""
        self.materialize_grads = bool(value)


def once_differentiable(backward: Any) -> Any:
    """Decorate a ``backward`` that is not itself differentiable: it then runs with
    recording off, so its gradients carry no graph even under ``create_graph=True``.

    Example::

        @staticmethod
        @once_differentiable
        def backward(ctx, grad):
            return grad * 2
    """

    def wrapper(ctx: Any, *grads: Any) -> Any:
        with no_grad():
            return backward(ctx, *grads)

    wrapper.__name__ = getattr(backward, "__name__", "backward")
    wrapper.__doc__ = getattr(backward, "__doc__", None)
    return wrapper


def _mixed_devices(name: str, args: tuple) -> None:
    found = sorted({str(a.device) for a in args if isinstance(a, Tensor)})
    raise DeviceError(
        "Expected all tensors to be on the same device, but found at least two devices, "
        f"{' and '.join(found)}! ({name})"
    )


def _bad_values(array: Any) -> str | None:
    data = getattr(array, "_data", array)
    if not isinstance(data, np.ndarray) or data.dtype.kind != "f" or np.isfinite(data).all():
        return None
    return "nan" if np.isnan(data).any() else "inf"


def _check_finite_output(name: str, result: Any) -> None:
    first = result[0] if isinstance(result, tuple) else result
    bad = _bad_values(first)
    if bad:
        raise FloatingPointError(f"Function '{name}' returned {bad} values in its output")
