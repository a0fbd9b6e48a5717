"""GRU and GRUCell: gradients, values against a NumPy step loop, shapes, state dicts,
errors, the CUDA backend against the CPU, and (where torch is installed) torch's weights."""

import inspect

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
from fastdl import nn
from fastdl.autograd import gradcheck

BACKENDS = ["reference", "numba"]
F64 = fastdl.float64


# -- a naive NumPy model, as the PyTorch documentation writes the equations ---------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _np_gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    a, b = np.split(x @ w_ih.T + b_ih, 3, axis=-1), np.split(h @ w_hh.T + b_hh, 3, axis=-1)
    r, z = _sigmoid(a[0] + b[0]), _sigmoid(a[1] + b[1])
    n = np.tanh(a[2] + r * b[2])
    return (1 - z) * n + z * h


def _np(t):
    return t.detach().numpy()


def _params(module, suffix=""):
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    found = [getattr(module, n + suffix, None) for n in names]
    rows = found[0].shape[0]
    return [np.zeros(rows) if p is None else _np(p).astype(np.float64) for p in found]


def _np_gru(module, x, h0):
    """(output, h_n) for x (L, N, I) and h0 (layers * D, N, H), in float64."""
    directions = 2 if module.bidirectional else 1
    h_n, layer_input = [], x
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            w = _params(module, f"_l{layer}" + ("_reverse" if direction else ""))
            h = h0[layer * directions + direction]
            steps = range(x.shape[0] - 1, -1, -1) if direction else range(x.shape[0])
            out = np.zeros(x.shape[:2] + (module.hidden_size,))
            for t in steps:
                h = out[t] = _np_gru_cell(layer_input[t], h, *w)
            outputs.append(out)
            h_n.append(h)
        layer_input = np.concatenate(outputs, axis=2)
    return layer_input, np.stack(h_n)


def _leaf(rng, *shape):
    return fastdl.tensor(rng.standard_normal(shape), dtype=F64, requires_grad=True)


def _make(seed=0, **kwargs):
    fastdl.manual_seed(seed)
    return nn.GRU(3, 2, dtype=F64, **kwargs)


# -- gradients ------------------------------------------------------------------------------

