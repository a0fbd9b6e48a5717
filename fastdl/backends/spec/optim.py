"""Optimizer steps over flat (P,) parameter buffers: SGD, Adam/AdamW, Adagrad, RMSprop,
Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop."""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, each, randn

_SIZES = (1, 5, 1000, 4099)  # P: a single element, odd, and a few vector lengths


def _sgd_sample(
    rng,
    dtype,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    first_step=False,
    maximize=False,
):
    p = int(rng.choice(_SIZES))
    return {
        "param": randn(rng, (p,), dtype),
        "grad": randn(rng, (p,), dtype),
        "momentum_buffer": randn(rng, (p,), dtype),
        "lr": 0.05,
        "momentum": momentum,
        "dampening": dampening,
        "weight_decay": weight_decay,
        "nesterov": nesterov,
        "first_step": first_step,
        "maximize": maximize,
    }


def _adam_sample(rng, dtype, weight_decay=0.0, amsgrad=False, decoupled_weight_decay=False):
    p = int(rng.choice(_SIZES))
    return {
        "param": randn(rng, (p,), dtype),
        "grad": randn(rng, (p,), dtype),
        "exp_avg": (0.1 * rng.standard_normal(p)).astype(dtype),
        "exp_avg_sq": (0.1 * rng.random(p)).astype(dtype),
        "max_exp_avg_sq": (0.2 * rng.random(p)).astype(dtype) if amsgrad else np.empty(0, dtype),
        "step": int(rng.integers(1, 50)),
        "lr": 1e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": weight_decay,
        "amsgrad": amsgrad,
        "decoupled_weight_decay": decoupled_weight_decay,
    }


def _adagrad_sample(rng, dtype, lr_decay=0.0, weight_decay=0.0, maximize=False):
    p = int(rng.choice(_SIZES))
    return {
        "param": randn(rng, (p,), dtype),
        "grad": randn(rng, (p,), dtype),
        "state_sum": (0.1 * rng.random(p)).astype(dtype),
        "step": int(rng.integers(1, 50)),
        "lr": 1e-2,
        "lr_decay": lr_decay,
        "weight_decay": weight_decay,
        "eps": 1e-10,
        "maximize": maximize,
    }


