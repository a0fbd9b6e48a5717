"""F.pad, F.interpolate, pixel (un)shuffle, Unflatten, channel dropout, group and
instance norm, and their modules: values against NumPy references, gradients against
finite differences (float64), argument errors, and one CUDA (simulator) run."""

import math
import warnings

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
import fastdl.nn.functional as F
from fastdl import nn
from fastdl.autograd import gradcheck
from fastdl.errors import ShapeError

BACKENDS = ("numba", "reference")
NP_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _randn(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _np_pad(x, pad, mode, value=0.0):
    """np.pad with F.pad's argument order (last dim first); negative entries crop."""
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    crop = tuple(slice(max(-b, 0), x.shape[d] - max(-a, 0)) for d, (b, a) in enumerate(widths))
    if mode == "constant" or mode == "circular":  # PyTorch crops first in these modes
        x, widths = x[crop], [(max(b, 0), max(a, 0)) for b, a in widths]
        kwargs = {"constant_values": value} if mode == "constant" else {}
        return np.pad(x, widths, mode=NP_MODES[mode], **kwargs)
    grown = np.pad(x, [(max(b, 0), max(a, 0)) for b, a in widths], mode=NP_MODES[mode])
    return grown[
        tuple(slice(max(-b, 0), grown.shape[d] - max(-a, 0)) for d, (b, a) in enumerate(widths))
    ]


# -- pad -------------------------------------------------------------------------------

PADS = [(1, 2), (2, 0, 1, 3), (-1, 2, 1, -1), (1, 1, 0, 2, 1, 0)]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", PADS, ids=str)
def test_pad_matches_numpy(mode, pad):
    shape = {2: (2, 3, 5), 4: (2, 3, 4, 5), 6: (1, 2, 3, 4, 5)}[len(pad)]
    x = _randn(np.random.default_rng(0), shape, np.float32)
    got = F.pad(fastdl.tensor(x), pad, mode=mode)
    assert_close(got.numpy(), _np_pad(x, pad, mode).astype(x.dtype))


def test_constant_pad_value_and_cropping_on_many_dims():
    x = np.arange(24.0).reshape(2, 3, 4)
    got = F.pad(fastdl.tensor(x), (1, -2, -1, 2, 1, 0), value=-3.5)
    assert_close(got.numpy(), _np_pad(x, (1, -2, -1, 2, 1, 0), "constant", -3.5))
    assert F.pad(fastdl.tensor(x), (-4, 0)).shape == (2, 3, 0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_gradcheck(mode, backend):
    x = fastdl.tensor(_randn(np.random.default_rng(1), (1, 2, 3, 4)), requires_grad=True)
    with fastdl.use_backend(backend):
        assert gradcheck(lambda x: F.pad(x, (2, -1, 1, 2), mode=mode), (x,))


def test_padding_modules():
    x = _randn(np.random.default_rng(2), (2, 3, 4, 5))
    cases = [
        (nn.ZeroPad2d((1, 2, 0, 1)), (1, 2, 0, 1), "constant", 0.0),
        (nn.ZeroPad1d(2), (2, 2), "constant", 0.0),
        (nn.ConstantPad1d((0, 3), 1.5), (0, 3), "constant", 1.5),
        (nn.ConstantPad2d(1, -2.0), (1, 1, 1, 1), "constant", -2.0),
        (nn.ReflectionPad1d((3, 1)), (3, 1), "reflect", 0.0),
        (nn.ReflectionPad2d(2), (2, 2, 2, 2), "reflect", 0.0),
        (nn.ReplicationPad1d(4), (4, 4), "replicate", 0.0),
        (nn.ReplicationPad2d((1, 0, 2, 3)), (1, 0, 2, 3), "replicate", 0.0),
        (nn.CircularPad1d(1), (1, 1), "circular", 0.0),
        (nn.CircularPad2d((2, 1, 0, 3)), (2, 1, 0, 3), "circular", 0.0),
    ]
    for layer, pad, mode, value in cases:
        xs = x if len(pad) == 4 else x[0]  # the 1-D layers take (N, C, W)
        got = layer(fastdl.tensor(xs)).numpy()
        assert_close(got, _np_pad(xs, pad, mode, value), where=repr(layer))
    assert repr(nn.ReflectionPad2d(2)) == "ReflectionPad2d((2, 2, 2, 2))"
    assert nn.ReflectionPad1d(1)(fastdl.ones(3, 4)).shape == (3, 6)  # unbatched


def test_pad_errors_name_the_argument():
    x = fastdl.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match="divisible by 2"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"shape \(1, 2, 3, 4\)"):
        F.pad(x, (1,) * 10)
    with pytest.raises(ValueError, match=r"reflect.*less than the size 4"):
        F.pad(x, (4, 0, 0, 0), mode="reflect")
    with pytest.raises(ValueError, match="3-D or 4-D"):
        F.pad(fastdl.randn(5, 5), (1, 1, 1, 1), mode="replicate")
    with pytest.raises(ValueError, match="mode"):
        F.pad(x, (1, 1), mode="symmetric")
    with pytest.raises(ShapeError, match="size -1"):
        F.pad(x, (-3, -2))
    with pytest.raises(TypeError, match="pad"):
        F.pad(x, 1)


# -- interpolate -------------------------------------------------------------------------


def _np_source(n_in, n_out, scale, mode, align_corners):
    """(i0, i1, lambda) per output position, straight from PyTorch's coordinate rules."""
    rows = []
    for o in range(n_out):
        if mode == "nearest":
            ratio = n_in / n_out if scale is None else 1.0 / scale
            i = min(int(math.floor(np.float32(o) * np.float32(ratio))), n_in - 1)
            rows.append((i, i, 0.0))
            continue
        if align_corners:
            src = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            ratio = n_in / n_out if scale is None else 1.0 / scale
            src = max((o + 0.5) * ratio - 0.5, 0.0)
        i0 = min(int(math.floor(src)), n_in - 1)
        rows.append((i0, min(i0 + 1, n_in - 1), src - i0))
    return rows


def _np_interpolate(x, sizes, scales, mode, align_corners):
    out = x.astype(np.float64)
    for d, n_out in enumerate(sizes):
        axis = d + 2
        rows = _np_source(
            x.shape[axis], n_out, None if scales is None else scales[d], mode, align_corners
        )
        parts = []
        for i0, i1, lam in rows:
            a, b = np.take(out, [i0], axis=axis), np.take(out, [i1], axis=axis)
            parts.append(a * (1.0 - lam) + b * lam)
        out = np.concatenate(parts, axis=axis)
    return out


INTERP = [
    ("nearest", (2, 3, 5), dict(size=8), None),
    ("nearest", (1, 2, 4, 5), dict(scale_factor=(2, 1.5)), None),
    ("nearest", (1, 2, 5, 4), dict(scale_factor=0.6, recompute_scale_factor=True), None),
    ("linear", (2, 3, 5), dict(scale_factor=2.5), False),
    ("linear", (2, 3, 5), dict(size=9), True),
    ("bilinear", (1, 2, 3, 4), dict(size=(5, 7)), False),
    ("bilinear", (1, 2, 3, 4), dict(scale_factor=2), True),
    ("bilinear", (1, 2, 6, 5), dict(size=(4, 3)), None),
]


@pytest.mark.parametrize("mode, shape, kwargs, align_corners", INTERP)
def test_interpolate_matches_numpy(mode, shape, kwargs, align_corners):
    x = _randn(np.random.default_rng(3), shape, np.float32)
    got = F.interpolate(fastdl.tensor(x), mode=mode, align_corners=align_corners, **kwargs)
    spatial = len(shape) - 2
    if "size" in kwargs:
        sizes, scales = kwargs["size"], None
        sizes = (sizes,) * spatial if isinstance(sizes, int) else sizes
    else:
        factor = kwargs["scale_factor"]
        scales = (factor,) * spatial if not isinstance(factor, tuple) else factor
        sizes = tuple(math.floor(n * s) for n, s in zip(shape[2:], scales))
        scales = None if kwargs.get("recompute_scale_factor") else scales
    kind = "nearest" if mode == "nearest" else "linear"
    want = _np_interpolate(x, sizes, scales, kind, bool(align_corners))
    assert_close(got.numpy(), want.astype(np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "mode, align_corners", [("nearest", None), ("bilinear", False), ("bilinear", True)]
)
def test_interpolate_gradcheck(mode, align_corners, backend):
    x = fastdl.tensor(_randn(np.random.default_rng(4), (1, 2, 3, 4)), requires_grad=True)
    with fastdl.use_backend(backend):
        assert gradcheck(
            lambda x: F.interpolate(x, size=(5, 3), mode=mode, align_corners=align_corners), (x,)
        )
        if mode == "bilinear":
            x1 = fastdl.tensor(_randn(np.random.default_rng(5), (2, 1, 4)), requires_grad=True)
            assert gradcheck(lambda x: F.interpolate(x, scale_factor=1.5, mode="linear"), (x1,))


def test_upsample_modules():
    x = fastdl.tensor(_randn(np.random.default_rng(6), (1, 2, 3, 3)))
    up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    assert_close(up(x).numpy(), F.interpolate(x, scale_factor=2, mode="bilinear").numpy())
    assert repr(up) == "Upsample(scale_factor=2.0, mode='bilinear')"
    near = nn.UpsamplingNearest2d(size=(6, 4))(x)
    assert_close(near.numpy(), F.interpolate(x, size=(6, 4)).numpy())
    bil = nn.UpsamplingBilinear2d(scale_factor=2)(x)
    want = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    assert_close(bil.numpy(), want.numpy())


def test_interpolate_errors():
    x = fastdl.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match="exactly one"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, size=4, align_corners=True)
    with pytest.raises(ShapeError, match=r"3-D.*\(1, 2, 3, 4\)"):
        F.interpolate(x, size=4, mode="linear")
    with pytest.raises(ValueError, match="size"):
        F.interpolate(x, size=(4, 4, 4))
    with pytest.raises(ValueError, match="mode"):
        F.interpolate(x, size=4, mode="bicubic")


# -- pixel shuffle, Unflatten ----------------------------------------------------------------


def test_pixel_shuffle_and_unshuffle():
    x = _randn(np.random.default_rng(7), (2, 3, 8, 2, 3))
    r = 2
    want = x.reshape(2, 3, 2, r, r, 2, 3).transpose(0, 1, 2, 5, 3, 6, 4).reshape(2, 3, 2, 4, 6)
    got = nn.PixelShuffle(r)(fastdl.tensor(x))
    assert_close(got.numpy(), want)
    assert_close(nn.PixelUnshuffle(r)(got).numpy(), x)
    t = fastdl.tensor(x[0], requires_grad=True)
    assert gradcheck(lambda t: F.pixel_unshuffle(F.pixel_shuffle(t, 2) * 2.0, 1), (t,))
    with pytest.raises(ShapeError, match="divisible"):
        F.pixel_shuffle(fastdl.randn(1, 6, 2, 2), 2)
    with pytest.raises(ShapeError, match="divisible"):
        F.pixel_unshuffle(fastdl.randn(1, 1, 3, 4), 2)


def test_unflatten():
    x = fastdl.randn(3, 12, 2)
    assert nn.Unflatten(1, (3, -1))(x).shape == (3, 3, 4, 2)
    assert nn.Unflatten(-1, (1, 2))(x).shape == (3, 12, 1, 2)
    assert_close(nn.Unflatten(1, (2, 6))(x).numpy(), x.numpy().reshape(3, 2, 6, 2))
    with pytest.raises(ShapeError, match="does not fit"):
        nn.Unflatten(1, (5, 2))(x)


# -- channel dropout ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, shape", [(nn.Dropout1d, (4, 16, 5)), (nn.Dropout2d, (4, 16, 3, 3))]
)
def test_channel_dropout_zeroes_whole_channels(layer, shape):
    drop = layer(p=0.25)
    x = fastdl.ones(*shape)
    y = drop(x).numpy().reshape(shape[0], shape[1], -1)
    per_channel = y[:, :, :1]
    assert np.all(y == per_channel)  # one value per (sample, channel)
    assert set(np.unique(per_channel)) <= {0.0, np.float32(1.0 / 0.75)}
    assert 0 < (per_channel == 0).sum() < per_channel.size
    drop.eval()
    assert drop(x) is x


