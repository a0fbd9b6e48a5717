"""The backward engine: walk the recorded graph in reverse and deliver gradients.

``backward`` (and ``grad``) sort the nodes behind the outputs topologically with an
explicit stack (no recursion limit on deep or unrolled graphs), then visit them in
reverse: each node's ``backward`` maps the gradient of its output to one gradient per
input; gradients that meet at a node are summed; a leaf's are accumulated into its
``.grad`` (``grad += g``, as PyTorch does: call ``zero_grad`` between steps). A graph's
saved arrays are freed after one pass unless ``retain_graph=True``; a second pass
through a freed graph raises.

That is the plain path. Under ``create_graph=True`` each node's ``backward_graph``
runs instead: the same gradient built from differentiable ops on Tensors, so it can
be differentiated again (``grad``, and ``hessian``/``hvp``). Delivery into ``.grad``,
with its two copy-saving shortcuts, is :mod:`fastdl.autograd.leaf_grads`.

Example::

    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()      # x.grad == [2., 4.]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fastdl import backends
from fastdl.autograd import hooks, leaf_grads
from fastdl.autograd.function import Node
from fastdl.autograd.grad_mode import _grad_mode, anomaly_enabled
from fastdl.errors import ShapeError
from fastdl.tensor import Tensor, _clock


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad`` (``torch.autograd.backward``);
    see ``Tensor.backward``. With ``inputs`` only those tensors' ``.grad`` change (leaves
    or not).

    Then runs, once, the callbacks queued with ``queue_callback`` (in queue order).

    Example::

        x = fastdl.tensor([1.0, 2.0], requires_grad=True)
        fastdl.autograd.backward([(x * x).sum()], inputs=[x])     # x.grad == [2., 4.]
    """
    roots = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(roots)
    grad_tensors = list(grad_tensors)
    if len(grad_tensors) != len(roots):
        raise RuntimeError(f"got {len(roots)} tensors and {len(grad_tensors)} gradients")
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        for t in inputs:
            if not isinstance(t, Tensor) or not t.requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    try:
        seeds = [_seed(r, g, create_graph, i) for i, (r, g) in enumerate(zip(roots, grad_tensors))]
        found = _run(roots, seeds, retain, create_graph, capture=inputs)
        for t, g in zip(inputs or (), found):
            if g is not None:
                leaf_grads.accumulate(t, g)
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
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(grad_outputs)} gradients")
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    seeds = [_seed(o, g, create_graph, i) for i, (o, g) in enumerate(zip(outputs, grad_outputs))]
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
                f"The differentiated Tensor at index {i} appears to not have been used in "
                "the graph. Set allow_unused=True if this is the desired behavior."
            )
        if g is not None and not isinstance(g, Tensor):
            g = Tensor._wrap(g)
        result.append(g)
    return tuple(result)


def _run(roots: list, seeds: list, retain_graph: bool, create_graph: bool, capture: Any) -> Any:
    """Walk the nodes behind ``roots`` in reverse topological order, summing the
    gradients that meet at each node.

    Without ``capture`` gradients accumulate into leaves' ``.grad`` (and retained
    non-leaves'); with it (a list of tensors) they are collected for those tensors
    and returned, and no ``.grad`` changes.
    """
    wanted = None if capture is None else {id(t): i for i, t in enumerate(capture)}
    found: list = [None] * (len(capture) if capture is not None else 0)

    held: dict[int, list] = {}  # leaves with hooks: id -> [leaf, gradient summed so far]
    leaf_table = hooks.leaf_table()

    def deliver(t: Tensor, g: Any, is_leaf: bool, owned: bool = False) -> None:
        if is_leaf and leaf_table and leaf_table.get(id(t)):  # hooks see the summed gradient
            entry = held.get(id(t))
            if entry is None:
                held[id(t)] = [t, g]
            else:
                entry[1] = _raw_add(entry[1], g)
            return
        deliver_now(t, g, is_leaf, owned)

    def deliver_now(t: Tensor, g: Any, is_leaf: bool, owned: bool = False) -> None:
        if wanted is not None:
            index = wanted.get(id(t))
            if index is not None:
                found[index] = g if found[index] is None else _raw_add(found[index], g)
        elif is_leaf or t._retains_grad:
            leaf_grads.accumulate(t, g, owned and is_leaf)

    grads: dict[int, Any] = {}  # id(node) -> the gradient of its output, summed so far
    roots_with_nodes = []
    for root, seed in zip(roots, seeds):
        deliver(root, seed, root._node is None)
        if root._node is not None:
            key = id(root._node)
            grads[key] = seed if key not in grads else _raw_add(grads[key], seed)
            roots_with_nodes.append(root._node)
    if roots_with_nodes:
        _walk(roots_with_nodes, grads, deliver, retain_graph, create_graph, wanted is not None)
    for leaf, g in held.values():
        deliver_now(leaf, hooks.run(hooks.leaf_hooks(leaf) or {}, g, create_graph), True)
    return found


