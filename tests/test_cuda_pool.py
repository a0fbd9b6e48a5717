"""The CUDA pooling kernels against the reference backend, under the CUDA simulator or
on a GPU.

Max pooling (values and int64 indices) and max_pool2d_backward (same order of
accumulation as the reference) must match bit for bit: first maximum on ties, a NaN
taken whenever met, -inf, empty dilated windows, ceil mode, out-of-range indices
skipped. Average pooling sums in float64 (bit for bit in float32, to the value
tolerance in float64, where the reference's NumPy sums group differently).
"""

import copy

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from _tolerance import assert_close
from numba import cuda

from fastdl.backends import reference, spec
from fastdl.backends.cuda import _launch
from fastdl.backends.cuda import pool as cuda_pool

REF = reference.kernels()
KERNELS = {k.name: k for k in spec.KERNELS}
POOL = [k.name for k in spec.KERNELS if k.family == "pool"]
DTYPES = (np.float32, np.float64)
EXACT = {"max_pool2d", "max_pool2d_backward", "adaptive_max_pool2d"}


def _device(value):
    return cuda.to_device(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value


def _check(name, args, device=None):
    """The CUDA kernel (on ``device`` arrays, default copies of args) against the
    reference on args: outputs written and equal or close, inputs untouched, one launch."""
    kernel = KERNELS[name]
    expected = copy.deepcopy(args)
    REF[name](*(expected[a] for a in kernel.args))
    device = device or {a: _device(v) for a, v in args.items()}
    before = _launch.launches()
    getattr(cuda_pool, name)(*(device[a] for a in kernel.args))
    assert _launch.launches() - before == 1
    for arg in kernel.args:
        if not hasattr(device[arg], "copy_to_host"):
            continue
        value, where = device[arg].copy_to_host(), f"{name} {arg}"
        if arg not in kernel.writes:
            np.testing.assert_array_equal(value, args[arg], err_msg=f"{name} wrote {arg}")
        elif name in EXACT or value.dtype == np.float32:
            np.testing.assert_array_equal(value, expected[arg], err_msg=where)
        else:
            assert_close(value, expected[arg], where=where)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", POOL)
def test_sampled(name, dtype):
    """Draws of the spec's samplers: ties, NaN and -inf, ceil mode, padding, dilation,
    count_include_pad, divisor_override, adaptive bins that overlap or exceed the input."""
    for seed in range(6):
        _check(name, KERNELS[name].sample(np.random.default_rng(seed), dtype))


def _nan(shape, dtype):
    return np.full(shape, np.nan, dtype)


def _max_args(x, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode=False):
    n, c, h, w = x.shape
    ho = spec.pool_output_size(h, kh, sh, ph, dh, ceil_mode)
    wo = spec.pool_output_size(w, kw, sw, pw, dw, ceil_mode)
    window = dict(kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, dh=dh, dw=dw)
    return {
        "x": x,
        **window,
        "out": np.full((n, c, ho, wo), np.nan, x.dtype),
        "indices": np.full((n, c, ho, wo), -7, np.int64),
    }


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_ties_nan_inf(dtype):
    """Rounded values tie everywhere (the first maximum wins); two NaNs in one window
    (the last is taken); a window of -inf only; overlapping, ceil mode, padding."""
    rng = np.random.default_rng(11)
    x = np.round(rng.standard_normal((2, 2, 7, 6))).astype(dtype)
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = np.nan
    x[1, 1, :3, :3] = -np.inf
    _check("max_pool2d", _max_args(x, 3, 2, 2, 1, 1, 1, 1, 1, ceil_mode=True))
    adaptive = {"x": x, "out": _nan((2, 2, 4, 5), dtype), "indices": np.zeros((2, 2, 4, 5), int)}
    _check("adaptive_max_pool2d", adaptive)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_empty_dilated_window(dtype):
    """H = 2, kernel 2, padding 1, dilation 3: the window's taps are rows -1 and 2, none
    inside: -inf and the index of its stepped-past-the-padding first tap (>= H*W)."""
    x = np.random.default_rng(12).standard_normal((1, 2, 2, 5)).astype(dtype)
    args = _max_args(x, 2, 3, 1, 2, 1, 1, 3, 2)
    _check("max_pool2d", args)
    expected = copy.deepcopy(args)
    REF["max_pool2d"](*(expected[a] for a in KERNELS["max_pool2d"].args))
    assert np.isneginf(expected["out"]).all() and (expected["indices"] >= 10).all()


def test_max_pool_strided_input():
    """x a strided device view (every other row of a larger array)."""
    base = np.random.default_rng(13).standard_normal((2, 2, 10, 6)).astype(np.float32)
    args = _max_args(base[:, :, ::2, 1:], 2, 2, 1, 2, 0, 1, 1, 1)
    device = {a: _device(v) for a, v in args.items()}
    device["x"] = cuda.to_device(base)[:, :, ::2, 1:]
    _check("max_pool2d", args, device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_backward_of_forward(dtype):
    """The forward's indices of overlapping windows (repeats accumulate in order), plus
    indices out of range on both sides (skipped)."""
    rng = np.random.default_rng(14)
    x = np.round(rng.standard_normal((2, 2, 5, 6))).astype(dtype)
    forward = _max_args(x, 3, 3, 1, 2, 1, 1, 1, 1)
    REF["max_pool2d"](*(forward[a] for a in KERNELS["max_pool2d"].args))
    indices = forward["indices"].copy()
    indices[0, 0, 0, 0], indices[1, 1, 0, 1] = -1, 30
    args = {
        "grad_out": rng.standard_normal(indices.shape).astype(dtype),
        "indices": indices,
        "grad_x": _nan((2, 2, 5, 6), dtype),
    }
    _check("max_pool2d_backward", args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("divisor", [0, 3])
def test_avg_pool_ceil_overhang(dtype, include_pad, divisor):
    """Ceil mode: the last window overhangs the right padding (pool size clipped there)."""
    rng = np.random.default_rng(15)
    h, w, kh, kw, sh, sw, ph, pw = 6, 7, 3, 2, 2, 3, 1, 1
    ho = spec.pool_output_size(h, kh, sh, ph, 1, True)
    wo = spec.pool_output_size(w, kw, sw, pw, 1, True)
    window = dict(kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw)
    options = dict(count_include_pad=include_pad, divisor_override=divisor)
    x = rng.standard_normal((1, 2, h, w)).astype(dtype)
    _check("avg_pool2d", {"x": x, **window, **options, "out": _nan((1, 2, ho, wo), dtype)})
    grad_out = rng.standard_normal((1, 2, ho, wo)).astype(dtype)
    grad_x = _nan((1, 2, h, w), dtype)
    _check("avg_pool2d_backward", {"grad_out": grad_out, **window, **options, "grad_x": grad_x})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out_hw", [(3, 2), (7, 9)])
def test_adaptive_avg(dtype, out_hw):
    """Overlapping bins (7 -> 3) and bins smaller than a pixel (5 -> 9)."""
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 1, 7, 5)).astype(dtype)
    _check("adaptive_avg_pool2d", {"x": x, "out": _nan((2, 1, *out_hw), dtype)})
    grad_out = rng.standard_normal((2, 1, *out_hw)).astype(dtype)
    _check("adaptive_avg_pool2d_backward", {"grad_out": grad_out, "grad_x": _nan(x.shape, dtype)})
