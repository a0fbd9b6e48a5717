"""MultiheadAttention and the Transformer modules: values against NumPy, gradients,
errors, state_dict keys, and (where torch is installed) torch's outputs on its weights."""

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.autograd import gradcheck


def _np_mha(mha, q, k, v, key_padding_mask=None):
    """PyTorch's multi-head attention in NumPy, (L, N, E) inputs, average weights."""
    e, h = mha.embed_dim, mha.num_heads
    w, b = mha.in_proj_weight.detach().numpy(), mha.in_proj_bias.detach().numpy()
    proj = [x @ w[i * e : (i + 1) * e].T + b[i * e : (i + 1) * e] for i, x in enumerate((q, k, v))]
    lq, n = q.shape[:2]
    qh, kh, vh = (p.reshape(p.shape[0], n, h, e // h).transpose(1, 2, 0, 3) for p in proj)
    s = qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(e // h)
    if key_padding_mask is not None:
        s = s + np.where(key_padding_mask, -np.inf, 0.0)[:, None, None, :]
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    heads = (p @ vh).transpose(2, 0, 1, 3).reshape(lq, n, e)
    out = heads @ mha.out_proj.weight.detach().numpy().T + mha.out_proj.bias.detach().numpy()
    return out, p.mean(axis=1)


def _randomise(module, rng):
    with fastdl.no_grad():
        for p in module.parameters():
            p.copy_(fastdl.tensor(0.5 * rng.standard_normal(p.shape), dtype=p.dtype))


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_mha_values_against_numpy(need_weights, backend):
    rng = np.random.default_rng(0)
    mha = nn.MultiheadAttention(8, 2, dtype=fastdl.float64)
    _randomise(mha, rng)
    q, k = rng.standard_normal((5, 3, 8)), rng.standard_normal((6, 3, 8))
    padding = rng.random((3, 6)) > 0.7
    padding[:, 0] = False
    with fastdl.use_backend(backend):
        out, weights = mha(
            fastdl.tensor(q),
            fastdl.tensor(k),
            fastdl.tensor(k),
            key_padding_mask=fastdl.tensor(padding),
            need_weights=need_weights,
        )
    expected, expected_weights = _np_mha(mha, q, k, k, padding)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    if need_weights:
        np.testing.assert_allclose(weights.detach().numpy(), expected_weights, atol=1e-12)
    else:
        assert weights is None


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_gradcheck(need_weights):
    rng = np.random.default_rng(1)
    mha = nn.MultiheadAttention(4, 2, kdim=3, vdim=2, batch_first=True, dtype=fastdl.float64)
    q = fastdl.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    k = fastdl.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    v = fastdl.tensor(rng.standard_normal((2, 4, 2)), requires_grad=True)
    mask = fastdl.tensor(np.triu(np.ones((3, 4), bool), 1))
    w = mha.q_proj_weight

    def f(q, k, v, w):
        return mha(q, k, v, attn_mask=mask, need_weights=need_weights)[0]

    assert gradcheck(f, [q, k, v, w])


@pytest.mark.parametrize(
    ("build", "call", "error", "match"),
    [
        ({"embed_dim": 6, "num_heads": 4}, None, ValueError, "divisible"),
        ({}, {"attn_mask": fastdl.zeros(3, 4, dtype=fastdl.int64)}, TypeError, "attn_mask"),
        ({}, {"attn_mask": fastdl.zeros(3, 5)}, ValueError, "attn_mask"),
        ({}, {"key_padding_mask": fastdl.zeros(2, 3, dtype=fastdl.bool)}, ValueError, "key_pad"),
        ({}, {"key_padding_mask": fastdl.zeros(2, 4, dtype=fastdl.int64)}, TypeError, "key_pad"),
        ({}, {"is_causal": True}, ValueError, "is_causal"),
    ],
)
def test_mha_bad_arguments_raise_naming_them(build, call, error, match):
    kwargs = {"embed_dim": 4, "num_heads": 2, "batch_first": True, **build}
    if call is None:
        with pytest.raises(error, match=match):
            nn.MultiheadAttention(**kwargs)
        return
    mha = nn.MultiheadAttention(**kwargs)
    before = mha.in_proj_weight.detach().numpy().copy()
    with pytest.raises(error, match=match):
        mha(fastdl.randn(2, 3, 4), fastdl.randn(2, 4, 4), fastdl.randn(2, 4, 4), **call)
    np.testing.assert_array_equal(mha.in_proj_weight.detach().numpy(), before)


def test_state_dict_keys_and_square_subsequent_mask():
    mha = nn.MultiheadAttention(4, 2, kdim=3, add_bias_kv=True)
    assert list(mha.state_dict()) == [
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "in_proj_bias",
        "bias_k",
        "bias_v",
        "out_proj.weight",
        "out_proj.bias",
    ]
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8)
    assert list(layer.state_dict())[:4] == [
        "self_attn.in_proj_weight",
        "self_attn.in_proj_bias",
        "self_attn.out_proj.weight",
        "self_attn.out_proj.bias",
    ]
    mask = nn.Transformer.generate_square_subsequent_mask(3).numpy()
    np.testing.assert_array_equal(mask, np.triu(np.full((3, 3), -np.inf), 1))


def test_encoder_layer_values_and_training_step():
    rng = np.random.default_rng(2)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, dtype=fastdl.float64)
    x = rng.standard_normal((5, 2, 8))
    out = layer(fastdl.tensor(x))
    attn, _ = _np_mha(layer.self_attn, x, x, x)

    def norm(y, ln):
        y = (y - y.mean(-1, keepdims=True)) / np.sqrt(y.var(-1, keepdims=True) + 1e-5)
        return y * ln.weight.detach().numpy() + ln.bias.detach().numpy()

    def linear(y, lin):
        return y @ lin.weight.detach().numpy().T + lin.bias.detach().numpy()

    h = norm(x + attn, layer.norm1)
    expected = norm(h + linear(np.maximum(linear(h, layer.linear1), 0), layer.linear2), layer.norm2)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-10, atol=1e-10)
    out.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


