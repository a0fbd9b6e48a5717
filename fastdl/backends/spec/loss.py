"""Losses per sample: cross-entropy (class or probability targets), NLL, binary
cross-entropy on probabilities and on logits.

Shape legend: ``N`` batch rows, ``C`` classes; class targets are int64.
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, Sampler, empty, randn, size


def _targets(rng, n, c):
    return rng.integers(0, c, size=n).astype(np.int64)


def _cross_entropy_sample(rng, dtype):
    n, c = size(rng), size(rng)
    return {
        "logits": (3 * rng.standard_normal((n, c))).astype(dtype),
        "target": _targets(rng, n, c),
        "losses": empty((n,), dtype),
        "probs": empty((n, c), dtype),
    }


def _probs(rng, n, c, dtype):
    z = rng.standard_normal((n, c))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return p.astype(dtype)


def _cross_entropy_backward_sample(rng, dtype):
    n, c = size(rng), size(rng)
    return {
        "probs": _probs(rng, n, c, dtype),
        "target": _targets(rng, n, c),
        "grad_losses": randn(rng, (n,), dtype),
        "grad_logits": empty((n, c), dtype),
    }


def _soft_cross_entropy_sample(rng, dtype):
    n, c = size(rng), size(rng)
    return {
        "logits": (3 * rng.standard_normal((n, c))).astype(dtype),
        "target": _probs(rng, n, c, dtype),
        "losses": empty((n,), dtype),
        "log_probs": empty((n, c), dtype),
    }


def _soft_cross_entropy_backward_sample(rng, dtype):
    n, c = size(rng), size(rng)
    return {
        "log_probs": np.log(_probs(rng, n, c, np.float64)).astype(dtype),
        "target": _probs(rng, n, c, dtype),
        "grad_losses": randn(rng, (n,), dtype),
        "grad_logits": empty((n, c), dtype),
    }


def _nll_sample(rng, dtype):
    n, c = size(rng), size(rng)
    return {
        "log_probs": np.log(_probs(rng, n, c, np.float64)).astype(dtype),
        "target": _targets(rng, n, c),
        "losses": empty((n,), dtype),
    }


def _nll_backward_sample(rng, dtype):
    n, c = size(rng), size(rng)
    return {
        "target": _targets(rng, n, c),
        "grad_losses": randn(rng, (n,), dtype),
        "grad_input": empty((n, c), dtype),
    }


def _bce_sample(logits: bool, backward: bool) -> Sampler:
    def sample(rng, dtype):
        shape = (size(rng), size(rng))
        if logits:
            inp = (5 * rng.standard_normal(shape)).astype(dtype)
        else:
            inp = rng.uniform(0.0, 1.0, shape).astype(dtype)
            inp.flat[0] = 0.0  # exercise the log clamp at -100
        name = "z" if logits else "p"
        args = {name: inp, "target": rng.uniform(0.0, 1.0, shape).astype(dtype)}
        if backward:
            args["grad_losses"] = randn(rng, shape, dtype)
            args["grad_" + name] = empty(shape, dtype)
        else:
            args["losses"] = empty(shape, dtype)
        return args

    return sample


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "cross_entropy",
        "loss",
        ("logits", "target", "losses", "probs"),
        ("losses", "probs"),
        "Sparse categorical cross-entropy on logits (N,C) with int64 targets (N,): "
        "losses[i] = logsumexp(logits[i]) - logits[i, target[i]]; probs = softmax(logits) "
        "is kept for the backward pass. Targets are validated by the op, not the kernel.",
        _cross_entropy_sample,
    ),
    Kernel(
        "cross_entropy_backward",
        "loss",
        ("probs", "target", "grad_losses", "grad_logits"),
        ("grad_logits",),
        "grad_logits = (probs - onehot(target)) * grad_losses[:, None].",
        _cross_entropy_backward_sample,
    ),
    Kernel(
        "soft_cross_entropy",
        "loss",
        ("logits", "target", "losses", "log_probs"),
        ("losses", "log_probs"),
        "Categorical cross-entropy with class-probability targets (N,C): "
        "losses[i] = -sum(target[i] * log_softmax(logits)[i]); log_probs kept for backward.",
        _soft_cross_entropy_sample,
    ),
    Kernel(
        "soft_cross_entropy_backward",
        "loss",
        ("log_probs", "target", "grad_losses", "grad_logits"),
        ("grad_logits",),
        "grad_logits = (exp(log_probs) * sum(target, row) - target) * grad_losses[:, None].",
        _soft_cross_entropy_backward_sample,
    ),
    Kernel(
        "nll_loss",
        "loss",
        ("log_probs", "target", "losses"),
        ("losses",),
        "losses[i] = -log_probs[i, target[i]].",
        _nll_sample,
    ),
    Kernel(
        "nll_loss_backward",
        "loss",
        ("target", "grad_losses", "grad_input"),
        ("grad_input",),
        "grad_input = 0 except grad_input[i, target[i]] = -grad_losses[i].",
        _nll_backward_sample,
    ),
    Kernel(
        "bce",
        "loss",
        ("p", "target", "losses"),
        ("losses",),
        "Binary cross-entropy on probabilities, logs clamped at -100 as PyTorch does: "
        "losses = -(t * max(log p, -100) + (1 - t) * max(log1p(-p), -100)).",
        _bce_sample(logits=False, backward=False),
    ),
    Kernel(
        "bce_backward",
        "loss",
        ("p", "target", "grad_losses", "grad_p"),
        ("grad_p",),
        "grad_p = grad_losses * (p - t) / max(p * (1 - p), 1e-12).",
        _bce_sample(logits=False, backward=True),
    ),
    Kernel(
        "bce_with_logits",
        "loss",
        ("z", "target", "losses"),
        ("losses",),
        "Stable BCE on logits: losses = max(z, 0) - z * t + log1p(exp(-|z|)).",
        _bce_sample(logits=True, backward=False),
    ),
    Kernel(
        "bce_with_logits_backward",
        "loss",
        ("z", "target", "grad_losses", "grad_z"),
        ("grad_z",),
        "grad_z = grad_losses * (sigmoid(z) - t).",
        _bce_sample(logits=True, backward=True),
    ),
)
