"""``fastdl.autograd.Function``: user-defined differentiable operations, as PyTorch's.

A subclass's ``forward(ctx, *args, **kwargs)`` receives Tensors (and any other
arguments) and runs with graph recording off; ``backward(ctx, *grads)`` receives one
gradient Tensor per output and returns one gradient (or None) per positional input.
The newer style, ``forward(*args)`` with a separate ``setup_context(ctx, inputs,
output)``, works too.

How it meets the engine. The engine's nodes are kernel-level Functions
(:mod:`fastdl.autograd.function`) with one output each, so a call is recorded as::

    token = <Name>.apply(call, *args)            one node: its inputs are the inputs
    out_k = <Name>Output.apply(token, out_k)     per differentiable output

In backward each output node stores its gradient with the call and passes an empty
gradient to the token; the token's node, which the engine runs after every output's,
then calls the user's ``backward`` with all output gradients at once. Under
``create_graph=True`` the user's ``backward`` runs with recording on, so a backward
written with differentiable ops can be differentiated again.

Example::

    class Cube(fastdl.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * grad

    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    Cube.apply(x).sum().backward()      # x.grad == [3., 12.]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.autograd.function import Function as KernelFunction
from fastdl.autograd.function import FunctionCtx, once_differentiable
from fastdl.autograd.grad_mode import is_grad_enabled, no_grad
from fastdl.tensor import Tensor

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


class Function:
    """Base class of user-defined differentiable operations (``torch.autograd.Function``).

    Subclasses define static ``forward`` and ``backward`` (and optionally
    ``setup_context``) and are called through :meth:`apply`; see the module docstring
    for an example.
    """

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on ``args`` and record the call for backward."""
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        separate = cls.setup_context is not Function.setup_context
        with no_grad():
            if separate:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        if not (is_grad_enabled() and any(needs)):
            return output
        return _record(cls, ctx, args, output)


class _Call:
    """The bookkeeping of one recorded call: the user's class, its ctx, and the output
    gradients gathered during backward."""

    def __init__(self, cls: type, ctx: FunctionCtx, args: tuple, outputs: list) -> None:
        self.cls = cls
        self.ctx = ctx
        self.args = args
        self.outputs = outputs  # per output: (shape, dtype, device array template) or None
        self.grads: list = [None] * len(outputs)

    def arrived(self, index: int, grad: Any) -> None:
        self.grads[index] = grad

    def run_backward(self, graph: bool) -> tuple:
        """The user's backward on the gathered gradients: one gradient per input (raw
        arrays, or Tensors when ``graph``)."""
        ctx = self.ctx
        grads = []
        for grad, out in zip(self.grads, self.outputs):
            if grad is None and out is not None and ctx.materialize_grads:
                grad = out.new_zeros()
            if grad is not None and not isinstance(grad, Tensor):
                grad = Tensor._wrap(grad)
            grads.append(grad)
        self.grads = [None] * len(self.outputs)
        result = self.cls.backward(ctx, *grads)
        result = result if isinstance(result, tuple) else (result,)
        name = f"{self.cls.__name__}Backward"
        if len(result) != len(self.args):
            extra = result[len(self.args) :]
            if len(result) < len(self.args) or any(r is not None for r in extra):
                raise RuntimeError(
                    f"function {name} returned an incorrect number of gradients (expected "
                    f"{len(self.args)}, got {len(result)})"
                )
            result = result[: len(self.args)]
        checked = []
        for i, (g, arg) in enumerate(zip(result, self.args)):
            if g is None or not (isinstance(arg, Tensor) and arg.requires_grad):
                checked.append(None)
                continue
            if not isinstance(g, Tensor):
                raise TypeError(
                    f"function {name} returned a gradient of type {type(g).__name__} at "
                    f"index {i}; expected a Tensor or None"
                )
            if g.shape != arg.shape:
                g = _sum_to(g, arg.shape, name, i)
            checked.append(g if graph else g._data)
        return tuple(checked)


