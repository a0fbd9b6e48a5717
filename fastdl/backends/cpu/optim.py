"""Optimizer steps over flat parameter buffers: SGD, Adam/AdamW, Adagrad, RMSprop (Numba).

Shape legend: ``P`` flat parameter count; every array is (P,) and shares one
float dtype.

One fused pass over the flat buffers per step: each element is read once and
written once, so a step runs at memory speed. The Python wrappers form the
scalars (bias corrections, step size, decay factor) once in double precision and
round them to the arrays' dtype, so float32 buffers are updated in float32
arithmetic as in PyTorch and in the reference backend.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, error_model="numpy")
def _sgd_inner(param, grad, buf, lr, momentum, one_minus_dampening, weight_decay, nesterov,
               first_step, grad_sign):  # fmt: skip
    use_momentum = momentum != 0
    use_wd = weight_decay != 0
    for i in range(param.size):
        p = param[i]
        g = grad_sign * grad[i]
        if use_wd:
            g = g + weight_decay * p
        if use_momentum:
            if first_step:
                b = g
            else:
                b = momentum * buf[i] + one_minus_dampening * g
            buf[i] = b
            if nesterov:
                g = g + momentum * b
            else:
                g = b
        param[i] = p - lr * g


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
    t = param.dtype.type
    _sgd_inner(
        param,
        grad,
        momentum_buffer,
        t(lr),
        t(momentum),
        t(1.0 - dampening),
        t(weight_decay),
        bool(nesterov),
        bool(first_step),
        t(-1.0 if maximize else 1.0),
    )


# Adam: one loop per (weight-decay mode, amsgrad) pair, selected in Python, so
# that each loop body is branch-free and LLVM vectorises it.


@njit(cache=True, error_model="numpy")
def _adam_plain(param, grad, m, v, b1, b2, omb1, omb2, step_size, bc2_sqrt, eps):
    for i in range(param.size):
        g = grad[i]
        mi = b1 * m[i] + omb1 * g
        vi = b2 * v[i] + omb2 * (g * g)
        m[i] = mi
        v[i] = vi
        param[i] = param[i] - step_size * (mi / (math.sqrt(vi) / bc2_sqrt + eps))


@njit(cache=True, error_model="numpy")
def _adam_l2(param, grad, m, v, b1, b2, omb1, omb2, step_size, bc2_sqrt, eps, wd):
    for i in range(param.size):
        p = param[i]
        g = grad[i] + wd * p
        mi = b1 * m[i] + omb1 * g
        vi = b2 * v[i] + omb2 * (g * g)
        m[i] = mi
        v[i] = vi
        param[i] = p - step_size * (mi / (math.sqrt(vi) / bc2_sqrt + eps))


@njit(cache=True, error_model="numpy")
def _adam_decoupled(param, grad, m, v, b1, b2, omb1, omb2, step_size, bc2_sqrt, eps, decay):
    for i in range(param.size):
        p = param[i] * decay
        g = grad[i]
        mi = b1 * m[i] + omb1 * g
        vi = b2 * v[i] + omb2 * (g * g)
        m[i] = mi
        v[i] = vi
        param[i] = p - step_size * (mi / (math.sqrt(vi) / bc2_sqrt + eps))


@njit(cache=True, error_model="numpy")
def _adam_amsgrad(param, grad, m, v, vmax, b1, b2, omb1, omb2, step_size, bc2_sqrt, eps, wd,
                  decay):  # fmt: skip
    # amsgrad is the rare case: one loop, weight decay by arithmetic (wd = 0 or
    # decay = 1 turn a mode off) rather than a branch.
    for i in range(param.size):
        p = param[i] * decay
        g = grad[i] + wd * p
        mi = b1 * m[i] + omb1 * g
        vi = b2 * v[i] + omb2 * (g * g)
        m[i] = mi
        v[i] = vi
        vm = max(vmax[i], vi)
        vmax[i] = vm
        param[i] = p - step_size * (mi / (math.sqrt(vm) / bc2_sqrt + eps))


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
    t = param.dtype.type
    lr, beta1, beta2, weight_decay = float(lr), float(beta1), float(beta2), float(weight_decay)
    bias_correction1 = 1.0 - beta1**step
    bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
    common = (
        t(beta1),
        t(beta2),
        t(1.0 - beta1),
        t(1.0 - beta2),
        t(lr / bias_correction1),
        t(bias_correction2_sqrt),
        t(eps),
    )
    if amsgrad:
        decoupled = decoupled_weight_decay and weight_decay != 0
        wd = 0.0 if decoupled else weight_decay
        decay = 1.0 - lr * weight_decay if decoupled else 1.0
        _adam_amsgrad(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *common, t(wd), t(decay))
    elif weight_decay == 0:
        _adam_plain(param, grad, exp_avg, exp_avg_sq, *common)
    elif decoupled_weight_decay:
        _adam_decoupled(param, grad, exp_avg, exp_avg_sq, *common, t(1.0 - lr * weight_decay))
    else:
        _adam_l2(param, grad, exp_avg, exp_avg_sq, *common, t(weight_decay))


@njit(cache=True, error_model="numpy")
def _adagrad_inner(param, grad, state_sum, clr, weight_decay, eps, grad_sign):
    use_wd = weight_decay != 0
    for i in range(param.size):
        p = param[i]
        g = grad_sign * grad[i]
        if use_wd:
            g = g + weight_decay * p
        s = state_sum[i] + g * g
        state_sum[i] = s
        param[i] = p - clr * g / (math.sqrt(s) + eps)


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
    t = param.dtype.type
    clr = float(lr) / (1.0 + (step - 1) * float(lr_decay))
    _adagrad_inner(
        param,
        grad,
        state_sum,
        t(clr),
        t(weight_decay),
        t(eps),
        t(-1.0 if maximize else 1.0),
    )


@njit(cache=True, error_model="numpy")
def _rmsprop_inner(param, grad, square_avg, buf, grad_avg, lr, alpha, one_minus_alpha, eps,
                   weight_decay, momentum, centered, grad_sign):  # fmt: skip
    use_wd = weight_decay != 0
    use_momentum = momentum > 0
    for i in range(param.size):
        p = param[i]
        g = grad_sign * grad[i]
        if use_wd:
            g = g + weight_decay * p
        sq = alpha * square_avg[i] + one_minus_alpha * (g * g)
        square_avg[i] = sq
        if centered:
            ga = alpha * grad_avg[i] + one_minus_alpha * g
            grad_avg[i] = ga
            avg = math.sqrt(sq - ga * ga) + eps
        else:
            avg = math.sqrt(sq) + eps
        if use_momentum:
            b = momentum * buf[i] + g / avg
            buf[i] = b
            param[i] = p - lr * b
        else:
            param[i] = p - lr * g / avg


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
    t = param.dtype.type
    _rmsprop_inner(
        param,
        grad,
        square_avg,
        momentum_buffer,
        grad_avg,
        t(lr),
        t(alpha),
        t(1.0 - alpha),
        t(eps),
        t(weight_decay),
        t(momentum),
        bool(centered),
        t(-1.0 if maximize else 1.0),
    )
