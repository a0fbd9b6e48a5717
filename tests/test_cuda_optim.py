"""The CUDA optimizer steps against the NumPy reference, on every option set that
selects its own kernel (and maximize, dampening, lr_decay on top), in float32 and
float64: state and parameters bit for bit under the simulator and to the dtype's value
tolerance on a GPU, grad and unused buffers untouched, scalars rounded to the dtype
before the launch, one launch per step.

Under the CUDA simulator the grid is one 64-thread block, so buffers of a few hundred
elements run the grid-stride loop several times round.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from _tolerance import assert_close
from numba import config, cuda

from fastdl.backends import reference, spec
from fastdl.backends.cuda import _launch
from fastdl.backends.cuda import optim as cuda_optim

REF = reference.kernels()
NAMES = ("sgd_step", "adam_step", "adagrad_step", "rmsprop_step")
DTYPES = (np.float32, np.float64)
P = 517  # odd, several grid strides


def _buffers(rng, dtype, *names, scale=0.1, positive=False):
    """(P,) buffers: scale * N(0, 1), or 0.05 + scale * U[0, 1) where positive."""
    if positive:
        return {name: (0.05 + scale * rng.random(P)).astype(dtype) for name in names}
    return {name: (scale * rng.standard_normal(P)).astype(dtype) for name in names}


def _sgd_args(rng, dtype, weight_decay, momentum, nesterov, first_step, maximize):
    return {
        **_buffers(rng, dtype, "param", "grad", "momentum_buffer", scale=1.0),
        "lr": 0.05,
        "momentum": momentum,
        "dampening": 0.1 if maximize else 0.0,
        "weight_decay": weight_decay,
        "nesterov": nesterov,
        "first_step": first_step,
        "maximize": maximize,
    }


def _adam_args(rng, dtype, weight_decay, decoupled, amsgrad, step):
    args = _buffers(rng, dtype, "param", "grad", scale=1.0)
    args.update(_buffers(rng, dtype, "exp_avg"))
    args.update(_buffers(rng, dtype, "exp_avg_sq", "max_exp_avg_sq", positive=True))
    # A NaN on either side of max(vmax, v) is kept, as np.maximum does.
    args["max_exp_avg_sq"][3] = args["grad"][5] = np.nan
    args.update(step=step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=weight_decay,
                amsgrad=amsgrad, decoupled_weight_decay=decoupled)  # fmt: skip
    return args


def _adagrad_args(rng, dtype, weight_decay, lr_decay, maximize):
    args = _buffers(rng, dtype, "param", "grad", scale=1.0)
    args.update(_buffers(rng, dtype, "state_sum", positive=True))
    args.update(step=7, lr=1e-2, lr_decay=lr_decay, weight_decay=weight_decay, eps=1e-10,
                maximize=maximize)  # fmt: skip
    return args


def _rmsprop_args(rng, dtype, weight_decay, centered, momentum, maximize):
    args = _buffers(rng, dtype, "param", "grad", scale=1.0)
    args.update(_buffers(rng, dtype, "square_avg", positive=True))
    args.update(_buffers(rng, dtype, "momentum_buffer"))
    args.update(_buffers(rng, dtype, "grad_avg", scale=0.01))
    args.update(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=weight_decay, momentum=momentum,
                centered=centered, maximize=maximize)  # fmt: skip
    return args


def _cases():
    """Every kernel specialisation (weight decay on/off times the option set), each once,
    with maximize, dampening, lr_decay and late steps spread over them."""
    for wd, mx in ((0.0, False), (0.01, True)):
        yield "sgd_step", _sgd_args, (wd, 0.0, False, False, mx)
    for (wd, mx), nesterov, first in itertools.product(
        ((0.0, True), (0.01, False)), (False, True), (False, True)
    ):
        yield "sgd_step", _sgd_args, (wd, 0.9, nesterov, first, mx)
    for (wd, decoupled), amsgrad in itertools.product(
        ((0.0, False), (0.01, False), (0.01, True)), (False, True)
    ):
        yield "adam_step", _adam_args, (wd, decoupled, amsgrad, 1)
    yield "adam_step", _adam_args, (0.01, True, True, 30)
    for wd, lr_decay, mx in ((0.0, 0.0, False), (0.01, 0.01, True)):
        yield "adagrad_step", _adagrad_args, (wd, lr_decay, mx)
    for wd, centered, momentum in itertools.product((0.0, 0.01), (False, True), (0.0, 0.9)):
        yield "rmsprop_step", _rmsprop_args, (wd, centered, momentum, False)
    yield "rmsprop_step", _rmsprop_args, (0.01, True, 0.9, True)


CASES = list(_cases())


def _unused(name, args):
    """The buffers this option set must leave alone."""
    if name in ("sgd_step", "rmsprop_step") and args["momentum"] == 0:
        yield "momentum_buffer"
    if name == "adam_step" and not args["amsgrad"]:
        yield "max_exp_avg_sq"
    if name == "rmsprop_step" and not args["centered"]:
        yield "grad_avg"


def _step_both(name, args):
    """Run the CUDA kernel and the reference on copies of args: (device results, want)."""
    kernel = spec.BY_NAME[name]
    want = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
    dev = {k: cuda.to_device(v) if isinstance(v, np.ndarray) else v for k, v in args.items()}
    before = _launch.launches()
    getattr(cuda_optim, name)(*[dev[k] for k in kernel.args])
    assert _launch.launches() == before + (1 if args["param"].size else 0)
    REF[name](*[want[k] for k in kernel.args])
    got = {k: v.copy_to_host() for k, v in dev.items() if not isinstance(v, (int, float, bool))}
    return got, want


def _assert_update(got, want, where):
    """Bit for bit under the simulator, which runs the kernels as NumPy scalar arithmetic
    in the reference's order and dtype; on a GPU, where a product and a sum may be
    contracted into one FMA, to the dtype's value tolerance."""
    if config.ENABLE_CUDASIM:
        np.testing.assert_array_equal(got, want, err_msg=where)
    else:
        assert_close(got, want, where=where)


