"""Pooling: values and indices against naive NumPy loops, gradients against finite
differences, PyTorch's tie and NaN rules, errors, 3-D input, reprs, double backward."""

import math

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
import fastdl.nn.functional as F
from fastdl import nn
from fastdl.autograd import enable_grad, grad, gradcheck

BACKENDS = ["reference", "numba"]


# -- naive NumPy oracles, written from PyTorch's definitions ----------------------------------


def _out_len(size, k, s, p, d, ceil_mode):
    span = size + 2 * p - (d * (k - 1) + 1)
    n = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (n - 1) * s >= size + p:  # the last window must start inside
        n -= 1
    return n


def _np_max_pool(x, k, s, p, d=(1, 1), ceil_mode=False):
    """Scan each window row-major, skipping padding: a greater value or a NaN replaces the
    maximum; the index starts at the first tap inside the input."""
    n, c, h, w = x.shape
    ho = _out_len(h, k[0], s[0], p[0], d[0], ceil_mode)
    wo = _out_len(w, k[1], s[1], p[1], d[1], ceil_mode)
    out = np.empty((n, c, ho, wo), x.dtype)
    idx = np.empty((n, c, ho, wo), np.int64)
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    best, arg = -np.inf, None
                    for a in range(k[0]):
                        for e in range(k[1]):
                            r, q = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + e * d[1]
                            if not (0 <= r < h and 0 <= q < w):
                                continue
                            v = x[b, ch, r, q]
                            if arg is None:
                                arg = r * w + q
                            if v > best or np.isnan(v):
                                best, arg = v, r * w + q
                    out[b, ch, i, j], idx[b, ch, i, j] = best, arg
    return out, idx


