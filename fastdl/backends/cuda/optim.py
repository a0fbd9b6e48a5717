"""Optimizer steps over flat parameter buffers on the GPU: SGD, Adam/AdamW, Adagrad, RMSprop.

Shape legend: ``P`` flat parameter count; every array is (P,) and shares one float
dtype.

A step is one launch over the whole flat buffer: a grid-stride loop in which each
element is read once and written once, so a step runs at memory speed (Adam moves 16
bytes per float32 parameter in and 12 out, 28 in all; 36 with amsgrad). The grid is
capped at a few waves of blocks, so the launch configuration depends on P only up to
the cap and the loop absorbs the rest. (In the sm_90 PTX, NVVM unrolls the loop five
times, so a thread has five elements' loads in flight: 20 for Adam.)

The options fix the loop body at compile time: each kernel is built per option set
(weight-decay mode, momentum, nesterov, centered, amsgrad ...) with the options as
closure constants, so the body has no per-element branch, and compiled per dtype on
first use. ``maximize`` is a sign (a multiplication by -1 is exact). The scalars (bias
corrections, step size, decay factors) are formed once in double precision and
rounded once to the arrays' dtype, and each update applies them in the order of
:mod:`fastdl.backends.reference.optim` and ``csrc/optim.c``, so float32 buffers are
updated in float32 arithmetic as in PyTorch (NVVM contracts products and sums into
FMAs, so a result may differ from the CPU's in the last bit).

A buffer that an option set leaves alone (momentum_buffer without momentum,
max_exp_avg_sq without amsgrad, grad_avg uncentered) may be empty or None: ``param``
stands in for it, so that every option set compiles against one array type.

Example::

    >>> import numpy as np
    >>> from numba import cuda
    >>> param, grad = cuda.to_device(np.ones(3, np.float32)), cuda.to_device(np.ones(3, np.float32))
    >>> sgd_step(param, grad, None, 0.5, 0.0, 0.0, 0.0, False, False, False)
    >>> param.copy_to_host()
    array([0.5, 0.5, 0.5], dtype=float32)
"""

from __future__ import annotations

import math
from functools import cache

from numba import config, cuda

from fastdl.backends.cuda import _launch

# Grid cap: 8 blocks of 256 threads fill an SM (2048 threads), so 132 * 8 blocks are
# one full wave on an H100; four waves let the blocks of an unevenly finishing wave
# overlap. The simulator runs a Python thread per CUDA thread: there, one small block,
# so that the tests exercise the grid-stride loop.
if config.ENABLE_CUDASIM:
    BLOCK, MAX_BLOCKS = 64, 1
else:
    BLOCK, MAX_BLOCKS = _launch.BLOCK, 4 * 132 * 8


def _launch_flat(kernel, n, *args):
    """One launch of a grid-stride ``kernel`` over n elements (none for n = 0)."""
    if n:
        _launch.launch(kernel, min(n, MAX_BLOCKS * BLOCK), *args, block=BLOCK)


# -- SGD --------------------------------------------------------------------------------


@cache
def _sgd_kernel(use_wd, use_momentum, nesterov, first_step):
    @cuda.jit(cache=True)
    def sgd(param, grad, buf, lr, momentum, one_minus_dampening, wd, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p = param[i]
            g = sign * grad[i]
            if use_wd:
                g = g + wd * p
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
            i += stride

    return sgd


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
    use_momentum = float(momentum) != 0
    kernel = _sgd_kernel(
        float(weight_decay) != 0,
        use_momentum,
        use_momentum and bool(nesterov),
        use_momentum and bool(first_step),
    )
    _launch_flat(
        kernel,
        param.size,
        param,
        grad,
        momentum_buffer if use_momentum else param,
        t(lr),
        t(momentum),
        t(1.0 - float(dampening)),
        t(weight_decay),
        t(-1.0 if maximize else 1.0),
    )


# -- Adam / AdamW -----------------------------------------------------------------------

_WD_NONE, _WD_L2, _WD_DECOUPLED = 0, 1, 2


@cache
def _adam_kernel(wd_mode, amsgrad):
    @cuda.jit(cache=True)
    def adam(param, grad, m, v, vmax, b1, b2, omb1, omb2, step_size, bc2_sqrt, eps, wd, decay):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p = param[i]
            g = grad[i]
            if wd_mode == _WD_DECOUPLED:
                p = p * decay
            if wd_mode == _WD_L2:
                g = g + wd * p
            mi = b1 * m[i] + omb1 * g
            vi = b2 * v[i] + omb2 * (g * g)
            m[i] = mi
            v[i] = vi
            if amsgrad:
                # max(vmax, v) that keeps a NaN of either, as np.maximum does.
                vm = vmax[i]
                if vi > vm or vi != vi:
                    vm = vi
                vmax[i] = vm
                vi = vm
            param[i] = p - step_size * (mi / (math.sqrt(vi) / bc2_sqrt + eps))
            i += stride

    return adam


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
    if weight_decay == 0:
        wd_mode = _WD_NONE
    else:
        wd_mode = _WD_DECOUPLED if decoupled_weight_decay else _WD_L2
    amsgrad = bool(amsgrad)
    _launch_flat(
        _adam_kernel(wd_mode, amsgrad),
        param.size,
        param,
        grad,
        exp_avg,
        exp_avg_sq,
        max_exp_avg_sq if amsgrad else param,
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


# -- Adagrad ----------------------------------------------------------------------------


@cache
def _adagrad_kernel(use_wd):
    @cuda.jit(cache=True)
    def adagrad(param, grad, state_sum, clr, wd, eps, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p = param[i]
            g = sign * grad[i]
            if use_wd:
                g = g + wd * p
            s = state_sum[i] + g * g
            state_sum[i] = s
            param[i] = p - clr * g / (math.sqrt(s) + eps)
            i += stride

    return adagrad


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
    _launch_flat(
        _adagrad_kernel(float(weight_decay) != 0),
        param.size,
        param,
        grad,
        state_sum,
        t(clr),
        t(weight_decay),
        t(eps),
        t(-1.0 if maximize else 1.0),
    )


# -- RMSprop ----------------------------------------------------------------------------


@cache
def _rmsprop_kernel(use_wd, centered, use_momentum):
    @cuda.jit(cache=True)
    def rmsprop(param, grad, square_avg, buf, grad_avg, lr, alpha, oma, eps, wd, momentum, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p = param[i]
            g = sign * grad[i]
            if use_wd:
                g = g + wd * p
            sq = alpha * square_avg[i] + oma * (g * g)
            square_avg[i] = sq
            if centered:
                ga = alpha * grad_avg[i] + oma * g
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
            i += stride

    return rmsprop


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
    alpha, momentum = float(alpha), float(momentum)
    centered, use_momentum = bool(centered), momentum > 0
    _launch_flat(
        _rmsprop_kernel(float(weight_decay) != 0, centered, use_momentum),
        param.size,
        param,
        grad,
        square_avg,
        momentum_buffer if use_momentum else param,
        grad_avg if centered else param,
        t(lr),
        t(alpha),
        t(1.0 - alpha),
        t(eps),
        t(weight_decay),
        t(momentum),
        t(-1.0 if maximize else 1.0),
    )
