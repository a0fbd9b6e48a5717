"""scaled_dot_product_attention: gradients, values against NumPy, masks, errors, CUDA."""

import numpy as np
import pytest

import fastdl
import fastdl.nn.functional as F
from fastdl.autograd import gradcheck

BACKENDS = ["reference", "numba"]


def _leaf(rng, *shape):
    return fastdl.tensor(rng.standard_normal(shape), dtype=fastdl.float64, requires_grad=True)


def _np_attention(q, k, v, mask=None, causal=False, scale=None):
    """softmax(q k^T * scale + mask) v in NumPy; rows with no key give 0."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        s = s + (np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask)
    if causal:
        s = np.where(np.tri(s.shape[-2], s.shape[-1], dtype=bool), s, -np.inf)
    top = s.max(axis=-1, keepdims=True)
    dead = np.isneginf(top)
    e = np.where(dead, 0.0, np.exp(s - np.where(dead, 0.0, top)))
    return (e / np.where(dead, 1.0, e.sum(axis=-1, keepdims=True))) @ v


def _masks(rng, lq, s):
    keep = rng.random((lq, s)) > 0.3
    keep[0] = False  # a query with every key excluded
    return {
        "none": (None, False),
        "bool": (keep, False),
        "float": (np.where(keep, rng.standard_normal((lq, s)), -np.inf), False),
        "causal": (None, True),
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal"])
def test_gradcheck(backend, kind):
    rng = np.random.default_rng(0)
    lq, s = 5, 7  # L != S
    q, k, v = _leaf(rng, 2, lq, 3), _leaf(rng, 2, s, 3), _leaf(rng, 2, s, 4)
    mask, causal = _masks(rng, lq, s)[kind]
    m = None if mask is None else fastdl.tensor(mask)
    with fastdl.use_backend(backend):
        assert gradcheck(
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal),
            [q, k, v],
        )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal"])
def test_values_over_several_tiles(backend, dtype, kind):
    rng = np.random.default_rng(1)
    lq, s = 70, 130  # more than one 64-wide tile each way, ragged ends
    shapes = ((2, 3, lq, 8), (2, 3, s, 8), (2, 3, s, 8))
    q, k, v = (rng.standard_normal(shape).astype(dtype) for shape in shapes)
    mask, causal = _masks(rng, lq, s)[kind]
    m = None if mask is None else fastdl.tensor(mask if mask.dtype == bool else mask.astype(dtype))
    with fastdl.use_backend(backend):
        out = F.scaled_dot_product_attention(
            fastdl.tensor(q), fastdl.tensor(k), fastdl.tensor(v), attn_mask=m, is_causal=causal
        )
    tol = 1e-5 if dtype == np.float32 else 1e-12
    expected = _np_attention(q.astype(np.float64), k, v, mask, causal)
    np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol)
    if kind in ("bool", "float"):
        assert not out.numpy()[:, :, 0].any()  # the query with no key gives 0, as PyTorch


def test_scale_broadcast_and_grouped_heads_match_repeated_heads():
    rng = np.random.default_rng(2)
    q = _leaf(rng, 2, 4, 3, 2)
    k, v = _leaf(rng, 2, 2, 4, 2), _leaf(rng, 2, 2, 4, 2)
    mask = fastdl.tensor(rng.standard_normal((2, 1, 3, 4)))  # per batch, shared by the heads
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3, enable_gqa=True)
    kr, vr = (np.repeat(t.detach().numpy(), 2, axis=1) for t in (k, v))
    expected = _np_attention(q.detach().numpy(), kr, vr, mask.numpy(), scale=0.3)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask, scale=0.3, enable_gqa=True),
        [q, k, v],
    )


def test_batch_dims_broadcast():
    rng = np.random.default_rng(6)
    q, k = _leaf(rng, 2, 1, 3, 2), _leaf(rng, 1, 2, 4, 2)
    out = F.scaled_dot_product_attention(q, k, k)
    kn = np.broadcast_to(k.detach().numpy(), (2, 2, 4, 2))
    expected = _np_attention(np.broadcast_to(q.detach().numpy(), (2, 2, 3, 2)), kn, kn)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda q, k: F.scaled_dot_product_attention(q, k, k), [q, k])


def test_double_backward():
    rng = np.random.default_rng(3)
    q, k, v = _leaf(rng, 1, 3, 2), _leaf(rng, 1, 4, 2), _leaf(rng, 1, 4, 2)

    def grad_norm(q, k, v):
        with fastdl.enable_grad():  # gradcheck evaluates under no_grad
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            (g,) = fastdl.autograd.grad((out * out).sum(), [q], create_graph=True)
            return (g * g).sum()

    assert gradcheck(grad_norm, [q, k, v])


def _dropped(q, k, v, p=0.3, causal=False):
    fastdl.manual_seed(7)  # the same mask at every call
    return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=causal)


@pytest.mark.parametrize("causal", [False, True])
def test_dropout_matches_reference_and_gradchecks(causal):
    rng = np.random.default_rng(4)
    q, k, v = _leaf(rng, 2, 70, 3), _leaf(rng, 2, 66, 3), _leaf(rng, 2, 66, 2)
    results = []
    for backend in BACKENDS:
        with fastdl.use_backend(backend):
            out = _dropped(q, k, v, causal=causal)
            (out * out).sum().backward()
        results.append([out.detach().numpy()] + [t.grad.numpy().copy() for t in (q, k, v)])
        for t in (q, k, v):
            t.grad = None
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    kept = results[0][0] != _np_attention(*(t.detach().numpy() for t in (q, k, v)), None, causal)
    assert kept.any()  # dropout did drop
    small = _leaf(rng, 1, 3, 2), _leaf(rng, 1, 4, 2), _leaf(rng, 1, 4, 2)
    with fastdl.use_backend("numba"):
        assert gradcheck(lambda q, k, v: _dropped(q, k, v, causal=causal), list(small))


def test_dropout_one_gives_zeros_and_double_backward_keeps_the_mask():
    rng = np.random.default_rng(5)
    q, k, v = _leaf(rng, 1, 3, 2), _leaf(rng, 1, 4, 2), _leaf(rng, 1, 4, 2)
    assert not _dropped(q, k, v, p=1.0).detach().numpy().any()

    def grad_norm(q, k, v):
        with fastdl.enable_grad():
            out = _dropped(q, k, v)
            (g,) = fastdl.autograd.grad((out * out).sum(), [q], create_graph=True)
            return (g * g).sum()

    assert gradcheck(grad_norm, [q, k, v])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"attn_mask": "mask", "is_causal": True}, RuntimeError, "is_causal"),
        ({"attn_mask": "int"}, TypeError, "attn_mask"),
        ({"attn_mask": "wide"}, ValueError, "attn_mask"),
        ({"dropout_p": 1.5}, ValueError, "dropout_p"),
        ({"dropout_p": True}, TypeError, "dropout_p"),
        ({"key": "narrow"}, ValueError, "key"),
    ],
)
def test_bad_arguments_raise_before_any_work(kwargs, error, match):
    q, k, v = fastdl.randn(2, 3, 4), fastdl.randn(2, 5, 4), fastdl.randn(2, 5, 6)
    masks = {
        "mask": fastdl.ones(3, 5, dtype=fastdl.bool),
        "int": fastdl.ones(3, 5, dtype=fastdl.int64),
        "wide": fastdl.ones(3, 6, dtype=fastdl.bool),
    }
    if "attn_mask" in kwargs:
        kwargs = {**kwargs, "attn_mask": masks[kwargs["attn_mask"]]}
    if kwargs.pop("key", None):
        k = fastdl.randn(2, 5, 3)
    with pytest.raises(error, match=match):
        F.scaled_dot_product_attention(q, k, v, **kwargs)


def test_cuda_matches_cpu():
    pytest.importorskip("numba.cuda")
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(shape) for shape in ((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3))]
    mask = rng.random((3, 5)) > 0.4
    cpu = [fastdl.tensor(a, requires_grad=True) for a in arrays]
    dev = [fastdl.tensor(a).to("cuda").requires_grad_() for a in arrays]
    outs = []
    for (q, k, v), m in ((cpu, fastdl.tensor(mask)), (dev, fastdl.tensor(mask).to("cuda"))):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        (out * out).sum().backward()
        outs.append([out.detach().cpu().numpy()] + [t.grad.cpu().numpy() for t in (q, k, v)])
    for a, b in zip(*outs, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
