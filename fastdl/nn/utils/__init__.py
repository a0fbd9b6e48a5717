"""Gradient clipping and parameter/vector conversion (``fastdl.nn.utils``), as ``torch.nn.utils``.

Clipping works on flat gradient buffers where it can. When the gradients handed in
are exactly the views of one :class:`fastdl.flat.FlatBuffer` (as they are once an
optimizer has been built over the parameters), that buffer is one ``grad_norm``
kernel call and one in-place ``mul`` (or ``clamp``) over the whole buffer; any other
gradient is handled on its own. Both paths give the same result.

Gradients that ``zero_grad`` marked stale count as zeros (reading ``p.grad``
writes the zeros first).

Example::

    loss.backward()
    total = fastdl.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from fastdl import backends
from fastdl.flat import _REGISTRY
from fastdl.nn.utils import rnn as rnn  # torch.nn.utils.rnn
from fastdl.tensor import Tensor

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "parameters_to_vector",
    "vector_to_parameters",
]

# Added to the total norm before dividing, as PyTorch does.
_EPS = 1e-6


def _tensors(tensors: Tensor | Iterable[Tensor], what: str) -> list[Tensor]:
    if isinstance(tensors, Tensor):
        return [tensors]
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}[{i}] is a {type(t).__name__}, not a Tensor")
    return tensors


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    """The gradients of ``parameters`` that are not None (stale ones read as zeros)."""
    grads = []
    for p in _tensors(parameters, "parameters"):
        grad = p.grad  # the property: writes the zeros of a stale gradient first
        if grad is not None:
            grads.append(grad)
    return grads


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from None


def _norm_type(norm_type: Any) -> float:
    p = _number(norm_type, "norm_type")
    if not p > 0:  # also refuses NaN
        raise ValueError(
            f"norm_type must be a positive number or inf, got {norm_type!r} (fastdl does not "
            "implement PyTorch's 0 and -inf norms)"
        )
    return p


def _runs(grads: list[Tensor]) -> list[Any]:
    """The arrays to reduce and scale: each flat gradient buffer that ``grads`` cover
    exactly once (all its views, no others), and every other gradient on its own."""
    owner = {id(v): f for f in list(_REGISTRY.values()) for v in f.grad_views}
    views_by_flat: dict[int, tuple[Any, list[Any]]] = {}
    runs = []
    for g in grads:
        array = g._data
        flat = owner.get(id(array))
        if flat is not None:
            views_by_flat.setdefault(id(flat), (flat, []))[1].append(array)
        else:
            runs.append(array)
    for flat, views in views_by_flat.values():
        if len({id(v) for v in views}) == len(views) == len(flat.grad_views):
            runs.append(flat.grads)
        else:
            runs.extend(views)
    return runs


def _total_norm(backend: Any, runs: list[Any], norm_type: float) -> Any:
    """The norm of all ``runs`` together as a (1,) float64 array where they live, from
    one ``grad_norm`` per run and, for several runs, the p-norm of those norms."""
    norms = backend.empty((len(runs),), np.float64)
    for i, run in enumerate(runs):
        flat = backend.contiguous(run)
        backend.grad_norm(backend.reshape(flat, (flat.size,)), norm_type, norms[i : i + 1])
    if len(runs) == 1:
        return norms
    total = backend.empty((1,), np.float64)
    if norm_type == math.inf:  # the largest norm (NaN if any is NaN)
        backend.max(backend.reshape(norms, (1, len(runs))), 1, total, backend.empty((1,), np.int64))
        return total
    powered = backend.empty((len(runs),), np.float64)
    with np.errstate(over="ignore"):
        backend.pow(norms, np.asarray(norm_type), powered)
        backend.sum(powered, (0,), False, backend.reshape(total, ()))
        backend.pow(total, np.asarray(1.0 / norm_type), total)
    return total


def _check_finite(backend: Any, total: Any, norm_type: float) -> None:
    """Raise when the (1,) ``total`` is NaN or infinite: the one host read of clipping,
    made only for ``error_if_nonfinite`` (it waits for a device, as in PyTorch)."""
    if not math.isfinite(float(backend.to_host(total)[0])):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )


def _scale(backend: Any, runs: list[Any], max_norm: float, total: Any) -> None:
    """runs *= min(max_norm / (total + 1e-6), 1): the coefficient is computed in float64
    where the gradients are and rounded to each run's dtype."""
    coef = backend.empty((1,), np.float64)
    backend.add(total, np.asarray(_EPS), coef)
    backend.div(np.asarray(float(max_norm)), coef, coef)
    backend.clamp(coef, None, 1.0, coef)
    for run in runs:
        rounded = backend.empty((1,), run.dtype)
        backend.copy(coef, rounded)
        backend.mul(run, rounded, run)


def _norm_tensor(backend: Any, total: Any, tensors: list[Tensor]) -> Tensor:
    """The (1,) float64 norm as a 0-d tensor of the tensors' dtype, where they live."""
    out = backend.empty((), np.result_type(*(t.dtype for t in tensors)))
    backend.copy(backend.reshape(total, ()), out)
    return Tensor._wrap(out)