# -- against torch on the same weights ------------------------------------------------------


def _load_torch_weights(module, torch_module):
    state = {k: fastdl.tensor(v.detach().numpy()) for k, v in torch_module.state_dict().items()}
    assert list(state) == list(module.state_dict())
    module.load_state_dict(state)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"norm_first": True, "activation": "gelu"}, {"batch_first": True, "bias": False}],
)
def test_transformer_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    torch.manual_seed(0)
    size = {"d_model": 8, "nhead": 2, "num_encoder_layers": 2, "num_decoder_layers": 1}
    size["dim_feedforward"] = 16
    theirs = torch.nn.Transformer(**size, **kwargs, dtype=torch.float64).eval()
    ours = nn.Transformer(**size, **kwargs, dtype=fastdl.float64).eval()
    _load_torch_weights(ours, theirs)
    first = kwargs.get("batch_first", False)
    src = rng.standard_normal((2, 6, 8) if first else (6, 2, 8))
    tgt = rng.standard_normal((2, 5, 8) if first else (5, 2, 8))
    padding = rng.random((2, 6)) > 0.7
    padding[:, 0] = False
    with torch.no_grad():
        expected = theirs(
            torch.tensor(src),
            torch.tensor(tgt),
            tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64),
            src_key_padding_mask=torch.tensor(padding),
            memory_key_padding_mask=torch.tensor(padding),
        )
    out = ours(
        fastdl.tensor(src),
        fastdl.tensor(tgt),
        tgt_mask=nn.Transformer.generate_square_subsequent_mask(5, dtype=fastdl.float64),
        src_key_padding_mask=fastdl.tensor(padding),
        memory_key_padding_mask=fastdl.tensor(padding),
    )
    np.testing.assert_allclose(out.detach().numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "call"),
    [
        ({"add_bias_kv": True, "add_zero_attn": True}, {"key_padding_mask": "padding"}),
        ({"kdim": 5, "vdim": 3}, {"attn_mask": "float3d", "average_attn_weights": False}),
        ({}, {"attn_mask": "causal", "is_causal": True, "need_weights": False}),
        ({"batch_first": True}, {"attn_mask": "bool"}),
    ],
)
def test_mha_matches_torch(kwargs, call):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    theirs = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64, **kwargs)
    ours = nn.MultiheadAttention(8, 2, dtype=fastdl.float64, **kwargs)
    _load_torch_weights(ours, theirs)
    first = kwargs.get("batch_first", False)
    shape = (lambda s, e: (3, s, e)) if first else (lambda s, e: (s, 3, e))
    arrays = [
        rng.standard_normal(shape(5, 8)),
        rng.standard_normal(shape(5, kwargs.get("kdim", 8))),
        rng.standard_normal(shape(5, kwargs.get("vdim", 8))),
    ]
    masks = {
        "padding": rng.random((3, 5)) > 0.7,
        "float3d": rng.standard_normal((6, 5, 5)),
        "causal": np.triu(np.full((5, 5), -np.inf), 1),
        "bool": np.triu(np.ones((5, 5), bool), 1),
    }
    t_call = {k: torch.tensor(masks[v]) if v in masks else v for k, v in call.items()}
    f_call = {k: fastdl.tensor(masks[v]) if v in masks else v for k, v in call.items()}
    expected = theirs(*(torch.tensor(a) for a in arrays), **t_call)
    got = ours(*(fastdl.tensor(a) for a in arrays), **f_call)
    np.testing.assert_allclose(got[0].detach().numpy(), expected[0].detach().numpy(), atol=1e-12)
    assert (got[1] is None) == (expected[1] is None)
    if got[1] is not None:
        np.testing.assert_allclose(
            got[1].detach().numpy(), expected[1].detach().numpy(), atol=1e-12
        )