def _np_avg_pool(x, k, s, p, ceil_mode=False, count_include_pad=True, divisor=None):
    """Sums over a zero canvas; the divisor counts the window's cells inside the padded
    input (count_include_pad) or inside the input."""
    n, c, h, w = x.shape
    ho, wo = (
        _out_len(h, k[0], s[0], p[0], 1, ceil_mode),
        _out_len(w, k[1], s[1], p[1], 1, ceil_mode),
    )
    canvas = np.zeros((n, c, h + 2 * p[0] + k[0], w + 2 * p[1] + k[1]))
    canvas[:, :, p[0] : p[0] + h, p[1] : p[1] + w] = x
    padded = np.zeros(canvas.shape[2:])
    padded[: h + 2 * p[0], : w + 2 * p[1]] = 1
    real = np.zeros(canvas.shape[2:])
    real[p[0] : p[0] + h, p[1] : p[1] + w] = 1
    out = np.empty((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            rows, cols = slice(i * s[0], i * s[0] + k[0]), slice(j * s[1], j * s[1] + k[1])
            count = (padded if count_include_pad else real)[rows, cols].sum()
            out[:, :, i, j] = canvas[:, :, rows, cols].sum(axis=(2, 3)) / (divisor or count)
    return out


def _bins(n_out, n_in):
    return [(math.floor(i * n_in / n_out), math.ceil((i + 1) * n_in / n_out)) for i in range(n_out)]


def _np_adaptive(x, out_hw, reduce):
    n, c, h, w = x.shape
    out = np.empty((n, c) + out_hw)
    for i, (r0, r1) in enumerate(_bins(out_hw[0], h)):
        for j, (c0, c1) in enumerate(_bins(out_hw[1], w)):
            out[:, :, i, j] = reduce(x[:, :, r0:r1, c0:c1], axis=(2, 3))
    return out


def _distinct(rng, *shape):
    """float64 leaf with values at least 0.1 apart: finite differences never cross a tie."""
    data = rng.permutation(math.prod(shape)).reshape(shape) * 0.1 - 1.0
    return fastdl.tensor(data, dtype=fastdl.float64, requires_grad=True)


def _leaf(rng, *shape):
    return fastdl.tensor(rng.standard_normal(shape), dtype=fastdl.float64, requires_grad=True)


# -- forward values ---------------------------------------------------------------------------

# kernel, stride, padding, dilation, ceil_mode, input (H, W)
MAX_CASES = {
    "2x2s2": ((2, 2), (2, 2), (0, 0), (1, 1), False, (8, 6)),
    "2x2s2-odd": ((2, 2), (2, 2), (0, 0), (1, 1), False, (7, 5)),
    "2x2s2-ceil": ((2, 2), (2, 2), (0, 0), (1, 1), True, (7, 5)),
    "overlap": ((3, 3), (1, 1), (0, 0), (1, 1), False, (6, 5)),
    "pad": ((3, 2), (2, 1), (1, 1), (1, 1), False, (7, 6)),
    "dilation": ((2, 3), (1, 2), (1, 1), (2, 2), False, (7, 8)),
    "ceil-pad": ((3, 3), (2, 2), (1, 1), (1, 1), True, (6, 7)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(MAX_CASES))
def test_max_pool_values_and_indices(backend, dtype, case):
    k, s, p, d, ceil_mode, hw = MAX_CASES[case]
    rng = np.random.default_rng(0)
    x = np.round(2 * rng.standard_normal((2, 3) + hw)).astype(dtype)  # many ties
    x[0, 0, 1, 1], x[1, 2, 0, 0], x[1, 2, 0, 1] = np.nan, np.nan, np.nan
    x[0, 1, :2, :2] = -np.inf
    expected, expected_idx = _np_max_pool(x, k, s, p, d, ceil_mode)
    with fastdl.use_backend(backend):
        out, idx = F.max_pool2d(fastdl.tensor(x), k, s, p, d, ceil_mode, return_indices=True)
    assert out.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)


AVG_CASES = {
    "2x2s2": ((2, 2), (2, 2), (0, 0), False, (7, 4)),  # the last row is in no window
    "overlap-pad": ((3, 3), (1, 2), (1, 1), False, (5, 6)),
    "ceil": ((3, 2), (2, 2), (0, 1), True, (6, 5)),
    "ceil-pad": ((3, 3), (2, 2), (1, 1), True, (6, 6)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(AVG_CASES))
@pytest.mark.parametrize("count_include_pad, divisor", [(True, None), (False, None), (True, 3)])
def test_avg_pool_values(backend, dtype, case, count_include_pad, divisor):
    k, s, p, ceil_mode, hw = AVG_CASES[case]
    x = np.random.default_rng(1).standard_normal((2, 3) + hw).astype(dtype)
    with fastdl.use_backend(backend):
        out = F.avg_pool2d(fastdl.tensor(x), k, s, p, ceil_mode, count_include_pad, divisor)
    expected = _np_avg_pool(x.astype(np.float64), k, s, p, ceil_mode, count_include_pad, divisor)
    assert out.dtype == dtype
    assert_close(out.numpy(), expected, dtype=dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "hw, out_hw",
    [((7, 5), (3, 5)), ((5, 3), (5, 5)), ((4, 6), (1, 4)), ((4, 6), (3, 1)), ((3, 4), (1, 1))],
)
def test_adaptive_values(backend, dtype, hw, out_hw):
    rng = np.random.default_rng(2)
    x = np.round(rng.standard_normal((2, 3) + hw)).astype(dtype)
    x[1, 1, 0, 0] = np.nan
    with fastdl.use_backend(backend):
        avg = F.adaptive_avg_pool2d(fastdl.tensor(x), out_hw)
        mx, idx = F.adaptive_max_pool2d(fastdl.tensor(x), out_hw, return_indices=True)
    x64 = x.astype(np.float64)
    assert_close(avg.numpy(), _np_adaptive(x64, out_hw, np.mean), dtype=dtype)
    np.testing.assert_array_equal(mx.numpy(), _np_adaptive(x64, out_hw, np.max))
    # each index points at an element equal to its maximum
    h, w = hw
    picked = np.take_along_axis(x64.reshape(2, 3, h * w), idx.numpy().reshape(2, 3, -1), 2)
    np.testing.assert_array_equal(picked.reshape(mx.shape), mx.numpy())


def test_adaptive_max_indices_take_the_first_maximum():
    x = np.array([[[[1.0, 2.0, 2.0], [2.0, 0.0, 2.0], [2.0, 2.0, 2.0]]]])
    for backend in BACKENDS:
        with fastdl.use_backend(backend):
            _, idx = F.adaptive_max_pool2d(fastdl.tensor(x), (2, 2), return_indices=True)
        # bins rows/cols [0, 2) and [1, 3)
        np.testing.assert_array_equal(idx.numpy(), [[[[1, 1], [3, 5]]]])


# -- gradients --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", ["2x2s2-odd", "overlap", "pad", "dilation", "ceil-pad"])
def test_max_pool_gradcheck(backend, case):
    k, s, p, d, ceil_mode, hw = MAX_CASES[case]
    with fastdl.use_backend(backend):
        x = _distinct(np.random.default_rng(3), 2, 2, *hw)
        assert gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode), [x], atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(AVG_CASES))
@pytest.mark.parametrize("count_include_pad, divisor", [(True, None), (False, None), (False, 2)])
def test_avg_pool_gradcheck(backend, case, count_include_pad, divisor):
    k, s, p, ceil_mode, hw = AVG_CASES[case]
    with fastdl.use_backend(backend):
        x = _leaf(np.random.default_rng(4), 1, 2, *hw)

        def fn(t):
            return F.avg_pool2d(t, k, s, p, ceil_mode, count_include_pad, divisor)

        assert gradcheck(fn, [x], atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("hw, out_hw", [((7, 7), (3, 3)), ((5, 5), (5, 5)), ((3, 4), (5, 3))])
def test_adaptive_gradcheck(backend, hw, out_hw):
    rng = np.random.default_rng(5)
    with fastdl.use_backend(backend):
        x = _leaf(rng, 1, 2, *hw)
        assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, out_hw), [x], atol=1e-8)
        x = _distinct(rng, 1, 2, *hw)
        assert gradcheck(lambda t: F.adaptive_max_pool2d(t, out_hw), [x], atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_ties_route_the_gradient_to_the_first_maximum(backend):
    x = np.array([[1.0, 3.0, 3.0], [3.0, 2.0, 1.0], [0.0, 3.0, 3.0]])
    g = np.array([[1.0, 10.0], [100.0, 1000.0]])
    # windows (2x2, stride 1) and their first 3 in row-major order:
    # (0,0) -> (0,1); (0,1) -> (0,1); (1,0) -> (1,0); (1,1) -> (2,1)
    expected = np.array([[0.0, 11.0, 0.0], [100.0, 0.0, 0.0], [0.0, 1000.0, 0.0]])
    with fastdl.use_backend(backend):
        t = fastdl.tensor(x[None, None], requires_grad=True)
        F.max_pool2d(t, 2, stride=1).backward(fastdl.tensor(g[None, None]))
        np.testing.assert_array_equal(t.grad.numpy()[0, 0], expected)
        # the 2x2 stride-2 fast path: all equal -> the top-left of each window
        t = fastdl.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
        F.max_pool2d(t, 2).backward(fastdl.tensor(g[None, None]))
        expected = np.zeros((4, 4))
        expected[::2, ::2] = g
        np.testing.assert_array_equal(t.grad.numpy()[0, 0], expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 1)])
