"""CUDA loss kernels.  logits, probs, log_probs (N,C); class target (N,) int64; losses (N,).

The binary losses (bce*) are elementwise: p, z, target, losses and grads share any one
shape (viewed as flat vectors).

Every kernel is one launch and writes per-row (or per-element) losses: the reduction
to a scalar ('mean', 'sum', weights) is the op's, not the kernel's.

* **Fused softmax-cross-entropy.** ``cross_entropy`` is one row kernel (the row
  machinery of :mod:`fastdl.backends.cuda.softmax`): the row max and the sum of
  ``exp(x - max)`` by group reductions, then ``probs`` written and, by the row's first
  thread, ``losses = log(sum) - (x[target] - max)``. Its backward is one elementwise
  launch, ``(probs - onehot(target)) * grad_losses``: the forward keeps ``probs``, so
  the backward needs no reduction. ``soft_cross_entropy`` likewise writes
  ``log_probs`` and reduces ``target * log_probs`` in the same pass; its backward is a
  row kernel (the target's row sum).
* **Elementwise.** nll_loss (a thread per row), nll_loss_backward and
  cross_entropy_backward (a thread per (row, class)), and the bce family (a thread per
  element).

Targets are validated by the op; a target outside [0, C) gives a NaN loss here rather
than an out-of-bounds read (the backward kernels simply match no class).

Example::

    >>> import numpy as np
    >>> from numba import cuda
    >>> losses, probs = cuda.device_array(1), cuda.device_array((1, 2))
    >>> logits = cuda.to_device(np.array([[0.0, np.log(3.0)]]))
    >>> cross_entropy(logits, cuda.to_device(np.array([1])), losses, probs)
    >>> losses.copy_to_host().round(6)
    array([0.287682])
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from numba import cuda

from fastdl.backends.cuda.activation import flat, launch_flat
from fastdl.backends.cuda.linear import _activation
from fastdl.backends.cuda.softmax import (
    WARP,
    add,
    launch_rows,
    row_max_and_sum,
    row_position,
    row_reduction,
    signature,
)

# -- categorical: fused softmax / log-softmax and the loss, forward and backward --------


@cache
def _cross_entropy_kernel(dtype, warps, rows):
    """probs = softmax(logits); losses = log(sum) - (logits[t] - max)."""
    max_and_sum = row_max_and_sum(dtype, warps, rows)
    threads = warps * WARP
    nan = dtype.type(np.nan)

    def cross_entropy(logits, target, losses, probs):
        n, c = logits.shape
        row, lane = row_position(warps, rows)
        live = row < n
        m, s = max_and_sum(logits, row, lane, live)
        if live:
            for j in range(lane, c, threads):
                probs[row, j] = math.exp(logits[row, j] - m) / s
            if lane == 0:
                t = target[row]
                losses[row] = math.log(s) - (logits[row, t] - m) if 0 <= t < c else nan

    return cuda.jit(signature(dtype, "m", "t", "v", "m"))(cross_entropy)


@cache
def _soft_cross_entropy_kernel(dtype, warps, rows):
    """log_probs = log_softmax(logits); losses = -sum(target * log_probs)."""
    max_and_sum = row_max_and_sum(dtype, warps, rows)
    reduce_sum = row_reduction(dtype, warps, rows, add)
    threads = warps * WARP
    zero = dtype.type(0)

    def soft_cross_entropy(logits, target, losses, log_probs):
        n, c = logits.shape
        row, lane = row_position(warps, rows)
        live = row < n
        m, s = max_and_sum(logits, row, lane, live)
        dot = zero
        if live:
            lse = math.log(s)
            for j in range(lane, c, threads):
                lp = (logits[row, j] - m) - lse
                log_probs[row, j] = lp
                dot += target[row, j] * lp
        dot = reduce_sum(dot)
        if live and lane == 0:
            losses[row] = -dot

    return cuda.jit(signature(dtype, "m", "m", "v", "m"))(soft_cross_entropy)


@cache
def _cross_entropy_backward_kernel(dtype):
    one = dtype.type(1)

    def backward(probs, target, grad_losses, grad_logits):
        k = cuda.grid(1)
        n, c = probs.shape
        if k < n * c:
            i = k // c
            j = k - i * c
            v = probs[i, j]
            if j == target[i]:
                v = v - one
            grad_logits[i, j] = v * grad_losses[i]

    return cuda.jit(signature(dtype, "m", "t", "v", "m"))(backward)


@cache
def _soft_cross_entropy_backward_kernel(dtype, warps, rows):
    """grad_logits = (exp(log_probs) * sum(target, row) - target) * grad_losses."""
    reduce_sum = row_reduction(dtype, warps, rows, add)
    threads = warps * WARP
    zero = dtype.type(0)

    def backward(log_probs, target, grad_losses, grad_logits):
        n, c = log_probs.shape
        row, lane = row_position(warps, rows)
        live = row < n
        total = zero
        if live:
            for j in range(lane, c, threads):
                total += target[row, j]
        total = reduce_sum(total)
        if live:
            g = grad_losses[row]
            for j in range(lane, c, threads):
                grad_logits[row, j] = (math.exp(log_probs[row, j]) * total - target[row, j]) * g

    return cuda.jit(signature(dtype, "m", "m", "v", "m"))(backward)


def cross_entropy(logits, target, losses, probs):
    """losses = logsumexp(logits) - logits[target]; probs = softmax(logits)."""
    launch_rows(_cross_entropy_kernel, logits.dtype, *logits.shape, logits, target, losses, probs)


def cross_entropy_backward(probs, target, grad_losses, grad_logits):
    """grad_logits = (probs - onehot(target)) * grad_losses[:, None]."""
    kernel = _cross_entropy_backward_kernel(np.dtype(probs.dtype))
    launch_flat(kernel, probs.size, probs, target, grad_losses, grad_logits)


def soft_cross_entropy(logits, target, losses, log_probs):
    """losses = -sum(target * log_softmax(logits)); log_probs = log_softmax(logits)."""
    args = (logits, target, losses, log_probs)
    launch_rows(_soft_cross_entropy_kernel, logits.dtype, *logits.shape, *args)


def soft_cross_entropy_backward(log_probs, target, grad_losses, grad_logits):
    """grad_logits = (softmax * sum(target) - target) * grad_losses[:, None]."""
    args = (log_probs, target, grad_losses, grad_logits)
    launch_rows(_soft_cross_entropy_backward_kernel, log_probs.dtype, *log_probs.shape, *args)


# -- negative log-likelihood on log-probabilities -------------------------------------


@cache
def _nll_kernel(dtype):
    nan = dtype.type(np.nan)

    def nll(log_probs, target, losses):
        i = cuda.grid(1)
        n, c = log_probs.shape
        if i < n:
            t = target[i]
            losses[i] = -log_probs[i, t] if 0 <= t < c else nan

    return cuda.jit(signature(dtype, "m", "t", "v"))(nll)


@cache
def _nll_backward_kernel(dtype):
    zero = dtype.type(0)

    def backward(target, grad_losses, grad_input):
        k = cuda.grid(1)
        n, c = grad_input.shape
        if k < n * c:
            i = k // c
            j = k - i * c
            grad_input[i, j] = -grad_losses[i] if j == target[i] else zero

    return cuda.jit(signature(dtype, "t", "v", "m"))(backward)


def nll_loss(log_probs, target, losses):
    """losses = -log_probs[target]."""
    kernel = _nll_kernel(np.dtype(log_probs.dtype))
    launch_flat(kernel, log_probs.shape[0], log_probs, target, losses)


def nll_loss_backward(target, grad_losses, grad_input):
    """grad_input = 0 except -grad_losses at each row's target."""
    kernel = _nll_backward_kernel(np.dtype(grad_input.dtype))
    launch_flat(kernel, grad_input.size, target, grad_losses, grad_input)


