"""The CUDA activation kernels against the reference backend, under the CUDA simulator
or on a GPU: every activation in float32 and float64, on the spec's samplers (sizes
cut to at most 7 x 7) and on shapes of one, two and three dimensions that cross a
block boundary (the simulator's blocks are 64 threads); inputs left untouched, every
output element written, one launch per call.
"""

import copy

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from _tolerance import assert_close
from numba import cuda

from fastdl.backends import reference, spec
from fastdl.backends.cuda import _launch
from fastdl.backends.cuda import activation as cuda_activation

REF = reference.kernels()
DTYPES = (np.float32, np.float64)
NAMES = ("act_forward", "act_backward")


def _check(name, args):
    """Run ``name`` on the device and the reference on copies of args; one launch."""
    kernel = spec.BY_NAME[name]
    expected = copy.deepcopy(args)
    REF[name](*(expected[a] for a in kernel.args))
    device = {a: cuda.to_device(v) if isinstance(v, np.ndarray) else v for a, v in args.items()}
    before = _launch.launches()
    getattr(cuda_activation, name)(*(device[a] for a in kernel.args))
    assert _launch.launches() == before + 1
    for arg, value in args.items():
        if not isinstance(value, np.ndarray):
            continue
        actual = device[arg].copy_to_host()
        if arg in kernel.writes:
            assert_close(actual, expected[arg], where=f"{name} {arg}")
        else:
            np.testing.assert_array_equal(actual, value, err_msg=f"{name} wrote {arg}")
    return {a: device[a].copy_to_host() for a in kernel.writes}


def _args(name, rng, shape, dtype, act, scale=4.0):
    x = (scale * rng.standard_normal(shape)).astype(dtype)
    nan = np.full(shape, np.nan, dtype)
    if name == "act_forward":
        return {"x": x, "act": act, "negative_slope": 0.01, "out": nan}
    y = np.empty_like(x)
    REF["act_forward"](x, act, 0.01, y)
    grad_out = rng.standard_normal(shape).astype(dtype)
    return {"y": y, "grad_out": grad_out, "act": act, "negative_slope": 0.01, "grad_x": nan}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("act", spec.ACTIVATIONS)
@pytest.mark.parametrize("name", NAMES)
def test_shapes_across_blocks(name, act, dtype):
    rng = np.random.default_rng(len(act))
    for shape in ((3,), (2, 61), (2, 3, 11)):  # 122 elements: two blocks
        _check(name, _args(name, rng, shape, dtype, act))


@pytest.mark.parametrize("name", NAMES)
def test_spec_sampler(monkeypatch, name):
    monkeypatch.setattr(spec.base, "_SIZES", (1, 2, 3, 7))
    kernel = spec.BY_NAME[name]
    rng = np.random.default_rng(3)
    for dtype in kernel.dtypes:
        for _ in range(3):
            _check(name, kernel.sample(rng, np.dtype(dtype)))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_extreme_inputs(dtype):
    """sigmoid and tanh stay finite up to |x| = 1e4; relu keeps NaN, as torch.relu."""
    x = np.array([-1e4, -50.0, -0.0, 0.0, 1e-30, 50.0, 1e4, np.nan], dtype)
    for act in spec.ACTIVATIONS:
        out = np.full_like(x, np.nan)
        got = _check("act_forward", {"x": x, "act": act, "negative_slope": 0.01, "out": out})
        assert np.isfinite(got["out"][:-1]).all() and np.isnan(got["out"][-1]), act


def test_empty_launches_nothing():
    x = cuda.to_device(np.zeros((0, 3), np.float32))
    before = _launch.launches()
    cuda_activation.act_forward(x, "relu", 0.01, cuda.device_array((0, 3), np.float32))
    assert _launch.launches() == before


def test_unknown_activation_raises_before_launch():
    x = cuda.to_device(np.zeros(3, np.float32))
    before = _launch.launches()
    with pytest.raises(ValueError, match="gelu"):
        cuda_activation.act_forward(x, "gelu", 0.01, cuda.device_array(3, np.float32))
    assert _launch.launches() == before