def test_max_pool_propagates_nan(backend, kernel, stride):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = np.nan
    with fastdl.use_backend(backend):
        t = fastdl.tensor(x, requires_grad=True)
        out, idx = F.max_pool2d(t, kernel, stride, return_indices=True)
        out.sum().backward()
    assert np.isnan(out.detach().numpy()[0, 0, 0, 0])
    assert idx.numpy()[0, 0, 0, 0] == 5  # the last NaN met in the scan
    assert t.grad.numpy()[0, 0, 1, 1] >= 1 and t.grad.numpy()[0, 0, 0, 0] == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_overlapping_windows_accumulate(backend):
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the max of all four 2x2 windows
    with fastdl.use_backend(backend):
        t = fastdl.tensor(x, requires_grad=True)
        F.max_pool2d(t, 2, stride=1).sum().backward()
        assert t.grad.numpy()[0, 0, 1, 1] == 4.0 and t.grad.numpy().sum() == 4.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_double_backward(backend):
    rng = np.random.default_rng(6)
    with fastdl.use_backend(backend):
        for pool in (
            lambda t: F.max_pool2d(t, 3, 2, 1),
            lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False),
            lambda t: F.adaptive_avg_pool2d(t, (2, 3)),
        ):
            x = _distinct(rng, 1, 2, 5, 5)
            v = fastdl.tensor(rng.standard_normal(x.shape))

            def grad_dot(t, pool=pool, v=v):
                with enable_grad():
                    (g,) = grad((pool(t) ** 2).sum(), t, create_graph=True)
                    return (g * v).sum()

            assert gradcheck(grad_dot, [x], atol=1e-7)


