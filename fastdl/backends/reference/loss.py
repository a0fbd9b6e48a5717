"""Reference loss kernels.  logits, probs, log_probs (N,C); class target (N,) int64; losses (N,).

The binary losses (bce*) are elementwise: p, z, target, losses and grads share any one shape.
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.reference.activation import _sigmoid
from fastdl.backends.reference.softmax import log_softmax


def _rows(target):
    return np.arange(target.shape[0])


def cross_entropy(logits, target, losses, probs):
    """losses = logsumexp(logits) - logits[target]; probs = softmax(logits)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    probs[...] = e / s
    losses[...] = np.log(s[:, 0]) - z[_rows(target), target]


def cross_entropy_backward(probs, target, grad_losses, grad_logits):
    """grad_logits = (probs - onehot(target)) * grad_losses[:, None]."""
    grad_logits[...] = probs
    grad_logits[_rows(target), target] -= 1
    grad_logits *= grad_losses[:, None]


def soft_cross_entropy(logits, target, losses, log_probs):
    """losses = -sum(target * log_softmax(logits)); log_probs = log_softmax(logits)."""
    log_softmax(logits, log_probs)
    losses[...] = -(target * log_probs).sum(axis=1)


def soft_cross_entropy_backward(log_probs, target, grad_losses, grad_logits):
    """grad_logits = (softmax * sum(target) - target) * grad_losses[:, None]."""
    total = target.sum(axis=1, keepdims=True)
    grad_logits[...] = (np.exp(log_probs) * total - target) * grad_losses[:, None]


def nll_loss(log_probs, target, losses):
    """losses = -log_probs[target]."""
    losses[...] = -log_probs[_rows(target), target]


def nll_loss_backward(target, grad_losses, grad_input):
    """grad_input = 0 except -grad_losses at each row's target."""
    grad_input[...] = 0
    grad_input[_rows(target), target] = -grad_losses


def bce(p, target, losses):
    """losses = -(t * max(log p, -100) + (1 - t) * max(log1p(-p), -100)), as PyTorch."""
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100)
        log_1mp = np.maximum(np.log1p(-p), -100)
    losses[...] = -(target * log_p + (1 - target) * log_1mp)


def bce_backward(p, target, grad_losses, grad_p):
    """grad_p = grad_losses * (p - t) / max(p * (1 - p), 1e-12)."""
    grad_p[...] = grad_losses * (p - target) / np.maximum(p * (1 - p), 1e-12)


def bce_with_logits(z, target, losses):
    """losses = max(z, 0) - z * t + log1p(exp(-|z|)): no overflow for any finite z; the
    ``z * t`` term is 0 where t is 0, so z = +inf with t = 0 gives +inf, as PyTorch."""
    with np.errstate(invalid="ignore"):
        zt = np.where(target == 0, 0.0, z * target)
    losses[...] = np.maximum(z, 0) - zt + np.log1p(np.exp(-np.abs(z)))


def bce_with_logits_backward(z, target, grad_losses, grad_z):
    """grad_z = grad_losses * (sigmoid(z) - t)."""
    grad_z[...] = grad_losses * (_sigmoid(z) - target)
