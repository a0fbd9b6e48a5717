"""Reverse-mode automatic differentiation: Function, the backward engine, no_grad, gradcheck.

A :class:`Function` pairs a ``forward`` on raw arrays with a ``backward`` that maps
the output's gradient to one gradient per input. ``Function.apply`` runs the
forward and, when grad mode is on and an input requires grad, records a
:class:`Node` on the output. ``backward`` sorts the nodes topologically with an
explicit stack (no recursion limit on deep or unrolled graphs), then walks them in
reverse, summing gradients that meet at a tensor and accumulating into the
``.grad`` of leaf tensors (``grad += g``, as PyTorch does: call ``zero_grad``
between steps). A graph's saved arrays are freed after one backward pass unless
``retain_graph=True``; a second pass through a freed graph raises.

Under ``create_graph=True`` each node's ``backward_graph`` runs instead: the same
gradient built from differentiable ops on Tensors, so gradients can be
differentiated again (``grad``, and ``hessian``/``hvp`` in :mod:`fastdl.second_order`).

``zero_grad`` marks a leaf's gradient buffer *stale* (logically zero) instead of
filling it. The first gradient to arrive then overwrites the buffer instead of
adding to it, and a Function that sets ``writes_leaf_grads = True`` is offered the
stale buffers of its leaf inputs (``ctx.grad_buffers``) to compute into directly
— a Linear layer's weight gradient goes from the matmul straight into the flat
gradient buffer, with no temporary and no extra pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fastdl import backends
from fastdl.backends.host import ARRAY_TYPES as _HOST_TYPES

if TYPE_CHECKING:
    from fastdl.tensor import Tensor

_grad_mode = threading.local()


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward."""
    return getattr(_grad_mode, "enabled", True)


def set_grad_enabled(mode: bool) -> None:
    _grad_mode.enabled = bool(mode)


