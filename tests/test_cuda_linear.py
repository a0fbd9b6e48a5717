"""The CUDA dense-layer kernels (one tiled GEMM with fused prologue/epilogue) against
the reference backend, under the CUDA simulator or on a GPU.

The simulator runs a Python thread per CUDA thread and its cost grows with m*k*n, so
the shapes are small; a few cross several blocks of both tile sizes and several
double-buffered K slices (the simulator's tiles are 8x16 and 4x8, BK=4).
"""

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from _cuda_check import check_against_reference
from numba import cuda

from fastdl.backends import reference, spec
from fastdl.backends.cuda import _launch
from fastdl.backends.cuda import linear as cuda_linear

DTYPES = (np.float64, np.float32)
ACTS = (None, *spec.ACTIVATIONS)
KERNELS = {k.name: k for k in spec.KERNELS}


def _check(name, args):
    return check_against_reference(cuda_linear, name, args)


def _randn(rng, shape, dtype, transposed=False):
    if transposed:
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    return rng.standard_normal(shape).astype(dtype)


def _nan(shape, dtype):
    return np.full(shape, np.nan, dtype=dtype)


def _linear_args(rng, dtype, n, k, m, bias=True, act=None):
    args = {
        "x": _randn(rng, (n, k), dtype),
        "weight": _randn(rng, (m, k), dtype),
        "bias": _randn(rng, (m,), dtype) if bias else None,
        "out": _nan((n, m), dtype),
    }
    if act is not None:
        args["act"], args["negative_slope"] = act, 0.01
    return args


def _activated(rng, pre, act, dtype):
    """The forward output for pre-activations ``pre``; relu's zeros kept exact."""
    if act is None:
        return pre.astype(dtype)
    out = np.empty_like(pre)
    reference.kernels()["act_forward"](pre, act, 0.01, out)
    return out.astype(dtype)


# -- forward ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 3, 7), (1, 9, 6)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(dtype, shape, bias):
    rng = np.random.default_rng(list(shape))
    _check("linear", _linear_args(rng, dtype, *shape, bias=bias))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", spec.ACTIVATIONS)
def test_linear_act(dtype, act):
    rng = np.random.default_rng(len(act))
    _check("linear_act", _linear_args(rng, dtype, 6, 5, 7, bias=act != "tanh", act=act))


def test_linear_many_blocks_and_slices():
    """Several blocks each way on the large tile, K over three double-buffered slices."""
    rng = np.random.default_rng(7)
    _check("linear_act", _linear_args(rng, np.float32, 17, 9, 33, act="leaky_relu"))


