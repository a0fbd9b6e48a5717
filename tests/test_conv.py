"""Conv2d / F.conv2d: gradients, values against a naive loop, dtypes, the module, bad input."""

import math

import numpy as np
import pytest

import fastdl
import fastdl.nn.functional as F
from fastdl import nn
from fastdl.autograd import gradcheck
from fastdl.backends import spec

BACKENDS = ["reference", "numba"]


def _leaf(rng, *shape):
    return fastdl.tensor(rng.standard_normal(shape), dtype=fastdl.float64, requires_grad=True)


def _naive_conv2d(x, w, b, stride, padding, dilation, groups):
    """The definition, one output element at a time; padding is ((top, bottom), (left, right))."""
    (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt : pt + h, pl : pl + wd] = x
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    out = np.zeros((n, o, oh, ow))
    for i in range(n):
        for k in range(o):
            group = k // og
            for y in range(oh):
                for z in range(ow):
                    total = 0.0 if b is None else b[k]
                    for cc in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                pixel = xp[i, group * cg + cc, y * sh + p * dh, z * sw + q * dw]
                                total += w[k, cc, p, q] * pixel
                    out[i, k, y, z] = total
    return out


# (x shape, weight shape, stride, padding, dilation, groups)
CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1, 1, 1),
    ((1, 4, 8, 9), (6, 2, 3, 2), (2, 1), (1, 0), 1, 2),
    ((2, 2, 9, 9), (3, 2, 3, 3), 2, 2, 2, 1),
    ((2, 3, 6, 7), (3, 1, 2, 3), 1, "same", (1, 2), 3),
    ((1, 2, 5, 6), (2, 2, 2, 4), 1, "same", 1, 1),
    ((3, 2, 5, 5), (5, 2, 1, 1), 1, 0, 1, 1),
    ((2, 3, 6, 5), (2, 3, 3, 1), (1, 3), "valid", 1, 1),
]


def _case_id(case):
    return "x{}-w{}-s{}-p{}-d{}-g{}".format(*case).replace(" ", "")