# -- binary cross-entropy: elementwise ------------------------------------------------


@cache
def _bce_kernel(dtype):
    zero, one, floor = dtype.type(0), dtype.type(1), dtype.type(-100)

    def bce(p, target, losses):
        i = cuda.grid(1)
        if i < losses.size:
            pi = p[i]
            t = target[i]
            # Logs clamped at -100 as PyTorch does; log(0) = -inf is not computed (the
            # simulator's math.log raises on it). A NaN stays NaN.
            log_p = floor if pi == zero else math.log(pi)
            if log_p < floor:
                log_p = floor
            log_1mp = floor if pi == one else math.log1p(-pi)
            if log_1mp < floor:
                log_1mp = floor
            losses[i] = -(t * log_p + (one - t) * log_1mp)

    return cuda.jit(signature(dtype, "v", "v", "v"))(bce)


@cache
def _bce_backward_kernel(dtype):
    one, tiny = dtype.type(1), dtype.type(1e-12)

    def backward(p, target, grad_losses, grad_p):
        i = cuda.grid(1)
        if i < grad_p.size:
            pi = p[i]
            d = pi * (one - pi)
            if d < tiny:
                d = tiny
            grad_p[i] = grad_losses[i] * (pi - target[i]) / d

    return cuda.jit(signature(dtype, "v", "v", "v", "v"))(backward)


