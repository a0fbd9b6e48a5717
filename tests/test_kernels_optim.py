"""Optimizer kernels (sgd_step, adam_step, adagrad_step, rmsprop_step): fast backends
against the reference, and the reference against a textbook per-element loop over
several steps.

The fast implementations under test are the Numba backend as the registry serves
it (where the C extension may provide the optimizer kernels) and the Numba JIT kernels of
``fastdl.backends.cpu.optim`` themselves, so both are held to the reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastdl import backends
from fastdl.backends import spec
from fastdl.backends.cpu import optim as numba_optim

NAMES = ("sgd_step", "adam_step", "adagrad_step", "rmsprop_step")

# (rtol, atol) for one step against the reference in the same dtype, and for a
# trajectory of several steps against the float64 textbook loop.
ONE_STEP_TOL = {np.float32: (1e-5, 1e-6), np.float64: (1e-12, 1e-14)}
TEXTBOOK_TOL = {np.float32: (2e-5, 2e-6), np.float64: (1e-12, 1e-14)}

IMPLEMENTATIONS = {
    "numba-backend": lambda name: getattr(backends.get("numba"), name),
    "numba-jit": lambda name: getattr(numba_optim, name),
}


def _reference(name):
    return getattr(backends.get("reference"), name)


def _copy(args):
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}


def _call(kernel, args, name):
    kernel(*(args[a] for a in spec.BY_NAME[name].args))


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_against_reference_on_spec_samples(name, dtype, impl):
    kernel = IMPLEMENTATIONS[impl](name)
    reference = _reference(name)
    contract = spec.BY_NAME[name]
    rtol, atol = ONE_STEP_TOL[dtype]
    for seed in range(40):
        args = contract.sample(np.random.default_rng(seed), dtype)
        expected, got = _copy(args), _copy(args)
        _call(reference, expected, name)
        _call(kernel, got, name)
        for arg in contract.args:
            if not isinstance(args[arg], np.ndarray):
                continue
            assert got[arg].dtype == args[arg].dtype, (arg, seed)
            if arg in contract.writes:
                np.testing.assert_allclose(
                    got[arg], expected[arg], rtol=rtol, atol=atol, err_msg=f"{arg}, seed {seed}"
                )
            else:
                np.testing.assert_array_equal(got[arg], args[arg], err_msg=f"{arg} was written")


@pytest.mark.parametrize("impl", ["reference", *sorted(IMPLEMENTATIONS)])
def test_sgd_without_momentum_leaves_buffer_untouched(impl):
    kernel = _reference("sgd_step") if impl == "reference" else IMPLEMENTATIONS[impl]("sgd_step")
    param = np.ones(9, np.float32)
    buf = np.full(9, 7.0, np.float32)
    kernel(param, np.ones(9, np.float32), buf, 0.1, 0.0, 0.0, 0.0, False, False, False)
    np.testing.assert_array_equal(buf, 7.0)
    np.testing.assert_allclose(param, 0.9, rtol=1e-7)


def _impl(impl, name):
    return _reference(name) if impl == "reference" else IMPLEMENTATIONS[impl](name)


@pytest.mark.parametrize("impl", ["reference", *sorted(IMPLEMENTATIONS)])
@pytest.mark.parametrize("maximize", [False, True])
def test_unused_buffers_may_be_empty(impl, maximize):
    # The spec lets a caller pass empty arrays for the buffers its options leave unused.
    empty = np.empty(0, np.float32)
    grad = np.ones(9, np.float32)
    sign = -1.0 if maximize else 1.0
    param = np.ones(9, np.float32)
    _impl(impl, "sgd_step")(param, grad, empty, 0.1, 0.0, 0.0, 0.0, False, True, maximize)
    np.testing.assert_allclose(param, 1 - sign * 0.1, rtol=1e-7)
    param, square_avg = np.ones(9, np.float32), np.zeros(9, np.float32)
    _impl(impl, "rmsprop_step")(param, grad, square_avg, empty, empty, 0.05, 0.99, 1e-8, 0.0,
                                0.0, False, maximize)  # fmt: skip
    np.testing.assert_allclose(square_avg, 0.01, rtol=1e-6)
    np.testing.assert_allclose(param, 1 - sign * 0.05 / (0.1 + 1e-8), rtol=1e-6)
    param = np.ones(9, np.float32)
    _impl(impl, "adam_step")(param, grad, np.zeros(9, np.float32), np.zeros(9, np.float32),
                             empty, 1, 0.1, 0.9, 0.999, 1e-8, 0.0, False, False)  # fmt: skip
    np.testing.assert_allclose(param, 0.9, rtol=1e-6)


# -- the reference against textbook loops ----------------------------------------


def textbook_sgd(p, g, buf, t, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """SGD as torch.optim.SGD documents it, one element at a time, float64 lists."""
    p, buf = list(p), list(buf)
    for i in range(len(p)):
        gi = -g[i] if maximize else g[i]
        gi = gi + weight_decay * p[i]
        if momentum != 0:
            buf[i] = gi if t == 1 else momentum * buf[i] + (1 - dampening) * gi
            gi = gi + momentum * buf[i] if nesterov else buf[i]
        p[i] = p[i] - lr * gi
    return p, buf


def textbook_adam(p, g, m, v, vmax, t, lr, b1, b2, eps, weight_decay, amsgrad, decoupled):
    """Adam (Kingma & Ba) with PyTorch's weight decay, AdamW and amsgrad, per element.

    amsgrad keeps the running maximum of the raw second moment and bias-corrects
    that, as torch.optim.Adam's code does (its docs write the maximum of the
    corrected moment).
    """
    p, m, v, vmax = list(p), list(m), list(v), list(vmax)
    for i in range(len(p)):
        gi = g[i]
        if decoupled:
            p[i] = p[i] * (1 - lr * weight_decay)
        else:
            gi = gi + weight_decay * p[i]
        m[i] = b1 * m[i] + (1 - b1) * gi
        v[i] = b2 * v[i] + (1 - b2) * gi * gi
        m_hat = m[i] / (1 - b1**t)
        if amsgrad:
            vmax[i] = max(vmax[i], v[i])
            v_hat = vmax[i] / (1 - b2**t)
        else:
            v_hat = v[i] / (1 - b2**t)
        p[i] = p[i] - lr * m_hat / (math.sqrt(v_hat) + eps)
    return p, m, v, vmax


SGD_CONFIGS = [
    # momentum, dampening, weight_decay, nesterov, maximize
    (0.0, 0.0, 0.0, False, False),
    (0.0, 0.0, 0.01, False, False),
    (0.0, 0.0, 0.01, False, True),
    (0.9, 0.0, 0.0, False, False),
    (0.9, 0.1, 0.01, False, False),
    (0.9, 0.1, 0.01, False, True),
    (0.9, 0.0, 0.01, True, False),
    (0.9, 0.0, 0.01, True, True),
]

ADAM_CONFIGS = [
    # weight_decay, amsgrad, decoupled (AdamW)
    (0.0, False, False),
    (0.01, False, False),
    (0.01, False, True),
    (0.0, True, False),
    (0.01, True, False),
    (0.01, True, True),
]

STEPS = 6


@pytest.mark.parametrize("impl", ["reference", *sorted(IMPLEMENTATIONS)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("config", SGD_CONFIGS, ids=str)
def test_sgd_matches_textbook_over_steps(config, dtype, impl):
    momentum, dampening, weight_decay, nesterov, maximize = config
    kernel = _impl(impl, "sgd_step")
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(11)
    param = p0.astype(dtype)
    buf = np.full(11, np.nan, dtype)  # the first step must overwrite it
    want_p, want_buf = list(p0), [0.0] * 11
    lr = 0.05
    for t in range(1, STEPS + 1):
        g = rng.standard_normal(11)
        kernel(param, g.astype(dtype), buf, lr, momentum, dampening, weight_decay, nesterov,
               t == 1, maximize)  # fmt: skip
        want_p, want_buf = textbook_sgd(
            want_p, g, want_buf, t, lr, momentum, dampening, weight_decay, nesterov, maximize
        )
    rtol, atol = TEXTBOOK_TOL[dtype]
    np.testing.assert_allclose(param, want_p, rtol=rtol, atol=atol)
    if momentum != 0:
        np.testing.assert_allclose(buf, want_buf, rtol=rtol, atol=atol)


@pytest.mark.parametrize("impl", ["reference", *sorted(IMPLEMENTATIONS)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("config", ADAM_CONFIGS, ids=str)
def test_adam_matches_textbook_over_steps(config, dtype, impl):
    weight_decay, amsgrad, decoupled = config
    kernel = _impl(impl, "adam_step")
    n = 13
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(n)
    param = p0.astype(dtype)
    m, v = np.zeros(n, dtype), np.zeros(n, dtype)
    vmax = np.zeros(n, dtype) if amsgrad else np.empty(0, dtype)
    want = (list(p0), [0.0] * n, [0.0] * n, [0.0] * n)  # param, m, v, vmax
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    for t in range(1, STEPS + 1):
        # Shrinking gradients make amsgrad's running maximum matter.
        g = rng.standard_normal(n) / t
        kernel(param, g.astype(dtype), m, v, vmax, t, lr, b1, b2, eps, weight_decay, amsgrad,
               decoupled)  # fmt: skip
        want_p, want_m, want_v, want_vmax = want
        want = textbook_adam(want_p, g, want_m, want_v, want_vmax, t, lr, b1, b2, eps,
                             weight_decay, amsgrad, decoupled)  # fmt: skip
    rtol, atol = TEXTBOOK_TOL[dtype]
    np.testing.assert_allclose(param, want[0], rtol=rtol, atol=atol)
    np.testing.assert_allclose(m, want[1], rtol=rtol, atol=atol)
    np.testing.assert_allclose(v, want[2], rtol=rtol, atol=atol)
    if amsgrad:
        np.testing.assert_allclose(vmax, want[3], rtol=rtol, atol=atol)


def textbook_adagrad(p, g, s, t, lr, lr_decay, weight_decay, eps, maximize):
    """Adagrad as torch.optim.Adagrad documents it, per element, float64 lists."""
    p, s = list(p), list(s)
    clr = lr / (1 + (t - 1) * lr_decay)
    for i in range(len(p)):
        gi = -g[i] if maximize else g[i]
        gi = gi + weight_decay * p[i]
        s[i] = s[i] + gi * gi
        p[i] = p[i] - clr * gi / (math.sqrt(s[i]) + eps)
    return p, s


def textbook_rmsprop(p, g, sq, buf, ga, lr, alpha, eps, weight_decay, momentum, centered,
                     maximize):  # fmt: skip
    """RMSprop as torch.optim.RMSprop documents it, per element, float64 lists."""
    p, sq, buf, ga = list(p), list(sq), list(buf), list(ga)
    for i in range(len(p)):
        gi = -g[i] if maximize else g[i]
        gi = gi + weight_decay * p[i]
        sq[i] = alpha * sq[i] + (1 - alpha) * gi * gi
        if centered:
            ga[i] = alpha * ga[i] + (1 - alpha) * gi
            avg = math.sqrt(sq[i] - ga[i] ** 2) + eps
        else:
            avg = math.sqrt(sq[i]) + eps
        if momentum > 0:
            buf[i] = momentum * buf[i] + gi / avg
            p[i] = p[i] - lr * buf[i]
        else:
            p[i] = p[i] - lr * gi / avg
    return p, sq, buf, ga


ADAGRAD_CONFIGS = [
    # lr_decay, weight_decay, initial sum, maximize
    (0.0, 0.0, 0.0, False),
    (0.05, 0.0, 0.0, False),
    (0.0, 0.01, 0.1, False),
    (0.05, 0.01, 0.1, True),
]

RMSPROP_CONFIGS = [
    # weight_decay, momentum, centered, maximize
    (wd, momentum, centered, maximize)
    for wd in (0.0, 0.01)
    for momentum in (0.0, 0.9)
    for centered in (False, True)
    for maximize in (False, True)
]


@pytest.mark.parametrize("impl", ["reference", *sorted(IMPLEMENTATIONS)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("config", ADAGRAD_CONFIGS, ids=str)
def test_adagrad_matches_textbook_over_steps(config, dtype, impl):
    lr_decay, weight_decay, initial, maximize = config
    kernel = _impl(impl, "adagrad_step")
    n = 13
    rng = np.random.default_rng(4)
    p0 = rng.standard_normal(n)
    param, state_sum = p0.astype(dtype), np.full(n, initial, dtype)
    want_p, want_s = list(p0), [initial] * n
    lr, eps = 0.05, 1e-10
    for t in range(1, STEPS + 1):
        g = rng.standard_normal(n)
        kernel(param, g.astype(dtype), state_sum, t, lr, lr_decay, weight_decay, eps, maximize)
        want_p, want_s = textbook_adagrad(
            want_p, g, want_s, t, lr, lr_decay, weight_decay, eps, maximize
        )
    rtol, atol = TEXTBOOK_TOL[dtype]
    np.testing.assert_allclose(param, want_p, rtol=rtol, atol=atol)
    np.testing.assert_allclose(state_sum, want_s, rtol=rtol, atol=atol)


@pytest.mark.parametrize("impl", ["reference", *sorted(IMPLEMENTATIONS)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("config", RMSPROP_CONFIGS, ids=str)
def test_rmsprop_matches_textbook_over_steps(config, dtype, impl):
    weight_decay, momentum, centered, maximize = config
    kernel = _impl(impl, "rmsprop_step")
    n = 13
    rng = np.random.default_rng(5)
    p0 = rng.standard_normal(n)
    param, square_avg = p0.astype(dtype), np.zeros(n, dtype)
    # Unused buffers are empty: the kernel must not touch them.
    buf = np.zeros(n if momentum > 0 else 0, dtype)
    grad_avg = np.zeros(n if centered else 0, dtype)
    want = (list(p0), [0.0] * n, [0.0] * n, [0.0] * n)  # param, square_avg, buf, grad_avg
    lr, alpha, eps = 0.01, 0.9, 1e-8
    for _ in range(STEPS):
        g = rng.standard_normal(n)
        kernel(param, g.astype(dtype), square_avg, buf, grad_avg, lr, alpha, eps, weight_decay,
               momentum, centered, maximize)  # fmt: skip
        want = textbook_rmsprop(*want[:1], g, *want[1:], lr, alpha, eps, weight_decay, momentum,
                                centered, maximize)  # fmt: skip
    rtol, atol = TEXTBOOK_TOL[dtype]
    np.testing.assert_allclose(param, want[0], rtol=rtol, atol=atol)
    np.testing.assert_allclose(square_avg, want[1], rtol=rtol, atol=atol)
    if momentum > 0:
        np.testing.assert_allclose(buf, want[2], rtol=rtol, atol=atol)
    if centered:
        np.testing.assert_allclose(grad_avg, want[3], rtol=rtol, atol=atol)


@pytest.mark.parametrize("impl", ["reference", *sorted(IMPLEMENTATIONS)])
def test_numpy_scalar_hyperparameters_act_as_python_floats(impl):
    # A NumPy float64 scalar is a "strong" type in NumPy 2 and would turn float32
    # arithmetic into float64; the kernels must treat it as the Python float it is.
    kernel = _impl(impl, "adam_step")
    rng = np.random.default_rng(3)
    start = [rng.standard_normal(1000).astype(np.float32) for _ in range(3)]
    results = []
    for to_scalar in (float, np.float64):
        param, m, v = (a.copy() for a in start)
        v = np.abs(v)
        hyper = [to_scalar(h) for h in (1e-3, 0.9, 0.999, 1e-8, 0.01)]
        kernel(param, start[0], m, v, np.empty(0, np.float32), 3, *hyper, False, False)
        results.append(param)
    np.testing.assert_array_equal(results[0], results[1])
