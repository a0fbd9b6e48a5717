"""Optimizer steps over flat parameter buffers (Numba): SGD, Adam/AdamW, Adagrad, RMSprop,
Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop.

Shape legend: ``P`` flat parameter count; every array is (P,) and shares one
float dtype.

One fused pass over the flat buffers per step: each element is read once and
written once, so a step runs at memory speed. The update of one element, and the
step's scalars (bias corrections, step size, decay factor, formed once in double
precision and rounded to the arrays' dtype), come from
:mod:`fastdl.backends.optim_rules`, which the CUDA backend compiles too; so float32
buffers are updated in float32 arithmetic as in PyTorch and in the reference backend.
The C extension's steps (``cext/optim.py``, ``csrc/optim.c``, ``csrc/optim_more.c``)
serve instead when it is available: :func:`cext_kernels`.
"""

from __future__ import annotations

from numba import njit

from fastdl.backends import _jit_cache
from fastdl.backends import optim_rules as rules
from fastdl.backends.cpu import cext
from fastdl.backends.cpu.cext import optim as c_optim

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too

_sgd = njit(cache=True, inline="always", error_model="numpy")(rules.sgd)
_adam = njit(cache=True, inline="always", error_model="numpy")(rules.adam)
_adagrad = njit(cache=True, inline="always", error_model="numpy")(rules.adagrad)
_rmsprop = njit(cache=True, inline="always", error_model="numpy")(rules.rmsprop)

# SGD, Adagrad and RMSprop take their option flags as arguments (one compiled loop
# each); Adam, the optimizer of the benchmarks, has a loop per option set, whose flags
# are constants of its body, so that once the rule is inlined the body has no branch
# and LLVM vectorises it.


@njit(cache=True, error_model="numpy")
def _sgd_loop(param, grad, buf, lr, momentum, one_minus_dampening, weight_decay, grad_sign,
              use_wd, use_momentum, nesterov, first_step):  # fmt: skip
    for i in range(param.size):
        p = param[i]  # also stands in for the buffer without momentum (it may be empty)
        b = buf[i] if use_momentum else p
        p, b = _sgd(p, grad[i], b, lr, momentum, one_minus_dampening, weight_decay, grad_sign,
                    use_wd, use_momentum, nesterov, first_step)  # fmt: skip
        param[i] = p
        if use_momentum:
            buf[i] = b


def sgd_step(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov,
             first_step, maximize):  # fmt: skip
    flags, scalars = rules.sgd_options(
        param.dtype, lr, momentum, dampening, weight_decay, nesterov, first_step, maximize
    )
    _sgd_loop(param, grad, momentum_buffer, *scalars, *flags)


def _adam_loop(wd_mode, amsgrad):
    @njit(cache=True, error_model="numpy")
    def loop(param, grad, m, v, vmax, b1, b2, omb1, omb2, step_size, bc2_sqrt, eps, wd, decay):
        for i in range(param.size):
            vi = v[i]
            p, mi, vi, vm = _adam(param[i], grad[i], m[i], vi, vmax[i] if amsgrad else vi, b1,
                                  b2, omb1, omb2, step_size, bc2_sqrt, eps, wd, decay, wd_mode,
                                  amsgrad)  # fmt: skip
            param[i] = p
            m[i] = mi
            v[i] = vi
            if amsgrad:
                vmax[i] = vm

    return loop


_ADAM_LOOPS = {
    (mode, amsgrad): _adam_loop(mode, amsgrad)
    for mode in (rules.WD_NONE, rules.WD_L2, rules.WD_DECOUPLED)
    for amsgrad in (False, True)
}


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, amsgrad, decoupled_weight_decay):  # fmt: skip
    flags, scalars = rules.adam_options(
        param.dtype, step, lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled_weight_decay
    )
    vmax = max_exp_avg_sq if flags[1] else param
    _ADAM_LOOPS[flags](param, grad, exp_avg, exp_avg_sq, vmax, *scalars)


