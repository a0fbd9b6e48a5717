"""im2col / col2im: the C extension, the Numba kernels and the NumPy reference agree bit
for bit; col2im is im2col's adjoint; the C wrappers reject bad arguments before
writing; conv2d matches the reference with and without the C extension."""

import numpy as np
import pytest
from _tolerance import assert_close

from fastdl.backends import reference
from fastdl.backends.cpu import cext
from fastdl.backends.cpu import conv as cpu_conv

DTYPES = (np.float32, np.float64)

# (N, C, H, W), (KH, KW), stride, pad, dilation, (OH, OW) or None for the natural size
CASES = [
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1), None),
    ((2, 3, 7, 5), (3, 3), (1, 1), (1, 1), (1, 1), None),
    ((3, 2, 11, 13), (5, 3), (2, 3), (2, 1), (1, 2), None),
    ((1, 5, 17, 7), (2, 4), (3, 1), (0, 2), (2, 1), None),
    ((2, 1, 5, 5), (3, 3), (1, 1), (1, 1), (1, 1), (6, 6)),  # padding below/right
    ((2, 2, 13, 11), (1, 1), (2, 2), (0, 0), (1, 1), None),
    ((1, 3, 3, 2), (5, 5), (1, 1), (2, 2), (1, 1), None),  # kernel larger than x
    ((2, 7, 31, 29), (3, 5), (1, 1), (0, 0), (1, 1), None),  # unpadded stride 1
    ((1, 2, 3, 40), (1, 35), (1, 2), (0, 1), (1, 1), None),  # wider than TAPS_KEPT in C
]


def _out_hw(x_shape, k, s, p, d, out):
    if out is not None:
        return out
    return tuple((x_shape[2 + a] + 2 * p[a] - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a in (0, 1))


def _problem(case, dtype, seed=0):
    x_shape, k, s, p, d, out = case
    oh, ow = _out_hw(x_shape, k, s, p, d, out)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    cols_shape = (x_shape[1] * k[0] * k[1], x_shape[0], oh, ow)
    geometry = (k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1])
    return x, geometry, cols_shape


def _im2col_impls():
    impls = {"reference": reference.kernels()["im2col"], "numba": cpu_conv.im2col}
    if cext.status()["loaded"]:
        from fastdl.backends.cpu.cext import conv as c_conv

        impls["c"] = c_conv.im2col
    return impls


def _col2im_impls():
    impls = {"reference": reference.kernels()["col2im"], "numba": cpu_conv.col2im}
    if cext.status()["loaded"]:
        from fastdl.backends.cpu.cext import conv as c_conv

        impls["c"] = c_conv.col2im
    return impls