class _GradMode:
    _mode = True

    def __new__(cls, fn: Callable | None = None) -> Any:
        instance = super().__new__(cls)
        # `@no_grad` without parentheses decorates fn directly, as in PyTorch 2.
        return instance(fn) if callable(fn) else instance

    def __init__(self, fn: Callable | None = None) -> None:
        pass

    def __enter__(self) -> None:
        self._previous = is_grad_enabled()
        set_grad_enabled(self._mode)

    def __exit__(self, *exc: Any) -> None:
        set_grad_enabled(self._previous)

    def __call__(self, fn: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = fn.__doc__
        return wrapper


class no_grad(_GradMode):
    """Context manager (and decorator) that turns off graph recording.

    Example::

        with fastdl.no_grad():
            y = model(x)          # y.requires_grad is False
    """

    _mode = False


class enable_grad(_GradMode):
    """Context manager (and decorator) that turns graph recording back on."""

    _mode = True


_anomaly = threading.local()


def _anomaly_mode() -> bool:
    return getattr(_anomaly, "enabled", False)  # thread-local: off in new threads


class detect_anomaly:
    """Context manager that checks every op's output and every gradient for NaN/Inf.

    The first op that produces one raises ``FloatingPointError`` naming it, before
    anything downstream (an optimizer step) runs. Slows every op down; for debugging.

    Example::

        with fastdl.autograd.detect_anomaly():
            loss = model(x).log().sum()   # FloatingPointError: Function 'Log' ...
    """

    def __enter__(self) -> detect_anomaly:
        self._previous = _anomaly_mode()
        _anomaly.enabled = True
        return self

    def __exit__(self, *exc: Any) -> None:
        _anomaly.enabled = self._previous


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


def _check_finite(node: Node, input_grads: tuple) -> None:
    for i, g in enumerate(input_grads):
        bad = _bad_values(g) if g is not None else None
        if bad:
            raise FloatingPointError(
                f"Function '{node.name}Backward' returned {bad} values in its {i}th output"
            )


class Context:
    """Per-call scratch space shared by a Function's forward and backward."""

    def __init__(self, backend: Any, needs_input_grad: tuple[bool, ...]) -> None:
        self.backend = backend
        self.needs_input_grad = needs_input_grad
        self.saved: tuple = ()
        self.grad_buffers: tuple = ()
        self.fresh: set[int] = set()

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays

    def give(self, array: Any) -> Any:
        """Mark a gradient ``backward`` allocated and keeps no other reference to: the
        engine may then adopt it as a leaf's ``.grad`` instead of copying it."""
        self.fresh.add(id(array))
        return array


class Node:
    """One recorded call: the Function, its context and its input tensors."""

    __slots__ = ("function", "ctx", "inputs", "parents", "freed")

    def __init__(self, function: type, ctx: Context, inputs: tuple) -> None:
        self.function = function
        self.ctx = ctx
        self.inputs = inputs
        # The producing node of each input as it was when recorded: an in-place op
        # that later rebinds an input tensor must not rewire this graph.
        self.parents = tuple(getattr(t, "_node", None) for t in inputs)
        self.freed = False

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
        from fastdl.tensor import Tensor

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
        if device is not None and on_host:
            _mixed_devices(cls.__name__, args)
        record = is_grad_enabled() and any(needs)
        backend = device if device is not None else backends.for_device("cpu")
        ctx = Context(backend, tuple(needs))
        if device is not None or backends.active() is not None:
            previous = backends.activate(device)
            try:
                result = cls.forward(ctx, *raw)
            finally:
                backends.activate(previous)
        else:
            result = cls.forward(ctx, *raw)
        if _anomaly_mode():
            _check_finite_output(cls.__name__, result)
        extras: tuple = ()
        if isinstance(result, tuple):
            result, *rest = result
            extras = tuple(Tensor._wrap(r) for r in rest)
        out = Tensor._wrap(result)
        if record:
            out.requires_grad = True
            out._node = Node(cls, ctx, tuple(args))
        return (out, *extras) if extras else out


def _mixed_devices(name: str, args: tuple) -> None:
    from fastdl.tensor import Tensor

    found = sorted({str(a.device) for a in args if isinstance(a, Tensor)})
    raise RuntimeError(
        "Expected all tensors to be on the same device, but found at least two devices, "
        f"{' and '.join(found)}! ({name})"
    )


def _backward_on_device(node: Node, grad: Any) -> Any:
    """``node``'s backward, with its backend active for allocations when it is a device's
    (and none active for a CPU op's, which allocates with NumPy)."""
    backend = node.ctx.backend
    wanted = backend if backend.device != "cpu" else None
    if backends.active() is wanted:
        return node.function.backward(node.ctx, grad)
    previous = backends.activate(wanted)
    try:
        return node.function.backward(node.ctx, grad)
    finally:
        backends.activate(previous)


def _topological_order(roots: list[Node]) -> list[Node]:
    """Nodes reachable from the roots, each after every node that consumes its output."""
    order: list[Node] = []
    visited: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False) for root in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node.parents:
            if parent is not None and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


def _seed(tensor: Tensor, gradient: Any, create_graph: bool) -> Any:
    """The gradient that starts the walk at ``tensor`` (an array, or a Tensor when
    building a graph of the gradient)."""
    from fastdl.tensor import Tensor

    if not tensor.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if gradient is None:
        if tensor._data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs; got shape "
                f"{tensor.shape}: pass `gradient`"
            )
        grad = backends.for_device(tensor.device).full(tensor.shape, 1, tensor.dtype)
    else:
        grad = gradient._data if isinstance(gradient, Tensor) else np.asarray(gradient)
        if grad.shape != tensor.shape:
            raise ValueError(
                f"gradient has shape {grad.shape}, but the tensor has shape {tensor.shape}"
            )
        if isinstance(gradient, Tensor) and gradient.device != tensor.device:
            raise RuntimeError(
                f"gradient is on {gradient.device}, but the tensor is on {tensor.device}"
            )
        if create_graph and isinstance(gradient, Tensor) and gradient.dtype == tensor.dtype:
            return gradient
        if grad.dtype != tensor.dtype:
            grad = _raw_cast(grad, tensor.dtype)
    return Tensor._wrap(grad) if create_graph else grad


