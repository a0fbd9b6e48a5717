"""The CUDA normalization kernels against the reference backend, under the CUDA
simulator or on a GPU.

Shapes stay small (the simulator runs a Python thread per CUDA thread); some groups are
longer than the simulator's 16-thread block so the strided loops run more than once,
and an offset mean checks the variance's accuracy.
"""

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from _cuda_check import check_against_reference

from fastdl.backends import reference, spec
from fastdl.backends.cuda import norm as cuda_norm

REF = reference.kernels()
KERNELS = {k.name: k for k in spec.KERNELS}
DTYPES = (np.float32, np.float64)


def _check(name, args):
    return check_against_reference(cuda_norm, name, args, dtype=args["x"].dtype)


def _nan(shape, dtype):
    return np.full(shape, np.nan, dtype=dtype)


def _features(shape):
    """Length of weight and bias: C of (N, C, L), D of (N, D)."""
    return shape[1] if len(shape) == 3 else shape[-1]


def _forward_args(rng, dtype, shape, affine, offset=0.0):
    stats = shape[1] if len(shape) == 3 else shape[0]
    return {
        "x": (3 * rng.standard_normal(shape) + offset).astype(dtype),
        "weight": rng.standard_normal(_features(shape)).astype(dtype) if affine[0] else None,
        "bias": rng.standard_normal(_features(shape)).astype(dtype) if affine[1] else None,
        "eps": 1e-5,
        "out": _nan(shape, dtype),
        "mean": _nan(stats, np.float64),
        "rstd": _nan(stats, np.float64),
    }


def _backward_args(rng, dtype, shape, weight, grads):
    """mean and rstd saved by the reference forward; ``grads``: which grad_* are asked."""
    args = _forward_args(rng, dtype, shape, (weight, False))
    forward = "batch_norm" if len(shape) == 3 else "layer_norm"
    REF[forward](*(args[a] for a in KERNELS[forward].args))
    del args["bias"], args["eps"], args["out"]
    args["grad_out"] = rng.standard_normal(shape).astype(dtype)
    args["grad_x"] = _nan(shape, dtype) if grads[0] else None
    args["grad_weight"] = _nan(_features(shape), dtype) if grads[1] else None
    args["grad_bias"] = _nan(_features(shape), dtype) if grads[2] else None
    return args


# (shape, (weight given, bias given)): every affine combination once per norm
LAYER_CASES = [((3, 40), (True, True)), ((2, 5), (True, False)), ((1, 1), (False, True)),
               ((2, 3), (False, False))]  # fmt: skip
BATCH_CASES = [((3, 2, 7), (True, True)), ((5, 3, 1), (True, False)), ((1, 2, 1), (False, True)),
               ((2, 1, 9), (False, False))]  # fmt: skip
# (grad_x, grad_weight, grad_bias) wanted, weight given
GRAD_CASES = [((True, True, True), True), ((True, False, False), False),
              ((False, True, False), True), ((False, False, True), False)]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "affine"), LAYER_CASES)
def test_layer_norm(dtype, shape, affine):
    rng = np.random.default_rng([len(shape), *shape, *affine])
    args = _forward_args(rng, dtype, shape, affine, offset=5.0)
    assert _check("layer_norm", args) == 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "affine"), BATCH_CASES)
def test_batch_norm(dtype, shape, affine):
    rng = np.random.default_rng([*shape, *affine])
    args = _forward_args(rng, dtype, shape, affine, offset=5.0)
    assert _check("batch_norm", args) == 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("grads", "weight"), GRAD_CASES)
def test_layer_norm_backward(dtype, grads, weight):
    rng = np.random.default_rng([weight, *grads])
    shape = (3, 21) if grads[0] else (6, 5)  # more rows than the column kernel's threads
    launched = _check("layer_norm_backward", _backward_args(rng, dtype, shape, weight, grads))
    assert launched == grads[0] + (grads[1] or grads[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("grads", "weight"), GRAD_CASES)
def test_batch_norm_backward(dtype, grads, weight):
    rng = np.random.default_rng([weight, *grads])
    shape = (3, 2, 7) if weight else (4, 3, 1)
    args = _backward_args(rng, dtype, shape, weight, grads)
    assert _check("batch_norm_backward", args) == 1


@pytest.mark.parametrize("name", ["layer_norm", "batch_norm"])
def test_sampled_args(name):
    """The spec's own sampler, where it draws a shape the simulator runs quickly."""
    kernel = KERNELS[name]
    checked = 0
    for seed in range(40):
        dtype = DTYPES[seed % 2]
        args = kernel.sample(np.random.default_rng([seed, 5]), np.dtype(dtype))
        if args["x"].size <= 40 and checked < 3:
            _check(name, args)
            checked += 1
    assert checked == 3
