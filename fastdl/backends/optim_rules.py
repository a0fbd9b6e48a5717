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


# -- Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop ---------------------------------------


def adadelta(p, g, square_avg, acc_delta, lr, rho, one_minus_rho, eps, wd, sign, use_wd):
    """(parameter, square_avg, acc_delta) after one Adadelta step."""
    g = sign * g
    if use_wd:
        g = g + wd * p
    square_avg = rho * square_avg + one_minus_rho * (g * g)
    std = math.sqrt(square_avg + eps)
    delta = math.sqrt(acc_delta + eps) / std * g
    acc_delta = rho * acc_delta + one_minus_rho * (delta * delta)
    return p - lr * delta, square_avg, acc_delta


def adamax(p, g, m, u, omb1, b2, clr, eps, wd, sign, use_wd):
    """(parameter, exp_avg, exp_inf) after one Adamax step; ``clr`` is lr / (1 - b1^step)."""
    g = sign * g
    if use_wd:
        g = g + wd * p
    m = m + omb1 * (g - m)  # lerp towards g, as torch.lerp with a weight below 0.5
    a = b2 * u
    b = abs(g) + eps
    u = a if a > b or a != a else b  # max keeping a NaN of either, as torch.maximum
    return p - clr * (m / u), m, u


def nadam(p, g, m, v, omb1, b2, omb2, bc2, eps, wd, decay, c_grad, c_avg, sign, wd_mode):
    """(parameter, exp_avg, exp_avg_sq) after one NAdam step; ``c_grad`` is
    -lr (1 - mu) / (1 - mu_product), ``c_avg`` -lr mu_next / (1 - mu_product mu_next)."""
    g = sign * g
    if wd_mode == WD_DECOUPLED:
        p = p * decay
    if wd_mode == WD_L2:
        g = g + wd * p
    m = m + omb1 * (g - m)
    v = b2 * v + omb2 * (g * g)
    denom = math.sqrt(v / bc2) + eps
    p = p + c_grad * (g / denom)
    return p + c_avg * (m / denom), m, v


def radam(p, g, m, v, omb1, b2, omb2, bc1, lr, bc2_sqrt, eps, rect, wd, decay, sign, wd_mode,
          rectify):  # fmt: skip
    """(parameter, exp_avg, exp_avg_sq) after one RAdam step; ``rectify`` when
    rho_t > 5 (then ``rect`` is the variance rectification term)."""
    g = sign * g
    if wd_mode == WD_DECOUPLED:
        p = p * decay
    if wd_mode == WD_L2:
        g = g + wd * p
    m = m + omb1 * (g - m)
    v = b2 * v + omb2 * (g * g)
    corrected = m / bc1
    if rectify:
        return p - corrected * lr * (bc2_sqrt / (math.sqrt(v) + eps)) * rect, m, v
    return p - corrected * lr, m, v


def asgd(p, g, ax, eta, decay, mu, wd, sign, use_wd, average):
    """(parameter, ax) after one ASGD step; ``decay`` is 1 - lambd * eta, ``average``
    whether mu != 1 (else ax takes the parameter)."""
    g = sign * g
    if use_wd:
        g = g + wd * p
    p = p * decay
    p = p - eta * g
    if average:
        return p, ax + (p - ax) * mu
    return p, p


def rprop(p, g, prev, step_size, etaminus, etaplus, size_min, size_max, sign):
    """(parameter, prev, step_size) after one Rprop step."""
    g = sign * g
    s = g * prev
    if s > 0:
        factor = etaplus
    elif s < 0:
        factor = etaminus
    else:
        factor = s - s + 1  # 1, or NaN where the product is NaN (torch.sign's)
    step_size = min(max(step_size * factor, size_min), size_max)
    if s < 0:
        g = g - g  # no step where the gradient changed sign (0; NaN stays NaN)
    if g > 0:
        p = p - step_size
    elif g < 0:
        p = p + step_size
    elif g != g:
        p = p + g
    return p, g, step_size


def adadelta_options(dtype, lr, rho, eps, weight_decay, maximize):
    """Adadelta's (use_wd,) and its scalars (lr, rho, 1 - rho, eps, wd, sign)."""
    t = dtype.type
    rho = float(rho)
    flags = (float(weight_decay) != 0,)
    scalars = (t(lr), t(rho), t(1.0 - rho), t(eps), t(weight_decay), t(-1.0 if maximize else 1.0))
    return flags, scalars