def _c_module():
    if not cext.status()["loaded"]:
        pytest.skip("fastdl._cext is not built")
    from fastdl.backends.cpu.cext import conv as c_conv

    return c_conv


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_im2col_backends_bit_identical(case, dtype):
    x, geometry, cols_shape = _problem(case, dtype)
    results = {}
    for name, fn in _im2col_impls().items():
        cols = np.full(cols_shape, np.nan, dtype)
        fn(x, *geometry, cols)
        results[name] = cols
    for name, cols in results.items():
        np.testing.assert_array_equal(cols, results["reference"], err_msg=name)
    # spot check against the definition
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    n, c, h, w = x.shape
    ref = results["reference"].reshape(c, kh, kw, n, *cols_shape[2:])
    ci, i, j, b, y, z = c - 1, kh - 1, 0, n - 1, cols_shape[2] - 1, 0
    py, px = y * sh - ph + i * dh, z * sw - pw + j * dw
    expected = x[b, ci, py, px] if 0 <= py < h and 0 <= px < w else 0
    assert ref[ci, i, j, b, y, z] == expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_col2im_backends_agree_and_is_the_adjoint(case, dtype):
    x, geometry, cols_shape = _problem(case, dtype)
    rng = np.random.default_rng(1)
    g = rng.standard_normal(cols_shape).astype(dtype)
    results = {}
    for name, fn in _col2im_impls().items():
        gx = np.full(x.shape, np.nan, dtype)
        fn(g, *geometry, gx)
        results[name] = gx
    for name, gx in results.items():
        # each pixel sums its taps in tap order in gx's dtype: the same bits everywhere
        np.testing.assert_array_equal(gx, results["reference"], err_msg=name)
    # <im2col(x), g> = <x, col2im(g)>
    cols = np.empty(cols_shape, dtype)
    reference.kernels()["im2col"](x, *geometry, cols)
    lhs = np.dot(cols.ravel().astype(np.float64), g.ravel().astype(np.float64))
    rhs = np.dot(x.ravel().astype(np.float64), results["reference"].ravel().astype(np.float64))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert abs(lhs - rhs) <= tol * (1 + np.abs(cols).sum() * np.abs(g).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_c_kernels_split_across_threads_give_the_same_bits(monkeypatch, dtype):
    ci = _c_module()
    x, geometry, cols_shape = _problem(
        ((4, 9, 40, 36), (3, 3), (1, 2), (1, 1), (1, 1), None), dtype
    )
    one, split = np.empty(cols_shape, dtype), np.empty(cols_shape, dtype)
    gx_one, gx_split = np.empty(x.shape, dtype), np.empty(x.shape, dtype)
    ci.im2col(x, *geometry, one)
    ci.col2im(one, *geometry, gx_one)
    monkeypatch.setattr(ci, "PARALLEL_MIN_PER_THREAD", 1)
    monkeypatch.setattr(ci, "_threads", lambda n: 2)
    ci.im2col(x, *geometry, split)
    ci.col2im(split, *geometry, gx_split)
    np.testing.assert_array_equal(split, one)
    np.testing.assert_array_equal(gx_split, gx_one)


def test_c_unfold_rows_wider_than_the_output_are_zero_padded():
    ci = _c_module()
    x, geometry, (rows, n, oh, ow) = _problem(CASES[2], np.float64)
    rw = ow + 3
    wide = np.full((rows, n, oh * rw), np.nan)
    ci.unfold(x, *geometry, oh, ow, rw, wide)
    cols = np.empty((rows, n, oh, ow))
    reference.kernels()["im2col"](x, *geometry, cols)
    wide = wide.reshape(rows, n, oh, rw)
    np.testing.assert_array_equal(wide[..., :ow], cols)
    assert not wide[..., ow:].any()
    gx = np.empty_like(x)
    ci.fold(wide.reshape(rows, n, -1), *geometry, oh, ow, rw, gx)
    expected = np.empty_like(x)
    reference.kernels()["col2im"](cols, *geometry, expected)
    np.testing.assert_array_equal(gx, expected)


def _bad_calls(ci):
    x, geometry, cols_shape = _problem(CASES[1], np.float32)
    read_only = np.empty(cols_shape, np.float32)
    read_only.flags.writeable = False
    im2col = ci.im2col
    g = list(geometry)
    return [
        (TypeError, "x must be", lambda c: im2col(x.tolist(), *g, c)),
        (TypeError, "float32 or float64", lambda c: im2col(x.astype(np.int32), *g, c)),
        (TypeError, "cols must be float64", lambda c: im2col(x.astype(np.float64), *g, c)),
        (ValueError, "x must be C-contiguous", lambda c: im2col(x[:, :, :, ::-1], *g, c)),
        (ValueError, "x must be 4-D", lambda c: im2col(x[0], *g, c)),
        (ValueError, "cols must be", lambda c: im2col(x, *g, c[:-1])),
        (ValueError, "cols must be", lambda c: im2col(x, 2, 2, *g[2:], c)),
        (ValueError, "stride_h must be >= 1", lambda c: im2col(x, *g[:2], 0, *g[3:], c)),
        (ValueError, "pad_w must be >= 0", lambda c: im2col(x, *g[:5], -1, *g[6:], c)),
        (TypeError, "kernel_h must be an int", lambda c: im2col(x, 3.0, *g[1:], c)),
        (TypeError, "dil_w must be an int", lambda c: im2col(x, *g[:7], True, c)),
        (ValueError, "read-only", lambda c: im2col(x, *g, read_only)),
        (
            ValueError,
            "must not overlap",
            lambda c: im2col(c.ravel()[: x.size].reshape(x.shape), *g, c),
        ),
    ]


def test_c_wrappers_reject_bad_arguments_before_writing():
    ci = _c_module()
    x, geometry, cols_shape = _problem(CASES[1], np.float32)
    for error, message, call in _bad_calls(ci):
        cols = np.full(cols_shape, np.nan, np.float32)
        with pytest.raises(error, match=message):
            call(cols)
        assert np.isnan(cols).all(), message
    gx = np.full(x.shape, np.nan, np.float32)
    with pytest.raises(ValueError, match="grad_x is read-only"):
        gx.flags.writeable = False
        ci.col2im(np.zeros(cols_shape, np.float32), *geometry, gx)
    gx = np.full(x.shape, np.nan, np.float64)
    with pytest.raises(TypeError, match="cols must be float64"):
        ci.col2im(np.zeros(cols_shape, np.float32), *geometry, gx)
    assert np.isnan(gx).all()


# conv2d problems whose columns the C extension builds (stride > 1),
# and stride-1 ones that stay on the Numba copies
CONV_CASES = [
    ((2, 3, 11, 9), (4, 3, 3, 3), (2, 2, 1, 1, 1, 1, 1)),
    ((3, 4, 13, 13), (6, 2, 5, 3), (3, 2, 2, 0, 1, 2, 2)),
    ((1, 2, 5, 6), (3, 2, 3, 3), (1, 1, 4, 4, 1, 1, 1)),
    ((2, 3, 9, 8), (5, 3, 3, 3), (1, 1, 1, 1, 2, 1, 1)),
]


def _conv_check(conv2d, conv2d_backward, x_shape, w_shape, geometry, dtype):
    rng = np.random.default_rng(len(x_shape) + sum(w_shape))
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    sh, sw, ph, pw, dh, dw, _ = geometry
    oh = (x_shape[2] + 2 * ph - dh * (w_shape[2] - 1) - 1) // sh + 1
    ow = (x_shape[3] + 2 * pw - dw * (w_shape[3] - 1) - 1) // sw + 1
    ref = reference.kernels()
    out, expected = np.empty((x_shape[0], w_shape[0], oh, ow), dtype), None
    expected = np.empty_like(out)
    conv2d(x, w, b, *geometry, out)
    ref["conv2d"](x, w, b, *geometry, expected)
    assert_close(out, expected, dtype=dtype)
    go = rng.standard_normal(out.shape).astype(dtype)
    grads = [np.empty_like(x), np.empty_like(w), np.empty_like(b)]
    wanted = [np.empty_like(x), np.empty_like(w), np.empty_like(b)]
    conv2d_backward(x, w, go, *geometry, *grads)
    ref["conv2d_backward"](x, w, go, *geometry, *wanted)
    for got, want in zip(grads, wanted, strict=True):
        assert_close(got, want, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_with_and_without_the_c_extension(monkeypatch, case, dtype):
    from fastdl.backends import cpu

    if cext.status()["loaded"] and cext.status()["enabled"]:
        _conv_check(cpu_conv.conv2d_cext, cpu_conv.conv2d_backward_cext, *case, dtype)
        assert cpu.kernels()["conv2d"] is cpu_conv.conv2d_cext
    monkeypatch.setattr(cext, "_enabled", lambda: False)  # as FASTDL_CEXT=0
    kernels = cpu.kernels()
    assert kernels["conv2d"] is cpu_conv.conv2d
    assert kernels["im2col"] is cpu_conv.im2col
    _conv_check(kernels["conv2d"], kernels["conv2d_backward"], *case, dtype)