def _check(name, args, got, want):
    kernel = spec.BY_NAME[name]
    unused = set(_unused(name, args))
    for k, v in got.items():
        if k in kernel.writes and k not in unused:
            _assert_update(v, want[k], where=f"{name} {k}")
        else:  # grad, and state this option set leaves alone: not written at all
            np.testing.assert_array_equal(v, args[k], err_msg=f"{name} wrote {k}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, make, options", CASES, ids=[f"{c[0]}{c[2]}" for c in CASES])
def test_matches_reference(name, make, options, dtype):
    args = make(np.random.default_rng(7), dtype, *options)
    got, want = _step_both(name, args)
    _check(name, args, got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_adam_steps_in_sequence(dtype):
    # State carried across steps on the device, against the reference over the same steps.
    args = _adam_args(np.random.default_rng(2), dtype, 0.01, True, True, 1)
    names = spec.BY_NAME["adam_step"].args
    want = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
    dev = {k: cuda.to_device(v) if isinstance(v, np.ndarray) else v for k, v in args.items()}
    for step in (1, 2, 3):
        dev["step"] = want["step"] = step
        dev["grad"] = cuda.to_device(want["grad"] * step)
        want["grad"] = want["grad"] * step
        cuda_optim.adam_step(*[dev[k] for k in names])
        REF["adam_step"](*[want[k] for k in names])
    for k in spec.BY_NAME["adam_step"].writes:
        _assert_update(dev[k].copy_to_host(), want[k], where=k)


@pytest.mark.parametrize("name", NAMES)
def test_sampled_arguments_with_empty_unused_buffers(name):
    # The spec's samplers (sizes cut to at most 700), where unused buffers may be empty.
    kernel = spec.BY_NAME[name]
    rng = np.random.default_rng(17)
    for dtype in DTYPES:
        for _ in range(2):
            args = kernel.sample(rng, dtype)
            p = args["param"].size
            args = {
                k: v[:700] if isinstance(v, np.ndarray) and v.size == p else v
                for k, v in args.items()
            }
            got, want = _step_both(name, args)
            _check(name, args, got, want)


@pytest.mark.parametrize("name", NAMES)
def test_empty_buffers_launch_nothing(name):
    kernel = spec.BY_NAME[name]
    args = kernel.sample(np.random.default_rng(0), np.float32)
    args = {k: v[:0] if isinstance(v, np.ndarray) else v for k, v in args.items()}
    got, _ = _step_both(name, args)
    assert all(v.size == 0 for v in got.values())


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(
    "name, make, options", CASES[::3], ids=[f"{c[0]}{c[2]}" for c in CASES[::3]]
)
def test_scalars_reach_the_kernel_rounded_to_the_dtype(name, make, options, dtype, monkeypatch):
    # A Python float would compile as float64 on a GPU: float32 buffers would then be
    # updated in float64 arithmetic (the simulator cannot tell).
    launched = []
    launch = _launch.launch
    monkeypatch.setattr(_launch, "launch", lambda *a, **kw: launched.append(a) or launch(*a, **kw))
    _step_both(name, make(np.random.default_rng(1), dtype, *options))
    (args,) = launched
    scalars = [a for a in args[2:] if getattr(a, "shape", ()) == ()]
    assert scalars and all(type(a) is np.dtype(dtype).type for a in scalars), scalars