def _walk(
    roots: list,
    grads: dict,
    deliver: Callable,
    retain_graph: bool,
    create_graph: bool,
    capturing: bool,
) -> None:
    """Visit the nodes behind ``roots`` in reverse topological order; ``grads`` holds
    the gradients of the roots' outputs. ``deliver`` receives the gradient of every
    leaf, of every tensor that retains its grad, and of every tensor when
    ``capturing``."""
    previous = _grad_mode.enabled
    _grad_mode.enabled = create_graph
    try:
        for node in _topological_order(roots):
            if node.freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time; its saved "
                    "arrays were freed. Pass retain_graph=True to the first backward."
                )
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node.tick < _clock[0]:  # something was written in place since it was recorded
                check_saved(node, create_graph)
            if node.hooks:
                g = hooks.run(node.hooks, g, create_graph)
            ctx = node.ctx
            input_grads = _input_grads(node, g, create_graph, not capturing)
            given = ctx.fresh
            if given:
                ctx.fresh = frozenset()
            for inp, parent, ig in zip(node.inputs, node.parents, input_grads):
                if ig is None or not isinstance(inp, Tensor) or not inp.requires_grad:
                    continue
                if not create_graph and inp._grad_stale and leaf_grads.wrote_in_place(inp, ig):
                    continue
                if ig.dtype != inp._data.dtype:
                    ig = ig.to(inp.dtype) if create_graph else _raw_cast(ig, inp.dtype)
                if parent is None:
                    deliver(inp, ig, True, bool(given) and leaf_grads.owned(ig, given, input_grads))
                    continue
                if capturing or inp._retains_grad:
                    deliver(inp, ig, False)
                key = id(parent)
                grads[key] = ig if key not in grads else _raw_add(grads[key], ig)
            if not retain_graph:
                ctx.saved = ()
                node.freed = True
    finally:
        _grad_mode.enabled = previous


def check_saved(node: Node, create_graph: bool = False) -> None:
    """Refuse to differentiate ``node`` when an array its backward reads was written in
    place after it was recorded (PyTorch's saved-tensor version check).

    Its backward reads ``ctx.saved``; under ``create_graph`` it reads its input
    tensors too. A saved array counts as an input's or the output's when it is that
    array or (on the host) overlaps it in memory.
    """
    saved = [a for a in node.ctx.saved if hasattr(a, "shape")]
    for i, inp in enumerate(node.inputs):
        if not isinstance(inp, Tensor) or inp._version[0] <= node.tick:
            continue
        if create_graph or any(_aliases(a, inp._data) for a in saved):
            _modified(node, f"input {i} of shape {inp.shape}", inp._version[0])
    version, out_id = node.output
    if version[0] > node.tick and any(id(a) == out_id for a in saved):
        _modified(node, "its output", version[0])


def _aliases(a: Any, b: Any) -> bool:
    if a is b:
        return True
    return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.may_share_memory(a, b)


def _modified(node: Node, what: str, version: int) -> None:
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: {what} of {node.name}Backward was written (at tick {version}) "
        f"after it was saved (at tick {node.tick}). Use the out-of-place form of the op, "
        "or .clone() the tensor before modifying it."
    )


def _input_grads(node: Node, grad: Any, create_graph: bool, offer_buffers: bool) -> tuple:
    """One gradient (or None) per input of ``node``, from the gradient of its output:
    its ``backward`` on raw arrays, or under ``create_graph`` its ``backward_graph``."""
    if not create_graph:
        ctx = node.ctx
        if offer_buffers and node.function.writes_leaf_grads:
            ctx.grad_buffers = leaf_grads.stale_buffers(node)
        result = _backward_on_device(node, grad)
        ctx.grad_buffers = ()
    else:
        result = node.function.backward_graph(node.ctx, grad, node.inputs)
    result = result if isinstance(result, tuple) else (result,)
    if anomaly_enabled():
        _check_finite(node, result)
    return result


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
    """Nodes reachable from the roots, each after every node that consumes its output.

    An explicit stack (no recursion limit on an unrolled RNN): a node is pushed once
    to expand its parents, and once more (as ``None`` followed by the node) to be
    emitted when they are done."""
    order: list[Node] = []
    visited: set[int] = set()
    stack: list = []
    for root in roots:
        stack.append(root)
    pop, push, seen = stack.pop, stack.append, visited.add
    while stack:
        node = pop()
        if node is None:  # the marker: the node under it has had its parents emitted
            order.append(pop())
            continue
        key = id(node)
        if key in visited:
            continue
        seen(key)
        push(node)
        push(None)
        for parent in node.parents:
            if parent is not None and id(parent) not in visited:
                push(parent)
    order.reverse()
    return order


def _seed(tensor: Tensor, gradient: Any, create_graph: bool, index: int = 0) -> Any:
    """The gradient that starts the walk at ``tensor`` (an array, or a Tensor when
    building a graph of the gradient)."""
    if not tensor.requires_grad:
        raise RuntimeError(
            f"element {index} of tensors does not require grad and does not have a grad_fn"
        )
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
            raise ShapeError(
                f"Mismatch in shape: grad_output[{index}] has a shape of {grad.shape} and "
                f"output[{index}] has a shape of {tensor.shape}."
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


def _raw_add(a: Any, b: Any) -> Any:
    """a + b for two gradients (raw arrays, or Tensors under create_graph)."""
    if isinstance(a, Tensor):
        return a + b
    be = backends.of(a)
    if a.shape == b.shape and a.dtype == b.dtype:  # the usual meeting of two gradients
        out = be.empty(a.shape, a.dtype)
    else:
        out = be.empty(np.broadcast_shapes(a.shape, b.shape), np.result_type(a.dtype, b.dtype))
    be.add(a, b, out)
    return out


def _raw_cast(a: Any, dtype: np.dtype) -> Any:
    return backends.of(a).cast(a, dtype)


def _bad_values(array: Any) -> str | None:
    data = getattr(array, "_data", array)
    if not isinstance(data, np.ndarray) or data.dtype.kind != "f" or np.isfinite(data).all():
        return None
    return "nan" if np.isnan(data).any() else "inf"


def _check_finite(node: Node, input_grads: tuple) -> None:
    for i, g in enumerate(input_grads):
        bad = _bad_values(g) if g is not None else None
        if bad:
            raise FloatingPointError(
                f"Function '{node.name}Backward' returned {bad} values in its {i}th output"
            )