def _rmsprop_sample(rng, dtype, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    p = int(rng.choice(_SIZES))
    return {
        "param": randn(rng, (p,), dtype),
        "grad": randn(rng, (p,), dtype),
        "square_avg": (0.1 * rng.random(p) + 0.05).astype(dtype),
        "momentum_buffer": (0.1 * rng.standard_normal(p)).astype(dtype),
        "grad_avg": (0.01 * rng.standard_normal(p)).astype(dtype),
        "lr": 1e-2,
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": weight_decay,
        "momentum": momentum,
        "centered": centered,
        "maximize": maximize,
    }


# Every hyper-parameter value and the branches they open; nesterov, dampening and
# first_step only matter with momentum, so those sets carry it.
_SGD_OPTIONS = (
    {},
    {"weight_decay": 0.01, "maximize": True},
    {"momentum": 0.9, "first_step": True},
    {"momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.9, "nesterov": True, "first_step": True, "maximize": True},
)
_ADAM_OPTIONS = (
    {},
    {"weight_decay": 0.01},
    {"weight_decay": 0.01, "decoupled_weight_decay": True},
    {"amsgrad": True},
    {"amsgrad": True, "weight_decay": 0.01, "decoupled_weight_decay": True},
)
_ADAGRAD_OPTIONS = each(lr_decay=(0.0, 0.01), weight_decay=(0.0, 0.01), maximize=(False, True))
_RMSPROP_OPTIONS = (
    {},
    {"centered": True},
    {"momentum": 0.9},
    {"momentum": 0.9, "centered": True, "weight_decay": 0.01},
    {"maximize": True, "weight_decay": 0.01},
)


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "sgd_step",
        "optim",
        (
            "param",
            "grad",
            "momentum_buffer",
            "lr",
            "momentum",
            "dampening",
            "weight_decay",
            "nesterov",
            "first_step",
            "maximize",
        ),
        ("param", "momentum_buffer"),
        "PyTorch SGD on flat (P,) buffers: g = grad + weight_decay * param; with momentum, "
        "buf = g on the first step else momentum * buf + (1 - dampening) * g, and "
        "g = g + momentum * buf (nesterov) or buf; param -= lr * g. "
        "maximize negates grad first. momentum_buffer is untouched (and may be empty) when "
        "momentum == 0; grad is "
        "never written.",
        _sgd_sample,
        options=_SGD_OPTIONS,
    ),
    Kernel(
        "adam_step",
        "optim",
        (
            "param",
            "grad",
            "exp_avg",
            "exp_avg_sq",
            "max_exp_avg_sq",
            "step",
            "lr",
            "beta1",
            "beta2",
            "eps",
            "weight_decay",
            "amsgrad",
            "decoupled_weight_decay",
        ),
        ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
        "PyTorch Adam/AdamW on flat (P,) buffers; step is the count after this step (>= 1). "
        "decoupled_weight_decay (AdamW): param *= 1 - lr * weight_decay; else "
        "g = grad + weight_decay * param. m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; "
        "amsgrad: vmax = max(vmax, v) on the raw (not bias-corrected) v, as PyTorch's code "
        "does, and v_used = vmax (else max_exp_avg_sq may be empty and is untouched); "
        "param -= lr / (1 - b1^step) * m / (sqrt(v_used) / sqrt(1 - b2^step) + eps). "
        "grad is never written.",
        _adam_sample,
        options=_ADAM_OPTIONS,
    ),
    Kernel(
        "adagrad_step",
        "optim",
        (
            "param",
            "grad",
            "state_sum",
            "step",
            "lr",
            "lr_decay",
            "weight_decay",
            "eps",
            "maximize",
        ),
        ("param", "state_sum"),
        "PyTorch Adagrad on flat (P,) buffers; step is the count after this step (>= 1). "
        "g = -grad if maximize else grad; g += weight_decay * param; "
        "clr = lr / (1 + (step - 1) * lr_decay); state_sum += g * g; "
        "param -= clr * g / (sqrt(state_sum) + eps). grad is never written.",
        _adagrad_sample,
        options=_ADAGRAD_OPTIONS,
    ),
    Kernel(
        "rmsprop_step",
        "optim",
        (
            "param",
            "grad",
            "square_avg",
            "momentum_buffer",
            "grad_avg",
            "lr",
            "alpha",
            "eps",
            "weight_decay",
            "momentum",
            "centered",
            "maximize",
        ),
        ("param", "square_avg", "momentum_buffer", "grad_avg"),
        "PyTorch RMSprop on flat (P,) buffers. g = -grad if maximize else grad; "
        "g += weight_decay * param; square_avg = alpha * square_avg + (1 - alpha) * g^2; "
        "centered: grad_avg = alpha * grad_avg + (1 - alpha) * g and "
        "avg = sqrt(square_avg - grad_avg^2) + eps, else avg = sqrt(square_avg) + eps; "
        "momentum > 0: buf = momentum * buf + g / avg, param -= lr * buf; else "
        "param -= lr * g / avg. momentum_buffer is untouched when momentum == 0 and "
        "grad_avg when not centered (either may then be empty); grad is never written.",
        _rmsprop_sample,
        options=_RMSPROP_OPTIONS,
    ),
)


# -- Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop ---------------------------------------


def _pair(rng, dtype):
    p = int(rng.choice(_SIZES))
    return p, {"param": randn(rng, (p,), dtype), "grad": randn(rng, (p,), dtype)}


def _adadelta_sample(rng, dtype, weight_decay=0.0, maximize=False):
    p, args = _pair(rng, dtype)
    return {
        **args,
        "square_avg": (0.1 * rng.random(p)).astype(dtype),
        "acc_delta": (0.01 * rng.random(p)).astype(dtype),
        "lr": 1.0,
        "rho": 0.9,
        "eps": 1e-6,
        "weight_decay": weight_decay,
        "maximize": maximize,
    }