@njit(cache=True, error_model="numpy")
def _adagrad_loop(param, grad, state_sum, clr, weight_decay, eps, grad_sign, use_wd):
    for i in range(param.size):
        p, total = _adagrad(param[i], grad[i], state_sum[i], clr, weight_decay, eps, grad_sign,
                            use_wd)  # fmt: skip
        param[i] = p
        state_sum[i] = total


def adagrad_step(param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize):
    flags, scalars = rules.adagrad_options(
        param.dtype, step, lr, lr_decay, weight_decay, eps, maximize
    )
    _adagrad_loop(param, grad, state_sum, *scalars, *flags)


@njit(cache=True, error_model="numpy")
def _rmsprop_loop(param, grad, square_avg, buf, grad_avg, lr, alpha, one_minus_alpha, eps,
                  weight_decay, momentum, grad_sign, use_wd, centered, use_momentum):  # fmt: skip
    for i in range(param.size):
        p = param[i]  # stands in for the buffers an option leaves empty
        p, sq, b, ga = _rmsprop(p, grad[i], square_avg[i], buf[i] if use_momentum else p,
                                grad_avg[i] if centered else p, lr, alpha, one_minus_alpha, eps,
                                weight_decay, momentum, grad_sign, use_wd, centered,
                                use_momentum)  # fmt: skip
        param[i] = p
        square_avg[i] = sq
        if use_momentum:
            buf[i] = b
        if centered:
            grad_avg[i] = ga


def rmsprop_step(param, grad, square_avg, momentum_buffer, grad_avg, lr, alpha, eps,
                 weight_decay, momentum, centered, maximize):  # fmt: skip
    flags, scalars = rules.rmsprop_options(
        param.dtype, lr, alpha, eps, weight_decay, momentum, centered, maximize
    )
    _rmsprop_loop(param, grad, square_avg, momentum_buffer, grad_avg, *scalars, *flags)


def cext_kernels() -> dict:
    """This family's kernels served through the C extension, by spec name ({} when
    ``cext.available()`` is False): every optimizer step."""
    if not cext.available():
        return {}
    return {
        "sgd_step": c_optim.sgd_step,
        "adam_step": c_optim.adam_step,
        "adagrad_step": c_optim.adagrad_step,
        "rmsprop_step": c_optim.rmsprop_step,
        **{
            name: getattr(c_optim, name)
            for name in (
                "adadelta_step",
                "nadam_step",
                "adamax_step",
                "radam_step",
                "asgd_step",
                "rprop_step",
            )
            if c_optim.built(name)  # an extension built before these stays on Numba
        },
    }


# -- Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop (the option flags are arguments, one
# compiled loop each) --------------------------------------------------------------------

_adadelta = njit(cache=True, inline="always", error_model="numpy")(rules.adadelta)
_adamax = njit(cache=True, inline="always", error_model="numpy")(rules.adamax)
_nadam = njit(cache=True, inline="always", error_model="numpy")(rules.nadam)
_radam = njit(cache=True, inline="always", error_model="numpy")(rules.radam)
_asgd = njit(cache=True, inline="always", error_model="numpy")(rules.asgd)
_rprop = njit(cache=True, inline="always", error_model="numpy")(rules.rprop)


@njit(cache=True, error_model="numpy")
def _adadelta_loop(param, grad, square_avg, acc_delta, lr, rho, omr, eps, wd, sign, use_wd):
    for i in range(param.size):
        param[i], square_avg[i], acc_delta[i] = _adadelta(
            param[i], grad[i], square_avg[i], acc_delta[i], lr, rho, omr, eps, wd, sign, use_wd
        )


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
    flags, scalars = rules.adadelta_options(param.dtype, lr, rho, eps, weight_decay, maximize)
    _adadelta_loop(param, grad, square_avg, acc_delta, *scalars, *flags)


