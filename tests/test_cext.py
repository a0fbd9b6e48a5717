"""The C extension (fastdl._cext): adam_step against textbook Adam and the reference; the
other optimizer kernels against the reference; splitting across threads changes no bit.

A C extension that is not built is a failing test, as any missing kernel is,
unless FASTDL_EXPECT_NO_CEXT=1 says this install is meant to go without it.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import warnings

import numpy as np
import pytest

from fastdl.backends import spec
from fastdl.backends.cpu import cext
from fastdl.backends.cpu.cext import optim as c_optim

EXPECT_NO_CEXT = os.environ.get("FASTDL_EXPECT_NO_CEXT") == "1"

# (rtol, atol) for one trajectory of several steps in the kernel's dtype against
# float64 textbook Adam, and for one step against the reference in the same dtype
# (the same operations in the same order: a few ulp at most).
TRAJECTORY_TOL = {np.float32: (2e-5, 2e-6), np.float64: (1e-12, 1e-14)}
ONE_STEP_TOL = {np.float32: (1e-6, 1e-7), np.float64: (1e-14, 1e-16)}


@pytest.fixture(autouse=True)
def _cext_enabled(monkeypatch):
    monkeypatch.delenv("FASTDL_CEXT", raising=False)


def test_extension_is_built():
    status = cext.status()
    if not status["loaded"] and not EXPECT_NO_CEXT:
        pytest.fail(f"the C extension is not built: {status['reason']}")


@pytest.fixture
def adam():
    """The C adam_step; fails the test if the extension is not built."""
    status = cext.status()
    if not status["loaded"]:
        if EXPECT_NO_CEXT:
            pytest.skip("C extension not built, as FASTDL_EXPECT_NO_CEXT=1 expects")
        pytest.fail(f"the C extension is not built: {status['reason']}")
    return cext.kernels()["adam_step"]


def textbook_adam(p, g, m, v, vmax, step, lr, b1, b2, eps, wd, amsgrad, decoupled):
    """Adam (Kingma & Ba) with PyTorch's amsgrad and weight decay, in float64; returns new state."""
    p, g, m, v, vmax = (np.asarray(a, np.float64) for a in (p, g, m, v, vmax))
    if decoupled:
        p = p * (1 - lr * wd)
    else:
        g = g + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g**2
    if amsgrad:
        vmax = np.maximum(vmax, v)
        v_used = vmax
    else:
        v_used = v
    m_hat = m / (1 - b1**step)
    v_hat = v_used / (1 - b2**step)
    p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p, m, v, vmax


def _state(rng, n, dtype, amsgrad):
    return {
        "param": rng.standard_normal(n).astype(dtype),
        "exp_avg": np.zeros(n, dtype),
        "exp_avg_sq": np.zeros(n, dtype),
        "max_exp_avg_sq": np.zeros(n if amsgrad else 0, dtype),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adam_matches_textbook_over_steps(adam, dtype, amsgrad, decoupled, weight_decay):
    rng = np.random.default_rng(0)
    n = 1037  # odd: exercises the vector loop's remainder
    hyper = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8}
    state = _state(rng, n, dtype, amsgrad)
    exact = {k: a.astype(np.float64) for k, a in state.items()}
    if not amsgrad:
        exact["max_exp_avg_sq"] = np.zeros(n)
    for step in range(1, 8):
        grad = rng.standard_normal(n).astype(dtype)
        grad[::5] *= 1e-3  # small gradients: vmax keeps earlier, larger v
        adam(state["param"], grad, state["exp_avg"], state["exp_avg_sq"],
             state["max_exp_avg_sq"], step, hyper["lr"], hyper["beta1"], hyper["beta2"],
             hyper["eps"], weight_decay, amsgrad, decoupled)  # fmt: skip
        p, m, v, vmax = textbook_adam(
            exact["param"], grad, exact["exp_avg"], exact["exp_avg_sq"],
            exact["max_exp_avg_sq"], step, hyper["lr"], hyper["beta1"], hyper["beta2"],
            hyper["eps"], weight_decay, amsgrad, decoupled,
        )  # fmt: skip
        exact.update(param=p, exp_avg=m, exp_avg_sq=v, max_exp_avg_sq=vmax)
    rtol, atol = TRAJECTORY_TOL[dtype]
    for name in ("param", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
        assert state[name].dtype == dtype
        np.testing.assert_allclose(state[name], exact[name], rtol=rtol, atol=atol, err_msg=name)
    if not amsgrad:
        assert state["max_exp_avg_sq"].size == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 3, 16, 4099])
