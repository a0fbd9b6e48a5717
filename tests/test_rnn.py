"""RNN and LSTM: gradients, values against a NumPy step loop, shapes, state dicts, errors."""

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.autograd import gradcheck

BACKENDS = ["reference", "numba"]
F64 = fastdl.float64


# -- a naive NumPy model, as the PyTorch documentation writes the equations ---------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _np_lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    hs = h.shape[-1]
    z = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f = _sigmoid(z[..., :hs]), _sigmoid(z[..., hs : 2 * hs])
    g, o = np.tanh(z[..., 2 * hs : 3 * hs]), _sigmoid(z[..., 3 * hs :])
    c = f * c + i * g
    return o * np.tanh(c), c


def _np_rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    z = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    return np.maximum(z, 0.0) if nonlinearity == "relu" else np.tanh(z)


def _params(module, layer, direction):
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    found = [getattr(module, n + suffix, None) for n in names]
    arrays = [None if p is None else _np(p).astype(np.float64) for p in found]
    rows = arrays[0].shape[0]
    return [np.zeros(rows) if a is None else a for a in arrays]


def _np_forward(module, x, h0, c0=None):
    """(output, h_n, c_n) for x (L, N, I) and states (layers * D, N, H), in float64."""
    lstm = isinstance(module, nn.LSTM)
    directions = 2 if module.bidirectional else 1
    h_n, c_n = [], []
    layer_input = x
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            w = _params(module, layer, direction)
            h, c = h0[k], (c0[k] if lstm else None)
            steps = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
            out = np.zeros(x.shape[:2] + (module.hidden_size,))
            for t in steps:
                if lstm:
                    h, c = _np_lstm_cell(layer_input[t], h, c, *w)
                else:
                    h = _np_rnn_cell(layer_input[t], h, *w, module.nonlinearity)
                out[t] = h
            outputs.append(out)
            h_n.append(h)
            c_n.append(c)
        layer_input = np.concatenate(outputs, axis=2)
    return layer_input, np.stack(h_n), (np.stack(c_n) if lstm else None)


def _np(t):
    return t.detach().numpy()


def _leaf(rng, *shape):
    return fastdl.tensor(rng.standard_normal(shape), dtype=F64, requires_grad=True)


def _make(kind, seed=0, **kwargs):
    fastdl.manual_seed(seed)
    return getattr(nn, kind)(3, 2, dtype=F64, **kwargs)


# -- gradients ------------------------------------------------------------------------------

CONFIGS = [
    ("LSTM", {}),
    ("LSTM", {"num_layers": 2}),
    ("LSTM", {"bidirectional": True, "batch_first": True}),
    ("LSTM", {"bias": False}),
    ("RNN", {"nonlinearity": "tanh", "bidirectional": True}),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2}),
    ("RNN", {"nonlinearity": "relu", "batch_first": True}),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind, kwargs", CONFIGS, ids=lambda c: str(c))
