"""The optimizer update rules, one element at a time: one Python body per rule.

The CPU backend compiles each rule with ``numba.njit(inline="always")`` into its loops
over the flat buffers, and the CUDA backend with ``cuda.jit(device=True, inline=True)``
into its grid-stride kernels, so the two cannot drift apart (as with
:mod:`fastdl.backends.philox`); the reference (:mod:`fastdl.backends.reference.optim`)
keeps its whole-array NumPy form as the oracle both are tested against.

Each rule takes one element of every buffer and returns the new values. The option
flags come last: a caller that passes them as constants (a CUDA kernel built per
option set, the CPU's Adam loops) gets a body with no per-element branch once the rule
is inlined. The scalars (step size, bias corrections, decay factors) are formed by the
callers once in double precision and rounded to the buffers' dtype, so float32
buffers are updated in float32 arithmetic, in the order the reference uses.
"""

from __future__ import annotations

import math

WD_NONE, WD_L2, WD_DECOUPLED = 0, 1, 2  # Adam's weight-decay modes


def sgd(p, g, buf, lr, momentum, one_minus_dampening, wd, sign, use_wd, use_momentum,
        nesterov, first_step):  # fmt: skip
    """(parameter, momentum buffer) after one SGD step."""
    g = sign * g
    if use_wd:
        g = g + wd * p
    if use_momentum:
        if first_step:
            buf = g
        else:
            buf = momentum * buf + one_minus_dampening * g
        if nesterov:
            g = g + momentum * buf
        else:
            g = buf
    return p - lr * g, buf


def adam(p, g, m, v, vmax, b1, b2, omb1, omb2, step_size, bc2_sqrt, eps, wd, decay, wd_mode,
         amsgrad):  # fmt: skip
    """(parameter, exp_avg, exp_avg_sq, max_exp_avg_sq) after one Adam/AdamW step;
    ``step_size`` is lr / bias_correction1, ``decay`` is 1 - lr * wd (decoupled mode)."""
    if wd_mode == WD_DECOUPLED:
        p = p * decay
    if wd_mode == WD_L2:
        g = g + wd * p
    m = b1 * m + omb1 * g
    v = b2 * v + omb2 * (g * g)
    denominator = v
    if amsgrad:
        if v > vmax or v != v:  # max keeping a NaN of either, as np.maximum does
            vmax = v
        denominator = vmax
    return p - step_size * (m / (math.sqrt(denominator) / bc2_sqrt + eps)), m, v, vmax


def adagrad(p, g, state_sum, clr, wd, eps, sign, use_wd):
    """(parameter, state_sum) after one Adagrad step; ``clr`` the decayed learning rate."""
    g = sign * g
    if use_wd:
        g = g + wd * p
    state_sum = state_sum + g * g
    return p - clr * g / (math.sqrt(state_sum) + eps), state_sum


def rmsprop(p, g, square_avg, buf, grad_avg, lr, alpha, one_minus_alpha, eps, wd, momentum,
            sign, use_wd, centered, use_momentum):  # fmt: skip
    """(parameter, square_avg, momentum buffer, grad_avg) after one RMSprop step."""
    g = sign * g
    if use_wd:
        g = g + wd * p
    square_avg = alpha * square_avg + one_minus_alpha * (g * g)
    if centered:
        grad_avg = alpha * grad_avg + one_minus_alpha * g
        avg = math.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = math.sqrt(square_avg) + eps
    if use_momentum:
        buf = momentum * buf + g / avg
        return p - lr * buf, square_avg, buf, grad_avg
    return p - lr * g / avg, square_avg, buf, grad_avg


# -- a step's scalars and option flags, formed once per step by both backends -------------
# Each returns (flags, scalars): the flags select the compiled loop (bools, constants of
# its body), the scalars are its arguments after the buffers, rounded to ``dtype``.


def sgd_options(dtype, lr, momentum, dampening, weight_decay, nesterov, first_step, maximize):
    """SGD's (use_wd, use_momentum, nesterov, first_step) and its scalars."""
    t = dtype.type
    use_momentum = float(momentum) != 0
    flags = (
        float(weight_decay) != 0,
        use_momentum,
        use_momentum and bool(nesterov),
        use_momentum and bool(first_step),
    )
    scalars = (
        t(lr),
        t(momentum),
        t(1.0 - float(dampening)),
        t(weight_decay),
        t(-1.0 if maximize else 1.0),
    )
    return flags, scalars


def adam_options(dtype, step, lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled):
    """Adam's (wd_mode, amsgrad) and its scalars (b1, b2, 1-b1, 1-b2, lr/bc1, sqrt(bc2),
    eps, wd, 1 - lr*wd)."""
    t = dtype.type
    lr, beta1, beta2, weight_decay = float(lr), float(beta1), float(beta2), float(weight_decay)
    if weight_decay == 0:
        wd_mode = WD_NONE
    else:
        wd_mode = WD_DECOUPLED if decoupled else WD_L2
    scalars = (
        t(beta1),
        t(beta2),
        t(1.0 - beta1),
        t(1.0 - beta2),
        t(lr / (1.0 - beta1**step)),
        t(math.sqrt(1.0 - beta2**step)),
        t(eps),
        t(weight_decay),
        t(1.0 - lr * weight_decay),
    )
    return (wd_mode, bool(amsgrad)), scalars


def adagrad_options(dtype, step, lr, lr_decay, weight_decay, eps, maximize):
    """Adagrad's (use_wd,) and its scalars (the decayed lr, wd, eps, sign)."""
    t = dtype.type
    clr = float(lr) / (1.0 + (step - 1) * float(lr_decay))
    flags = (float(weight_decay) != 0,)
    return flags, (t(clr), t(weight_decay), t(eps), t(-1.0 if maximize else 1.0))


def rmsprop_options(dtype, lr, alpha, eps, weight_decay, momentum, centered, maximize):
    """RMSprop's (use_wd, centered, use_momentum) and its scalars."""
    t = dtype.type
    alpha, momentum = float(alpha), float(momentum)
    flags = (float(weight_decay) != 0, bool(centered), momentum > 0)
    scalars = (
        t(lr),
        t(alpha),
        t(1.0 - alpha),
        t(eps),
        t(weight_decay),
        t(momentum),
        t(-1.0 if maximize else 1.0),
    )
    return flags, scalars
