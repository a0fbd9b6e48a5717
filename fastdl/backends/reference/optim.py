"""Optimizer steps over flat parameter buffers: SGD, Adam/AdamW, Adagrad, RMSprop, Adadelta,
Adamax, NAdam, RAdam, ASGD, Rprop.

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
    maximize,
):
    lr, momentum, dampening, weight_decay = (
        float(lr),
        float(momentum),
        float(dampening),
        float(weight_decay),
    )
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
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


def adagrad_step(
    param,
    grad,
    state_sum,
    step,
    lr,
    lr_decay,
    weight_decay,
    eps,
    maximize,
):
    lr, lr_decay, weight_decay, eps = float(lr), float(lr_decay), float(weight_decay), float(eps)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    std = np.sqrt(state_sum) + eps
    param -= clr * g / std


def rmsprop_step(
    param,
    grad,
    square_avg,
    momentum_buffer,
    grad_avg,
    lr,
    alpha,
    eps,
    weight_decay,
    momentum,
    centered,
    maximize,
):
    lr, alpha, eps = float(lr), float(alpha), float(eps)
    weight_decay, momentum = float(weight_decay), float(momentum)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param

    square_avg *= alpha
    square_avg += (1 - alpha) * (g * g)
    if centered:
        grad_avg *= alpha
        grad_avg += (1 - alpha) * g
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps

    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += g / avg
        param -= lr * momentum_buffer
    else:
        param -= lr * g / avg


# -- Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop ---------------------------------------


def _signed(grad, maximize):
    return -grad if maximize else grad


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
    lr, rho, eps, weight_decay = float(lr), float(rho), float(eps), float(weight_decay)
    g = _signed(grad, maximize)
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= rho
    square_avg += (1 - rho) * (g * g)
    std = np.sqrt(square_avg + eps)
    delta = np.sqrt(acc_delta + eps) / std * g
    acc_delta *= rho
    acc_delta += (1 - rho) * (delta * delta)
    param -= lr * delta


def adamax_step(param, grad, exp_avg, exp_inf, step, lr, beta1, beta2, eps, weight_decay,
                maximize):  # fmt: skip
    lr, beta1, beta2 = float(lr), float(beta1), float(beta2)
    eps, weight_decay = float(eps), float(weight_decay)
    g = _signed(grad, maximize)
    if weight_decay != 0:
        g = g + weight_decay * param
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_inf *= beta2
    np.maximum(exp_inf, np.abs(g) + eps, out=exp_inf)
    clr = lr / (1 - beta1**step)
    param -= clr * (exp_avg / exp_inf)


def _weight_decayed(param, g, lr, weight_decay, decoupled):
    """The gradient after weight decay; decoupled decay scales ``param`` in place."""
    if weight_decay == 0:
        return g
    if decoupled:
        param *= 1 - lr * weight_decay
        return g
    return g + weight_decay * param


def nadam_step(param, grad, exp_avg, exp_avg_sq, step, mu_product, lr, beta1, beta2, eps,
               weight_decay, momentum_decay, decoupled_weight_decay, maximize):  # fmt: skip
    lr, beta1, beta2 = float(lr), float(beta1), float(beta2)
    eps, weight_decay, momentum_decay = float(eps), float(weight_decay), float(momentum_decay)
    g = _weight_decayed(param, _signed(grad, maximize), lr, weight_decay, decoupled_weight_decay)
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    mu_product = float(mu_product) * mu
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (g * g)
    denom = np.sqrt(exp_avg_sq / (1 - beta2**step)) + eps
    param += (-lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
    param += ((-lr * mu_next) / (1.0 - mu_product * mu_next)) * (exp_avg / denom)


def radam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
               decoupled_weight_decay, maximize):  # fmt: skip
    lr, beta1, beta2 = float(lr), float(beta1), float(beta2)
    eps, weight_decay = float(eps), float(weight_decay)
    g = _weight_decayed(param, _signed(grad, maximize), lr, weight_decay, decoupled_weight_decay)
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (g * g)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    corrected = exp_avg / bias_correction1
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
    if rho_t > 5.0:
        num = (rho_t - 4) * (rho_t - 2) * rho_inf
        rect = (num / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        adaptive = bias_correction2**0.5 / (np.sqrt(exp_avg_sq) + eps)
        param -= corrected * lr * adaptive * rect
    else:
        param -= corrected * lr


def asgd_step(param, grad, ax, eta, mu, lambd, weight_decay, maximize):
    eta, mu, lambd, weight_decay = float(eta), float(mu), float(lambd), float(weight_decay)
    g = _signed(grad, maximize)
    if weight_decay != 0:
        g = g + weight_decay * param
    param *= 1 - lambd * eta
    param -= eta * g
    if mu != 1:
        ax += (param - ax) * mu
    else:
        ax[...] = param


def rprop_step(param, grad, prev, step_size, etaminus, etaplus, step_size_min, step_size_max,
               maximize):  # fmt: skip
    g = np.array(_signed(grad, maximize), copy=True)
    dtype = param.dtype.type
    s = np.sign(g * prev)
    factor = np.where(s > 0, dtype(etaplus), np.where(s < 0, dtype(etaminus), s - s + 1))
    step_size *= factor
    np.clip(step_size, dtype(step_size_min), dtype(step_size_max), out=step_size)
    g[s < 0] = 0
    param -= np.sign(g) * step_size
    prev[...] = g