def backward(
    tensor: Tensor,
    gradient: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> None:
    """Accumulate d(tensor)/d(leaf) into every leaf's ``.grad``; see ``Tensor.backward``.

    Then runs, once, the callbacks queued with ``queue_callback`` (in queue order)."""
    try:
        _run(
            [tensor],
            [_seed(tensor, gradient, create_graph)],
            create_graph if retain_graph is None else retain_graph,
            create_graph,
            capture=None,
        )
    except BaseException:
        _post_backward.clear()  # the gradients are incomplete: don't act on them
        raise
    while _post_backward:
        _post_backward.pop(0)()


_post_backward: list[Callable[[], None]] = []


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` once, at the end of the next ``backward()`` (not
    ``autograd.grad``), after every gradient has been accumulated; PyTorch's engine
    ``queue_callback``. ``DistributedDataParallel`` averages gradients this way."""
    _post_backward.append(callback)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, returned rather than
    accumulated into ``.grad`` (``torch.autograd.grad``).

    With ``create_graph=True`` the gradients are themselves differentiable, which is
    how Hessians and Hessian-vector products are built.

    Example::

        x = fastdl.tensor([1.0, 2.0], dtype=fastdl.float64, requires_grad=True)
        (g,) = fastdl.autograd.grad((x**3).sum(), x, create_graph=True)   # 3x^2
        (h,) = fastdl.autograd.grad(g.sum(), x)                           # 6x
    """
    from fastdl.tensor import Tensor

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad_outputs has {len(grad_outputs)} entries for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"inputs[{i}] does not require grad")
    seeds = [_seed(o, g, create_graph) for o, g in zip(outputs, grad_outputs)]
    captured = _run(
        outputs,
        seeds,
        create_graph if retain_graph is None else retain_graph,
        create_graph,
        capture=inputs,
    )
    result = []
    for i, g in enumerate(captured):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"inputs[{i}] was not used in the graph of the outputs; pass allow_unused=True"
            )
        if g is not None and not isinstance(g, Tensor):
            g = Tensor._wrap(g)
        result.append(g)
    return tuple(result)


def _run(roots: list, seeds: list, retain_graph: bool, create_graph: bool, capture: Any) -> Any:
    """The backward engine. Walks the nodes behind ``roots`` in reverse topological
    order, summing the gradients that meet at each node.

    Without ``capture`` gradients accumulate into leaves' ``.grad`` (and retained
    non-leaves'); with it (a list of tensors) they are collected for those tensors
    and returned, and no ``.grad`` changes. With ``create_graph`` every gradient is a
    Tensor computed by differentiable ops (each Function's ``backward_graph``), so
    the result can be differentiated again.
    """
    from fastdl.tensor import Tensor

    wanted = None if capture is None else {id(t): i for i, t in enumerate(capture)}
    found: list = [None] * (len(capture) if capture is not None else 0)

    def deliver(t: Tensor, g: Any, is_leaf: bool, owned: bool = False) -> None:
        if wanted is not None:
            index = wanted.get(id(t))
            if index is not None:
                found[index] = g if found[index] is None else _raw_add(found[index], g)
        elif is_leaf or t._retains_grad:
            _accumulate_leaf(t, g, owned and is_leaf)

    grads: dict[int, Any] = {}
    roots_with_nodes = []
    for root, seed in zip(roots, seeds):
        deliver(root, seed, root._node is None)
        if root._node is not None:
            key = id(root._node)
            grads[key] = seed if key not in grads else _raw_add(grads[key], seed)
            roots_with_nodes.append(root._node)
    if not roots_with_nodes:
        return found

    order = _topological_order(roots_with_nodes)
    with enable_grad() if create_graph else no_grad():
        for node in order:
            if node.freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time; its saved "
                    "arrays were freed. Pass retain_graph=True to the first backward."
                )
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if create_graph:
                input_grads = node.function.backward_graph(node.ctx, g, node.inputs)
            else:
                if node.function.writes_leaf_grads and wanted is None:
                    node.ctx.grad_buffers = _stale_leaf_buffers(node)
                input_grads = _backward_on_device(node, g)
                node.ctx.grad_buffers = ()
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            fresh, node.ctx.fresh = node.ctx.fresh, set()
            if _anomaly_mode():
                _check_finite(node, input_grads)
            for inp, parent, ig in zip(node.inputs, node.parents, input_grads):
                if ig is None or not isinstance(inp, Tensor) or not inp.requires_grad:
                    continue
                if not create_graph and inp._grad_stale and ig is inp._grad._data:
                    inp._grad_stale = False  # the op wrote the leaf's gradient in place
                    continue
                if ig.dtype != inp.dtype:
                    ig = ig.to(inp.dtype) if create_graph else _raw_cast(ig, inp.dtype)
                owned = id(ig) in fresh and sum(other is ig for other in input_grads) == 1
                deliver(inp, ig, parent is None, owned)
                if parent is not None:
                    key = id(parent)
                    grads[key] = ig if key not in grads else _raw_add(grads[key], ig)
            if not retain_graph:
                node.ctx.saved = ()
                node.freed = True
    return found


def _stale_leaf_buffers(node: Node) -> tuple:
    """Per input: the stale gradient buffer of a leaf the op may compute into, or None.

    A buffer is offered once per node, so two inputs never share a destination."""
    from fastdl.tensor import Tensor

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


def _accumulate_leaf(leaf: Tensor, grad: Any, owned: bool = False) -> None:
    from fastdl.tensor import Tensor

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
        if owned and be.is_contiguous(grad):  # a fresh array nobody else holds: adopt it
            leaf._grad = Tensor._wrap(grad)
        else:
            copy = be.empty(leaf.shape, leaf.dtype)
            be.copy(grad, copy)
            leaf._grad = Tensor._wrap(copy)
    elif leaf._grad_stale:  # logically zero: overwrite instead of adding
        be.copy(grad, leaf._grad._data)
        leaf._grad_stale = False
    else:
        # In place, so a gradient that is a view into a flat buffer stays one.
        be.add_into(leaf._grad._data, grad)


def _raw_add(a: Any, b: Any) -> Any:
    """a + b for two gradients (raw arrays, or Tensors under create_graph)."""
    from fastdl.tensor import Tensor

    if isinstance(a, Tensor):
        return a + b
    be = backends.of(a)
    out = be.empty(np.broadcast_shapes(a.shape, b.shape), np.result_type(a.dtype, b.dtype))
    be.add(a, b, out)
    return out


def _raw_cast(a: Any, dtype: np.dtype) -> Any:
    return backends.of(a).cast(a, dtype)


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check ``fn``'s analytic gradients against float64 central differences.

    Every input that requires grad must be float64. ``fn`` may return a tensor of
    any shape; it is reduced with a fixed random projection so each entry's
    gradient is exercised.

    Example::

        x = fastdl.randn(3, 4, dtype=fastdl.float64, requires_grad=True)
        assert fastdl.autograd.gradcheck(lambda t: (t * t).sum(), [x])
    """
    from fastdl.tensor import Tensor

    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise TypeError(f"gradcheck: inputs[{i}] must be float64, got {t.dtype}")
    targets = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]

    with no_grad():
        out = fn(*inputs)
    projection = np.random.default_rng(0).standard_normal(out.shape)

    def scalar() -> float:
        with no_grad():
            return float(np.sum(fn(*inputs)._data * projection))

    for t in targets:
        t.grad = None
    out = fn(*inputs)
    out.backward(Tensor._wrap(projection.astype(out.dtype)))

    ok = True
    for index, t in enumerate(targets):
        analytic = np.zeros(t.shape) if t.grad is None else t.grad._data
        numeric = np.zeros(t.shape)
        flat = t._data.reshape(-1)
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = scalar()
            flat[j] = original - eps
            minus = scalar()
            flat[j] = original
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            ok = False
            if raise_exception:
                worst = np.max(np.abs(analytic - numeric))
                raise AssertionError(
                    f"gradcheck failed for input {index} (shape {t.shape}): max |analytic - "
                    f"numeric| = {worst:.3e}\nanalytic:\n{analytic}\nnumeric:\n{numeric}"
                )
    return ok


# Second-order helpers live in their own module; they are part of this namespace.
from fastdl.second_order import hessian, hvp  # noqa: E402, F401
