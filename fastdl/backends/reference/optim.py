"""Optimizer steps over flat parameter buffers: SGD and Adam/AdamW.

Shape legend: ``P`` flat parameter count; every array is (P,) and shares one
float dtype. Each step updates ``param`` and the optimizer state in place and
reads ``grad`` without writing it.

These follow ``torch.optim``'s single-tensor paths. The scalars (bias
corrections, step size, decay factor) are formed in Python floats and applied to
the arrays in the arrays' dtype, as PyTorch does when it applies a Python float
to a float32 tensor (Python floats are "weak" scalars in NumPy 2, so
``float32_array * 0.9`` stays float32; the ``float()`` calls keep NumPy scalars
passed by a caller from promoting the arithmetic).
"""

from __future__ import annotations

import math

import numpy as np


def sgd_step(
    param,
    grad,
    momentum_buffer,
    lr,
    momentum,
    dampening,
    weight_decay,
    nesterov,
    first_step,
):
    lr, momentum, dampening, weight_decay = (
        float(lr),
        float(momentum),
        float(dampening),
        float(weight_decay),
    )
    g = grad
    if weight_decay != 0:
        g = grad + weight_decay * param
    if momentum != 0:
        buf = momentum_buffer
        if first_step:
            buf[...] = g
        else:
            buf *= momentum
            buf += (1 - dampening) * g
        if nesterov:
            g = g + momentum * buf
        else:
            g = buf
    param -= lr * g


def adam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    max_exp_avg_sq,
    step,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    amsgrad,
    decoupled_weight_decay,
):
    lr, beta1, beta2, eps, weight_decay = (
        float(lr),
        float(beta1),
        float(beta2),
        float(eps),
        float(weight_decay),
    )
    g = grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = grad + weight_decay * param

    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (g * g)

    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = math.sqrt(1 - beta2**step)
    step_size = lr / bias_correction1

    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    else:
        v = exp_avg_sq
    denom = np.sqrt(v) / bias_correction2_sqrt + eps
    param -= step_size * (exp_avg / denom)