def test_gradcheck(backend, kind, kwargs):
    rng = np.random.default_rng(1)
    module = _make(kind, **kwargs)
    lstm = kind == "LSTM"
    length, batch = 4, 2
    x_shape = (batch, length, 3) if module.batch_first else (length, batch, 3)
    layers = module.num_layers * (2 if module.bidirectional else 1)
    x, h0, c0 = _leaf(rng, *x_shape), _leaf(rng, layers, batch, 2), _leaf(rng, layers, batch, 2)
    # Fixed weights on each result: the loss reaches output, h_n and c_n separately.
    directions = 2 if module.bidirectional else 1
    w_out = fastdl.tensor(rng.standard_normal(x_shape[:2] + (directions * 2,)))
    w_h = fastdl.tensor(rng.standard_normal((layers, batch, 2)))
    w_c = fastdl.tensor(rng.standard_normal((layers, batch, 2)))
    params = list(module.parameters())

    def loss(x, h0, c0, *_):
        if lstm:
            out, (h, c) = module(x, (h0, c0))
            return (out * w_out).sum() + (h * w_h).sum() + (c * w_c).sum()
        out, h = module(x, h0)
        return (out * w_out).sum() + (h * w_h).sum()

    with fastdl.use_backend(backend):
        assert gradcheck(loss, [x, h0, c0, *params], eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_cells(backend):
    rng = np.random.default_rng(2)
    fastdl.manual_seed(0)
    lstm, rnn = nn.LSTMCell(3, 2, dtype=F64), nn.RNNCell(3, 2, nonlinearity="relu", dtype=F64)
    x, h, c = _leaf(rng, 4, 3), _leaf(rng, 4, 2), _leaf(rng, 4, 2)
    w = fastdl.tensor(rng.standard_normal((4, 2)))
    with fastdl.use_backend(backend):
        h_c = lambda x, h, c, *_: sum((t * w).sum() for t in lstm(x, (h, c)))  # noqa: E731
        assert gradcheck(h_c, [x, h, c, *lstm.parameters()], atol=1e-6, rtol=1e-5)
        h_only = lambda x, h, *_: (rnn(x, h) * w).sum()  # noqa: E731
        assert gradcheck(h_only, [x, h, *rnn.parameters()], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_on_h_n_only_and_retain_graph(backend):
    rng = np.random.default_rng(3)
    module = _make("LSTM", num_layers=2)
    x = _leaf(rng, 5, 2, 3)
    with fastdl.use_backend(backend):
        out, (h, c) = module(x)
        h[-1].sum().backward(retain_graph=True)
        first = x.grad.numpy().copy()
        assert np.abs(first).sum() > 0 and module.weight_hh_l0.grad is not None
        h[-1].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_gradients_written_into_zeroed_buffers(backend, kind):
    # zero_grad() leaves stale buffers that the backward kernel writes into directly.
    rng = np.random.default_rng(10)
    module = _make(kind, bidirectional=True)
    x = fastdl.tensor(rng.standard_normal((3, 2, 3)))
    with fastdl.use_backend(backend):
        module(x)[0].sum().backward()
        first = {n: _np(p.grad).copy() for n, p in module.named_parameters()}
        buffers = {n: p.grad for n, p in module.named_parameters()}
        module.zero_grad()
        module(x)[0].sum().backward()
        module(x)[0].sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is buffers[name]
        np.testing.assert_allclose(_np(p.grad), 2 * first[name], rtol=1e-12, err_msg=name)


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "kind, kwargs",
    [
        ("LSTM", {"num_layers": 2, "bidirectional": True}),
        ("RNN", {"nonlinearity": "tanh", "num_layers": 2}),
        ("RNN", {"nonlinearity": "relu", "bidirectional": True}),
    ],
    ids=str,
)
def test_values_against_numpy_loop(backend, kind, kwargs):
    rng = np.random.default_rng(4)
    module = _make(kind, **kwargs)
    layers = module.num_layers * (2 if module.bidirectional else 1)
    x = rng.standard_normal((6, 3, 3))
    h0, c0 = rng.standard_normal((layers, 3, 2)), rng.standard_normal((layers, 3, 2))
    with fastdl.use_backend(backend):
        if kind == "LSTM":
            out, (h, c) = module(fastdl.tensor(x), (fastdl.tensor(h0), fastdl.tensor(c0)))
        else:
            out, h = module(fastdl.tensor(x), fastdl.tensor(h0))
    expected_out, expected_h, expected_c = _np_forward(module, x, h0, c0)
    assert out.shape == (6, 3, 2 * (2 if module.bidirectional else 1))
    np.testing.assert_allclose(_np(out), expected_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(h), expected_h, rtol=1e-12, atol=1e-12)
    if kind == "LSTM":
        np.testing.assert_allclose(_np(c), expected_c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_state_is_zero_and_batch_first(backend):
    rng = np.random.default_rng(5)
    module = _make("LSTM", batch_first=True)
    x = rng.standard_normal((2, 4, 3))  # (N, L, I)
    with fastdl.use_backend(backend):
        out, (h, c) = module(fastdl.tensor(x))
    zeros = np.zeros((1, 2, 2))
    expected_out, expected_h, expected_c = _np_forward(module, x.transpose(1, 0, 2), zeros, zeros)
    assert out.shape == (2, 4, 2) and h.shape == (1, 2, 2)
    np.testing.assert_allclose(_np(out), expected_out.transpose(1, 0, 2), atol=1e-12)
    np.testing.assert_allclose(_np(c), expected_c, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbatched_input_matches_batch_of_one(backend):
    rng = np.random.default_rng(6)
    module = _make("LSTM", num_layers=2, bidirectional=True)
    x, h0, c0 = (rng.standard_normal(s) for s in ((5, 3), (4, 2), (4, 2)))
    with fastdl.use_backend(backend):
        out, (h, c) = module(fastdl.tensor(x), (fastdl.tensor(h0), fastdl.tensor(c0)))
        state = (fastdl.tensor(h0[:, None]), fastdl.tensor(c0[:, None]))
        out1, (h1, c1) = module(fastdl.tensor(x[:, None]), state)
        rnn = _make("RNN")
        r_out, r_h = rnn(fastdl.tensor(x))
    assert out.shape == (5, 4) and h.shape == (4, 2) and c.shape == (4, 2)
    np.testing.assert_allclose(_np(out), _np(out1)[:, 0], rtol=1e-14)
    np.testing.assert_allclose(_np(c), _np(c1)[:, 0], rtol=1e-14)
    assert r_out.shape == (5, 2) and r_h.shape == (1, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cells_are_one_step(backend):
    rng = np.random.default_rng(7)
    fastdl.manual_seed(1)
    lstm, rnn = nn.LSTMCell(3, 2, dtype=F64), nn.RNNCell(3, 2, dtype=F64)
    x, h, c = rng.standard_normal((4, 3)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    w = [_np(p) for p in lstm.parameters()]
    with fastdl.use_backend(backend):
        h1, c1 = lstm(fastdl.tensor(x), (fastdl.tensor(h), fastdl.tensor(c)))
        h0_zero, _ = lstm(fastdl.tensor(x))
        r1 = rnn(fastdl.tensor(x[0]), fastdl.tensor(h[0]))
    expected_h, expected_c = _np_lstm_cell(x, h, c, *w)
    np.testing.assert_allclose(_np(h1), expected_h, atol=1e-12)
    np.testing.assert_allclose(_np(c1), expected_c, atol=1e-12)
    zero = np.zeros((4, 2))
    np.testing.assert_allclose(_np(h0_zero), _np_lstm_cell(x, zero, zero, *w)[0], atol=1e-12)
    w = [_np(p) for p in rnn.parameters()]
    np.testing.assert_allclose(_np(r1), _np_rnn_cell(x[0], h[0], *w, "tanh"), atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_float32_matches_float64(backend, kind):
    rng = np.random.default_rng(8)
    fastdl.manual_seed(2)
    m32 = getattr(nn, kind)(5, 7, num_layers=2, bidirectional=True)
    m64 = getattr(nn, kind)(5, 7, num_layers=2, bidirectional=True, dtype=F64)
    m64.load_state_dict({k: v.double() for k, v in m32.state_dict().items()})
    x = rng.standard_normal((9, 4, 5))
    w = rng.standard_normal((9, 4, 14))
    results = {}
    for module, dtype in ((m32, fastdl.float32), (m64, F64)):
        xt = fastdl.tensor(x, dtype=dtype, requires_grad=True)
        with fastdl.use_backend(backend):
            out = module(xt)[0]
            (out * fastdl.tensor(w, dtype=dtype)).sum().backward()
        assert out.dtype == dtype and xt.grad.dtype == dtype
        grads = [p.grad.numpy() for p in module.parameters()]
        results[dtype] = (out.detach().numpy(), xt.grad.numpy(), *grads)
    for a, b in zip(results[fastdl.float32], results[F64]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


# -- dropout, modes ----------------------------------------------------------------------------


def test_dropout_between_layers_only_in_training():
    rng = np.random.default_rng(9)
    x = fastdl.tensor(rng.standard_normal((4, 2, 3)), dtype=F64)
    plain = _make("LSTM", num_layers=2)
    dropped = _make("LSTM", num_layers=2, dropout=1.0)  # same seed: same weights
    dropped.eval()
    np.testing.assert_array_equal(_np(dropped(x)[0]), _np(plain(x)[0]))
    dropped.train()
    out, (h, c) = dropped(x)
    # p = 1 zeroes the whole input of layer 2, which then sees a zero sequence.
    zeros = np.zeros((4, 2, 3))
    w = _params(dropped, 1, 0)
    h_t, c_t = np.zeros((2, 2)), np.zeros((2, 2))
    for t in range(4):
        h_t, c_t = _np_lstm_cell(zeros[t, :, :2], h_t, c_t, *w)
        np.testing.assert_allclose(_np(out)[t], h_t, atol=1e-12)
    half = _make("LSTM", num_layers=2, dropout=0.5)
    fastdl.manual_seed(5)
    a = _np(half(x)[0])
    fastdl.manual_seed(5)
    np.testing.assert_array_equal(_np(half(x)[0]), a)
    assert not np.allclose(a, _np(plain(x)[0]))


def test_no_grad_and_single_layer_dropout_warning():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        module = nn.LSTM(3, 2, dropout=0.2)
    with fastdl.no_grad():
        out, (h, c) = module(fastdl.randn(4, 2, 3))
    assert not out.requires_grad and not h.requires_grad


# -- parameters ---------------------------------------------------------------------------------


def test_state_dict_names_and_shapes_as_pytorch():
    state = nn.LSTM(4, 3, num_layers=2, bidirectional=True).state_dict()
    expected = [
        ("weight_ih_l0", (12, 4)),
        ("weight_hh_l0", (12, 3)),
        ("bias_ih_l0", (12,)),
        ("bias_hh_l0", (12,)),
        ("weight_ih_l0_reverse", (12, 4)),
        ("weight_hh_l0_reverse", (12, 3)),
        ("bias_ih_l0_reverse", (12,)),
        ("bias_hh_l0_reverse", (12,)),
        ("weight_ih_l1", (12, 6)),
        ("weight_hh_l1", (12, 3)),
        ("bias_ih_l1", (12,)),
        ("bias_hh_l1", (12,)),
        ("weight_ih_l1_reverse", (12, 6)),
        ("weight_hh_l1_reverse", (12, 3)),
        ("bias_ih_l1_reverse", (12,)),
        ("bias_hh_l1_reverse", (12,)),
    ]
    assert [(k, v.shape) for k, v in state.items()] == expected
    assert all(v.dtype == np.float32 for v in state.values())
    rnn = nn.RNN(5, 4, bias=False).state_dict()
    assert [(k, v.shape) for k, v in rnn.items()] == [
        ("weight_ih_l0", (4, 5)),
        ("weight_hh_l0", (4, 4)),
    ]
    cell = nn.LSTMCell(5, 4).state_dict()
    assert [(k, v.shape) for k, v in cell.items()] == [
        ("weight_ih", (16, 5)),
        ("weight_hh", (16, 4)),
        ("bias_ih", (16,)),
        ("bias_hh", (16,)),
    ]


def test_init_uniform_within_bound_and_seeded():
    fastdl.manual_seed(3)
    a = nn.LSTM(8, 16, num_layers=2)
    fastdl.manual_seed(3)
    b = nn.LSTM(8, 16, num_layers=2)
    bound = 1 / np.sqrt(16)
    values = np.concatenate([_np(p).ravel() for p in a.parameters()])
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound
    assert abs(values.mean()) < 0.02
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_array_equal(_np(p), _np(q), err_msg=name)


def test_repr_matches_pytorch():
    assert repr(nn.LSTM(4, 3, num_layers=2, batch_first=True, dropout=0.5)) == (
        "LSTM(4, 3, num_layers=2, batch_first=True, dropout=0.5)"
    )
    assert repr(nn.RNN(4, 3, bidirectional=True)) == "RNN(4, 3, bidirectional=True)"
    assert repr(nn.RNNCell(4, 3, nonlinearity="relu")) == "RNNCell(4, 3, nonlinearity=relu)"


# -- bad input ----------------------------------------------------------------------------------


def test_bad_input_raises_before_any_kernel():
    module = nn.LSTM(4, 3, num_layers=2, dropout=0.5)
    rnn, rnn_cell, lstm_cell = nn.RNN(4, 3), nn.RNNCell(4, 3), nn.LSTMCell(4, 3)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    x = fastdl.randn(5, 2, 4, requires_grad=True)
    h0, c0 = fastdl.zeros(2, 2, 3), fastdl.zeros(2, 2, 3)
    wide, deep, empty, flat = (
        fastdl.randn(5, 2, 5),
        fastdl.randn(5, 2, 4, 1),
        fastdl.randn(0, 2, 4),
        fastdl.randn(5, 4),
    )
    state = fastdl.random.default_generator._state_words()  # dropout draws only after the checks
    cases = [
        (lambda: module(wide), r"LSTM: input.size\(-1\) .* Expected 4, got 5"),
        (lambda: module(deep), r"LSTM: expected input to be 2D .* got 4D"),
        (lambda: module(empty), "LSTM: expected sequence length"),
        (lambda: module(x, (h0, c0[:, :, :2])), r"c_0 of shape \(2, 2, 3\), got \(2, 2, 2\)"),
        (lambda: module(x, (h0[:1], c0)), r"h_0 of shape \(2, 2, 3\), got \(1, 2, 3\)"),
        (lambda: module(x, (h0[0], c0)), "LSTM: for batched 3-D input, h_0"),
        (lambda: module(flat, (h0, c0)), "LSTM: for unbatched 2-D input, h_0"),
        (lambda: module(x.detach().double()), "LSTM: input dtype float64 does not match"),
        (lambda: module(x, (h0.double(), c0)), "LSTM: h_0 dtype float64"),
        (lambda: rnn_cell(wide[0]), "RNNCell: input has inconsistent input_size"),
        (lambda: lstm_cell(x[0], (h0[0], c0[0, :1])), r"LSTMCell: expected c of shape \(2, 3\)"),
        (lambda: rnn(x[0, 0]), "RNN: expected input to be 2D"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match="LSTM: hx must be a tuple"):
        module(x, h0)
    for key, value in module.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert all(p.grad is None for p in module.parameters()) and x.grad is None
    np.testing.assert_array_equal(fastdl.random.default_generator._state_words(), state)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="unknown nonlinearity 'sigmoid'"):
        nn.RNN(4, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.LSTM(4, 3, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be an int >= 1"):
        nn.LSTM(4, 0)
    with pytest.raises(ValueError, match="num_layers must be an int >= 1"):
        nn.RNN(4, 3, num_layers=0)
    with pytest.raises(ValueError, match="proj_size=2 is not supported"):
        nn.LSTM(4, 3, proj_size=2)