def test_adam_matches_reference_one_step(adam, dtype, n):
    optim = pytest.importorskip("fastdl.backends.reference.optim")
    rng = np.random.default_rng(n)
    for amsgrad in (False, True):
        for decoupled in (False, True):
            args = {
                "param": rng.standard_normal(n).astype(dtype),
                "grad": rng.standard_normal(n).astype(dtype),
                "exp_avg": (0.1 * rng.standard_normal(n)).astype(dtype),
                "exp_avg_sq": (0.1 * rng.random(n)).astype(dtype),
                "max_exp_avg_sq": (0.2 * rng.random(n if amsgrad else 0)).astype(dtype),
                "step": int(rng.integers(1, 50)),
                "lr": 1e-3,
                "beta1": 0.9,
                "beta2": 0.999,
                "eps": 1e-8,
                "weight_decay": 0.01,
                "amsgrad": amsgrad,
                "decoupled_weight_decay": decoupled,
            }
            expected = {k: (a.copy() if isinstance(a, np.ndarray) else a) for k, a in args.items()}
            adam(**args)
            optim.adam_step(**expected)
            rtol, atol = ONE_STEP_TOL[dtype]
            for name in ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                np.testing.assert_allclose(
                    args[name], expected[name], rtol=rtol, atol=atol,
                    err_msg=f"{name} amsgrad={amsgrad} decoupled={decoupled}",
                )  # fmt: skip
            np.testing.assert_array_equal(args["grad"], expected["grad"])


@pytest.mark.parametrize("name", ["sgd_step", "adam_step", "adagrad_step", "rmsprop_step"])
def test_signatures_are_the_spec(name):
    assert tuple(inspect.signature(getattr(c_optim, name)).parameters) == spec.BY_NAME[name].args


def _adam_args(dtype=np.float32, n=5, amsgrad=True):
    return {
        "param": np.ones(n, dtype),
        "grad": np.ones(n, dtype),
        "exp_avg": np.zeros(n, dtype),
        "exp_avg_sq": np.zeros(n, dtype),
        "max_exp_avg_sq": np.zeros(n if amsgrad else 0, dtype),
        "step": 1,
        "lr": 0.1,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "amsgrad": amsgrad,
        "decoupled_weight_decay": False,
    }


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"grad": np.ones(5, np.float64)}, TypeError, "grad must be float32"),
        ({"param": np.ones(5, np.float16)}, TypeError, "param must be a float32 or float64"),
        ({"exp_avg": np.zeros(4, np.float32)}, ValueError, "exp_avg must have 5"),
        ({"max_exp_avg_sq": np.zeros(0, np.float32)}, ValueError, "max_exp_avg_sq must have 5"),
        ({"exp_avg_sq": np.zeros(10, np.float32)[::2]}, ValueError, "C-contiguous"),
        ({"grad": [1.0] * 5}, TypeError, "grad must be a NumPy array"),
        ({"step": 0}, ValueError, "step must be >= 1"),
    ],
)
def test_adam_bad_input_raises_before_writing(adam, change, error, words):
    args = {**_adam_args(), **change}
    before = {k: a.copy() for k, a in args.items() if isinstance(a, np.ndarray)}
    with pytest.raises(error, match=words):
        adam(**args)
    for name, a in before.items():
        np.testing.assert_array_equal(args[name], a)


def test_adam_refuses_read_only_state(adam):
    args = _adam_args()
    args["exp_avg"].flags.writeable = False
    before = args["param"].copy()
    with pytest.raises(ValueError, match="exp_avg is read-only"):
        adam(**args)
    np.testing.assert_array_equal(args["param"], before)
    args = _adam_args()
    args["grad"].flags.writeable = False  # read, never written: fine
    adam(**args)


def test_adam_without_amsgrad_ignores_max_exp_avg_sq(adam):
    args = _adam_args(np.float64, amsgrad=False)
    args["max_exp_avg_sq"] = np.empty(0)
    adam(**args)
    # first step of Adam moves every parameter by lr * sign(grad) (up to eps)
    np.testing.assert_allclose(args["param"], 1 - 0.1, rtol=1e-7)
    assert math.isclose(args["exp_avg"][0], 0.1) and math.isclose(args["exp_avg_sq"][0], 0.001)


# -- status(), kernels(), FASTDL_CEXT, warn_if_missing() --------------------------


def test_status_when_built(adam):
    status = cext.status()
    assert status["loaded"] is True and status["enabled"] is True
    assert status["reason"] == ""
    optim = {"sgd_step", "adam_step", "adagrad_step", "rmsprop_step", "adadelta_step", "nadam_step"}
    optim |= {"adamax_step", "radam_step", "asgd_step", "rprop_step"}
    philox = {"philox_uint32", "philox_uniform", "philox_normal", "philox_bernoulli"}
    gemm = {
        "linear",
        "linear_act",
        "linear_backward",
        "linear_act_backward",
        "gemm_bias_act",
        "gemm_bias_act_backward",
    }
    conv = {"im2col", "col2im", "conv2d", "conv2d_backward"}
    clip = {"grad_norm", "mul"}

    assert set(cext.kernels()) == optim | philox | gemm | conv | clip
    assert set(cext.kernels()) <= set(spec.NAMES)
    assert status["philox_isa"] in ("portable C", "SSE2", "AVX2", "AVX-512F")
    assert status["gemm_isa"] in ("portable C", "AVX2+FMA", "AVX-512F")