def adamax_options(dtype, step, lr, beta1, beta2, eps, weight_decay, maximize):
    """Adamax's (use_wd,) and its scalars (1 - b1, b2, lr / (1 - b1^step), eps, wd, sign)."""
    t = dtype.type
    beta1 = float(beta1)
    clr = float(lr) / (1.0 - beta1**step)
    flags = (float(weight_decay) != 0,)
    scalars = (
        t(1.0 - beta1),
        t(beta2),
        t(clr),
        t(eps),
        t(weight_decay),
        t(-1.0 if maximize else 1.0),
    )
    return flags, scalars


def _wd_mode(weight_decay, decoupled):
    if float(weight_decay) == 0:
        return WD_NONE
    return WD_DECOUPLED if decoupled else WD_L2


def nadam_mu(beta1, momentum_decay, step):
    """NAdam's momentum coefficient mu_t (PyTorch's schedule)."""
    return float(beta1) * (1.0 - 0.5 * (0.96 ** (step * float(momentum_decay))))


def nadam_options(dtype, step, mu_product, lr, beta1, beta2, eps, weight_decay, momentum_decay,
                  decoupled, maximize):  # fmt: skip
    """NAdam's (wd_mode,) and its scalars; ``mu_product`` is the product of mu over the
    steps before this one (the state's value before the step)."""
    t = dtype.type
    lr, beta1, beta2 = float(lr), float(beta1), float(beta2)
    mu = nadam_mu(beta1, momentum_decay, step)
    mu_next = nadam_mu(beta1, momentum_decay, step + 1)
    mu_product = float(mu_product) * mu
    c_grad = -lr * (1.0 - mu) / (1.0 - mu_product)
    c_avg = (-lr * mu_next) / (1.0 - mu_product * mu_next)
    scalars = (
        t(1.0 - beta1),
        t(beta2),
        t(1.0 - beta2),
        t(1.0 - beta2**step),
        t(eps),
        t(weight_decay),
        t(1.0 - lr * float(weight_decay)),
        t(c_grad),
        t(c_avg),
        t(-1.0 if maximize else 1.0),
    )
    return (_wd_mode(weight_decay, decoupled),), scalars


def radam_options(dtype, step, lr, beta1, beta2, eps, weight_decay, decoupled, maximize):
    """RAdam's (wd_mode, rectify) and its scalars."""
    t = dtype.type
    lr, beta1, beta2 = float(lr), float(beta1), float(beta2)
    bc2 = 1.0 - beta2**step
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * (beta2**step) / bc2
    rectify = rho_t > 5.0
    rect = 0.0
    if rectify:
        num = (rho_t - 4) * (rho_t - 2) * rho_inf
        rect = (num / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    scalars = (
        t(1.0 - beta1),
        t(beta2),
        t(1.0 - beta2),
        t(1.0 - beta1**step),
        t(lr),
        t(bc2**0.5),
        t(eps),
        t(rect),
        t(weight_decay),
        t(1.0 - lr * float(weight_decay)),
        t(-1.0 if maximize else 1.0),
    )
    return (_wd_mode(weight_decay, decoupled), rectify), scalars


def asgd_options(dtype, eta, mu, lambd, weight_decay, maximize):
    """ASGD's (use_wd, average) and its scalars (eta, 1 - lambd eta, mu, wd, sign)."""
    t = dtype.type
    eta = float(eta)
    flags = (float(weight_decay) != 0, float(mu) != 1)
    scalars = (
        t(eta),
        t(1.0 - float(lambd) * eta),
        t(mu),
        t(weight_decay),
        t(-1.0 if maximize else 1.0),
    )
    return flags, scalars


def asgd_schedule(lr, lambd, alpha, t0, step):
    """ASGD's (eta, mu) after step ``step``, as PyTorch updates them."""
    eta = float(lr) / ((1 + float(lambd) * float(lr) * step) ** float(alpha))
    return eta, 1 / max(1, step - float(t0))


def rprop_options(dtype, etaminus, etaplus, step_size_min, step_size_max, maximize):
    """Rprop's scalars (etaminus, etaplus, min, max step size, sign); no flags."""
    t = dtype.type
    return (), (
        t(etaminus),
        t(etaplus),
        t(step_size_min),
        t(step_size_max),
        t(-1.0 if maximize else 1.0),
    )
