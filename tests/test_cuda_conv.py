"""The CUDA convolution kernels (im2col / col2im, conv2d = im2col + GEMM per group) against
the reference backend, under the CUDA simulator or on a GPU.

im2col and col2im are bit-identical by contract; conv2d and its backward go through the
GEMM in the arrays' dtype, so they are held to the dtype's tolerances. Shapes are
small (the simulator runs a Python thread per CUDA thread) but cover groups (depthwise
too), stride, padding, dilation, 1x1 and non-square kernels, and the extra bottom/right
padding an output one row/column larger implies (PyTorch's padding="same").
"""

import copy

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from _tolerance import assert_close
from numba import cuda

from fastdl.backends import reference, spec
from fastdl.backends.cuda import _launch
from fastdl.backends.cuda import conv as cuda_conv

REF = reference.kernels()
KERNELS = {k.name: k for k in spec.KERNELS}
DTYPES = (np.float32, np.float64)

# (N, C, H, W), (O, KH, KW), groups, (stride, padding, dilation) as (h, w) pairs, and
# how many rows/columns the output reaches past symmetric padding.
PROBLEMS = {
    "3x3_pad": ((2, 3, 5, 6), (2, 3, 3), 1, ((1, 1), (1, 1), (1, 1)), (0, 0)),
    "depthwise_strided_dilated": ((1, 3, 6, 7), (3, 2, 3), 3, ((2, 1), (0, 1), (1, 2)), (0, 0)),
    "same_even_kernel": ((2, 2, 5, 5), (3, 2, 4), 1, ((1, 1), (0, 1), (1, 1)), (1, 1)),
    "groups_dilated_pad": ((1, 2, 7, 4), (4, 3, 1), 2, ((2, 1), (2, 0), (2, 1)), (1, 0)),
    "1x1": ((2, 3, 3, 4), (2, 1, 1), 1, ((1, 1), (0, 0), (1, 1)), (0, 0)),
}


def _geometry(problem):
    """(x shape, weight shape, conv geometry dict, out shape) of a PROBLEMS entry."""
    (n, c, h, w), (o, kh, kw), groups, ((sh, sw), (ph, pw), (dh, dw)), (eh, ew) = problem
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1 + eh
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1 + ew
    geometry = dict(stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, dil_h=dh, dil_w=dw, groups=groups)
    return (n, c, h, w), (o, c // groups, kh, kw), geometry, (n, o, oh, ow)


def _randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _nan(shape, dtype):
    return np.full(shape, np.nan, dtype)


def _run(name, args):
    """Run ``name`` on device copies of ``args``; return the host copies afterwards."""
    device = {a: cuda.to_device(v) if isinstance(v, np.ndarray) else v for a, v in args.items()}
    getattr(cuda_conv, name)(*(device[a] for a in KERNELS[name].args))
    return {a: v.copy_to_host() for a, v in device.items() if hasattr(v, "copy_to_host")}


def _check(name, args, exact=False, kind="value"):
    """The CUDA kernel against the reference: outputs written and close (or equal),
    inputs untouched."""
    kernel = KERNELS[name]
    expected = copy.deepcopy(args)
    REF[name](*(expected[a] for a in kernel.args))
    actual = _run(name, args)
    for arg, value in actual.items():
        where = f"{name} {arg}"
        if arg not in kernel.writes:
            np.testing.assert_array_equal(value, args[arg], err_msg=f"{name} wrote {arg}")
        elif exact:
            np.testing.assert_array_equal(value, expected[arg], err_msg=where)
        else:
            assert not np.isnan(value).any(), f"{where} not fully written"
            assert_close(value, expected[arg], kind=kind, where=where)


def _im2col_geometry(problem):
    x_shape, w_shape, geometry, out_shape = _geometry(problem)
    del geometry["groups"]
    kernel = dict(kernel_h=w_shape[2], kernel_w=w_shape[3])
    cols_shape = (x_shape[1] * w_shape[2] * w_shape[3], x_shape[0], *out_shape[2:])
    return x_shape, {**kernel, **geometry}, cols_shape


# -- im2col / col2im: bit for bit ---------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("problem", ["depthwise_strided_dilated", "same_even_kernel"])
def test_im2col(dtype, problem):
    rng = np.random.default_rng(1)
    x_shape, geometry, cols_shape = _im2col_geometry(PROBLEMS[problem])
    args = {"x": _randn(rng, x_shape, dtype), **geometry, "cols": _nan(cols_shape, dtype)}
    _check("im2col", args, exact=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("problem", ["3x3_pad", "groups_dilated_pad", "same_even_kernel"])
def test_col2im(dtype, problem):
    """Overlapping taps (3x3, stride 1) sum in tap order: bit-identical."""
    rng = np.random.default_rng(2)
    x_shape, geometry, cols_shape = _im2col_geometry(PROBLEMS[problem])
    args = {"cols": _randn(rng, cols_shape, dtype), **geometry, "grad_x": _nan(x_shape, dtype)}
    _check("col2im", args, exact=True)


# -- conv2d and its backward --------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_conv2d(dtype, problem):
    rng = np.random.default_rng(3)
    x_shape, w_shape, geometry, out_shape = _geometry(PROBLEMS[problem])
    args = {
        "x": _randn(rng, x_shape, dtype),
        "weight": _randn(rng, w_shape, dtype),
        "bias": _randn(rng, (w_shape[0],), dtype) if problem != "1x1" else None,
        **geometry,
        "out": _nan(out_shape, dtype),
    }
    before = _launch.launches()
    _check("conv2d", args)
    assert _launch.launches() - before == 2 + geometry["groups"]  # im2col, GEMMs, to NCHW


def _backward_args(rng, problem, dtype, grads=("grad_x", "grad_weight", "grad_bias")):
    x_shape, w_shape, geometry, out_shape = _geometry(PROBLEMS[problem])
    shapes = {"grad_x": x_shape, "grad_weight": w_shape, "grad_bias": (w_shape[0],)}
    return {
        "x": _randn(rng, x_shape, dtype),
        "weight": _randn(rng, w_shape, dtype),
        "grad_out": _randn(rng, out_shape, dtype),
        **geometry,
        **{g: _nan(shape, dtype) if g in grads else None for g, shape in shapes.items()},
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_conv2d_backward(dtype, problem):
    rng = np.random.default_rng(4)
    args = _backward_args(rng, problem, dtype)
    before = _launch.launches()
    _check("conv2d_backward", args, kind="grad")
    # dy, im2col, the grad_weight GEMMs (bias fused), the grad_x GEMMs, col2im
    assert _launch.launches() - before == 3 + 2 * args["groups"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "grads", [("grad_x",), ("grad_weight",), ("grad_bias",), ("grad_x", "grad_bias")]
)
def test_conv2d_backward_subsets(dtype, grads):
    """Only the asked-for gradients; x's values are read only for grad_weight and
    weight's only for grad_x (NaN stand-ins elsewhere must not leak); grad_bias alone is
    the float64 channel sum."""
    rng = np.random.default_rng(5)
    args = _backward_args(rng, "groups_dilated_pad", dtype, grads)
    if "grad_weight" not in grads:
        args["x"] = _nan(args["x"].shape, dtype)
    if "grad_x" not in grads:
        args["weight"] = _nan(args["weight"].shape, dtype)
    _check("conv2d_backward", args, kind="grad")


def test_conv2d_sampler_problem():
    """One draw of the spec's own sampler (bias, groups and padding as it picks them)."""
    rng = np.random.default_rng(1)
    _check("conv2d_backward", KERNELS["conv2d_backward"].sample(rng, np.float64), kind="grad")