def test_fastdl_cext_0_disables(adam, monkeypatch):
    monkeypatch.setenv("FASTDL_CEXT", "0")
    assert cext.kernels() == {}
    status = cext.status()
    assert status["loaded"] is True and status["enabled"] is False
    assert "FASTDL_CEXT=0" in status["reason"]
    monkeypatch.setenv("FASTDL_CEXT", "1")
    assert "adam_step" in cext.kernels()


def test_cpu_backend_serves_the_c_kernel(adam, monkeypatch):
    from fastdl.backends import cpu

    assert cpu.kernels()["adam_step"] is c_optim.adam_step
    monkeypatch.setenv("FASTDL_CEXT", "0")
    assert cpu.kernels()["adam_step"] is not c_optim.adam_step


@pytest.fixture
def unbuilt(monkeypatch):
    """Make cext behave as if fastdl._cext were not built."""
    monkeypatch.setattr(cext, "_module", None)
    monkeypatch.setattr(cext, "_load_error", "fastdl._cext is not built (test)")
    monkeypatch.setattr(cext, "_warned", False)


def test_status_when_not_built(unbuilt):
    status = cext.status()
    assert status["loaded"] is False and status["enabled"] is True
    assert "not built" in status["reason"]
    assert cext.kernels() == {}


def test_warn_if_missing_warns_once(unbuilt):
    with pytest.warns(RuntimeWarning, match="not built") as record:
        cext.warn_if_missing()
        cext.warn_if_missing()
    assert len(record) == 1


