"""Numba loss kernels.  logits, probs, log_probs (N,C); class target (N,) int64; losses (N,).

The binary losses (bce*) are elementwise: p, z, target, losses and grads share any one shape.
The categorical losses follow ``softmax.py``: x - rowmax in one ``@njit`` pass (the
row maxima parked in ``losses``), NumPy's SIMD ``np.exp`` in place, then one ``@njit``
pass per row for the sum, the loss and the kept probabilities / log-probabilities.
The binary losses call scalar libm ``log``/``exp`` per element: their arrays are small.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from fastdl.backends import _jit_cache
from fastdl.backends.cpu.activation import flat, sigmoid_scalar
from fastdl.backends.cpu.softmax import row_dot, row_sum, subtract_row_max

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too


@njit(cache=True, error_model="numpy")
def _cross_entropy_finish(logits, target, losses, probs):
    # probs holds exp(logits - max), losses the row maxima.
    for i in range(logits.shape[0]):
        pi = probs[i]
        s = row_sum(pi)
        inv = 1.0 / s
        for j in range(pi.shape[0]):
            pi[j] *= inv
        losses[i] = np.log(s) - (logits[i, target[i]] - losses[i])


@njit(cache=True)
def _cross_entropy_backward(probs, target, grad_losses, grad_logits):
    for i in range(probs.shape[0]):
        g = grad_losses[i]
        pi = probs[i]
        gi = grad_logits[i]
        for j in range(pi.shape[0]):
            gi[j] = pi[j] * g
        t = target[i]
        gi[t] = (pi[t] - 1.0) * g


@njit(cache=True)
def _soft_cross_entropy_finish(logits, target, losses, log_probs):
    # log_probs holds exp(logits - max), losses the row maxima.
    for i in range(logits.shape[0]):
        xi = logits[i]
        ti = target[i]
        li = log_probs[i]
        lse = np.log(row_sum(li))
        m = losses[i]
        for j in range(xi.shape[0]):
            li[j] = (xi[j] - m) - lse
        losses[i] = -row_dot(ti, li)


@njit(cache=True)
def _soft_cross_entropy_backward_finish(target, grad_losses, grad_logits):
    # grad_logits holds exp(log_probs).
    for i in range(target.shape[0]):
        ti = target[i]
        gi = grad_logits[i]
        total = row_sum(ti)
        g = grad_losses[i]
        for j in range(ti.shape[0]):
            gi[j] = (gi[j] * total - ti[j]) * g


@njit(cache=True)
def _nll_loss(log_probs, target, losses):
    for i in range(target.shape[0]):
        losses[i] = -log_probs[i, target[i]]


@njit(cache=True)
def _nll_loss_backward(target, grad_losses, grad_input):
    n, c = grad_input.shape
    for i in range(n):
        gi = grad_input[i]
        for j in range(c):
            gi[j] = 0.0
        gi[target[i]] = -grad_losses[i]


@njit(cache=True)
def _bce(p, target, losses):
    for i in range(p.shape[0]):
        v = p[i]
        t = target[i]
        log_p = np.log(v)
        if log_p < -100.0:  # written so that a NaN stays NaN
            log_p = -100.0
        log_q = np.log1p(-v)
        if log_q < -100.0:
            log_q = -100.0
        losses[i] = -(t * log_p + (1.0 - t) * log_q)


@njit(cache=True, error_model="numpy")
def _bce_backward(p, target, grad_losses, grad_p):
    for i in range(p.shape[0]):
        v = p[i]
        d = v * (1.0 - v)
        if d < 1e-12:
            d = 1e-12
        grad_p[i] = grad_losses[i] * (v - target[i]) / d


@njit(cache=True)
def _bce_with_logits(z, target, losses):
    for i in range(z.shape[0]):
        v = z[i]
        pos = v if v > 0 else 0.0
        t = target[i]
        zt = v * t if t != 0 else 0.0  # +inf logit with target 0: +inf, not inf - inf
        losses[i] = pos - zt + np.log1p(np.exp(-abs(v)))


@njit(cache=True)
def _bce_with_logits_backward(z, target, grad_losses, grad_z):
    for i in range(z.shape[0]):
        grad_z[i] = grad_losses[i] * (sigmoid_scalar(z[i]) - target[i])


def cross_entropy(logits, target, losses, probs):
    """losses = logsumexp(logits) - logits[target]; probs = softmax(logits)."""
    subtract_row_max(logits, probs, losses)
    np.exp(probs, out=probs)
    _cross_entropy_finish(logits, target, losses, probs)


def cross_entropy_backward(probs, target, grad_losses, grad_logits):
    """grad_logits = (probs - onehot(target)) * grad_losses[:, None]."""
    _cross_entropy_backward(probs, target, grad_losses, grad_logits)


def soft_cross_entropy(logits, target, losses, log_probs):
    """losses = -sum(target * log_softmax(logits)); log_probs = log_softmax(logits)."""
    subtract_row_max(logits, log_probs, losses)
    np.exp(log_probs, out=log_probs)
    _soft_cross_entropy_finish(logits, target, losses, log_probs)


def soft_cross_entropy_backward(log_probs, target, grad_losses, grad_logits):
    """grad_logits = (softmax * sum(target) - target) * grad_losses[:, None]."""
    np.exp(log_probs, out=grad_logits)
    _soft_cross_entropy_backward_finish(target, grad_losses, grad_logits)


def nll_loss(log_probs, target, losses):
    """losses = -log_probs[target]."""
    _nll_loss(log_probs, target, losses)


def nll_loss_backward(target, grad_losses, grad_input):
    """grad_input = 0 except -grad_losses at each row's target."""
    _nll_loss_backward(target, grad_losses, grad_input)


def bce(p, target, losses):
    """losses = -(t * max(log p, -100) + (1 - t) * max(log(1 - p), -100)), as PyTorch."""
    _bce(p.ravel(), target.ravel(), flat(losses))


def bce_backward(p, target, grad_losses, grad_p):
    """grad_p = grad_losses * (p - t) / max(p * (1 - p), 1e-12)."""
    _bce_backward(p.ravel(), target.ravel(), grad_losses.ravel(), flat(grad_p))


def bce_with_logits(z, target, losses):
    """losses = max(z, 0) - z * t + log1p(exp(-|z|)): no overflow for any finite z."""
    _bce_with_logits(z.ravel(), target.ravel(), flat(losses))


def bce_with_logits_backward(z, target, grad_losses, grad_z):
    """grad_z = grad_losses * (sigmoid(z) - t)."""
    _bce_with_logits_backward(z.ravel(), target.ravel(), grad_losses.ravel(), flat(grad_z))