@njit(cache=True, error_model="numpy")
def _adamax_loop(param, grad, exp_avg, exp_inf, omb1, b2, clr, eps, wd, sign, use_wd):
    for i in range(param.size):
        param[i], exp_avg[i], exp_inf[i] = _adamax(
            param[i], grad[i], exp_avg[i], exp_inf[i], omb1, b2, clr, eps, wd, sign, use_wd
        )


def adamax_step(param, grad, exp_avg, exp_inf, step, lr, beta1, beta2, eps, weight_decay,
                maximize):  # fmt: skip
    flags, scalars = rules.adamax_options(
        param.dtype, step, lr, beta1, beta2, eps, weight_decay, maximize
    )
    _adamax_loop(param, grad, exp_avg, exp_inf, *scalars, *flags)


@njit(cache=True, error_model="numpy")
def _nadam_loop(param, grad, m, v, omb1, b2, omb2, bc2, eps, wd, decay, c_grad, c_avg, sign,
                wd_mode):  # fmt: skip
    for i in range(param.size):
        param[i], m[i], v[i] = _nadam(param[i], grad[i], m[i], v[i], omb1, b2, omb2, bc2, eps,
                                      wd, decay, c_grad, c_avg, sign, wd_mode)  # fmt: skip


def nadam_step(param, grad, exp_avg, exp_avg_sq, step, mu_product, lr, beta1, beta2, eps,
               weight_decay, momentum_decay, decoupled_weight_decay, maximize):  # fmt: skip
    flags, scalars = rules.nadam_options(
        param.dtype, step, mu_product, lr, beta1, beta2, eps, weight_decay, momentum_decay,
        decoupled_weight_decay, maximize,
    )  # fmt: skip
    _nadam_loop(param, grad, exp_avg, exp_avg_sq, *scalars, *flags)


@njit(cache=True, error_model="numpy")
def _radam_loop(param, grad, m, v, omb1, b2, omb2, bc1, lr, bc2_sqrt, eps, rect, wd, decay,
                sign, wd_mode, rectify):  # fmt: skip
    for i in range(param.size):
        param[i], m[i], v[i] = _radam(param[i], grad[i], m[i], v[i], omb1, b2, omb2, bc1, lr,
                                      bc2_sqrt, eps, rect, wd, decay, sign, wd_mode,
                                      rectify)  # fmt: skip


def radam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
               decoupled_weight_decay, maximize):  # fmt: skip
    flags, scalars = rules.radam_options(
        param.dtype, step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, maximize
    )
    _radam_loop(param, grad, exp_avg, exp_avg_sq, *scalars, *flags)


@njit(cache=True, error_model="numpy")
def _asgd_loop(param, grad, ax, eta, decay, mu, wd, sign, use_wd, average):
    for i in range(param.size):
        param[i], ax[i] = _asgd(param[i], grad[i], ax[i], eta, decay, mu, wd, sign, use_wd,
                                average)  # fmt: skip


def asgd_step(param, grad, ax, eta, mu, lambd, weight_decay, maximize):
    flags, scalars = rules.asgd_options(param.dtype, eta, mu, lambd, weight_decay, maximize)
    _asgd_loop(param, grad, ax, *scalars, *flags)


@njit(cache=True, error_model="numpy")
def _rprop_loop(param, grad, prev, step_size, etaminus, etaplus, size_min, size_max, sign):
    for i in range(param.size):
        param[i], prev[i], step_size[i] = _rprop(param[i], grad[i], prev[i], step_size[i],
                                                 etaminus, etaplus, size_min, size_max,
                                                 sign)  # fmt: skip


def rprop_step(param, grad, prev, step_size, etaminus, etaplus, step_size_min, step_size_max,
               maximize):  # fmt: skip
    _, scalars = rules.rprop_options(
        param.dtype, etaminus, etaplus, step_size_min, step_size_max, maximize
    )
    _rprop_loop(param, grad, prev, step_size, *scalars)