def test_channel_dropout_generator_and_gradient():
    gen = fastdl.Generator().manual_seed(3)
    x = fastdl.randn(2, 6, 4, requires_grad=True)
    a = F.dropout1d(x, 0.5, generator=gen)
    b = F.dropout1d(x, 0.5, generator=fastdl.Generator().manual_seed(3))
    assert_close(a.detach().numpy(), b.detach().numpy())
    a.sum().backward()
    mask = (a.detach().numpy() != 0) | (x.detach().numpy() == 0)
    assert_close(x.grad.numpy(), mask * 2.0)
    assert F.dropout1d(fastdl.ones(5, 3), 0.5).shape == (5, 3)  # unbatched
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert F.dropout2d(fastdl.ones(2, 3, 4), 0.5).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout2d(1.5)
    with pytest.raises(ShapeError, match="dropout1d"):
        F.dropout1d(fastdl.ones(1, 2, 3, 4))


def test_dropout2d_of_another_rank_drops_per_sample_and_channel_with_a_warning():
    x = fastdl.ones(64, 32)
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        y = F.dropout2d(x, 0.5).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}  # elementwise: each (sample, channel) alone
    with pytest.warns(UserWarning, match="5-D"):
        y = F.dropout2d(fastdl.ones(4, 8, 2, 2, 2), 0.5).numpy().reshape(4, 8, -1)
    assert np.all(y == y[:, :, :1])
    with pytest.raises(ShapeError, match="dropout2d"):
        F.dropout2d(fastdl.ones(5), 0.5)


