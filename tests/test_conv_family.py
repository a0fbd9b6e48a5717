"""conv1d, conv_transpose1d/2d and their modules: values against NumPy definitions,
gradients against finite differences (float64, double backward too), PyTorch's
module layout (weight shapes, init, state_dict keys, output_size), argument errors,
and one CUDA (simulator) run compared with the CPU."""

import math

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
import fastdl.nn.functional as F
from fastdl import nn
from fastdl.autograd import enable_grad, gradcheck
from fastdl.errors import ShapeError

BACKENDS = ("numba", "reference")


def _ref_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """out[n, g*Og + o, i*s - p + ki*d, j*s - p + kj*d]
    += x[n, g*Cg + c, i, j] * w[g*Cg + c, o, ki, kj]."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    n, cin, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = cin // groups
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    acc = np.zeros((n, og * groups, full_h, full_w))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    for g in range(groups):
        xs = x64[:, g * cg : (g + 1) * cg]
        for ki in range(kh):
            for kj in range(kw):
                contrib = np.einsum("nchw,co->nohw", xs, w64[g * cg : (g + 1) * cg, :, ki, kj])
                rows = slice(ki * dh, ki * dh + (h - 1) * sh + 1, sh)
                cols = slice(kj * dw, kj * dw + (wd - 1) * sw + 1, sw)
                acc[:, g * og : (g + 1) * og, rows, cols] += contrib
    out = acc[:, :, ph : full_h - ph, pw : full_w - pw]
    if b is not None:
        out = out + b.astype(np.float64)[None, :, None, None]
    return out


def _ref_conv1d(x, w, b, stride, padding, dilation, groups):
    """out[n, o, t] = b[o] + sum_{c, k} w[o, c, k] * x_padded[n, g*Cg + c, t*s + k*d]."""
    n, cin, length = x.shape
    o_total, cg, k = w.shape
    og = o_total // groups
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), padding))
    out_len = (xp.shape[2] - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((n, o_total, out_len))
    for o in range(o_total):
        g = o // og
        for t in range(out_len):
            taps = xp[:, g * cg : (g + 1) * cg, t * stride : t * stride + dilation * (k - 1) + 1]
            out[:, o, t] = np.einsum("nck,ck->n", taps[:, :, ::dilation], w[o].astype(np.float64))
    return out if b is None else out + b.astype(np.float64)[None, :, None]


def _randn(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# (N, Cin, H, W), (Cout, kH, kW), stride, padding, output_padding, groups, dilation
TRANSPOSED = {
    "dcgan_like": ((2, 4, 3, 3), (2, 4, 4), (2, 2), (1, 1), (0, 0), 1, (1, 1)),
    "grouped_output_padding": ((1, 4, 3, 4), (6, 3, 3), (2, 2), (1, 1), (1, 1), 2, (1, 1)),
    "dilated_rect": ((2, 2, 2, 3), (3, 2, 3), (1, 3), (0, 1), (0, 2), 1, (2, 1)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(TRANSPOSED))
def test_conv_transpose2d_matches_the_definition(case, backend, dtype):
    xs, (cout, kh, kw), stride, padding, out_pad, groups, dil = TRANSPOSED[case]
    rng = np.random.default_rng(0)
    x, w = _randn(rng, xs, dtype), _randn(rng, (xs[1], cout // groups, kh, kw), dtype)
    b = _randn(rng, (cout,), dtype)
    with fastdl.use_backend(backend):
        got = F.conv_transpose2d(
            fastdl.tensor(x), fastdl.tensor(w), fastdl.tensor(b), stride, padding, out_pad,
            groups, dil,
        )  # fmt: skip
    want = _ref_conv_transpose2d(x, w, b, stride, padding, out_pad, groups, dil)
    assert got.shape == want.shape
    assert_close(got.numpy(), want.astype(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(TRANSPOSED))
def test_conv_transpose2d_gradcheck(case, backend):
    xs, (cout, kh, kw), stride, padding, out_pad, groups, dil = TRANSPOSED[case]
    rng = np.random.default_rng(1)
    x = fastdl.tensor(_randn(rng, xs), requires_grad=True)
    w = fastdl.tensor(_randn(rng, (xs[1], cout // groups, kh, kw)), requires_grad=True)
    b = fastdl.tensor(_randn(rng, (cout,)), requires_grad=True)
    with fastdl.use_backend(backend):
        assert gradcheck(
            lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, out_pad, groups, dil),
            (x, w, b),
        )


def test_conv_transpose2d_double_backward():
    rng = np.random.default_rng(2)
    x = fastdl.tensor(_randn(rng, (1, 2, 3, 3)), requires_grad=True)
    w = fastdl.tensor(_randn(rng, (2, 2, 3, 3)), requires_grad=True)
    v = fastdl.tensor(_randn(rng, (1, 2, 6, 6)))

    def grad_dot(x, w):
        with enable_grad():
            out = F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
            gx, gw = fastdl.autograd.grad((out * out).sum(), (x, w), create_graph=True)
            return (gx * gx).sum() + (gw * w).sum() + (out * v).sum()

    assert gradcheck(grad_dot, (x, w), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "stride, padding, dilation, groups",
    [(1, 1, 1, 1), (2, 0, 2, 2), (1, "same", 2, 1), (1, "valid", 1, 2), (3, (2,), (1,), 1)],
)
def test_conv1d_matches_the_definition_and_gradchecks(backend, stride, padding, dilation, groups):
    rng = np.random.default_rng(3)
    x = _randn(rng, (2, 4, 9))
    w = _randn(rng, (6, 4 // groups, 3))
    b = _randn(rng, (6,))
    if padding == "same":
        total = dilation * 2
        pads = (total // 2, total - total // 2)
    elif padding == "valid":
        pads = (0, 0)
    else:
        p = padding[0] if isinstance(padding, tuple) else padding
        pads = (p, p)
    d = dilation[0] if isinstance(dilation, tuple) else dilation
    want = _ref_conv1d(x, w, b, stride, pads, d, groups)
    tx, tw, tb = (fastdl.tensor(a, requires_grad=True) for a in (x, w, b))
    with fastdl.use_backend(backend):
        got = F.conv1d(tx, tw, tb, stride, padding, dilation, groups)
        assert_close(got.detach().numpy(), want)
        assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride, padding, dilation, groups),
                         (tx, tw, tb))  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_transpose1d_is_the_height_one_conv_transpose2d(backend):
    rng = np.random.default_rng(4)
    x, w, b = _randn(rng, (2, 4, 5)), _randn(rng, (4, 3, 3)), _randn(rng, (6,))
    want = _ref_conv_transpose2d(
        x[:, :, None], w[:, :, None], b, (1, 2), (0, 1), (0, 1), 2, (1, 1)
    )[:, :, 0]
    tx, tw, tb = (fastdl.tensor(a, requires_grad=True) for a in (x, w, b))
    with fastdl.use_backend(backend):
        got = F.conv_transpose1d(tx, tw, tb, stride=2, padding=1, output_padding=1, groups=2)
        assert_close(got.detach().numpy(), want)
        assert gradcheck(lambda x, w, b: F.conv_transpose1d(x, w, b, 2, 1, 1, 2), (tx, tw, tb))


def test_unbatched_inputs_match_a_batch_of_one():
    rng = np.random.default_rng(5)
    x, w = fastdl.tensor(_randn(rng, (3, 7))), fastdl.tensor(_randn(rng, (3, 2, 3)))
    assert_close(
        F.conv1d(x, w.permute(1, 0, 2)).numpy(), F.conv1d(x[None], w.permute(1, 0, 2))[0].numpy()
    )
    assert_close(F.conv_transpose1d(x, w).numpy(), F.conv_transpose1d(x[None], w)[0].numpy())


# -- modules ---------------------------------------------------------------------------


def test_conv_transpose2d_module_layout_and_init():
    fastdl.manual_seed(0)
    layer = nn.ConvTranspose2d(8, 6, kernel_size=(3, 2), stride=2, groups=2)
    assert layer.weight.shape == (8, 3, 3, 2)
    assert layer.bias.shape == (6,)
    assert list(layer.state_dict()) == ["weight", "bias"]
    bound = 1.0 / math.sqrt(3 * 3 * 2)  # fan_in = weight.shape[1] * kH * kW, as PyTorch
    for p in (layer.weight, layer.bias):
        values = p.detach().numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.5 * bound
    assert "ConvTranspose2d(8, 6, kernel_size=(3, 2), stride=(2, 2), groups=2)" == repr(layer)
    assert nn.ConvTranspose1d(4, 2, 3, bias=False).weight.shape == (4, 2, 3)


def test_conv_transpose2d_output_size_picks_the_output_padding():
    layer = nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1, dtype=fastdl.float64)
    x = fastdl.randn(1, 2, 4, 4, dtype=fastdl.float64)
    assert layer(x).shape == (1, 3, 10, 10)
    for size in [(11, 12), (1, 3, 12, 10)]:
        out = layer(x, output_size=size)
        assert out.shape[2:] == tuple(size[-2:])
        want = F.conv_transpose2d(x, layer.weight, layer.bias, 3, 1, (size[-2] - 10, size[-1] - 10))
        assert_close(out.detach().numpy(), want.detach().numpy())
    with pytest.raises(ValueError, match="output_size"):
        layer(x, output_size=(13, 10))
    layer1 = nn.ConvTranspose1d(2, 1, 2, stride=2)
    assert layer1(fastdl.randn(2, 2, 5), output_size=[11]).shape == (2, 1, 11)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv1d_module_padding_modes(mode):
    layer = nn.Conv1d(2, 3, 3, padding=2, dilation=2, padding_mode=mode, dtype=fastdl.float64)
    x = np.random.default_rng(6).standard_normal((2, 2, 6))
    np_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2)), mode=np_mode[mode])
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    want = _ref_conv1d(xp, w, b, 1, (0, 0), 2, 1)
    assert_close(layer(fastdl.tensor(x)).detach().numpy(), want)
    assert layer.weight.shape == (3, 2, 3) and list(layer.state_dict()) == ["weight", "bias"]


def test_conv1d_same_with_a_padding_mode():
    layer = nn.Conv1d(1, 1, 4, padding="same", padding_mode="replicate", bias=False)
    assert layer(fastdl.randn(1, 1, 7)).shape == (1, 1, 7)


# -- errors ----------------------------------------------------------------------------


def test_errors_name_the_argument_and_shapes():
    x, w = fastdl.randn(1, 4, 5, 5), fastdl.randn(4, 2, 3, 3)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, w, stride=1, output_padding=1)
    with pytest.raises(ShapeError, match=r"channels.*\(1, 3, 5, 5\)"):
        F.conv_transpose2d(fastdl.randn(1, 3, 5, 5), w)
    with pytest.raises(ShapeError, match="groups=3"):
        F.conv_transpose2d(x, w, groups=3)
    with pytest.raises(ShapeError, match=r"bias must have shape \(4,\)"):
        F.conv_transpose2d(x, w, fastdl.randn(2), groups=2)
    with pytest.raises(ShapeError, match="3-D"):
        F.conv1d(fastdl.randn(1, 2, 3, 4), fastdl.randn(1, 2, 3))
    with pytest.raises(ValueError, match="same"):
        F.conv1d(fastdl.randn(1, 2, 8), fastdl.randn(1, 2, 3), stride=2, padding="same")
    with pytest.raises(TypeError, match="stride"):
        F.conv1d(fastdl.randn(1, 2, 8), fastdl.randn(1, 2, 3), stride=(1, 1))
    with pytest.raises(ShapeError, match=r"\(1, 3, 8\).*\(2, 2, 3\)"):
        F.conv1d(fastdl.randn(1, 3, 8), fastdl.randn(2, 2, 3))
    with pytest.raises(ShapeError, match=r"\(1, 3, 8\).*\(2, 2, 3\)"):
        F.conv_transpose1d(fastdl.randn(1, 3, 8), fastdl.randn(2, 2, 3))
    with pytest.raises(ShapeError, match="shorter than the dilated kernel"):
        F.conv1d(fastdl.randn(1, 4, 2), fastdl.randn(3, 4, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.ConvTranspose2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect")


# -- PyTorch and CUDA ------------------------------------------------------------------


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x, w = _randn(rng, (2, 4, 5, 6)), _randn(rng, (4, 3, 4, 3))
    want = torch.nn.functional.conv_transpose2d(
        torch.tensor(x), torch.tensor(w), None, 2, 1, 1, 1, 1
    )
    got = F.conv_transpose2d(fastdl.tensor(x), fastdl.tensor(w), None, 2, 1, 1)
    assert_close(got.numpy(), want.numpy())


def test_on_cuda_matches_cpu():
    pytest.importorskip("numba.cuda")
    rng = np.random.default_rng(8)
    host = [
        fastdl.tensor(_randn(rng, s), requires_grad=True)
        for s in ((1, 2, 2, 3), (2, 2, 3, 3), (2,))
    ]
    host.append(fastdl.tensor(_randn(rng, (1, 2, 5)), requires_grad=True))
    host.append(fastdl.tensor(_randn(rng, (3, 2, 2)), requires_grad=True))
    device = [t.detach().to("cuda").requires_grad_() for t in host]

    def run(x, w, b, x1, w1):
        y = F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)
        return y.sum() + (F.conv1d(x1, w1, padding=1) ** 2).sum()

    want, got = run(*host), run(*device)
    assert_close(got.cpu().detach().numpy(), want.detach().numpy())
    want.backward()
    got.backward()
    for h, d in zip(host, device, strict=True):
        assert_close(d.grad.cpu().numpy(), h.grad.numpy(), kind="grad")