def _adamax_sample(rng, dtype, weight_decay=0.0, maximize=False):
    p, args = _pair(rng, dtype)
    return {
        **args,
        "exp_avg": (0.1 * rng.standard_normal(p)).astype(dtype),
        "exp_inf": (0.1 * rng.random(p) + 0.01).astype(dtype),
        "step": int(rng.integers(1, 50)),
        "lr": 2e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": weight_decay,
        "maximize": maximize,
    }


def _nadam_sample(rng, dtype, weight_decay=0.0, decoupled_weight_decay=False, maximize=False):
    p, args = _pair(rng, dtype)
    step = int(rng.integers(1, 50))
    mu_product = float(np.prod([0.9 * (1 - 0.5 * 0.96 ** (k * 4e-3)) for k in range(1, step)]))
    return {
        **args,
        "exp_avg": (0.1 * rng.standard_normal(p)).astype(dtype),
        "exp_avg_sq": (0.1 * rng.random(p)).astype(dtype),
        "step": step,
        "mu_product": mu_product,
        "lr": 2e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": weight_decay,
        "momentum_decay": 4e-3,
        "decoupled_weight_decay": decoupled_weight_decay,
        "maximize": maximize,
    }


def _radam_sample(rng, dtype, weight_decay=0.0, decoupled_weight_decay=False, maximize=False,
                  early=False):  # fmt: skip
    p, args = _pair(rng, dtype)
    return {
        **args,
        "exp_avg": (0.1 * rng.standard_normal(p)).astype(dtype),
        "exp_avg_sq": (0.1 * rng.random(p)).astype(dtype),
        "step": int(rng.integers(1, 6)) if early else int(rng.integers(6, 50)),
        "lr": 1e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": weight_decay,
        "decoupled_weight_decay": decoupled_weight_decay,
        "maximize": maximize,
    }


def _asgd_sample(rng, dtype, weight_decay=0.0, average=False, maximize=False):
    p, args = _pair(rng, dtype)
    return {
        **args,
        "ax": randn(rng, (p,), dtype),
        "eta": 1e-2 / (1 + 1e-4 * 1e-2 * 7) ** 0.75,
        "mu": 0.25 if average else 1.0,
        "lambd": 1e-4,
        "weight_decay": weight_decay,
        "maximize": maximize,
    }