# -- group and instance norm ----------------------------------------------------------------------


def _np_group_norm(x, groups, weight, bias, eps):
    n, c = x.shape[:2]
    xg = x.astype(np.float64).reshape(n, groups, -1)
    mean = xg.mean(axis=2, keepdims=True)
    var = xg.var(axis=2, keepdims=True)
    y = ((xg - mean) / np.sqrt(var + eps)).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return y * weight.reshape(shape) + bias.reshape(shape)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_norm_matches_numpy(dtype, backend):
    rng = np.random.default_rng(8)
    x, w, b = _randn(rng, (3, 6, 4, 2), dtype), _randn(rng, (6,), dtype), _randn(rng, (6,), dtype)
    with fastdl.use_backend(backend):
        got = F.group_norm(fastdl.tensor(x), 3, fastdl.tensor(w), fastdl.tensor(b), eps=1e-3)
    assert_close(got.numpy(), _np_group_norm(x, 3, w, b, 1e-3).astype(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
def test_group_and_instance_norm_gradcheck(backend):
    rng = np.random.default_rng(9)
    x = fastdl.tensor(_randn(rng, (2, 4, 3)), requires_grad=True)
    w = fastdl.tensor(_randn(rng, (4,)), requires_grad=True)
    b = fastdl.tensor(_randn(rng, (4,)), requires_grad=True)
    with fastdl.use_backend(backend):
        assert gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), (x, w, b))
        assert gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), (x, w, b))