def test_warn_if_missing_is_silent_when_disabled(unbuilt, monkeypatch):
    monkeypatch.setenv("FASTDL_CEXT", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cext.warn_if_missing()


def test_warn_if_missing_is_silent_when_built(adam):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cext.warn_if_missing()


# -- the other optimizer kernels, and threads ---------------------------------------


def _sample(name, dtype, seed, n=None):
    args = spec.BY_NAME[name].sample(np.random.default_rng([seed, 7]), np.dtype(dtype))
    if n is not None:  # the same draw at another size
        rng = np.random.default_rng([seed, n])
        for key, value in args.items():
            if isinstance(value, np.ndarray) and value.size:
                args[key] = (0.1 * np.abs(rng.standard_normal(n)) + 0.05).astype(dtype)
        args["grad"] = rng.standard_normal(n).astype(dtype)
        args["param"] = rng.standard_normal(n).astype(dtype)
        if "grad_avg" in args:  # centered RMSprop needs square_avg > grad_avg^2
            args["grad_avg"] = (0.01 * rng.standard_normal(n)).astype(dtype)
    return args


def _run(kernel, name, args):
    args = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    kernel(*(args[a] for a in spec.BY_NAME[name].args))
    return args


@pytest.mark.parametrize("name", ["sgd_step", "adagrad_step", "rmsprop_step"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_reference_one_step(adam, name, dtype):
    from fastdl.backends import reference

    c_kernel, ref = cext.kernels()[name], reference.kernels()[name]
    rtol, atol = ONE_STEP_TOL[dtype]
    for seed in range(12):
        args = _sample(name, dtype, seed)
        got, want = _run(c_kernel, name, args), _run(ref, name, args)
        for arg in spec.BY_NAME[name].writes:
            np.testing.assert_allclose(
                got[arg], want[arg], rtol=rtol, atol=atol, err_msg=f"{arg}, seed {seed}"
            )
        np.testing.assert_array_equal(got["grad"], args["grad"])


def _c_function(name, dtype):
    return getattr(cext._require().lib, f"fastdl_{name}_{'f32' if dtype == np.float32 else 'f64'}")


@pytest.mark.parametrize("name", ["sgd_step", "adam_step", "adagrad_step", "rmsprop_step"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_count_changes_no_bit(adam, monkeypatch, name, dtype):
    # The kernels are elementwise: any split of the buffer gives the same bits. The
    # wrapper splits above PARALLEL_MIN_PER_THREAD elements per thread; lower it so
    # that a small buffer is split (odd size: uneven ranges).
    from fastdl import threads

    kernel = cext.kernels()[name]
    n = 3 * 65536 + 4099  # more than one chunk per thread (parallel.c), an odd tail
    for seed in range(4):
        args = _sample(name, dtype, seed, n=n)
        monkeypatch.setattr(cext, "PARALLEL_MIN_PER_THREAD", 10**9)
        assert cext._num_threads(n) == 1
        single = _run(kernel, name, args)
        for count in (2, 3, 7):
            monkeypatch.setattr(cext, "PARALLEL_MIN_PER_THREAD", 64)
            monkeypatch.setitem(threads._state, "threads", count)
            assert cext._num_threads(n) == count
            split = _run(kernel, name, args)
            for arg in spec.BY_NAME[name].writes:
                np.testing.assert_array_equal(split[arg], single[arg], err_msg=f"{arg} {count}")
    if sys.platform.startswith("linux"):
        assert cext._require().lib.fastdl_parallel_workers() >= 6  # the split really ran


def test_num_threads_follows_set_num_threads_and_size(monkeypatch):
    from fastdl import threads

    grain = cext.PARALLEL_MIN_PER_THREAD
    monkeypatch.setitem(threads._state, "threads", 4)
    assert cext._num_threads(grain) == 1  # small buffers stay on one thread
    assert cext._num_threads(2 * grain) == 2
    assert cext._num_threads(100 * grain) == 4
    monkeypatch.setitem(threads._state, "threads", 1)
    assert cext._num_threads(100 * grain) == 1


def _split_adam_step(n):
    args = _adam_args(np.float32, n=n, amsgrad=False)
    _c_function("adam_step", np.float32)(
        *(cext._require().ffi.from_buffer("float[]", args[k]) for k in ("param", "grad")),
        *(cext._require().ffi.from_buffer("float[]", args[k]) for k in ("exp_avg", "exp_avg_sq")),
        cext._require().ffi.NULL, n, 1, 0.1, 0.9, 0.999, 1e-8, 0.0, 0, 0, 2,
    )  # fmt: skip
    return args["param"]


SPLIT_SIZE = 4 * 65536  # four chunks (parallel.c)


def _child_steps(queue):
    workers_at_fork = cext._require().lib.fastdl_parallel_workers()
    value = float(_split_adam_step(SPLIT_SIZE)[0])
    queue.put((workers_at_fork, cext._require().lib.fastdl_parallel_workers(), value))


def test_worker_threads_survive_fork(adam):
    # The parent's worker threads do not exist in a fork()ed child; a split step there
    # must start new ones, not wait forever on the parent's.
    import multiprocessing

    if not sys.platform.startswith("linux"):
        pytest.skip("fork() and pthreads: Linux")
    np.testing.assert_allclose(_split_adam_step(SPLIT_SIZE), 0.9, rtol=1e-6)
    assert cext._require().lib.fastdl_parallel_workers() >= 1
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_steps, args=(queue,))
    child.start()
    child.join(timeout=30)
    if child.is_alive():
        child.kill()
        pytest.fail("a split step in a fork()ed child hung")
    assert child.exitcode == 0
    workers_at_fork, workers_after, value = queue.get(timeout=5)
    assert workers_at_fork == 0 and workers_after == 1  # its own worker, started there
    assert abs(value - 0.9) < 1e-6


@pytest.mark.parametrize(
    "name, change, error, words",
    [
        (
            "sgd_step",
            {"momentum": 0.9, "momentum_buffer": np.zeros(0)},
            ValueError,
            "momentum_buffer",
        ),
        ("sgd_step", {"grad": np.ones(5, np.float32)}, TypeError, "grad must be float64"),
        ("adagrad_step", {"step": 0}, ValueError, "step must be >= 1"),
        ("adagrad_step", {"state_sum": np.zeros(4)}, ValueError, "state_sum must have 5"),
        ("rmsprop_step", {"centered": True, "grad_avg": np.zeros(0)}, ValueError, "grad_avg"),
        ("rmsprop_step", {"momentum": 0.5, "momentum_buffer": np.zeros(3)}, ValueError, "momentum"),
        ("rmsprop_step", {"square_avg": np.zeros(10)[::2]}, ValueError, "C-contiguous"),
    ],
)
def test_bad_input_raises_before_writing(adam, name, change, error, words):
    base = {
        "sgd_step": dict(param=np.ones(5), grad=np.ones(5), momentum_buffer=np.zeros(5), lr=0.1,
                         momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                         first_step=True, maximize=False),
        "adagrad_step": dict(param=np.ones(5), grad=np.ones(5), state_sum=np.zeros(5), step=1,
                             lr=0.1, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False),
        "rmsprop_step": dict(param=np.ones(5), grad=np.ones(5), square_avg=np.zeros(5),
                             momentum_buffer=np.empty(0), grad_avg=np.empty(0), lr=0.1,
                             alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                             centered=False, maximize=False),
    }[name]  # fmt: skip
    args = {**base, **change}
    before = {k: a.copy() for k, a in args.items() if isinstance(a, np.ndarray)}
    with pytest.raises(error, match=words):
        cext.kernels()[name](**args)
    for key, a in before.items():
        np.testing.assert_array_equal(args[key], a)