def test_linear_empty_k_gives_bias():
    rng = np.random.default_rng(8)
    _check("linear_act", _linear_args(rng, np.float64, 3, 0, 5, act="sigmoid"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("transposed", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_bias_act(dtype, act, transposed):
    rng = np.random.default_rng([len(str(act)), *transposed])
    m, k, n = 7, 6, 5
    _check(
        "gemm_bias_act",
        {
            "a": _randn(rng, (m, k), dtype, transposed[0]),
            "b": _randn(rng, (k, n), dtype, transposed[1]),
            "bias": _randn(rng, (n,), dtype) if act != "relu" else None,
            "act": act,
            "negative_slope": 0.01,
            "out": _nan((m, n), dtype),
        },
    )


def test_gemm_rejects_strided_operand():
    a = cuda.to_device(np.ones((4, 6)))[:, ::2]
    b = cuda.to_device(np.ones((3, 2)))
    with pytest.raises(ValueError, match="C-contiguous"):
        cuda_linear.gemm_bias_act(a, b, None, None, 0.01, cuda.to_device(np.zeros((4, 2))))


# -- backward -----------------------------------------------------------------------


def _linear_backward_args(rng, dtype, n, k, m, act, grads=(True, True, True)):
    args = _linear_args(rng, dtype, n, k, m, bias=False)
    del args["bias"]
    pre = args["x"].astype(np.float64) @ args["weight"].T.astype(np.float64)
    out = args.pop("out")
    if act is not None:
        args["out"] = _activated(rng, pre, act, dtype)
        args["act"], args["negative_slope"] = act, 0.01
    args["grad_out"] = _randn(rng, out.shape, dtype)
    for name, shape, wanted in zip(
        ("grad_x", "grad_weight", "grad_bias"), ((n, k), (m, k), (m,)), grads
    ):
        args[name] = _nan(shape, dtype) if wanted else None
    return args


GRAD_SETS = [
    (True, True, True),
    (False, True, True),
    (True, False, True),
    (True, True, False),
    (False, False, True),
    (False, False, False),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grads", GRAD_SETS)
def test_linear_backward(dtype, grads):
    rng = np.random.default_rng([7, *grads])
    _check("linear_backward", _linear_backward_args(rng, dtype, 6, 5, 7, None, grads))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", spec.ACTIVATIONS)
def test_linear_act_backward(dtype, act):
    rng = np.random.default_rng(len(act))
    _check("linear_act_backward", _linear_backward_args(rng, dtype, 7, 5, 6, act))


@pytest.mark.parametrize("grads", GRAD_SETS[1:5])
def test_linear_act_backward_partial(grads):
    rng = np.random.default_rng([3, *grads])
    args = _linear_backward_args(rng, np.float64, 5, 4, 6, "relu", grads)
    _check("linear_act_backward", args)


def test_linear_act_backward_many_blocks():
    """The fused bias sum over a batch of several K slices, several row blocks."""
    rng = np.random.default_rng(11)
    _check("linear_act_backward", _linear_backward_args(rng, np.float32, 13, 18, 17, "tanh"))


def _gemm_backward_args(rng, dtype, m, k, n, act, transposed, grads):
    a = _randn(rng, (m, k), dtype, transposed[0])
    b = _randn(rng, (k, n), dtype, transposed[1])
    bias = _randn(rng, (n,), dtype)
    pre = a.astype(np.float64) @ b.astype(np.float64) + bias
    args = {
        "a": a,
        "b": b,
        "out": _activated(rng, pre, act, dtype),
        "grad_out": _randn(rng, (m, n), dtype),
        "act": act,
        "negative_slope": 0.01,
    }
    for name, shape, wanted in zip(
        ("grad_a", "grad_b", "grad_bias"), ((m, k), (k, n), (n,)), grads
    ):
        args[name] = _nan(shape, dtype) if wanted else None
    return args


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_gemm_bias_act_backward(dtype, act):
    rng = np.random.default_rng(len(str(act)))
    transposed = {None: (False, False), "relu": (True, False), "tanh": (False, True)}
    transposed = transposed.get(act, (True, True))
    args = _gemm_backward_args(rng, dtype, 6, 5, 7, act, transposed, (True, True, True))
    _check("gemm_bias_act_backward", args)


@pytest.mark.parametrize("grads", GRAD_SETS[1:])
def test_gemm_bias_act_backward_partial(grads):
    rng = np.random.default_rng([5, *grads])
    args = _gemm_backward_args(rng, np.float64, 5, 4, 6, "sigmoid", (True, False), grads)
    _check("gemm_bias_act_backward", args)


def test_gemm_bias_act_backward_many_blocks():
    """grad_b's fused column sums on the first tile row of several column blocks."""
    rng = np.random.default_rng(12)
    args = _gemm_backward_args(
        rng, np.float32, 9, 10, 33, "leaky_relu", (False, True), (True, True, True)
    )
    _check("gemm_bias_act_backward", args)


# -- the spec's own samplers, on small sizes ------------------------------------------


@pytest.mark.parametrize("name", sorted(KERNELS.keys() & set(dir(cuda_linear))))
def test_spec_sampler(monkeypatch, name):
    monkeypatch.setattr(spec.base, "_SIZES", (1, 2, 3, 7))
    kernel = KERNELS[name]
    for dtype in kernel.dtypes:
        args = kernel.sample(np.random.default_rng(len(name)), np.dtype(dtype))
        _check(name, args)


# -- launches -----------------------------------------------------------------------


def _launches(name, args):
    return _check(name, args)


def test_launch_counts():
    """Forward one launch; backward one per weight/input gradient, the bias sum fused."""
    rng = np.random.default_rng(0)
    assert _launches("linear_act", _linear_args(rng, np.float64, 2, 3, 4, act="relu")) == 1
    args = _linear_backward_args(rng, np.float64, 2, 3, 4, "tanh")
    assert _launches("linear_act_backward", args) == 2
    args = _linear_backward_args(rng, np.float64, 2, 3, 4, "tanh", (False, False, True))
    assert _launches("linear_act_backward", args) == 1


def test_unknown_activation_raises_before_launch():
    rng = np.random.default_rng(0)
    args = _linear_args(rng, np.float64, 2, 3, 4, act="gelu")
    before = _launch.launches()
    with pytest.raises(ValueError, match="gelu"):
        _launches("linear_act", args)
    assert _launch.launches() == before
