"""Losses: MSE, L1, binary cross-entropy (on probabilities and on logits), NLL, and
cross-entropy on logits with class-index (sparse) or class-probability targets.

Each kernel computes per-element losses; the reduction ("mean", "sum", "none") and
its gradient are applied here, inside one autograd node. Class weights, ignored
targets, label smoothing, ``pos_weight`` and element weights are compositions over the
kernels' per-element losses ("none"), with PyTorch's weighted means.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl.autograd.function import Function
from fastdl.errors import DeviceError, ShapeError
from fastdl.ops import elementwise
from fastdl.ops._util import contiguous, empty
from fastdl.ops.activation import log_softmax, softmax
from fastdl.ops.activation_more import logsigmoid
from fastdl.ops.embedding import embedding
from fastdl.ops.reduce import broadcast_to
from fastdl.tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses: Any, reduction: str) -> Any:
    """The per-element losses reduced: summed in float64, averaged for "mean"."""
    if reduction == "none":
        return losses
    be = backends.allocator()
    total, out = be.empty((), np.float64), be.empty((), losses.dtype)
    be.sum(losses, tuple(range(losses.ndim)), False, total)
    count = max(losses.size, 1) if reduction == "mean" else 1
    be.div(total, np.asarray(count, np.float64), out)
    return out


def _spread(grad: Any, shape: tuple, reduction: str) -> Any:
    """The gradient of the reduction w.r.t. each per-element loss."""
    if reduction == "none":
        return contiguous(grad)
    size = int(np.prod(shape, dtype=np.int64))
    be = backends.allocator()
    out = be.empty(shape, grad.dtype)
    be.div(grad, np.asarray(size if reduction == "mean" else 1, grad.dtype), out)
    return out


def _spread_graph(grad: Tensor, shape: tuple, reduction: str) -> Tensor:
    """``_spread`` from differentiable ops (double backward)."""
    if reduction == "none":
        return grad
    size = int(np.prod(shape, dtype=np.int64))
    return broadcast_to(grad * (1.0 / size) if reduction == "mean" else grad, shape)


def _one_hot(target: Any, shape: tuple, dtype: np.dtype) -> Tensor:
    """One-hot rows of class indices, where the indices live (double backward only: on a
    GPU the indices make a round trip through the host)."""
    on_host = isinstance(target, np.ndarray)
    hot = np.zeros(shape, dtype)
    hot[np.arange(shape[0]), target if on_host else Tensor._wrap(target).cpu()._data] = 1
    return Tensor._wrap(hot) if on_host else Tensor._wrap(hot).to(Tensor._wrap(target).device)


class _PairLoss(Function):
    """A loss kernel ``forward(input, target, losses)`` with its backward twin."""

    forward_kernel = backward_kernel = ""

    @classmethod
    def forward(cls, ctx, inp, target, reduction):
        losses = empty(inp.shape, inp.dtype)
        getattr(ctx.backend, cls.forward_kernel)(inp, target, losses)
        ctx.save_for_backward(inp, target)
        ctx.reduction = reduction
        return _reduce(losses, reduction)

    @classmethod
    def backward(cls, ctx, grad):
        inp, target = ctx.saved
        grad_in = empty(inp.shape, inp.dtype)
        g = _spread(grad, inp.shape, ctx.reduction)
        getattr(ctx.backend, cls.backward_kernel)(inp, target, g, grad_in)
        return grad_in, None, None


class BCE(_PairLoss):
    forward_kernel, backward_kernel = "bce", "bce_backward"

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        p, target, reduction = inputs
        g = _spread_graph(grad, p.shape, reduction)
        return g * (p - target.detach()) / (p * (1.0 - p)).clamp(min=1e-12), None, None


class BCEWithLogits(_PairLoss):
    forward_kernel, backward_kernel = "bce_with_logits", "bce_with_logits_backward"

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        z, target, reduction = inputs
        g = _spread_graph(grad, z.shape, reduction)
        return g * (z.sigmoid() - target.detach()), None, None


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, target, reduction):
        n = logits.shape[0]
        losses = empty((n,), logits.dtype)
        saved = empty(logits.shape, logits.dtype)
        soft = target.dtype != np.int64
        if soft:
            ctx.backend.soft_cross_entropy(logits, target, losses, saved)
        else:
            ctx.backend.cross_entropy(logits, target, losses, saved)
        ctx.save_for_backward(saved, target)
        ctx.reduction, ctx.soft = reduction, soft
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad):
        saved, target = ctx.saved
        g = _spread(grad, saved.shape[:1], ctx.reduction)
        grad_logits = empty(saved.shape, saved.dtype)
        if ctx.soft:
            ctx.backend.soft_cross_entropy_backward(saved, target, g, grad_logits)
        else:
            ctx.backend.cross_entropy_backward(saved, target, g, grad_logits)
        return grad_logits, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        logits, target, reduction = inputs
        g = _spread_graph(grad, logits.shape[:1], reduction).reshape(-1, 1)
        probs = softmax(logits, dim=1)
        if ctx.soft:
            t = Tensor._wrap(target)
            return (probs * t.sum(1, keepdim=True) - t) * g, None, None
        return (probs - _one_hot(target, logits.shape, logits.dtype)) * g, None, None


class NLL(Function):
    @staticmethod
    def forward(ctx, log_probs, target, reduction):
        losses = empty(target.shape, log_probs.dtype)
        ctx.backend.nll_loss(log_probs, target, losses)
        ctx.save_for_backward(target)
        ctx.shape, ctx.reduction = log_probs.shape, reduction
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad):
        (target,) = ctx.saved
        g = _spread(grad, target.shape, ctx.reduction)
        grad_in = empty(ctx.shape, grad.dtype)
        ctx.backend.nll_loss_backward(target, g, grad_in)
        return grad_in, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        log_probs, target, reduction = inputs
        g = _spread_graph(grad, target.shape, reduction).reshape(-1, 1)
        return -_one_hot(target, log_probs.shape, log_probs.dtype) * g, None, None


# -- validation ------------------------------------------------------------------------


def _check_reduction(reduction: Any) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _check_input(x: Any, name: str, fn: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{fn}: {name} must be float32 or float64, got {x.dtype}")
    return x


def _same_shape_target(inp: Tensor, target: Any, fn: str, differentiable: bool) -> Tensor:
    """Check the target against the input; kernel-backed losses take no target grad."""
    if not isinstance(target, Tensor):
        raise TypeError(f"{fn}: target must be a Tensor, got {type(target).__name__}")
    if target.shape != inp.shape:
        raise ShapeError(f"{fn}: target shape {target.shape} must match input shape {inp.shape}")
    if not dtypes.is_floating(target.dtype):
        raise TypeError(f"{fn}: target must be a floating tensor, got {target.dtype}")
    if not differentiable and target.requires_grad:
        raise ValueError(f"{fn}: gradients with respect to target are not supported; detach it")
    return target.to(inp.dtype)


def _same_device(input: Tensor, target: Tensor, fn: str) -> None:  # noqa: A002
    if input.device != target.device:
        raise DeviceError(
            f"{fn}: Expected all tensors to be on the same device, but found at least two "
            f"devices, {input.device} (input) and {target.device} (target)!"
        )


# -- public functions ---------------------------------------------------------------------


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error. Example: ``F.mse_loss(pred, y)``."""
    _check_reduction(reduction)
    _check_input(input, "input", "mse_loss")
    target = _same_shape_target(input, target, "mse_loss", differentiable=True)
    diff = input - target
    return _apply_reduction(diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error."""
    _check_reduction(reduction)
    _check_input(input, "input", "l1_loss")
    target = _same_shape_target(input, target, "l1_loss", differentiable=True)
    return _apply_reduction((input - target).abs(), reduction)


def _apply_reduction(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


class ClassIndexError(IndexError, ValueError):
    """A class-index target outside ``[0, C)`` (PyTorch raises IndexError)."""


def legacy_reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    """The reduction named by PyTorch's deprecated ``size_average``/``reduce`` flags when
    either is given, else ``reduction`` (checked)."""
    if size_average is None and reduce is None:
        return _check_reduction(reduction)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _weight_like(weight: Any, input: Tensor, name: str, fn: str) -> Tensor | None:  # noqa: A002
    """A floating weight broadcastable to ``input``'s shape, detached, in its dtype."""
    if weight is None:
        return None
    if not isinstance(weight, Tensor) or not dtypes.is_floating(weight.dtype):
        got = weight.dtype if isinstance(weight, Tensor) else type(weight).__name__
        raise TypeError(f"{fn}: {name} must be a floating Tensor, got {got}")
    try:
        shape = np.broadcast_shapes(tuple(weight.shape), tuple(input.shape))
    except ValueError:
        shape = None
    if shape != tuple(input.shape):
        raise ShapeError(
            f"{fn}: {name} of shape {tuple(weight.shape)} does not broadcast to input shape "
            f"{tuple(input.shape)}"
        )
    if weight.device != input.device:
        raise DeviceError(f"{fn}: {name} is on {weight.device}, input on {input.device}")
    return weight.detach().to(input.dtype)


def class_weight(weight: Any, classes: int, input: Tensor, fn: str) -> Tensor | None:  # noqa: A002
    """A per-class ``weight`` of shape ``(C,)``, detached, in ``input``'s dtype."""
    if weight is None:
        return None
    if not isinstance(weight, Tensor) or not dtypes.is_floating(weight.dtype):
        got = weight.dtype if isinstance(weight, Tensor) else type(weight).__name__
        raise TypeError(f"{fn}: weight must be a floating Tensor, got {got}")
    if tuple(weight.shape) != (classes,):
        raise ShapeError(
            f"{fn}: weight should be defined either for all {classes} classes or no classes, "
            f"but got weight of shape {tuple(weight.shape)}"
        )
    if weight.device != input.device:
        raise DeviceError(f"{fn}: weight is on {weight.device}, input on {input.device}")
    return weight.detach().to(input.dtype)


def _loss_shape(input: Tensor, fn: str) -> tuple[int, tuple]:  # noqa: A002
    """(C, the shape of the losses) of (C,), (N, C) or (N, C, d1, ...) scores."""
    if input.ndim == 0:
        raise ShapeError(f"{fn}: input must have a class dimension, got a 0-d tensor")
    if input.ndim == 1:
        return input.shape[0], ()
    return input.shape[1], (input.shape[0], *input.shape[2:])


def _rows(input: Tensor) -> Tensor:  # noqa: A002
    """The scores as (rows, C): the class dim moved last."""
    if input.ndim == 1:
        return input.reshape(1, -1)
    if input.ndim == 2:
        return input
    return input.movedim(1, -1).reshape(-1, input.shape[1])


def _index_target(
    input: Tensor,  # noqa: A002
    target: Tensor,
    loss_shape: tuple,
    ignore_index: int,
    fn: str,
) -> tuple[Any, bool | None]:
    """Flat int64 class indices checked against the input; and whether any equals
    ``ignore_index`` (None on a GPU, where finding out would copy them to the host)."""
    if tuple(target.shape) != loss_shape:
        raise ShapeError(
            f"{fn}: class-index target must have shape {loss_shape} for input of shape "
            f"{tuple(input.shape)}, got {tuple(target.shape)}"
        )
    _same_device(input, target, fn)
    raw = contiguous(target._data)
    raw = raw if raw.ndim == 1 else raw.reshape(raw.size)
    if not isinstance(raw, np.ndarray):
        return raw, None
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    if not raw.size or (raw.min() >= 0 and raw.max() < classes):  # the common case, cheaply
        return raw, bool(0 <= ignore_index < classes and (raw == ignore_index).any())
    ignored = raw == ignore_index
    bad = raw[~ignored & ((raw < 0) | (raw >= classes))]
    if bad.size:
        raise ClassIndexError(f"{fn}: target {bad[0]} is out of bounds for {classes} classes.")
    return raw, bool(ignored.any())


def _weighted_rows(op: type, rows: Tensor, raw: Any, weight: Any, ignore_index: int):
    """(per-row losses times their weights, the weights): ``op`` applied to the kept
    rows, ignored targets weighted 0."""
    t = Tensor._wrap(raw)
    keep = t != ignore_index
    clean = elementwise.where(keep, t, 0)
    row_weight = keep.to(rows.dtype)
    if weight is not None:
        row_weight = row_weight * embedding(clean, weight.reshape(-1, 1)).reshape(-1)
    losses = op.apply(rows.contiguous(), contiguous(clean._data), "none")
    return losses * row_weight, row_weight


def _finish(per_row: Tensor, denominator: Any, reduction: str, loss_shape: tuple) -> Tensor:
    if reduction == "none":
        return per_row.reshape(loss_shape)
    total = per_row.sum()
    return total / denominator if reduction == "mean" else total


def _index_loss(
    op: type,
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Any,
    ignore_index: int,
    reduction: str,
    smoothing: float,
    fn: str,
) -> Tensor:
    classes, loss_shape = _loss_shape(input, fn)
    weight = class_weight(weight, classes, input, fn)
    raw, has_ignored = _index_target(input, target, loss_shape, ignore_index, fn)
    rows = _rows(input)
    if weight is None and smoothing == 0 and has_ignored is False:  # the fused kernel alone
        loss = op.apply(rows.contiguous(), raw, reduction)
        return loss.reshape(loss_shape) if reduction == "none" else loss
    per_row, row_weight = _weighted_rows(op, rows, raw, weight, ignore_index)
    if smoothing:
        log_probs = log_softmax(rows, 1)
        if weight is not None:
            log_probs = log_probs * weight
        keep = (Tensor._wrap(raw) != ignore_index).to(rows.dtype)
        smooth = -log_probs.sum(1) * keep
        per_row = per_row * (1.0 - smoothing) + smooth * (smoothing / classes)
    return _finish(per_row, row_weight.sum(), reduction, loss_shape)


def _probability_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Any,
    reduction: str,
    smoothing: float,
) -> Tensor:
    classes, loss_shape = _loss_shape(input, "cross_entropy")
    weight = class_weight(weight, classes, input, "cross_entropy")
    _same_device(input, target, "cross_entropy")
    rows = _rows(input)
    probs = target.detach().to(input.dtype)
    probs = probs.reshape(1, -1) if input.ndim == 1 else probs
    probs = probs.movedim(1, -1).reshape(-1, classes) if input.ndim > 2 else probs
    if smoothing:
        probs = probs * (1.0 - smoothing) + smoothing / classes
    if weight is None:
        loss = CrossEntropy.apply(rows.contiguous(), probs.contiguous()._data, reduction)
        return loss.reshape(loss_shape) if reduction == "none" else loss
    per_row = -(log_softmax(rows, 1) * probs * weight).sum(1)
    return _finish(per_row, rows.shape[0], reduction, loss_shape)


