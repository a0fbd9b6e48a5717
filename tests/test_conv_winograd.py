"""Winograd F(2x2, 3x3) conv2d and its weight gradient (csrc/conv_winograd.c): the C
kernels, their NumPy twins and the CPU backend's conv2d / conv2d_backward that use them
agree with the reference convolution (float64) within float32's tolerance, the atol
scaled by the output's magnitude as in the conformance test; shapes it does not serve
take the GEMM path."""

import numpy as np
import pytest
from _tolerance import VALUE

from fastdl.backends.cpu import cext, winograd
from fastdl.backends.cpu import conv as cpu_conv
from fastdl.backends.reference import conv as reference

pytestmark = pytest.mark.skipif(not cext.available(), reason="the C extension is not built")

# (N, C, O, H, W), (pad_h, pad_w), (OH, OW) or None for the natural size
CASES = [
    ((2, 8, 9, 5, 7), (1, 1), None),
    ((3, 16, 8, 8, 8), (0, 0), None),
    ((1, 8, 8, 9, 6), (2, 2), None),
    ((5, 12, 10, 4, 3), (1, 0), None),
    ((2, 8, 8, 6, 6), (1, 1), (7, 7)),  # padding below/right
]


def _close(actual, expected, where=""):
    scale = max(1.0, float(np.abs(expected).max()))
    tol = VALUE[np.dtype(np.float32)]
    np.testing.assert_allclose(
        actual, expected, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=where
    )


def _operands(shape, seed):
    n, c, o, h, w = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = rng.standard_normal((o, c, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    return x, weight, bias


def _out_hw(shape, pad, out):
    return out or (shape[3] + 2 * pad[0] - 2, shape[4] + 2 * pad[1] - 2)


def _expected(x, weight, bias, pad, out_hw):
    out = np.empty((x.shape[0], weight.shape[0], *out_hw))
    reference.conv2d(x, weight, bias, 1, 1, pad[0], pad[1], 1, 1, 1, out)
    return out


@pytest.mark.parametrize("shape, pad, out", CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_kernel_and_twin_match_reference(shape, pad, out, with_bias, monkeypatch):
    x, weight, bias = _operands(shape, 0)
    bias = bias if with_bias else None
    out_hw = _out_hw(shape, pad, out)
    expected = _expected(x, weight, bias, pad, out_hw)
    twin = winograd.conv3x3_reference(x, weight, bias, *pad, out_hw)
    np.testing.assert_allclose(twin, expected, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(winograd, "_CHUNK_TILES", 5)  # several chunks, a partial last
    got = np.full((shape[0], shape[2], *out_hw), np.nan, np.float32)
    winograd.conv3x3(x, weight, bias, *pad, got)
    _close(got, expected)


@pytest.mark.parametrize("shape, pad, out", CASES)
def test_grad_weight_kernel_and_twin_match_reference(shape, pad, out, monkeypatch):
    x, weight, _ = _operands(shape, 3)
    out_hw = _out_hw(shape, pad, out)
    grad_out = np.random.default_rng(4).standard_normal((shape[0], shape[2], *out_hw))
    grad_out = grad_out.astype(np.float32)
    want = [np.empty(x.shape), np.empty(weight.shape), None]
    reference.conv2d_backward(x, weight, grad_out, 1, 1, *pad, 1, 1, 1, None, want[1], None)
    twin = winograd.conv3x3_grad_weight_reference(x, grad_out, *pad)
    np.testing.assert_allclose(twin, want[1], rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(winograd, "_GRAD_CHUNK_TILES", 5)  # several chunks summed
    got = np.full(weight.shape, np.nan, np.float32)
    winograd.conv3x3_grad_weight(x, grad_out, *pad, got)
    _close(got, want[1])


@pytest.mark.parametrize("shape, pad, out", CASES[:3])
def test_backend_conv2d_and_gradients(shape, pad, out):
    x, weight, bias = _operands(shape, 1)
    out_hw = _out_hw(shape, pad, out)
    assert winograd.usable(x, weight, (1, 1), pad, (1, 1), 1)
    got = np.empty((shape[0], shape[2], *out_hw), np.float32)
    cpu_conv.conv2d_cext(x, weight, bias, 1, 1, *pad, 1, 1, 1, got)
    _close(got, _expected(x, weight, bias, pad, out_hw))

    grad_out = np.random.default_rng(2).standard_normal(got.shape).astype(np.float32)
    grads = [np.empty_like(x), np.empty_like(weight), np.empty_like(bias)]
    cpu_conv.conv2d_backward_cext(x, weight, grad_out, 1, 1, *pad, 1, 1, 1, *grads)
    want = [np.empty(a.shape) for a in grads]
    reference.conv2d_backward(x, weight, grad_out, 1, 1, *pad, 1, 1, 1, *want)
    for name, g, e in zip(("grad_x", "grad_weight", "grad_bias"), grads, want, strict=True):
        _close(g, e, name)


@pytest.mark.parametrize(
    "x_dtype, kernel, stride, groups, channels",
    [
        (np.float64, 3, 1, 1, 8),
        (np.float32, 3, 2, 1, 8),
        (np.float32, 3, 1, 2, 8),
        (np.float32, 5, 1, 1, 8),
        (np.float32, 3, 1, 1, 4),
    ],
)
def test_other_convolutions_are_not_served(x_dtype, kernel, stride, groups, channels):
    x = np.zeros((1, channels, 6, 6), x_dtype)
    weight = np.zeros((channels, channels // groups, kernel, kernel), x_dtype)
    assert not winograd.usable(x, weight, (stride, stride), (1, 1), (1, 1), groups)