def test_group_norm_module():
    gn = nn.GroupNorm(2, 4)
    assert list(gn.state_dict()) == ["weight", "bias"]
    x = _randn(np.random.default_rng(10), (2, 4, 5), np.float32)
    assert_close(
        gn(fastdl.tensor(x)).detach().numpy(),
        _np_group_norm(x, 2, np.ones(4), np.zeros(4), 1e-5).astype(np.float32),
    )
    assert nn.GroupNorm(1, 3, affine=False).weight is None
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match=r"not divisible by num_groups=3"):
        F.group_norm(fastdl.randn(2, 4, 3), 3)
    with pytest.raises(ShapeError, match=r"expected 4 channels.*\(2, 5, 3\)"):
        gn(fastdl.randn(2, 5, 3))


def test_instance_norm_running_statistics():
    rng = np.random.default_rng(11)
    m = nn.InstanceNorm2d(
        3, momentum=0.2, track_running_stats=True, affine=True, dtype=fastdl.float64
    )
    assert sorted(m.state_dict()) == [
        "bias",
        "num_batches_tracked",
        "running_mean",
        "running_var",
        "weight",
    ]
    rm, rv = np.zeros(3), np.ones(3)
    for _ in range(2):
        x = _randn(rng, (4, 3, 2, 3))
        y = m(fastdl.tensor(x))
        flat = x.reshape(4, 3, -1)
        mean, var = flat.mean(axis=2), flat.var(axis=2)
        want = (flat - mean[..., None]) / np.sqrt(var[..., None] + 1e-5)
        assert_close(y.detach().numpy(), want.reshape(x.shape))
        rm = 0.8 * rm + 0.2 * mean.mean(axis=0)
        rv = 0.8 * rv + 0.2 * flat.var(axis=2, ddof=1).mean(axis=0)
    assert_close(m.running_mean.numpy(), rm)
    assert_close(m.running_var.numpy(), rv)
    m.eval()
    x = _randn(rng, (3, 2, 3))  # unbatched
    want = (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5)
    assert_close(m(fastdl.tensor(x)).detach().numpy(), want)


