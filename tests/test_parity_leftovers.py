"""PyTorch parity: cumprod's gradient at zeros, integer bitwise ops, Generator state,
packed sequences, default dtype/device of layers, fused optimizers' step, views."""

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
from fastdl.autograd import gradcheck

BACKENDS = ("numba", "reference")

# -- cumprod's gradient with zeros in the input ----------------------------------------


def _cumprod_grad_oracle(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """d/dx_k sum_i g_i prod_{j<=i} x_j, by the definition (one row)."""
    n = len(x)
    out = np.zeros(n)
    for k in range(n):
        for i in range(k, n):
            out[k] += g[i] * np.prod(np.delete(x[: i + 1], k))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dim", [0, 1])
def test_cumprod_gradient_with_zeros(backend, dim):
    data = np.array([[1.5, 0.0, 2.0, -1.0], [0.0, 3.0, 0.0, 0.5], [1.0, 2.0, 3.0, 4.0]])
    with fastdl.use_backend(backend):
        assert gradcheck(
            lambda t: fastdl.cumprod(t, dim), (fastdl.tensor(data, requires_grad=True),)
        )
        x = fastdl.tensor(data, requires_grad=True)
        g = np.random.default_rng(0).standard_normal(data.shape)
        fastdl.cumprod(x, dim).backward(fastdl.tensor(g))
    expected = np.stack(
        [
            _cumprod_grad_oracle(r, gr)
            for r, gr in zip(np.moveaxis(data, dim, 0).T, np.moveaxis(g, dim, 0).T)
        ]
    ).T
    assert_close(x.grad.numpy(), np.moveaxis(expected, 0, dim), kind="grad")


def test_cumprod_double_backward_with_zeros():
    x = fastdl.tensor([2.0, 0.0, 3.0], dtype=fastdl.float64, requires_grad=True)
    (g,) = fastdl.autograd.grad(fastdl.cumprod(x, 0).sum(), x, create_graph=True)
    assert_close(g.detach().numpy(), _cumprod_grad_oracle(x.detach().numpy(), np.ones(3)))
    g.sum().backward()

    def first(v):
        return _cumprod_grad_oracle(v, np.ones(3)).sum()

    data, h = x.detach().numpy(), 1e-6
    numeric = [(first(data + h * e) - first(data - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6, atol=1e-6)


# -- bitwise ops on integer tensors ----------------------------------------------------

_INT_CASES = [
    ("__and__", np.bitwise_and),
    ("__or__", np.bitwise_or),
    ("__xor__", np.bitwise_xor),
    ("__lshift__", np.left_shift),
    ("__rshift__", np.right_shift),
]


@pytest.mark.parametrize("method,oracle", _INT_CASES)
def test_integer_bitwise_operators(method, oracle):
    rng = np.random.default_rng(1)
    a = rng.integers(-1000, 1000, (3, 4))
    b = rng.integers(0, 8, (4,)) if "shift" in method else rng.integers(-1000, 1000, (4,))
    result = getattr(fastdl.tensor(a), method)(fastdl.tensor(b))
    assert result.dtype == fastdl.int64
    np.testing.assert_array_equal(result.numpy(), oracle(a, b))
    np.testing.assert_array_equal(getattr(fastdl.tensor(a), method)(3).numpy(), oracle(a, 3))


def test_integer_bitwise_functions_and_in_place():
    a, b = np.array([12, -8, 5, 0]), np.array([10, 3, -1, 7])
    np.testing.assert_array_equal(
        fastdl.bitwise_and(fastdl.tensor(a), fastdl.tensor(b)).numpy(), a & b
    )
    np.testing.assert_array_equal(fastdl.bitwise_or(fastdl.tensor(a), 6).numpy(), a | 6)
    np.testing.assert_array_equal(
        fastdl.bitwise_xor(fastdl.tensor(a), fastdl.tensor(b)).numpy(), a ^ b
    )
    np.testing.assert_array_equal(fastdl.bitwise_not(fastdl.tensor(a)).numpy(), ~a)
    np.testing.assert_array_equal((~fastdl.tensor(a)).numpy(), ~a)
    np.testing.assert_array_equal((6 & fastdl.tensor(a)).numpy(), 6 & a)
    t = fastdl.tensor(a)
    alias = t.view(-1)
    t ^= fastdl.tensor(b)
    t <<= 1
    np.testing.assert_array_equal(alias.numpy(), (a ^ b) << 1)
    # bool stays logical; a float operand is refused
    m = fastdl.tensor([True, False])
    assert (m & True).dtype == fastdl.bool_ and (~m).tolist() == [False, True]
    with pytest.raises(TypeError, match="integer or bool"):
        fastdl.tensor([1.5]) & 1


def test_bitwise_on_a_uint8_tensor():
    state = fastdl.Generator().manual_seed(200).get_state()  # a uint8 Tensor
    raw = state.numpy()
    np.testing.assert_array_equal((~state).numpy(), ~raw)
    np.testing.assert_array_equal((state >> 2).numpy(), raw >> 2)
    assert (state & state).dtype == np.uint8


def test_bitwise_on_cuda_matches_cpu():
    a = np.array([[12, -8, 5], [1, 2, 3]])
    x = fastdl.tensor(a).to("cuda")
    np.testing.assert_array_equal((x ^ 5).cpu().numpy(), a ^ 5)
    np.testing.assert_array_equal((~x).cpu().numpy(), ~a)
    np.testing.assert_array_equal((x >> 1).cpu().numpy(), a >> 1)


# -- Generator state as PyTorch's uint8 Tensor -----------------------------------------


def test_generator_state_is_a_uint8_tensor():
    g = fastdl.Generator().manual_seed(7)
    fastdl.rand(5, generator=g)
    state = g.get_state()
    assert isinstance(state, fastdl.Tensor) and state.dtype == np.uint8 and state.ndim == 1
    after = fastdl.rand(4, generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(fastdl.rand(4, generator=g).numpy(), after)
    # the uint64 [seed, offset] form is still accepted
    other = fastdl.Generator().set_state(np.array([7, state.numpy().view("<u8")[1]], np.uint64))
    np.testing.assert_array_equal(fastdl.rand(4, generator=other).numpy(), after)
    # and the state of one generator restores the default one
    fastdl.set_rng_state(state)
    np.testing.assert_array_equal(fastdl.rand(4).numpy(), after)


# -- layers follow the default dtype and device ----------------------------------------


@pytest.fixture
def restore_defaults():
    yield
    fastdl.set_default_dtype(fastdl.float32)
    fastdl.set_default_device(None)


def test_layers_take_the_default_dtype(restore_defaults):
    fastdl.set_default_dtype(fastdl.float64)
    layers = [fastdl.nn.Linear(3, 2), fastdl.nn.Conv2d(1, 2, 3), fastdl.nn.LSTM(3, 4)]
    layers += [fastdl.nn.BatchNorm1d(3), fastdl.nn.Embedding(5, 2), fastdl.nn.LayerNorm(3)]
    for layer in layers:
        assert {p.dtype for p in layer.parameters()} == {fastdl.float64}, layer
    assert fastdl.nn.Linear(3, 2, dtype=fastdl.float32).weight.dtype == fastdl.float32


def test_layers_take_the_default_device(restore_defaults):
    fastdl.set_default_device("cuda")
    layer = fastdl.nn.Linear(3, 2)
    assert layer.weight.device.type == "cuda" and layer.bias.device.type == "cuda"
    assert fastdl.nn.Linear(3, 2, device="cpu").weight.device.type == "cpu"


# -- fused optimizers keep "step" as a 0-d float32 Tensor ------------------------------


def test_fused_optimizer_step_is_a_float_tensor():
    torch = pytest.importorskip("torch")
    model = fastdl.nn.Linear(3, 2)
    opt = fastdl.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        model(fastdl.ones(4, 3)).sum().backward()
        opt.step()
    step = opt.state[model.weight]["step"]
    assert isinstance(step, fastdl.Tensor) and step.ndim == 0 and step.dtype == fastdl.float32
    assert step.item() == 2.0
    saved = opt.state_dict()
    assert isinstance(saved["state"][0]["step"], fastdl.Tensor)
    # into PyTorch and back, and from an older file whose step is an int
    tmodel = torch.nn.Linear(3, 2)
    topt = torch.optim.Adam(tmodel.parameters(), lr=0.1)
    as_torch = {
        "state": {
            i: {k: torch.tensor(np.asarray(v)) for k, v in entry.items()}
            for i, entry in saved["state"].items()
        },
        "param_groups": saved["param_groups"],
    }
    topt.load_state_dict(as_torch)
    assert topt.state_dict()["state"][0]["step"].item() == 2.0
    fresh = fastdl.optim.Adam(fastdl.nn.Linear(3, 2).parameters(), lr=0.1)
    fresh.load_state_dict(topt.state_dict())
    assert fresh.state_dict()["state"][1]["step"].item() == 2.0
    old = {"state": {i: dict(e, step=2) for i, e in saved["state"].items()}}
    fresh.load_state_dict(dict(old, param_groups=saved["param_groups"]))
    assert fresh.state_dict()["state"][0]["step"].item() == 2.0


# -- packed sequences --------------------------------------------------------------------

from fastdl.nn.utils.rnn import (  # noqa: E402
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
)


def _packed_oracle(padded: np.ndarray, lengths: list) -> tuple:
    """data and batch_sizes of a time-major batch, by the definition."""
    order = sorted(range(len(lengths)), key=lambda b: -lengths[b])
    batch_sizes = [sum(n > t for n in lengths) for t in range(max(lengths))]
    data = [padded[t, b] for t in range(max(lengths)) for b in order[: batch_sizes[t]]]
    return np.stack(data), batch_sizes, order


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted,lengths", [(True, [4, 3, 1]), (False, [2, 4, 3])])
def test_pack_and_pad_round_trip(batch_first, enforce_sorted, lengths):
    padded = np.random.default_rng(2).standard_normal((4, 3, 2))
    x = fastdl.tensor(padded.transpose(1, 0, 2) if batch_first else padded)
    packed = pack_padded_sequence(
        x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted
    )
    data, batch_sizes, order = _packed_oracle(padded, lengths)
    assert isinstance(packed, PackedSequence)
    np.testing.assert_array_equal(packed.data.numpy(), data)
    assert packed.batch_sizes.tolist() == batch_sizes
    if enforce_sorted:
        assert packed.sorted_indices is None and packed.unsorted_indices is None
    else:
        assert packed.sorted_indices.tolist() == order
        assert packed.unsorted_indices.tolist() == list(np.argsort(order))
    back, got_lengths = pad_packed_sequence(packed, batch_first, padding_value=-7.0, total_length=5)
    expected = np.full((5, 3, 2), -7.0)
    for b, n in enumerate(lengths):
        expected[:n, b] = padded[:n, b]
    np.testing.assert_array_equal(
        back.numpy(), expected.transpose(1, 0, 2) if batch_first else expected
    )
    assert got_lengths.tolist() == lengths and got_lengths.dtype == fastdl.int64


def test_pack_pad_are_differentiable_and_check_arguments():
    lengths = [1, 3, 2]
    x = fastdl.tensor(np.random.default_rng(3).standard_normal((3, 3, 2)), requires_grad=True)

    def round_trip(t):
        packed = pack_padded_sequence(t, lengths, enforce_sorted=False)
        return pad_packed_sequence(packed)[0] * 2 + packed.data.sum()

    assert gradcheck(round_trip, (x,))
    with pytest.raises(ValueError, match="sorted in decreasing order"):
        pack_padded_sequence(x, lengths)
    with pytest.raises(ValueError, match="lengths"):
        pack_padded_sequence(x, [1, 2])
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(pack_padded_sequence(x, [3, 2, 1]), total_length=2)
    packed = pack_sequence([fastdl.ones(2, 2), fastdl.ones(3, 2)], enforce_sorted=False)
    assert packed.batch_sizes.tolist() == [2, 2, 1] and packed.sorted_indices.tolist() == [1, 0]


@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_recurrent_layers_take_packed_sequences(kind):
    """Packed output and final states equal each sequence run alone, unpadded."""
    fastdl.manual_seed(0)
    layer = getattr(fastdl.nn, kind)(3, 4, num_layers=2, bidirectional=True, dtype=fastdl.float64)
    rng = np.random.default_rng(4)
    lengths = [2, 5, 3]
    padded = fastdl.tensor(rng.standard_normal((5, 3, 3)), requires_grad=True)
    h0 = fastdl.tensor(rng.standard_normal((4, 3, 4)))
    hx = (h0, h0 * 0.5) if kind == "LSTM" else h0
    out, state = layer(pack_padded_sequence(padded, lengths, enforce_sorted=False), hx)
    assert isinstance(out, PackedSequence)
    unpacked, _ = pad_packed_sequence(out)
    finals = state if kind == "LSTM" else (state,)
    for b, n in enumerate(lengths):
        alone_hx = tuple(h[:, b] for h in hx) if kind == "LSTM" else hx[:, b]
        alone_out, alone_state = layer(padded[:n, b].detach(), alone_hx)
        alone_finals = alone_state if kind == "LSTM" else (alone_state,)
        assert_close(unpacked[:n, b].detach().numpy(), alone_out.detach().numpy())
        assert np.all(unpacked[n:, b].detach().numpy() == 0)
        for got, want in zip(finals, alone_finals):
            assert_close(got[:, b].detach().numpy(), want.detach().numpy())
    assert gradcheck(
        lambda t: layer(pack_padded_sequence(t, lengths, enforce_sorted=False), hx)[0].data,
        (padded,),
    )


def test_packed_lstm_matches_torch():
    torch = pytest.importorskip("torch")
    tm = torch.nn.LSTM(3, 4, batch_first=True).double()
    fm = fastdl.nn.LSTM(3, 4, batch_first=True, dtype=fastdl.float64)
    fm.load_state_dict(tm.state_dict())
    data = np.random.default_rng(5).standard_normal((3, 4, 3))
    fo, (fh, fc) = fm(pack_padded_sequence(fastdl.tensor(data), [2, 4, 1], True, False))
    to, (th, tc) = tm(
        torch.nn.utils.rnn.pack_padded_sequence(
            torch.tensor(data), torch.tensor([2, 4, 1]), True, False
        )
    )
    assert_close(fo.data.detach().numpy(), to.data.detach().numpy())
    assert_close(fh.detach().numpy(), th.detach().numpy())
    assert_close(fc.detach().numpy(), tc.detach().numpy())


# -- the CUDA sort: a stable merge sort per row ------------------------------------------


@pytest.mark.parametrize("descending", [False, True])
def test_cuda_sort_matches_the_reference_on_long_rows_with_ties(descending):
    from numba import cuda

    from fastdl.backends import get
    from fastdl.backends.cuda import _launch
    from fastdl.backends.cuda.indexing import sort_along

    rng = np.random.default_rng(6)
    x = np.round(rng.standard_normal((2, 37, 3)) * 2).astype(np.float32)  # many ties
    x[0, ::5, 1] = np.nan
    want_v, want_i = np.empty_like(x), np.empty(x.shape, np.int64)
    get("reference").sort_along(x, 1, descending, want_v, want_i)
    got_v = cuda.device_array(x.shape, np.float32)
    got_i = cuda.device_array(x.shape, np.int64)
    device_x = cuda.to_device(x)
    before = _launch.launches()
    sort_along(device_x, 1, descending, got_v, got_i)
    # one merge pass per run width 1, 2, 4 ... 32, not one quadratic loop per row
    assert _launch.launches() - before >= int(np.ceil(np.log2(37)))
    np.testing.assert_array_equal(got_i.copy_to_host(), want_i)
    np.testing.assert_array_equal(got_v.copy_to_host(), want_v)


# -- in place through one view, seen by the other views of the storage --------------------


def test_write_through_one_view_rebases_a_sibling_view():
    w = fastdl.tensor([1.0, 2.0, 3.0, 4.0], dtype=fastdl.float64, requires_grad=True)
    base = w * 1
    a, b = base.view(2, 2), base.view(4)
    b.mul_(w)  # base = w * w
    a.sum().backward()
    assert_close(w.grad.numpy(), 2 * w.detach().numpy(), kind="grad")


def test_write_through_a_slice_reaches_an_overlapping_slice():
    w = fastdl.tensor([1.0, 2.0, 3.0, 4.0], dtype=fastdl.float64, requires_grad=True)
    base = w * 1
    a, b = base[1:3], fastdl.narrow(base, 0, 0, 2)
    b.mul_(w[:2])  # base = [w0^2, w1^2, w2, w3]
    np.testing.assert_array_equal(a.detach().numpy(), [4.0, 3.0])
    (a * a).sum().backward()  # w1^4 + w2^2
    assert_close(w.grad.numpy(), [0.0, 4 * 2.0**3, 2 * 3.0, 0.0], kind="grad")

    def written(t):
        base = t * 1
        first, second = base[1:], base[:3]
        second.mul_(t[:3])
        return first * 3

    x = fastdl.tensor([0.5, -1.0, 2.0, 1.5], dtype=fastdl.float64, requires_grad=True)
    assert gradcheck(written, (x,))


def test_a_write_through_one_view_fails_the_saved_tensor_check_of_another():
    w = fastdl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    base = w * 1
    a = base[1:]
    y = (a * a).sum()  # saves a
    base[:2].mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_basic_indexing_gives_views():
    x = fastdl.zeros(3, 2)
    x[1].add_(1.0)
    x[:, 1:].fill_(2.0)
    np.testing.assert_array_equal(x.numpy(), [[0, 2], [1, 2], [0, 2]])
    assert x[0]._base is x and fastdl.narrow(x, 0, 1, 1)._base is x
    assert x.unbind(0)[1]._base is x and x.movedim(0, 1)._base is x and x.chunk(3)[0]._base is x
    w = fastdl.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    base = w * 1
    first_row = base.unbind(0)[0]
    columns = base.movedim(0, 1)
    first_row.mul_(2.0)
    columns.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[2.0, 2.0], [1.0, 1.0]])


# -- namespace paths PyTorch scripts name ----------------------------------------------------


def test_torch_nn_modules_paths_and_safe_globals():
    from fastdl.nn.modules import rnn as rnn_file

    assert rnn_file.LSTM is fastdl.nn.LSTM
    assert fastdl.nn.modules.linear.Linear is fastdl.nn.Linear
    assert fastdl.nn.modules.sparse.Embedding is fastdl.nn.Embedding
    with pytest.raises(AttributeError, match="NoSuchLayer"):
        fastdl.nn.modules.linear.NoSuchLayer  # noqa: B018
    with fastdl.serialization.safe_globals([fastdl.nn.modules.dropout.Dropout]):
        state = fastdl.nn.Linear(2, 2).state_dict()
    assert set(state) == {"weight", "bias"}
    from fastdl import onnx

    with pytest.raises(NotImplementedError, match="ONNX"):
        onnx.export(fastdl.nn.Linear(2, 2), (fastdl.ones(1, 2),), "model.onnx")


# -- a whole Module saved and loaded (torch.save(model)), without pickle ------------------


class _Net(fastdl.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = fastdl.nn.LSTM(3, 4)
        self.head = fastdl.nn.Linear(4, 2)
        self.kind = "LSTM"
        self.register_buffer("scale", fastdl.ones(2))

    def forward(self, x):
        return self.head(self.rnn(x)[0]) * self.scale


def test_a_whole_module_round_trips_through_save_and_load(tmp_path):
    model = _Net()
    model.eval()
    path = tmp_path / "model.pt"
    with open(path, "wb") as f:
        fastdl.save({"model": model, "same": model}, f)
    with pytest.raises(ValueError, match="safe_globals"):
        fastdl.load(path)  # a class of the user's is rebuilt only when allowed
    with fastdl.serialization.safe_globals([_Net]):
        back = fastdl.load(path)
    loaded = back["model"]
    assert back["same"] is loaded and type(loaded) is _Net and loaded.kind == "LSTM"
    assert not loaded.training and isinstance(loaded.rnn, fastdl.nn.LSTM)
    assert isinstance(loaded.head.weight, fastdl.nn.Parameter) and loaded.head.weight.requires_grad
    x = fastdl.randn(5, 2, 3)
    np.testing.assert_array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]
    fastdl.serialization.add_safe_globals([_Net])
    try:
        assert type(fastdl.load(path)["model"]) is _Net
    finally:
        fastdl.serialization._SAFE_GLOBALS.remove(_Net)
    # fastdl's own layers load without being named
    fastdl.save(fastdl.nn.Linear(2, 3), path)
    assert isinstance(fastdl.load(path), fastdl.nn.Linear)


def test_packed_lstm_on_cuda_matches_the_cpu():
    fastdl.manual_seed(1)
    layer = fastdl.nn.LSTM(2, 3)
    x = fastdl.randn(3, 2, 2)
    want, (want_h, _) = layer(pack_padded_sequence(x, [1, 3], enforce_sorted=False))
    layer.to("cuda")
    got, (got_h, _) = layer(pack_padded_sequence(x.to("cuda"), [1, 3], enforce_sorted=False))
    assert got.data.device.type == "cuda"
    assert_close(got.data.detach().cpu().numpy(), want.data.detach().numpy())
    assert_close(got_h.detach().cpu().numpy(), want_h.detach().numpy())