@cache
def _bce_with_logits_kernel(dtype):
    zero = dtype.type(0)

    def bce_with_logits(z, target, losses):
        i = cuda.grid(1)
        if i < losses.size:
            zi = z[i]
            # max(z, 0) - z t + log1p(exp(-|z|)): exp never overflows
            relu = zi if zi > zero else zero
            ti = target[i]
            zt = zi * ti if ti != zero else zero  # +inf logit, target 0: +inf
            losses[i] = relu - zt + math.log1p(math.exp(-abs(zi)))

    return cuda.jit(signature(dtype, "v", "v", "v"))(bce_with_logits)


@cache
def _bce_with_logits_backward_kernel(dtype):
    sigmoid = _activation("sigmoid", dtype)
    zero = dtype.type(0)

    def backward(z, target, grad_losses, grad_z):
        i = cuda.grid(1)
        if i < grad_z.size:
            grad_z[i] = grad_losses[i] * (sigmoid(z[i], zero) - target[i])

    return cuda.jit(signature(dtype, "v", "v", "v", "v"))(backward)


def bce(p, target, losses):
    """losses = -(t * max(log p, -100) + (1 - t) * max(log1p(-p), -100)), as PyTorch."""
    kernel = _bce_kernel(np.dtype(losses.dtype))
    launch_flat(kernel, losses.size, flat(p), flat(target), flat(losses))


def bce_backward(p, target, grad_losses, grad_p):
    """grad_p = grad_losses * (p - t) / max(p * (1 - p), 1e-12)."""
    kernel = _bce_backward_kernel(np.dtype(grad_p.dtype))
    launch_flat(kernel, grad_p.size, flat(p), flat(target), flat(grad_losses), flat(grad_p))


def bce_with_logits(z, target, losses):
    """losses = max(z, 0) - z * t + log1p(exp(-|z|)): no overflow for any finite z."""
    kernel = _bce_with_logits_kernel(np.dtype(losses.dtype))
    launch_flat(kernel, losses.size, flat(z), flat(target), flat(losses))


def bce_with_logits_backward(z, target, grad_losses, grad_z):
    """grad_z = grad_losses * (sigmoid(z) - t)."""
    kernel = _bce_with_logits_backward_kernel(np.dtype(grad_z.dtype))
    launch_flat(kernel, grad_z.size, flat(z), flat(target), flat(grad_losses), flat(grad_z))
