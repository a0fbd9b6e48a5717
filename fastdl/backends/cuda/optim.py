"""Optimizer steps over flat parameter buffers on the GPU: SGD, Adam/AdamW, Adagrad, RMSprop,
Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop.

Shape legend: ``P`` flat parameter count; every array is (P,) and shares one float
dtype.

A step is one launch over the whole flat buffer: a grid-stride loop in which each
element is read once and written once, so a step runs at memory speed (Adam moves 16
bytes per float32 parameter in and 12 out, 28 in all; 36 with amsgrad). The grid is
capped at a few waves of blocks, so the launch configuration depends on P only up to
the cap and the loop absorbs the rest. (In the sm_90 PTX, NVVM unrolls the loop five
times, so a thread has five elements' loads in flight: 20 for Adam.)

The update of one element is the rule in :mod:`fastdl.backends.optim_rules`, the body
the CPU backend compiles too. The options fix the loop body at compile time: each
kernel is built per option set (weight-decay mode, momentum, nesterov, centered,
amsgrad ...) with the options as closure constants passed to the inlined rule, so the
body has no per-element branch, and compiled per dtype on first use. ``maximize`` is a
sign (a multiplication by -1 is exact). The scalars (bias corrections, step size, decay
factors) are formed once in double precision and rounded once to the arrays' dtype,
and each update applies them in the order of :mod:`fastdl.backends.reference.optim`
and ``csrc/optim.c``, so float32 buffers are updated in float32 arithmetic as in
PyTorch (NVVM contracts products and sums into FMAs, so a result may differ from the
CPU's in the last bit).

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

from functools import cache

from numba import config, cuda

from fastdl.backends import _jit_cache
from fastdl.backends import optim_rules as rules
from fastdl.backends.cuda import _launch

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too

_sgd = cuda.jit(device=True, inline=True)(rules.sgd)
_adam = cuda.jit(device=True, inline=True)(rules.adam)
_adagrad = cuda.jit(device=True, inline=True)(rules.adagrad)
_rmsprop = cuda.jit(device=True, inline=True)(rules.rmsprop)

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
            p, b = _sgd(param[i], grad[i], buf[i], lr, momentum, one_minus_dampening, wd, sign,
                        use_wd, use_momentum, nesterov, first_step)  # fmt: skip
            param[i] = p
            if use_momentum:
                buf[i] = b
            i += stride

    return sgd


def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
             first_step, maximize):  # fmt: skip
    flags, scalars = rules.sgd_options(
        param.dtype, lr, momentum, dampening, weight_decay, nesterov, first_step, maximize
    )
    buffer = momentum_buffer if flags[1] else param
    _launch_flat(_sgd_kernel(*flags), param.size, param, grad, buffer, *scalars)


# -- Adam / AdamW -----------------------------------------------------------------------


@cache
def _adam_kernel(wd_mode, amsgrad):
    @cuda.jit(cache=True)
    def adam(param, grad, m, v, vmax, b1, b2, omb1, omb2, step_size, bc2_sqrt, eps, wd, decay):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            vi = v[i]
            p, mi, vi, vm = _adam(param[i], grad[i], m[i], vi, vmax[i] if amsgrad else vi, b1,
                                  b2, omb1, omb2, step_size, bc2_sqrt, eps, wd, decay, wd_mode,
                                  amsgrad)  # fmt: skip
            param[i] = p
            m[i] = mi
            v[i] = vi
            if amsgrad:
                vmax[i] = vm
            i += stride

    return adam


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, amsgrad, decoupled_weight_decay):  # fmt: skip
    flags, scalars = rules.adam_options(
        param.dtype, step, lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled_weight_decay
    )
    vmax = max_exp_avg_sq if flags[1] else param
    kernel = _adam_kernel(*flags)
    _launch_flat(kernel, param.size, param, grad, exp_avg, exp_avg_sq, vmax, *scalars)


# -- Adagrad ----------------------------------------------------------------------------


@cache
def _adagrad_kernel(use_wd):
    @cuda.jit(cache=True)
    def adagrad(param, grad, state_sum, clr, wd, eps, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p, total = _adagrad(param[i], grad[i], state_sum[i], clr, wd, eps, sign, use_wd)
            param[i] = p
            state_sum[i] = total
            i += stride

    return adagrad


def adagrad_step(param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize):
    flags, scalars = rules.adagrad_options(
        param.dtype, step, lr, lr_decay, weight_decay, eps, maximize
    )
    _launch_flat(_adagrad_kernel(*flags), param.size, param, grad, state_sum, *scalars)


# -- RMSprop ----------------------------------------------------------------------------


@cache
def _rmsprop_kernel(use_wd, centered, use_momentum):
    @cuda.jit(cache=True)
    def rmsprop(param, grad, square_avg, buf, grad_avg, lr, alpha, oma, eps, wd, momentum, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p, sq, b, ga = _rmsprop(param[i], grad[i], square_avg[i], buf[i], grad_avg[i], lr,
                                    alpha, oma, eps, wd, momentum, sign, use_wd, centered,
                                    use_momentum)  # fmt: skip
            param[i] = p
            square_avg[i] = sq
            if use_momentum:
                buf[i] = b
            if centered:
                grad_avg[i] = ga
            i += stride

    return rmsprop


def rmsprop_step(param, grad, square_avg, momentum_buffer, grad_avg, lr, alpha, eps,
                 weight_decay, momentum, centered, maximize):  # fmt: skip
    flags, scalars = rules.rmsprop_options(
        param.dtype, lr, alpha, eps, weight_decay, momentum, centered, maximize
    )
    _, centered, use_momentum = flags
    buffers = (momentum_buffer if use_momentum else param, grad_avg if centered else param)
    kernel = _rmsprop_kernel(*flags)
    _launch_flat(kernel, param.size, param, grad, square_avg, *buffers, *scalars)


# -- Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop ------------------------------------------

_adadelta = cuda.jit(device=True, inline=True)(rules.adadelta)
_adamax = cuda.jit(device=True, inline=True)(rules.adamax)
_nadam = cuda.jit(device=True, inline=True)(rules.nadam)
_radam = cuda.jit(device=True, inline=True)(rules.radam)
_asgd = cuda.jit(device=True, inline=True)(rules.asgd)
_rprop = cuda.jit(device=True, inline=True)(rules.rprop)


@cache
def _adadelta_kernel(use_wd):
    @cuda.jit(cache=True)
    def adadelta(param, grad, square_avg, acc_delta, lr, rho, omr, eps, wd, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p, sq, acc = _adadelta(param[i], grad[i], square_avg[i], acc_delta[i], lr, rho, omr,
                                   eps, wd, sign, use_wd)  # fmt: skip
            param[i] = p
            square_avg[i] = sq
            acc_delta[i] = acc
            i += stride

    return adadelta


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
    flags, scalars = rules.adadelta_options(param.dtype, lr, rho, eps, weight_decay, maximize)
    kernel = _adadelta_kernel(*flags)
    _launch_flat(kernel, param.size, param, grad, square_avg, acc_delta, *scalars)


@cache
def _adamax_kernel(use_wd):
    @cuda.jit(cache=True)
    def adamax(param, grad, exp_avg, exp_inf, omb1, b2, clr, eps, wd, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p, m, u = _adamax(param[i], grad[i], exp_avg[i], exp_inf[i], omb1, b2, clr, eps, wd,
                              sign, use_wd)  # fmt: skip
            param[i] = p
            exp_avg[i] = m
            exp_inf[i] = u
            i += stride

    return adamax


def adamax_step(param, grad, exp_avg, exp_inf, step, lr, beta1, beta2, eps, weight_decay,
                maximize):  # fmt: skip
    flags, scalars = rules.adamax_options(
        param.dtype, step, lr, beta1, beta2, eps, weight_decay, maximize
    )
    _launch_flat(_adamax_kernel(*flags), param.size, param, grad, exp_avg, exp_inf, *scalars)


@cache
def _nadam_kernel(wd_mode):
    @cuda.jit(cache=True)
    def nadam(param, grad, m, v, omb1, b2, omb2, bc2, eps, wd, decay, c_grad, c_avg, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p, mi, vi = _nadam(param[i], grad[i], m[i], v[i], omb1, b2, omb2, bc2, eps, wd, decay,
                               c_grad, c_avg, sign, wd_mode)  # fmt: skip
            param[i] = p
            m[i] = mi
            v[i] = vi
            i += stride

    return nadam


def nadam_step(param, grad, exp_avg, exp_avg_sq, step, mu_product, lr, beta1, beta2, eps,
               weight_decay, momentum_decay, decoupled_weight_decay, maximize):  # fmt: skip
    flags, scalars = rules.nadam_options(
        param.dtype, step, mu_product, lr, beta1, beta2, eps, weight_decay, momentum_decay,
        decoupled_weight_decay, maximize,
    )  # fmt: skip
    _launch_flat(_nadam_kernel(*flags), param.size, param, grad, exp_avg, exp_avg_sq, *scalars)


@cache
def _radam_kernel(wd_mode, rectify):
    @cuda.jit(cache=True)
    def radam(param, grad, m, v, omb1, b2, omb2, bc1, lr, bc2_sqrt, eps, rect, wd, decay, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p, mi, vi = _radam(param[i], grad[i], m[i], v[i], omb1, b2, omb2, bc1, lr, bc2_sqrt,
                               eps, rect, wd, decay, sign, wd_mode, rectify)  # fmt: skip
            param[i] = p
            m[i] = mi
            v[i] = vi
            i += stride

    return radam


def radam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
               decoupled_weight_decay, maximize):  # fmt: skip
    flags, scalars = rules.radam_options(
        param.dtype, step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize
    )
    _launch_flat(_radam_kernel(*flags), param.size, param, grad, exp_avg, exp_avg_sq, *scalars)


@cache
def _asgd_kernel(use_wd, average):
    @cuda.jit(cache=True)
    def asgd(param, grad, ax, eta, decay, mu, wd, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p, a = _asgd(param[i], grad[i], ax[i], eta, decay, mu, wd, sign, use_wd, average)
            param[i] = p
            ax[i] = a
            i += stride

    return asgd


def asgd_step(param, grad, ax, eta, mu, lambd, weight_decay, maximize):
    flags, scalars = rules.asgd_options(param.dtype, eta, mu, lambd, weight_decay, maximize)
    _launch_flat(_asgd_kernel(*flags), param.size, param, grad, ax, *scalars)


@cache
def _rprop_kernel():
    @cuda.jit(cache=True)
    def rprop(param, grad, prev, step_size, etaminus, etaplus, size_min, size_max, sign):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < param.size:
            p, g, s = _rprop(param[i], grad[i], prev[i], step_size[i], etaminus, etaplus,
                             size_min, size_max, sign)  # fmt: skip
            param[i] = p
            prev[i] = g
            step_size[i] = s
            i += stride

    return rprop


def rprop_step(param, grad, prev, step_size, etaminus, etaplus, step_size_min, step_size_max,
               maximize):  # fmt: skip
    _, scalars = rules.rprop_options(
        param.dtype, etaminus, etaplus, step_size_min, step_size_max, maximize
    )
    _launch_flat(_rprop_kernel(), param.size, param, grad, prev, step_size, *scalars)