CONFIGS = [
    {},
    {"num_layers": 2, "bidirectional": True},
    {"batch_first": True, "bias": False},
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
def test_gradcheck(backend, kwargs):
    rng = np.random.default_rng(1)
    module = _make(**kwargs)
    length, batch = 4, 2
    x_shape = (batch, length, 3) if module.batch_first else (length, batch, 3)
    layers = module.num_layers * (2 if module.bidirectional else 1)
    x, h0 = _leaf(rng, *x_shape), _leaf(rng, layers, batch, 2)
    # Fixed weights on each result: the loss reaches output and h_n separately.
    w_out = fastdl.tensor(rng.standard_normal(x_shape[:2] + (2 * layers // module.num_layers,)))
    w_h = fastdl.tensor(rng.standard_normal((layers, batch, 2)))

    def loss(x, h0, *_):
        out, h = module(x, h0)
        return (out * w_out).sum() + (h * w_h).sum()

    with fastdl.use_backend(backend):
        assert gradcheck(loss, [x, h0, *module.parameters()], eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_cell(backend):
    rng = np.random.default_rng(2)
    fastdl.manual_seed(0)
    cell = nn.GRUCell(3, 2, dtype=F64)
    x, h = _leaf(rng, 4, 3), _leaf(rng, 4, 2)
    w = fastdl.tensor(rng.standard_normal((4, 2)))
    with fastdl.use_backend(backend):
        loss = lambda x, h, *_: (cell(x, h) * w).sum()  # noqa: E731
        assert gradcheck(loss, [x, h, *cell.parameters()], atol=1e-6, rtol=1e-5)
        unbatched = lambda x, *_: (cell(x) * w[0]).sum()  # noqa: E731
        assert gradcheck(unbatched, [x[0].detach().requires_grad_(), *cell.parameters()])


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_written_into_zeroed_buffers(backend):
    # zero_grad() leaves stale buffers that the backward kernel writes into directly;
    # bias_ih and bias_hh get different gradients (b_hn sits inside r * (...)).
    rng = np.random.default_rng(10)
    module = _make(bidirectional=True)
    x = fastdl.tensor(rng.standard_normal((3, 2, 3)))
    with fastdl.use_backend(backend):
        module(x)[0].sum().backward()
        first = {n: _np(p.grad).copy() for n, p in module.named_parameters()}
        buffers = {n: p.grad for n, p in module.named_parameters()}
        module.zero_grad()
        module(x)[0].sum().backward()
        module(x)[0].sum().backward()
    assert not np.allclose(first["bias_ih_l0"][4:], first["bias_hh_l0"][4:])
    for name, p in module.named_parameters():
        assert p.grad is buffers[name]
        np.testing.assert_allclose(_np(p.grad), 2 * first[name], rtol=1e-12, err_msg=name)


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_values_against_numpy_loop(backend):
    rng = np.random.default_rng(4)
    module = _make(num_layers=2, bidirectional=True)
    x, h0 = rng.standard_normal((6, 3, 3)), rng.standard_normal((4, 3, 2))
    with fastdl.use_backend(backend):
        out, h = module(fastdl.tensor(x), fastdl.tensor(h0))
        out_zero, h_zero = module(fastdl.tensor(x))
    expected_out, expected_h = _np_gru(module, x, h0)
    assert out.shape == (6, 3, 4) and h.shape == (4, 3, 2)
    np.testing.assert_allclose(_np(out), expected_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(h), expected_h, rtol=1e-12, atol=1e-12)
    expected_out, expected_h = _np_gru(module, x, np.zeros((4, 3, 2)))
    np.testing.assert_allclose(_np(out_zero), expected_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(h_zero), expected_h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_first_unbatched_and_cell(backend):
    rng = np.random.default_rng(6)
    module = _make(num_layers=2, bidirectional=True, batch_first=True)
    x, h0 = rng.standard_normal((5, 3)), rng.standard_normal((4, 2))
    fastdl.manual_seed(1)
    cell = nn.GRUCell(3, 2, dtype=F64)
    with fastdl.use_backend(backend):
        out, h = module(fastdl.tensor(x), fastdl.tensor(h0))
        out1, h1 = module(fastdl.tensor(x[None]), fastdl.tensor(h0[:, None]))
        h_cell = cell(fastdl.tensor(x[:2]), fastdl.tensor(h0[:2]))
        h_cell1 = cell(fastdl.tensor(x[0]))
    assert out.shape == (5, 4) and h.shape == (4, 2) and out1.shape == (1, 5, 4)
    np.testing.assert_allclose(_np(out), _np(out1)[0], rtol=1e-14)
    np.testing.assert_allclose(_np(h), _np(h1)[:, 0], rtol=1e-14)
    expected_out, _ = _np_gru(module, x[:, None], h0[:, None])
    np.testing.assert_allclose(_np(out), expected_out[:, 0], atol=1e-12)
    w = _params(cell)
    np.testing.assert_allclose(_np(h_cell), _np_gru_cell(x[:2], h0[:2], *w), atol=1e-12)
    assert h_cell1.shape == (2,)
    np.testing.assert_allclose(_np(h_cell1), _np_gru_cell(x[0], np.zeros(2), *w), atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_matches_float64(backend):
    rng = np.random.default_rng(8)
    fastdl.manual_seed(2)
    m32 = nn.GRU(5, 7, num_layers=2, bidirectional=True)
    m64 = nn.GRU(5, 7, num_layers=2, bidirectional=True, dtype=F64)
    m64.load_state_dict({k: v.double() for k, v in m32.state_dict().items()})
    x, w = rng.standard_normal((9, 4, 5)), rng.standard_normal((9, 4, 14))
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


def test_cuda_matches_cpu():
    pytest.importorskip("numba.cuda")

    def run(device):
        fastdl.manual_seed(0)
        layer = nn.GRU(3, 4, bidirectional=True, dtype=F64).to(device)
        rng = np.random.default_rng(5)
        x = fastdl.tensor(rng.standard_normal((3, 2, 3)), device=device, requires_grad=True)
        h0 = fastdl.tensor(rng.standard_normal((2, 2, 4)), device=device, requires_grad=True)
        out, h_n = layer(x, h0)
        ((out * out).sum() + h_n.sum()).backward()
        return [out.detach(), h_n.detach(), x.grad, h0.grad, *(p.grad for p in layer.parameters())]

    cpu, gpu = run("cpu"), run("cuda")
    assert gpu[0].device == "cuda:0"
    for g, c in zip(gpu, cpu, strict=True):
        assert_close(g.cpu().numpy(), c.numpy(), np.float64, "grad")


# -- PyTorch's weights ----------------------------------------------------------------------


def test_torch_weights_give_torch_results():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rng = np.random.default_rng(11)
    reference = torch.nn.GRU(4, 3, num_layers=2, bidirectional=True, batch_first=True).double()
    module = nn.GRU(4, 3, num_layers=2, bidirectional=True, batch_first=True, dtype=F64)
    module.load_state_dict({k: v.numpy() for k, v in reference.state_dict().items()})
    x, h0 = rng.standard_normal((2, 5, 4)), rng.standard_normal((4, 2, 3))
    tx, th = (torch.tensor(a, requires_grad=True) for a in (x, h0))
    t_out, t_h = reference(tx, th)
    (t_out.sum() + (t_h * t_h).sum()).backward()
    fx, fh = (fastdl.tensor(a, requires_grad=True) for a in (x, h0))
    out, h = module(fx, fh)
    (out.sum() + (h * h).sum()).backward()
    pairs = [(out, t_out), (h, t_h), (fx.grad, tx.grad), (fh.grad, th.grad)]
    pairs += list(zip(module.parameters(), reference.parameters()))
    for ours, theirs in pairs:
        ours = ours.grad if isinstance(ours, nn.Parameter) else ours
        theirs = theirs.grad if isinstance(theirs, torch.nn.Parameter) else theirs
        np.testing.assert_allclose(_np(ours), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    cell, t_cell = nn.GRUCell(4, 3, dtype=F64), torch.nn.GRUCell(4, 3).double()
    cell.load_state_dict({k: v.numpy() for k, v in t_cell.state_dict().items()})
    expected = t_cell(torch.tensor(x[:, 0]), torch.tensor(h0[0])).detach().numpy()
    np.testing.assert_allclose(_np(cell(fastdl.tensor(x[:, 0]), fastdl.tensor(h0[0]))), expected)


# -- parameters -----------------------------------------------------------------------------


def test_state_dict_init_and_repr_as_pytorch():
    state = nn.GRU(4, 3, num_layers=2, bidirectional=True).state_dict()
    expected = []
    for suffix, features in (("_l0", 4), ("_l0_reverse", 4), ("_l1", 6), ("_l1_reverse", 6)):
        expected += [
            ("weight_ih" + suffix, (9, features)),
            ("weight_hh" + suffix, (9, 3)),
            ("bias_ih" + suffix, (9,)),
            ("bias_hh" + suffix, (9,)),
        ]
    assert [(k, v.shape) for k, v in state.items()] == expected
    assert [(k, v.shape) for k, v in nn.GRU(5, 4, bias=False).state_dict().items()] == [
        ("weight_ih_l0", (12, 5)),
        ("weight_hh_l0", (12, 4)),
    ]
    assert [(k, v.shape) for k, v in nn.GRUCell(5, 4).state_dict().items()] == [
        ("weight_ih", (12, 5)),
        ("weight_hh", (12, 4)),
        ("bias_ih", (12,)),
        ("bias_hh", (12,)),
    ]
    fastdl.manual_seed(3)
    values = np.concatenate([_np(p).ravel() for p in nn.GRU(8, 16, num_layers=2).parameters()])
    bound = 1 / np.sqrt(16)
    assert bound >= np.abs(values).max() > 0.95 * bound
    assert repr(nn.GRU(4, 3, num_layers=2, batch_first=True, dropout=0.5)) == (
        "GRU(4, 3, num_layers=2, batch_first=True, dropout=0.5)"
    )
    assert repr(nn.GRUCell(4, 3, bias=False)) == "GRUCell(4, 3, bias=False)"


def test_positional_arguments_in_torch_order():
    def positional(cls):
        parameters = inspect.signature(cls.__init__).parameters.values()
        return [p.name for p in parameters if p.name != "self"]

    assert positional(nn.GRU) == [
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "device",
        "dtype",
    ]
    assert positional(nn.GRUCell) == ["input_size", "hidden_size", "bias", "device", "dtype"]


def test_dropout_between_layers_only_in_training_and_no_grad():
    x = fastdl.tensor(np.random.default_rng(9).standard_normal((4, 2, 3)), dtype=F64)
    plain, dropped = _make(num_layers=2), _make(num_layers=2, dropout=1.0)
    dropped.eval()
    np.testing.assert_array_equal(_np(dropped(x)[0]), _np(plain(x)[0]))
    dropped.train()
    # p = 1 zeroes the whole input of layer 2, which then sees a zero sequence.
    w = _params(dropped, "_l1")
    h = np.zeros((2, 2))
    out = _np(dropped(x)[0])
    for t in range(4):
        h = _np_gru_cell(np.zeros((2, 2)), h, *w)
        np.testing.assert_allclose(out[t], h, atol=1e-12)
    with fastdl.no_grad():
        out, h_n = plain(x.requires_grad_())
    assert not out.requires_grad and not h_n.requires_grad


# -- bad input ------------------------------------------------------------------------------


def test_bad_input_raises_before_any_kernel():
    module, cell = nn.GRU(4, 3, num_layers=2, dropout=0.5), nn.GRUCell(4, 3)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    x = fastdl.randn(5, 2, 4, requires_grad=True)
    h0 = fastdl.zeros(2, 2, 3)
    wide, deep = fastdl.randn(5, 2, 5), fastdl.randn(5, 2, 4, 1)
    state = fastdl.random.default_generator.get_state()  # dropout draws only after the checks
    cases = [
        (lambda: module(wide), r"GRU: input.size\(-1\) .* Expected 4, got 5"),
        (lambda: module(deep), r"GRU: expected input to be 2D .* got 4D"),
        (lambda: module(x, h0[:1]), r"GRU: expected h_0 of shape \(2, 2, 3\), got \(1, 2, 3\)"),
        (lambda: module(x, h0[0]), "GRU: for batched 3-D input, h_0"),
        (lambda: module(x[:, 0], h0), "GRU: for unbatched 2-D input, h_0"),
        (lambda: module(x, h0.double()), "GRU: h_0 dtype float64"),
        (lambda: cell(x[0, :, :3]), "GRUCell: input has inconsistent input_size"),
        (lambda: cell(x[0], h0[0, :1]), r"GRUCell: expected hx of shape \(2, 3\), got \(1, 3\)"),
        (lambda: cell(x), "GRUCell: expected input to be 1D"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    for key, value in module.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert all(p.grad is None for p in module.parameters()) and x.grad is None
    np.testing.assert_array_equal(fastdl.random.default_generator.get_state(), state)


def test_cuda_kernels_launch_counts():
    """Forward: a GEMM and a pointwise kernel per step, after the projection (2L + 1).
    Backward: a pointwise kernel and a GEMM per step, the direct part of grad_h0 added,
    then three GEMMs with the bias sums fused (2L + 4)."""
    pytest.importorskip("numba.cuda")
    from _cuda_check import check_against_reference

    from fastdl.backends import spec
    from fastdl.backends.cuda import rnn as cuda_rnn

    def small(name, options):
        """The spec's own sampler, on a draw the simulator runs quickly (L >= 2, H <= 5)."""
        for seed in range(100):
            args = spec.BY_NAME[name].sample(np.random.default_rng([seed, 12]), F64, options)
            if args["x"].shape[0] >= 2 and args["weight_hh"].shape[1] <= 5:
                return args, args["x"].shape[0]
        raise AssertionError("no small draw")

    forward, length = small("gru_forward", {"reverse": True})
    assert check_against_reference(cuda_rnn, "gru_forward", forward) == 2 * length + 1
    backward, length = small("gru_backward", {})
    assert check_against_reference(cuda_rnn, "gru_backward", backward) == 2 * length + 4


def test_gru_reads_a_packed_sequence_as_each_sequence_alone():
    from fastdl.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    fastdl.manual_seed(0)
    gru = fastdl.nn.GRU(3, 4, num_layers=2, batch_first=True, dtype=fastdl.float64)
    x = fastdl.randn(2, 5, 3, dtype=fastdl.float64)
    out, h_n = gru(pack_padded_sequence(x, [5, 3], batch_first=True))
    padded, lengths = pad_packed_sequence(out, batch_first=True)
    assert lengths.tolist() == [5, 3]
    for i, n in enumerate((5, 3)):
        alone, h_alone = gru(x[i : i + 1, :n])
        np.testing.assert_allclose(padded[i, :n].detach().numpy(), alone[0].detach().numpy())
        np.testing.assert_allclose(h_n[:, i].detach().numpy(), h_alone[:, 0].detach().numpy())
    assert not padded[1, 3:].detach().numpy().any()