def test_decoder_unbatched_and_causal_mask_detection():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    theirs = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(8, 2, 16, dtype=torch.float64), 2
    ).eval()
    ours = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, dtype=fastdl.float64), 2)
    ours.eval()
    _load_torch_weights(ours, theirs)
    tgt, memory = rng.standard_normal((4, 8)), rng.standard_normal((6, 8))  # unbatched
    mask = np.triu(np.full((4, 4), -np.inf), 1)
    with torch.no_grad():
        expected = theirs(torch.tensor(tgt), torch.tensor(memory), tgt_mask=torch.tensor(mask))
    out = ours(fastdl.tensor(tgt), fastdl.tensor(memory), tgt_mask=fastdl.tensor(mask))
    np.testing.assert_allclose(out.detach().numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    from fastdl.nn.transformer import _is_causal_mask

    assert _is_causal_mask(fastdl.tensor(mask), None)
    assert not _is_causal_mask(fastdl.tensor(mask.T), None)
    assert not _is_causal_mask(None, None)


def test_activation_choices():
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
    x = fastdl.tensor(np.linspace(-3, 3, 7))
    layer = nn.TransformerEncoderLayer(4, 2, activation="gelu")
    from math import erf

    expected = [0.5 * v * (1 + erf(v / np.sqrt(2))) for v in np.linspace(-3, 3, 7)]
    np.testing.assert_allclose(layer.activation(x).numpy(), expected, rtol=1e-12, atol=1e-12)
    custom = nn.TransformerEncoderLayer(4, 2, activation=fastdl.nn.functional.tanh)
    assert custom.activation is fastdl.nn.functional.tanh


def test_mha_on_cuda_matches_cpu():
    pytest.importorskip("numba.cuda")
    rng = np.random.default_rng(6)
    mha = nn.MultiheadAttention(4, 2, batch_first=True, dtype=fastdl.float64)
    x = rng.standard_normal((2, 3, 4))
    padding = np.array([[False, False, True], [False, False, False]])
    expected = [
        mha(fastdl.tensor(x), fastdl.tensor(x), fastdl.tensor(x), fastdl.tensor(padding), w)[0]
        for w in (True, False)
    ]
    mha.to("cuda")
    xd, pd = fastdl.tensor(x).to("cuda"), fastdl.tensor(padding).to("cuda")
    for need_weights, cpu in zip((True, False), expected, strict=True):
        out, _ = mha(xd, xd, xd, key_padding_mask=pd, need_weights=need_weights)
        np.testing.assert_allclose(out.detach().cpu().numpy(), cpu.detach().numpy(), atol=1e-12)