def _explicit_padding(padding, kernel, dilation):
    """((top, bottom), (left, right)) as PyTorch applies an int, pair or string."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, ph), (pw, pw)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# -- gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_gradcheck(backend, case):
    x_shape, w_shape, stride, padding, dilation, groups = case
    rng = np.random.default_rng(1)
    with fastdl.use_backend(backend):
        x, w, b = _leaf(rng, *x_shape), _leaf(rng, *w_shape), _leaf(rng, w_shape[0])

        def fn(x, w, b):
            return F.conv2d(x, w, b, stride, padding, dilation, groups)

        assert gradcheck(fn, [x, w, b], eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_double_backward(backend):
    """Gradients of gradients: the three bilinear maps differentiate into each other."""
    rng = np.random.default_rng(2)
    with fastdl.use_backend(backend):
        x, w, b = _leaf(rng, 2, 2, 5, 4), _leaf(rng, 4, 1, 3, 2), _leaf(rng, 4)
        weights = fastdl.tensor(rng.standard_normal((2, 4, 5, 3)))
        directions = [fastdl.tensor(rng.standard_normal(t.shape)) for t in (x, w, b)]

        def grad_dot(x, w, b):
            with fastdl.autograd.enable_grad():
                out = F.conv2d(x, w, b, stride=(1, 2), padding=1, groups=2)
                loss = (out * out * weights).sum()  # quadratic: second derivatives are non-zero
                grads = fastdl.autograd.grad(loss, [x, w, b], create_graph=True)
                return sum((g * v).sum() for g, v in zip(grads, directions))

        assert gradcheck(grad_dot, [x, w, b], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_without_some_gradients(backend):
    rng = np.random.default_rng(3)
    x_np, w_np = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    with fastdl.use_backend(backend):
        x = fastdl.tensor(x_np)  # no grad: only the weight's and bias's gradients
        conv = nn.Conv2d(3, 4, 3, padding=1, dtype=fastdl.float64)
        conv.weight.data.numpy()[...] = w_np
        conv(x).sum().backward()
        assert x.grad is None
        gw = conv.weight.grad.numpy().copy()
        x2 = fastdl.tensor(x_np, requires_grad=True)
        conv.weight.requires_grad = False
        conv.bias.requires_grad = False
        F.conv2d(x2, conv.weight, conv.bias, padding=1).sum().backward()
    xp = np.pad(x_np, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected_gw = np.stack(
        [xp[:, :, i : i + 6, j : j + 6].sum(axis=(0, 2, 3)) for i in range(3) for j in range(3)],
        axis=-1,
    ).reshape(3, 3, 3)
    np.testing.assert_allclose(gw, np.broadcast_to(expected_gw, (4, 3, 3, 3)), rtol=1e-12)
    np.testing.assert_allclose(conv.bias.grad.numpy(), np.full(4, 2 * 36.0))
    # d(sum)/dx at a pixel: the weights of every tap that reaches it
    ones = np.ones((2, 4, 6, 6))
    expected_gx = _naive_conv_transpose(ones, w_np)
    np.testing.assert_allclose(x2.grad.numpy(), expected_gx, rtol=1e-12, atol=1e-12)


def _naive_conv_transpose(g, w):
    """d/dx of sum(g * conv(x, w, padding=1)) for a 3x3 kernel, stride 1."""
    n, o, h, wd = g.shape
    out = np.zeros((n, w.shape[1], h + 2, wd + 2))
    for i in range(3):
        for j in range(3):
            out[:, :, i : i + h, j : j + wd] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
    return out[:, :, 1:-1, 1:-1]


# -- values -------------------------------------------------------------------------------


# 24x24 images: im2col copies runs long enough for the memcpy path
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", [*CASES, ((2, 2, 24, 24), (3, 2, 3, 3), 1, 1, 1, 1)], ids=_case_id)
def test_values_against_naive_loops(backend, case):
    x_shape, w_shape, stride, padding, dilation, groups = case
    rng = np.random.default_rng(4)
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[0]),
    )
    with fastdl.use_backend(backend):
        out = F.conv2d(
            fastdl.tensor(x), fastdl.tensor(w), fastdl.tensor(b), stride, padding, dilation, groups
        )
    explicit = _explicit_padding(padding, w_shape[2:], _pair(dilation))
    expected = _naive_conv2d(x, w, b, _pair(stride), explicit, _pair(dilation), groups)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_matches_float64(backend):
    rng = np.random.default_rng(5)
    x, w, b = (
        rng.standard_normal((3, 8, 9, 9)),
        rng.standard_normal((6, 4, 3, 3)),
        rng.standard_normal(6),
    )
    g = rng.standard_normal((3, 6, 6, 5))
    results = {}
    for dtype in (fastdl.float32, fastdl.float64):
        with fastdl.use_backend(backend):
            tx = fastdl.tensor(x, dtype=dtype, requires_grad=True)
            tw = fastdl.tensor(w, dtype=dtype, requires_grad=True)
            tb = fastdl.tensor(b, dtype=dtype, requires_grad=True)
            out = F.conv2d(tx, tw, tb, stride=2, padding=2, dilation=(1, 2), groups=2)
            out.backward(fastdl.tensor(g, dtype=dtype))
        assert out.dtype == dtype and tx.grad.dtype == dtype and tw.grad.dtype == dtype
        results[dtype] = [
            t.detach().numpy().astype(np.float64) for t in (out, tx.grad, tw.grad, tb.grad)
        ]
    # float32 sums of ~100 products of N(0, 1) values: a few float32 ulps of the terms
    for single, double in zip(results[fastdl.float32], results[fastdl.float64]):
        np.testing.assert_allclose(single, double, rtol=1e-5, atol=2e-5)
        assert not np.array_equal(single, double)  # really computed in float32


@pytest.mark.parametrize("size", [(7, 6), (22, 20)])  # 22x20: im2col runs take memcpy
def test_chunked_columns_match_reference(monkeypatch, size):
    """The Numba backend's im2col works on chunks of images: force many small chunks and
    both grad_x paths (col2im and the flipped-kernel correlation)."""
    from fastdl.backends.cpu import conv as cpu_conv

    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((5, 4, *size)), rng.standard_normal((6, 2, 3, 2))
    g = rng.standard_normal((5, 6, *size))
    expected = {}
    for backend, flip in (("reference", None), ("numba", 0.0), ("numba", 1e9)):
        if flip is not None:
            monkeypatch.setattr(cpu_conv, "_COLS_BYTES", 25_000)  # chunks of 2-3 images
            monkeypatch.setattr(cpu_conv, "_FLIP_RATIO", flip)
        with fastdl.use_backend(backend):
            tx = fastdl.tensor(x, requires_grad=True)
            tw = fastdl.tensor(w, requires_grad=True)
            out = F.conv2d(tx, tw, None, 1, "same", (2, 1), 2)
            out.backward(fastdl.tensor(g))
        got = [out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()]
        if backend == "reference":
            expected = got
        for a, e in zip(got, expected):
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch(backend):
    with fastdl.use_backend(backend):
        x = fastdl.randn(0, 3, 5, 5, requires_grad=True)
        w, b = fastdl.randn(4, 3, 3, 3, requires_grad=True), fastdl.randn(4, requires_grad=True)
        out = F.conv2d(x, w, b, padding=1)
        out.sum().backward()
    assert out.shape == (0, 4, 5, 5) and x.grad.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((4, 3, 3, 3)))
    np.testing.assert_array_equal(b.grad.numpy(), np.zeros(4))


# -- the module ---------------------------------------------------------------------------


def test_module_shapes_state_dict_and_init():
    fastdl.manual_seed(0)
    conv = nn.Conv2d(6, 8, (3, 5), stride=2, padding=(1, 2), groups=2)
    state = conv.state_dict()
    assert list(state) == ["weight", "bias"]
    assert state["weight"].shape == (8, 3, 3, 5)
    assert state["bias"].shape == (8,)
    assert state["weight"].dtype == np.float32
    bound = 1 / math.sqrt(3 * 3 * 5)  # fan_in = in_channels / groups * kH * kW
    for values in (state["weight"].numpy(), state["bias"].numpy()):
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.8 * bound
    assert state["weight"].numpy().std() == pytest.approx(bound / math.sqrt(3), rel=0.15)
    fastdl.manual_seed(0)
    again = nn.Conv2d(6, 8, (3, 5), stride=2, padding=(1, 2), groups=2)
    np.testing.assert_array_equal(again.state_dict()["weight"], state["weight"])
    out = conv(fastdl.randn(2, 6, 9, 11))
    assert out.shape == (2, 8, 5, 6)

    bare = nn.Conv2d(2, 3, 1, bias=False, dtype=fastdl.float64)
    assert bare.bias is None and list(bare.state_dict()) == ["weight"]
    assert bare.state_dict()["weight"].shape == (3, 2, 1, 1)
    x = np.random.default_rng(7).standard_normal((2, 2, 4, 4))
    y = bare(fastdl.tensor(x))
    expected = np.einsum("oc,nchw->nohw", bare.weight.detach().numpy()[:, :, 0, 0], x)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-12)
    bare.load_state_dict({"weight": np.ones((3, 2, 1, 1))})
    with fastdl.no_grad():
        y = bare(fastdl.tensor(x))
    np.testing.assert_allclose(y.numpy(), np.repeat(x.sum(1, keepdims=True), 3, 1))


def test_module_same_padding_is_asymmetric_like_pytorch():
    conv = nn.Conv2d(1, 1, (2, 4), padding="same", bias=False, dtype=fastdl.float64)
    conv.weight.data.numpy()[...] = 0.0
    conv.weight.data.numpy()[0, 0, 0, 0] = 1.0  # picks the top-left tap
    x = np.arange(30.0).reshape(1, 1, 5, 6)
    out = conv(fastdl.tensor(x)).detach().numpy()
    assert out.shape == x.shape
    # total padding 1 rows (0 above, 1 below) and 3 columns (1 left, 2 right)
    expected = np.zeros_like(x)
    expected[..., :, 1:] = x[..., :, :-1]
    np.testing.assert_array_equal(out, expected)


def test_repr_matches_pytorch():
    assert repr(nn.Conv2d(3, 16, 3, padding=1)) == (
        "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    )
    assert repr(nn.Conv2d(4, 8, (2, 4), padding="same", dilation=2, groups=2, bias=False)) == (
        "Conv2d(4, 8, kernel_size=(2, 4), stride=(1, 1), padding=same, dilation=(2, 2), "
        "groups=2, bias=False)"
    )
    assert repr(nn.Conv2d(4, 8, 1, stride=2)) == "Conv2d(4, 8, kernel_size=(1, 1), stride=(2, 2))"


def test_module_trains():
    """A few SGD steps on a conv fitting a known kernel bring the loss down."""
    fastdl.manual_seed(0)
    rng = np.random.default_rng(8)
    target = rng.standard_normal((2, 3, 3, 3))
    x = fastdl.tensor(rng.standard_normal((16, 3, 8, 8)))
    y = fastdl.tensor(_naive_conv2d(x.numpy(), target, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1))
    conv = nn.Conv2d(3, 2, 3, padding=1, dtype=fastdl.float64)
    opt = fastdl.optim.SGD(conv.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = F.mse_loss(conv(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


# -- bad input ----------------------------------------------------------------------------


def test_bad_input_raises_before_any_kernel():
    conv = nn.Conv2d(3, 4, 3)
    before = {k: v.clone() for k, v in conv.state_dict().items()}
    x3 = fastdl.randn(3, 8, 8, requires_grad=True)
    with pytest.raises(ValueError, match=r"Conv2d: expected 4-D \(N, C, H, W\) input.*\(3, 8, 8\)"):
        conv(x3)
    with pytest.raises(ValueError, match=r"Conv2d: expected input with 3 channels.*\(2, 5, 8, 8\)"):
        conv(fastdl.randn(2, 5, 8, 8))
    with pytest.raises(ValueError, match=r"Conv2d: padded input size.*\(2 x 8\).*\(3 x 3\)"):
        conv(fastdl.randn(2, 3, 2, 8))
    dilated = nn.Conv2d(3, 4, 3, padding=1, dilation=3)  # spans 7 > 4 + 2
    with pytest.raises(ValueError, match=r"Conv2d: padded input size.*\(6 x 6\).*\(7 x 7\)"):
        dilated(fastdl.randn(1, 3, 4, 4))
    with pytest.raises(
        ValueError, match=r"Conv2d: input dtype float64 must match weight dtype float32"
    ):
        conv(fastdl.randn(2, 3, 8, 8, dtype=fastdl.float64))
    with pytest.raises(ValueError, match="Conv2d: in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: out_channels must be divisible by groups"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: padding='same' is not supported for strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Conv2d: padding_mode='reflect' is not implemented"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="Conv2d: padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="Conv2d: padding must be >= 0"):
        nn.Conv2d(3, 4, 3, padding=-1)
    with pytest.raises(ValueError, match="Conv2d: kernel_size must be >= 1"):
        nn.Conv2d(3, 4, (3, 0))
    with pytest.raises(ValueError, match="Conv2d: in_channels must be a positive int"):
        nn.Conv2d(0, 4, 3)
    # nothing ran: parameters untouched, no graph, no gradients
    for k, v in conv.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert conv.weight.grad is None and x3.grad is None


def test_functional_bad_input():
    x, w = fastdl.randn(2, 4, 6, 6), fastdl.randn(6, 2, 3, 3)
    with pytest.raises(ValueError, match=r"conv2d: out_channels 6 .* not divisible by groups=4"):
        F.conv2d(fastdl.randn(2, 4, 6, 6), fastdl.randn(6, 1, 3, 3), groups=4)
    with pytest.raises(ValueError, match=r"conv2d: expected input with 2 channels.*groups=1"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(6,\)"):
        F.conv2d(x, w, fastdl.randn(5), groups=2)
    with pytest.raises(ValueError, match="conv2d: weight must be 4-D"):
        F.conv2d(x, fastdl.randn(6, 2, 3))
    with pytest.raises(ValueError, match="conv2d: stride must be >= 1"):
        F.conv2d(x, w, groups=2, stride=0)
    with pytest.raises(ValueError, match="invalid padding string"):
        F.conv2d(x, w, groups=2, padding="full")
    with pytest.raises(TypeError, match="conv2d: dilation must be an int or a pair"):
        F.conv2d(x, w, groups=2, dilation=(1, 1, 1))
    with pytest.raises(TypeError, match="conv2d: input must be a Tensor"):
        F.conv2d(x.numpy(), w, groups=2)


def test_spec_geometry_order_matches_kernels():
    """The op passes the geometry positionally: keep it in the spec's order."""
    for name in ("conv2d", "conv2d_backward"):
        args = spec.BY_NAME[name].args
        start = args.index("stride_h")
        assert args[start : start + 7] == spec.CONV_GEOMETRY