def _rprop_sample(rng, dtype, maximize=False):
    p, args = _pair(rng, dtype)
    prev = randn(rng, (p,), dtype)
    prev[: p // 4] = 0  # the sign product is 0 there
    return {
        **args,
        "prev": prev,
        "step_size": (1e-2 * (0.5 + rng.random(p))).astype(dtype),
        "etaminus": 0.5,
        "etaplus": 1.2,
        "step_size_min": 1e-6,
        "step_size_max": 50.0,
        "maximize": maximize,
    }


_DECAY_OPTIONS = each(weight_decay=(0.0, 0.01), maximize=(False, True))
_WD_MODE_OPTIONS = (
    {},
    {"weight_decay": 0.01},
    {"weight_decay": 0.01, "decoupled_weight_decay": True, "maximize": True},
)

KERNELS += (
    Kernel(
        "adadelta_step",
        "optim",
        (
            "param",
            "grad",
            "square_avg",
            "acc_delta",
            "lr",
            "rho",
            "eps",
            "weight_decay",
            "maximize",
        ),  # fmt: skip
        ("param", "square_avg", "acc_delta"),
        "PyTorch Adadelta on flat (P,) buffers. g = -grad if maximize else grad; "
        "g += weight_decay * param; square_avg = rho * square_avg + (1 - rho) * g^2; "
        "delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g; "
        "acc_delta = rho * acc_delta + (1 - rho) * delta^2; param -= lr * delta. "
        "grad is never written.",
        _adadelta_sample,
        options=_DECAY_OPTIONS,
    ),
    Kernel(
        "adamax_step",
        "optim",
        (
            "param",
            "grad",
            "exp_avg",
            "exp_inf",
            "step",
            "lr",
            "beta1",
            "beta2",
            "eps",
            "weight_decay",
            "maximize",
        ),  # fmt: skip
        ("param", "exp_avg", "exp_inf"),
        "PyTorch Adamax on flat (P,) buffers; step is the count after this step (>= 1). "
        "g = -grad if maximize else grad; g += weight_decay * param; "
        "exp_avg += (1 - beta1) * (g - exp_avg); "
        "exp_inf = max(beta2 * exp_inf, |g| + eps); "
        "param -= lr / (1 - beta1^step) * exp_avg / exp_inf. grad is never written.",
        _adamax_sample,
        options=_DECAY_OPTIONS,
    ),
    Kernel(
        "nadam_step",
        "optim",
        (
            "param",
            "grad",
            "exp_avg",
            "exp_avg_sq",
            "step",
            "mu_product",
            "lr",
            "beta1",
            "beta2",
            "eps",
            "weight_decay",
            "momentum_decay",
            "decoupled_weight_decay",
            "maximize",
        ),  # fmt: skip
        ("param", "exp_avg", "exp_avg_sq"),
        "PyTorch NAdam on flat (P,) buffers; step is the count after this step (>= 1), "
        "mu_product the product of mu_k over the steps k < step (a number). "
        "mu_k = beta1 (1 - 0.96^(k momentum_decay) / 2); prod = mu_product * mu_step. "
        "g = -grad if maximize else grad; decoupled: param *= 1 - lr wd, else "
        "g += wd * param; exp_avg += (1 - beta1) (g - exp_avg); "
        "exp_avg_sq = beta2 exp_avg_sq + (1 - beta2) g^2; "
        "denom = sqrt(exp_avg_sq / (1 - beta2^step)) + eps; "
        "param += -lr (1 - mu_step) / (1 - prod) * g / denom "
        "- lr mu_(step+1) / (1 - prod mu_(step+1)) * exp_avg / denom. grad is never written.",
        _nadam_sample,
        options=_WD_MODE_OPTIONS,
    ),
    Kernel(
        "radam_step",
        "optim",
        (
            "param",
            "grad",
            "exp_avg",
            "exp_avg_sq",
            "step",
            "lr",
            "beta1",
            "beta2",
            "eps",
            "weight_decay",
            "decoupled_weight_decay",
            "maximize",
        ),  # fmt: skip
        ("param", "exp_avg", "exp_avg_sq"),
        "PyTorch RAdam on flat (P,) buffers; step is the count after this step (>= 1). "
        "Weight decay as NAdam's; exp_avg, exp_avg_sq as Adam's; "
        "rho_inf = 2 / (1 - beta2) - 1, rho_t = rho_inf - 2 step beta2^step / (1 - beta2^step); "
        "rho_t > 5: param -= exp_avg / bc1 * lr * sqrt(bc2) / (sqrt(exp_avg_sq) + eps) * rect "
        "with rect = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)); "
        "else param -= exp_avg / bc1 * lr. grad is never written.",
        _radam_sample,
        options=_WD_MODE_OPTIONS + ({"early": True},),
    ),
    Kernel(
        "asgd_step",
        "optim",
        ("param", "grad", "ax", "eta", "mu", "lambd", "weight_decay", "maximize"),
        ("param", "ax"),
        "PyTorch ASGD on flat (P,) buffers, with the state's eta and mu (numbers) before "
        "this step. g = -grad if maximize else grad; g += weight_decay * param; "
        "param *= 1 - lambd * eta; param -= eta * g; ax += (param - ax) * mu where mu != 1, "
        "else ax = param. grad is never written.",
        _asgd_sample,
        options=each(weight_decay=(0.0, 0.01), average=(False, True)) + ({"maximize": True},),
    ),
    Kernel(
        "rprop_step",
        "optim",
        (
            "param",
            "grad",
            "prev",
            "step_size",
            "etaminus",
            "etaplus",
            "step_size_min",
            "step_size_max",
            "maximize",
        ),  # fmt: skip
        ("param", "prev", "step_size"),
        "PyTorch Rprop on flat (P,) buffers. g = -grad if maximize else grad; "
        "s = sign(g * prev); step_size = clamp(step_size * (etaplus if s > 0, etaminus if "
        "s < 0, else 1), step_size_min, step_size_max); g = 0 where s < 0; "
        "param -= sign(g) * step_size; prev = g. grad is never written.",
        _rprop_sample,
        options=({}, {"maximize": True}),
    ),
)
