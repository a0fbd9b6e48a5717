"""Second derivatives: ``hessian`` and ``hvp`` (Hessian-vector product), built on
double backward (``autograd.grad(..., create_graph=True)``).

Both are also reachable as ``fastdl.autograd.hessian`` / ``fastdl.autograd.hvp``, with
``torch.autograd.functional``'s conventions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fastdl.autograd.engine import grad
from fastdl.autograd.grad_mode import enable_grad
from fastdl.tensor import Tensor


def _leaves(inputs: Any) -> tuple[bool, list[Tensor]]:
    single = isinstance(inputs, Tensor)
    items = [inputs] if single else list(inputs)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"inputs[{i}] is a {type(t).__name__}, not a Tensor")
    return single, [t.detach().requires_grad_(True) for t in items]


def _scalar_output(fn: Callable, xs: list[Tensor]) -> Tensor:
    out = fn(*xs)
    if not isinstance(out, Tensor) or out.numel() != 1:
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"the function must return a single-element Tensor, got {shape}")
    return out.reshape(())


def _gradients(out: Tensor, xs: list[Tensor], create_graph: bool) -> list[Tensor]:
    if not out.requires_grad:  # fn does not depend on its inputs
        return [Tensor._wrap(np.zeros(x.shape, x.dtype)) for x in xs]
    grads = grad(out, xs, create_graph=create_graph, retain_graph=True, allow_unused=True)
    return [Tensor._wrap(np.zeros(x.shape, x.dtype)) if g is None else g for x, g in zip(xs, grads)]


def gradient_and_hessian(out: Tensor, xs: list[Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """The gradient (n,) and Hessian (n, n) of a scalar ``out`` with respect to the
    tensors ``xs``, flattened and concatenated in order; ``out``'s graph must be intact.

    One backward pass through the graph of the gradient per row.
    """
    grads = _gradients(out, xs, create_graph=True)
    sizes = [x.numel() for x in xs]
    n = sum(sizes)
    dtype = np.result_type(*(x.dtype for x in xs))
    gradient = np.concatenate([g._data.reshape(-1) for g in grads]).astype(dtype)
    rows = np.zeros((n, n), dtype=dtype)
    row = 0
    for g in (g.reshape(-1) for g in grads):
        if not g.requires_grad:  # the gradient is constant: these rows are zero
            row += g.numel()
            continue
        for k in range(g.numel()):
            seed = np.zeros(g.shape, g.dtype)
            seed[k] = 1
            parts = grad(
                g, xs, grad_outputs=Tensor._wrap(seed), retain_graph=True, allow_unused=True
            )
            rows[row] = np.concatenate(
                [np.zeros(s) if p is None else p._data.reshape(-1) for s, p in zip(sizes, parts)]
            )
            row += 1
    return gradient, rows


def hessian(fn: Callable[..., Tensor], inputs: Any) -> Any:
    """The Hessian of a scalar function: for one input of shape S a Tensor of shape
    S + S; for a tuple of inputs a tuple of tuples, ``H[i][j]`` of shape
    ``inputs[i].shape + inputs[j].shape``.

    Built row by row: one backward pass through the graph of the gradient per
    input element, so it suits small models (thousands of parameters).

    Example::

        x = fastdl.tensor([1.0, 2.0], dtype=fastdl.float64)
        fastdl.autograd.hessian(lambda t: (t**3).sum(), x)   # diag(6x)
    """
    single, xs = _leaves(inputs)
    with enable_grad():
        _, rows = gradient_and_hessian(_scalar_output(fn, xs), xs)
    sizes = [x.numel() for x in xs]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    blocks = tuple(
        tuple(
            Tensor._wrap(
                rows[offsets[i] : offsets[i + 1], offsets[j] : offsets[j + 1]].reshape(
                    xs[i].shape + xs[j].shape
                )
            )
            for j in range(len(xs))
        )
        for i in range(len(xs))
    )
    return blocks[0][0] if single else blocks


def hvp(fn: Callable[..., Tensor], inputs: Any, v: Any) -> tuple[Tensor, Any]:
    """``(fn(inputs), H @ v)`` without forming H: one double-backward pass.

    Example::

        out, hv = fastdl.autograd.hvp(loss_of_weights, w, direction)
    """
    single, xs = _leaves(inputs)
    vs = [v] if isinstance(v, Tensor) else list(v)
    if len(vs) != len(xs) or any(a.shape != b.shape for a, b in zip(vs, xs)):
        raise ValueError(
            f"v must match inputs in number and shapes: got {[tuple(t.shape) for t in vs]} "
            f"for {[tuple(x.shape) for x in xs]}"
        )
    with enable_grad():
        out = _scalar_output(fn, xs)
        grads = _gradients(out, xs, create_graph=True)
        dot = sum((g * u.detach().to(g.dtype)).sum() for g, u in zip(grads, vs))
        products = _gradients(dot, xs, create_graph=False)
    result = [p.detach() for p in products]
    return out.detach(), result[0] if single else tuple(result)


def hessian_top_eigenvalue(
    model: Any, loss_fn: Callable, batch: Any, iters: int = 20, seed: int = 0
) -> float:
    """The eigenvalue of largest magnitude of the loss Hessian with respect to the
    model's trainable parameters, by power iteration on Hessian-vector products
    (each one double-backward pass; the Hessian is never formed).

    A large top eigenvalue means a sharp minimum: gradient descent is stable only for
    learning rates below about 2 / eigenvalue.

    Example::

        fastdl.diagnostics.hessian_top_eigenvalue(model, nn.CrossEntropyLoss(), (x, y))
    """
    if not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive int, got {iters!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    inputs, target = batch
    with enable_grad():
        loss = loss_fn(model(inputs), target)
        grads = _gradients(loss, params, create_graph=True)
    sizes = [p.numel() for p in params]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    v = np.random.default_rng(seed).standard_normal(int(offsets[-1]))
    v /= np.linalg.norm(v)
    eigenvalue = 0.0
    for _ in range(iters):
        pieces = [
            Tensor._wrap(v[offsets[i] : offsets[i + 1]].reshape(p.shape).astype(p.dtype))
            for i, p in enumerate(params)
        ]
        with enable_grad():
            dot = sum((g * u).sum() for g, u in zip(grads, pieces))
            products = _gradients(dot, params, create_graph=False)
        hv = np.concatenate([h._data.reshape(-1) for h in products]).astype(np.float64)
        eigenvalue = float(hv @ v)
        norm = np.linalg.norm(hv)
        if norm == 0:
            return 0.0
        v = hv / norm
    return eigenvalue
