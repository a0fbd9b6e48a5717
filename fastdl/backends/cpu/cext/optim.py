"""The optimizer steps of the C extension (csrc/optim.c, csrc/optim_more.c) with the
signatures of fastdl.backends.spec: SGD, Adam/AdamW, Adagrad, RMSprop, Adadelta, NAdam,
Adamax, RAdam, ASGD and Rprop over flat (P,) buffers.

Every array is checked before the C code writes anything; buffers go to C as views
and must not overlap.

Example::

    >>> import numpy as np
    >>> from fastdl.backends.cpu.cext import optim
    >>> param, grad = np.ones(3), np.full(3, 2.0)
    >>> optim.sgd_step(param, grad, np.empty(0), 0.5, 0.0, 0.0, 0.0, False, False, False)
    >>> param
    array([0., 0., 0.])
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.cpu import cext

_CTYPES = {np.dtype(np.float32): ("float[]", "f32"), np.dtype(np.float64): ("double[]", "f64")}
_functions: dict[tuple[str, str], object] = {}  # (kernel, "f32"/"f64") -> C function


def _explain(kernel: str, arrays: tuple) -> None:
    """Raise the error naming the first bad array argument (the slow path).

    ``arrays`` holds ``(name, array, used, written)`` for every array argument, param
    first; arrays the options leave unused are not checked.
    """
    param = arrays[0][1]
    if not isinstance(param, np.ndarray) or param.dtype not in _CTYPES:
        got = param.dtype if isinstance(param, np.ndarray) else type(param).__name__
        raise TypeError(f"{kernel}: param must be a float32 or float64 array, got {got}")
    for name, array, used, written in arrays:
        if not used:
            continue
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{kernel}: {name} must be a NumPy array, got {type(array).__name__}")
        if array.dtype != param.dtype:
            raise TypeError(f"{kernel}: {name} must be {param.dtype} like param, got {array.dtype}")
        if array.size != param.size:
            raise ValueError(
                f"{kernel}: {name} must have {param.size} elements like param, got {array.size}"
            )
        if not array.flags.c_contiguous:
            raise ValueError(f"{kernel}: {name} must be C-contiguous")
        if written and not array.flags.writeable:
            raise ValueError(f"{kernel}: {name} is read-only but {kernel} writes it")


def _prepare(kernel: str, arrays: tuple, step: int | None = None):
    """The C function for param's dtype and a pointer per array (NULL where unused).

    Every check happens here, before the kernel writes anything. The fast path is a
    few attribute reads per array; ffi.from_buffer itself refuses non-contiguous and
    (with True) read-only arrays. Buffers go to C as views, and must not overlap.
    """
    module = cext._module if cext._module is not None else cext._require()
    param = arrays[0][1]
    ffi = module.ffi
    pointers = []
    try:
        dtype = param.dtype
        n = param.size
        ctype, suffix = _CTYPES[dtype]
        for _, array, used, written in arrays:
            if not used:
                pointers.append(ffi.NULL)
            elif array.dtype == dtype and array.size == n:
                pointers.append(ffi.from_buffer(ctype, array, written))
            else:
                raise TypeError
    except (AttributeError, KeyError, TypeError, ValueError, BufferError):
        _explain(kernel, arrays)
        raise
    if step is not None and step < 1:
        raise ValueError(f"{kernel}: step must be >= 1 (the count after this step), got {step}")
    fn = _functions.get((kernel, suffix))
    if fn is None:
        fn = _functions[(kernel, suffix)] = getattr(module.lib, f"fastdl_{kernel}_{suffix}")
    return fn, pointers, n


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
    momentum = float(momentum)
    fn, pointers, n = _prepare(
        "sgd_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("momentum_buffer", momentum_buffer, momentum != 0, True),
        ),
    )
    fn(
        *pointers,
        n,
        float(lr),
        momentum,
        float(dampening),
        float(weight_decay),
        1 if nesterov else 0,
        1 if first_step else 0,
        1 if maximize else 0,
        cext._num_threads(n),
    )


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
    step = int(step)
    fn, pointers, n = _prepare(
        "adam_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("exp_avg", exp_avg, True, True),
            ("exp_avg_sq", exp_avg_sq, True, True),
            ("max_exp_avg_sq", max_exp_avg_sq, bool(amsgrad), True),
        ),
        step,
    )
    fn(
        *pointers,
        n,
        step,
        float(lr),
        float(beta1),
        float(beta2),
        float(eps),
        float(weight_decay),
        1 if amsgrad else 0,
        1 if decoupled_weight_decay else 0,
        cext._num_threads(n),
    )


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
    step = int(step)
    fn, pointers, n = _prepare(
        "adagrad_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("state_sum", state_sum, True, True),
        ),
        step,
    )
    fn(
        *pointers,
        n,
        step,
        float(lr),
        float(lr_decay),
        float(weight_decay),
        float(eps),
        1 if maximize else 0,
        cext._num_threads(n),
    )


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
    momentum = float(momentum)
    fn, pointers, n = _prepare(
        "rmsprop_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("square_avg", square_avg, True, True),
            ("momentum_buffer", momentum_buffer, momentum > 0, True),
            ("grad_avg", grad_avg, bool(centered), True),
        ),
    )
    fn(
        *pointers,
        n,
        float(lr),
        float(alpha),
        float(eps),
        float(weight_decay),
        momentum,
        1 if centered else 0,
        1 if maximize else 0,
        cext._num_threads(n),
    )


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize):
    fn, pointers, n = _prepare(
        "adadelta_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("square_avg", square_avg, True, True),
            ("acc_delta", acc_delta, True, True),
        ),
    )
    fn(
        *pointers,
        n,
        float(lr),
        float(rho),
        float(eps),
        float(weight_decay),
        1 if maximize else 0,
        cext._num_threads(n),
    )


def nadam_step(param, grad, exp_avg, exp_avg_sq, step, mu_product, lr, beta1, beta2, eps,
               weight_decay, momentum_decay, decoupled_weight_decay, maximize):  # fmt: skip
    step = int(step)
    fn, pointers, n = _prepare(
        "nadam_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("exp_avg", exp_avg, True, True),
            ("exp_avg_sq", exp_avg_sq, True, True),
        ),
        step,
    )
    fn(
        *pointers,
        n,
        step,
        float(mu_product),
        float(lr),
        float(beta1),
        float(beta2),
        float(eps),
        float(weight_decay),
        float(momentum_decay),
        1 if decoupled_weight_decay else 0,
        1 if maximize else 0,
        cext._num_threads(n),
    )


def adamax_step(param, grad, exp_avg, exp_inf, step, lr, beta1, beta2, eps, weight_decay,
                maximize):  # fmt: skip
    step = int(step)
    fn, pointers, n = _prepare(
        "adamax_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("exp_avg", exp_avg, True, True),
            ("exp_inf", exp_inf, True, True),
        ),
        step,
    )
    fn(*pointers, n, step, float(lr), float(beta1), float(beta2), float(eps),
       float(weight_decay), 1 if maximize else 0, cext._num_threads(n))  # fmt: skip


def radam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
               decoupled_weight_decay, maximize):  # fmt: skip
    step = int(step)
    fn, pointers, n = _prepare(
        "radam_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("exp_avg", exp_avg, True, True),
            ("exp_avg_sq", exp_avg_sq, True, True),
        ),
        step,
    )
    fn(*pointers, n, step, float(lr), float(beta1), float(beta2), float(eps),
       float(weight_decay), 1 if decoupled_weight_decay else 0, 1 if maximize else 0,
       cext._num_threads(n))  # fmt: skip


def asgd_step(param, grad, ax, eta, mu, lambd, weight_decay, maximize):
    fn, pointers, n = _prepare(
        "asgd_step",
        (("param", param, True, True), ("grad", grad, True, False), ("ax", ax, True, True)),
    )
    fn(*pointers, n, float(eta), float(mu), float(lambd), float(weight_decay),
       1 if maximize else 0, cext._num_threads(n))  # fmt: skip


def rprop_step(param, grad, prev, step_size, etaminus, etaplus, step_size_min, step_size_max,
               maximize):  # fmt: skip
    fn, pointers, n = _prepare(
        "rprop_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("prev", prev, True, True),
            ("step_size", step_size, True, True),
        ),
    )
    fn(*pointers, n, float(etaminus), float(etaplus), float(step_size_min),
       float(step_size_max), 1 if maximize else 0, cext._num_threads(n))  # fmt: skip


def built(kernel: str) -> bool:
    """Whether the loaded extension has ``kernel`` (a build older than its Python side
    lacks the steps added since: they then stay on the Numba loops)."""
    module = cext._load()
    return module is not None and hasattr(module.lib, f"fastdl_{kernel}_f32")