class _OutputTemplate:
    """Shape and dtype of one output, to make a zero gradient from."""

    __slots__ = ("array",)

    def __init__(self, array: Any) -> None:
        self.array = array

    def new_zeros(self) -> Tensor:
        from fastdl.backends import of

        be = of(self.array)
        return Tensor._wrap(be.full(self.array.shape, 0, self.array.dtype))


def _sum_to(g: Tensor, shape: tuple, name: str, index: int) -> Tensor:
    """``g`` summed down to ``shape`` when ``shape`` broadcasts to it, as PyTorch accepts."""
    try:
        compatible = np.broadcast_shapes(shape, g.shape) == tuple(g.shape)
    except ValueError:
        compatible = False
    if not compatible:
        raise RuntimeError(
            f"Function {name} returned an invalid gradient at index {index} - got "
            f"{list(g.shape)} but expected shape compatible with {list(shape)}"
        )
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(dim=tuple(range(lead)))
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if ones:
        g = g.sum(dim=ones, keepdim=True)
    return g


_KERNELS: dict[type, tuple[type, type]] = {}


def _kernels(cls: type) -> tuple[type, type]:
    """The two kernel-level Functions recording calls of ``cls``, named after it so
    ``grad_fn`` reads ``<NameBackward>``."""
    pair = _KERNELS.get(cls)
    if pair is None:
        token = type(cls.__name__, (_TokenBase,), {"__module__": cls.__module__})
        output = type(cls.__name__, (_OutputBase,), {"__module__": cls.__module__})
        pair = _KERNELS[cls] = (token, output)
    return pair


class _TokenBase(KernelFunction):
    @staticmethod
    def forward(kctx: Any, call: _Call, *raw: Any) -> Any:
        kctx.saved = (call,)
        return np.empty((0,), np.float64)

    @staticmethod
    def backward(kctx: Any, grad: Any) -> tuple:
        (call,) = kctx.saved
        return (None, *call.run_backward(graph=False))

    @classmethod
    def backward_graph(cls, kctx: Any, grad: Any, inputs: tuple) -> tuple:
        (call,) = kctx.saved
        return (None, *call.run_backward(graph=True))


class _OutputBase(KernelFunction):
    @staticmethod
    def forward(kctx: Any, token: Any, array: Any, call: _Call, index: int) -> Any:
        kctx.call, kctx.index = call, index
        return array

    @staticmethod
    def backward(kctx: Any, grad: Any) -> tuple:
        kctx.call.arrived(kctx.index, grad)
        return np.empty((0,), np.float64), None, None, None

    @classmethod
    def backward_graph(cls, kctx: Any, grad: Any, inputs: tuple) -> tuple:
        kctx.call.arrived(kctx.index, grad)
        return Tensor._wrap(np.empty((0,), np.float64)), None, None, None


def _record(cls: type, ctx: FunctionCtx, args: tuple, output: Any) -> Any:
    """Wrap ``forward``'s output in the graph (see the module docstring)."""
    single = not isinstance(output, tuple)
    outputs = [output] if single else list(output)
    templates = [_OutputTemplate(v._data) if isinstance(v, Tensor) else None for v in outputs]
    call = _Call(cls, ctx, args, templates)
    token_fn, output_fn = _kernels(cls)
    token = token_fn.apply(call, *args)
    wrapped = list(outputs)
    for k, value in enumerate(outputs):
        if not isinstance(value, Tensor):
            continue
        if dtypes.is_floating(value.dtype) and id(value) not in ctx._non_differentiable:
            wrapped[k] = output_fn.apply(token, value._data, call, k)
        elif value.requires_grad:  # an input returned as is: a detached alias of it
            wrapped[k] = Tensor._wrap(value._data)
    # A saved output comes back as the returned (recorded) Tensor, so a backward built
    # from it is differentiable.
    by_id = {id(o): w for o, w in zip(outputs, wrapped)}
    ctx._saved = tuple(by_id.get(id(t), t) for t in ctx._saved)
    return wrapped[0] if single else tuple(wrapped)