# -- shapes, modules, errors ------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_3d_input_matches_a_batch_of_one(backend):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 6, 5))
    with fastdl.use_backend(backend):
        for layer in (
            nn.MaxPool2d(2, ceil_mode=True),
            nn.AvgPool2d(3, 1, 1),
            nn.AdaptiveAvgPool2d((None, 2)),
            nn.AdaptiveMaxPool2d(2),
        ):
            t3 = fastdl.tensor(x, requires_grad=True)
            t4 = fastdl.tensor(x[None], requires_grad=True)
            y3, y4 = layer(t3), layer(t4)
            assert y3.shape == y4.shape[1:]
            np.testing.assert_array_equal(y3.detach().numpy(), y4.detach().numpy()[0])
            y3.sum().backward()
            y4.sum().backward()
            np.testing.assert_array_equal(t3.grad.numpy(), t4.grad.numpy()[0])
    out, idx = nn.MaxPool2d(2, return_indices=True)(fastdl.tensor(x))
    assert out.shape == idx.shape == (3, 3, 2)


def test_module_defaults_and_repr():
    assert repr(nn.MaxPool2d(3)) == (
        "MaxPool2d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)"
    )
    assert repr(nn.MaxPool2d((2, 3), 1, 1, 2, ceil_mode=True)) == (
        "MaxPool2d(kernel_size=(2, 3), stride=1, padding=1, dilation=2, ceil_mode=True)"
    )
    assert repr(nn.AvgPool2d(3, divisor_override=2)) == (
        "AvgPool2d(kernel_size=3, stride=3, padding=0)"
    )
    assert repr(nn.AdaptiveAvgPool2d((None, 3))) == "AdaptiveAvgPool2d(output_size=(None, 3))"
    assert repr(nn.AdaptiveMaxPool2d(3)) == "AdaptiveMaxPool2d(output_size=3)"
    x = fastdl.randn(2, 3, 9, 9)
    assert nn.MaxPool2d(3)(x).shape == (2, 3, 3, 3)
    assert nn.AdaptiveAvgPool2d(0)(x).shape == (2, 3, 0, 0)  # as PyTorch: empty


@pytest.mark.parametrize(
    "make, call, match",
    [
        (lambda: nn.MaxPool2d(4), (1, 2, 3, 3), r"MaxPool2d.*\(1, 2, 3, 3\).*too small"),
        (lambda: nn.AvgPool2d(2), (2, 0, 3, 3), r"AvgPool2d.*\(2, 0, 3, 3\)"),
        (lambda: nn.AdaptiveMaxPool2d(2), (5, 5), r"AdaptiveMaxPool2d.*\(5, 5\)"),
        (lambda: nn.AdaptiveAvgPool2d(2), (1, 1, 2, 2, 2), r"AdaptiveAvgPool2d.*\(1, 1, 2, 2, 2\)"),
        (lambda: nn.MaxPool2d(3, 1, 2), None, r"MaxPool2d: padding .* half of kernel_size"),
        (lambda: nn.MaxPool2d(2, 0), None, r"MaxPool2d: stride must be positive"),
        (lambda: nn.MaxPool2d(2, dilation=0), None, r"MaxPool2d: dilation must be positive"),
        (lambda: nn.AvgPool2d(2, padding=-1), None, r"AvgPool2d: padding must be non-negative"),
        (lambda: nn.AvgPool2d(2, divisor_override=0), None, r"AvgPool2d: divisor_override"),
        (lambda: nn.AdaptiveAvgPool2d((2, -1)), None, r"AdaptiveAvgPool2d: output_size"),
        (lambda: nn.MaxPool2d((2, 2, 2)), None, r"MaxPool2d: kernel_size"),
    ],
)
def test_bad_input_raises_naming_the_layer(make, call, match):
    if call is None:
        with pytest.raises(ValueError, match=match):
            make()
        return
    layer = make()
    before = repr(layer)
    data = np.random.default_rng(8).standard_normal(call)
    x = fastdl.tensor(data.copy(), requires_grad=True)
    with pytest.raises(ValueError, match=match):
        layer(x)
    assert repr(layer) == before and x.grad is None
    np.testing.assert_array_equal(x.detach().numpy(), data)


def test_functional_errors_name_the_function():
    x = fastdl.randn(1, 2, 5, 5)
    with pytest.raises(ValueError, match=r"max_pool2d: .*\(1, 2, 5, 5\).*too small"):
        F.max_pool2d(x, 3, dilation=3)
    with pytest.raises(ValueError, match=r"avg_pool2d: padding"):
        F.avg_pool2d(x, 2, padding=2)
    with pytest.raises(TypeError, match=r"max_pool2d: kernel_size"):
        F.max_pool2d(x, 2.5)
    with pytest.raises(TypeError, match=r"adaptive_avg_pool2d: input must be float"):
        F.adaptive_avg_pool2d(fastdl.tensor(np.ones((1, 2, 2), np.int64)), 1)