def test_instance_norm_defaults_and_errors():
    m = nn.InstanceNorm1d(4)
    assert m.weight is None and m.running_mean is None and list(m.state_dict()) == []
    m.eval()  # no running statistics: the input's own
    x = _randn(np.random.default_rng(12), (2, 4, 6))
    want = (x - x.mean(axis=2, keepdims=True)) / np.sqrt(x.var(axis=2, keepdims=True) + 1e-5)
    assert_close(m(fastdl.tensor(x)).numpy(), want)
    with pytest.raises(ValueError, match="2D or 3D"):
        m(fastdl.randn(1, 4, 2, 2))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(fastdl.randn(2, 4, 1))
    with pytest.raises(ValueError, match=r"expected 3 channels.*\(2, 4, 5, 5\)"):
        nn.InstanceNorm2d(3, affine=True)(fastdl.randn(2, 4, 5, 5))


# -- CUDA ------------------------------------------------------------------------------------


def test_on_cuda_matches_cpu():
    pytest.importorskip("numba.cuda")
    rng = np.random.default_rng(13)
    host = [
        fastdl.tensor(_randn(rng, (1, 4, 2, 3)), requires_grad=True),
        fastdl.tensor(_randn(rng, (4,)), requires_grad=True),
    ]
    device = [t.detach().to("cuda").requires_grad_() for t in host]

    def run(x, w):
        y = F.pad(x, (1, 2, 1, 0), mode="reflect") + 1.0
        y = F.pad(y, (1, -1, 0, 1), value=0.5)
        y = F.interpolate(y, scale_factor=1.5, mode="bilinear") * 2.0
        y = F.group_norm(y, 2, w)
        return (F.pixel_shuffle(y[:, :, :2, :4], 2) ** 2).sum()

    want, got = run(*host), run(*device)
    assert_close(got.cpu().detach().numpy(), want.detach().numpy())
    want.backward()
    got.backward()
    for h, d in zip(host, device, strict=True):
        assert_close(d.grad.cpu().numpy(), h.grad.numpy(), kind="grad")