def get_total_norm(
    tensors: Tensor | Iterable[Tensor],
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The norm of all ``tensors`` together, as if concatenated into one vector
    (a 0-d Tensor). ``foreach`` is accepted for PyTorch compatibility and ignored.

    Example::

        total = fastdl.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    """
    norm_type = _norm_type(norm_type)
    tensors = _tensors(tensors, "tensors")
    if not tensors:
        return Tensor._wrap(np.asarray(0.0, np.float32))
    backend = backends.for_device(tensors[0].device)
    total = _total_norm(backend, _runs(tensors), norm_type)
    if error_if_nonfinite:
        _check_finite(backend, total, norm_type)
    return _norm_tensor(backend, total, tensors)


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    total_norm: Any,
    foreach: bool | None = None,
) -> None:
    """Scale the gradients of ``parameters`` by ``min(max_norm / (total_norm + 1e-6), 1)``
    in place, with a ``total_norm`` computed beforehand (``get_total_norm``)."""
    max_norm = _number(max_norm, "max_norm")
    grads = _grads(parameters)
    if not grads:
        _number(total_norm, "total_norm")
        return
    backend = backends.for_device(grads[0].device)
    total = backend.empty((1,), np.float64)
    if isinstance(total_norm, Tensor) and total_norm.device == grads[0].device:
        backend.copy(backend.reshape(total_norm._data, (1,)), total)  # no host read
    else:
        backend.fill(total, _number(total_norm, "total_norm"))
    _scale(backend, _runs(grads), max_norm, total)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale the gradients of ``parameters`` in place so that their total norm is at most
    ``max_norm``; returns the total norm before clipping (a 0-d Tensor), as PyTorch.

    The norm is taken over all gradients together, as if concatenated; ``norm_type``
    is a positive number or ``math.inf`` (PyTorch's 0 and -inf are not implemented).
    Every gradient is multiplied by ``min(max_norm / (total_norm + 1e-6), 1)``.
    Parameters whose ``.grad`` is None are skipped. With ``error_if_nonfinite=True`` a
    NaN or infinite total norm raises ``RuntimeError`` and no gradient changes;
    otherwise the gradients are scaled by the non-finite coefficient, as in PyTorch.
    The norm is accumulated in float64 and returned in the gradients' dtype.
    ``foreach`` is accepted for PyTorch compatibility and ignored: gradients that form
    a flat buffer are always clipped as one.

    Example::

        loss.backward()
        fastdl.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
    """
    max_norm = _number(max_norm, "max_norm")
    norm_type = _norm_type(norm_type)
    grads = _grads(parameters)
    if not grads:
        return Tensor._wrap(np.asarray(0.0, np.float32))
    backend = backends.for_device(grads[0].device)
    runs = _runs(grads)
    total = _total_norm(backend, runs, norm_type)
    if error_if_nonfinite:
        _check_finite(backend, total, norm_type)
    _scale(backend, runs, max_norm, total)
    return _norm_tensor(backend, total, grads)


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor],
    clip_value: float,
    foreach: bool | None = None,
) -> None:
    """Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]`` in place.

    Parameters whose ``.grad`` is None are skipped; ``foreach`` is accepted for
    PyTorch compatibility and ignored.

    Example::

        fastdl.nn.utils.clip_grad_value_(model.parameters(), clip_value=0.5)
    """
    clip_value = _number(clip_value, "clip_value")
    grads = _grads(parameters)
    if not grads:
        return
    backend = backends.for_device(grads[0].device)
    for run in _runs(grads):
        backend.clamp(run, -clip_value, clip_value, run)


def parameters_to_vector(parameters: Tensor | Iterable[Tensor]) -> Tensor:
    """One 1-D tensor of all ``parameters``, flattened and concatenated in order
    (differentiable, as in PyTorch).

    Example::

        vec = fastdl.nn.utils.parameters_to_vector(model.parameters())
    """
    from fastdl.ops.shape import cat

    params = _tensors(parameters, "parameters")
    if not params:
        raise ValueError("parameters_to_vector: expected at least one parameter")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Tensor | Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters``, in order.

    Unlike PyTorch, which rebinds each parameter's ``.data`` to a view of ``vec``,
    the values are copied in place, so the parameters keep their storage (and stay
    views into an optimizer's flat buffer). ``vec`` must have exactly as many
    elements as the parameters together.

    Example::

        fastdl.nn.utils.vector_to_parameters(vec, model.parameters())
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected fastdl.Tensor, but got: {type(vec).__name__}")
    params = _tensors(parameters, "parameters")
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise ValueError(
            f"vec must be a 1-D tensor of {total} elements (the parameters' total), "
            f"got shape {vec.shape}"
        )
    start = 0
    for p in params:
        source = vec._data[start : start + p.numel()].reshape(p.shape)
        backends.for_device(p.device).copy(source, p._data)
        start += p.numel()