def binary_cross_entropy(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """BCE on probabilities in [0, 1]; the logs are clamped at -100 as in PyTorch.
    ``weight`` (broadcast to the input's shape) rescales each element's loss.

    Example: ``F.binary_cross_entropy(fastdl.sigmoid(z), y)``."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(input, "input", "binary_cross_entropy")
    target = _same_shape_target(input, target, "binary_cross_entropy", False)
    weight = _weight_like(weight, input, "weight", "binary_cross_entropy")
    raw = input._data  # checked on the host only: on a GPU it would cost a copy per step
    if isinstance(raw, np.ndarray) and raw.size and (np.nanmin(raw) < 0 or np.nanmax(raw) > 1):
        raise ValueError("binary_cross_entropy: input values must be between 0 and 1")
    if weight is None:
        return BCE.apply(input.contiguous(), target.contiguous(), reduction)
    losses = BCE.apply(input.contiguous(), target.contiguous(), "none") * weight
    return _apply_reduction(losses, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """BCE on logits, computed stably (finite for logits up to +-1e4 and beyond).
    ``pos_weight`` (broadcast along the last dim) weights the positive term,
    ``weight`` each element's loss.

    Example: ``F.binary_cross_entropy_with_logits(z, y, pos_weight=fastdl.tensor([3.0]))``."""
    fn = "binary_cross_entropy_with_logits"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(input, "input", fn)
    target = _same_shape_target(input, target, fn, False)
    weight = _weight_like(weight, input, "weight", fn)
    pos_weight = _weight_like(pos_weight, input, "pos_weight", fn)
    if weight is None and pos_weight is None:
        return BCEWithLogits.apply(input.contiguous(), target.contiguous(), reduction)
    losses = BCEWithLogits.apply(input.contiguous(), target.contiguous(), "none")
    if pos_weight is not None:  # + (pos_weight - 1) * target * softplus(-z)
        losses = losses - (pos_weight - 1.0) * target * logsigmoid(input)
    if weight is not None:
        losses = losses * weight
    return _apply_reduction(losses, reduction)


def _check_target_tensor(target: Any, fn: str) -> None:
    if not isinstance(target, Tensor):
        raise TypeError(f"{fn}: target must be a Tensor, got {type(target).__name__}")


def cross_entropy(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy on logits ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``.

    An int64 target of shape ``(N,)`` (``(N, d1, ...)``) holds class indices; a float
    target of the input's shape holds class probabilities. ``weight`` (C,) rescales
    each class, and "mean" then divides by the summed weights of the targets, as
    PyTorch; targets equal to ``ignore_index`` count for nothing; ``label_smoothing``
    mixes the target with the uniform distribution. Without weights, ignored targets or
    smoothing, one fused kernel computes the loss.

    Example::

        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)   # y: int64 indices
    """
    fn = "cross_entropy"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(input, "input", fn)
    _check_target_tensor(target, fn)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"{fn}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}"
        )
    if target.dtype == dtypes.int64:
        return _index_loss(
            CrossEntropy, input, target, weight, ignore_index, reduction, label_smoothing, fn
        )
    if not dtypes.is_floating(target.dtype):
        raise TypeError(f"{fn}: target must be int64 or floating, got {target.dtype}")
    if target.shape != input.shape:
        raise TypeError(
            f"{fn}: a float target must hold class probabilities of shape "
            f"{input.shape}; got shape {target.shape} (class indices must be int64)"
        )
    return _probability_loss(input, target, weight, reduction, label_smoothing)


def nll_loss(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood on log-probabilities ``(N, C)``, ``(C,)`` or
    ``(N, C, d1, ...)`` with int64 class targets; ``weight`` and ``ignore_index`` as in
    :func:`cross_entropy`.

    Example: ``F.nll_loss(F.log_softmax(z, 1), y, weight=class_weights)``."""
    fn = "nll_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_input(input, "input", fn)
    _check_target_tensor(target, fn)
    if target.dtype != dtypes.int64:
        raise TypeError(
            f"{fn}: target must be an int64 Tensor of class indices, got {target.dtype}"
        )
    return _index_loss(NLL, input, target, weight, ignore_index, reduction, 0.0, fn)
