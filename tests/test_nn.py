"""nn: Linear, Sequential (fused and unfused) against a textbook NumPy MLP, module
bookkeeping, state dicts, activations, losses and input validation."""

import math
import zlib

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
import fastdl.nn.functional as F
from fastdl import nn

FLOATS = [np.float32, np.float64]


def _t(array, dtype=None, requires_grad=False):
    array = np.asarray(array)
    return fastdl.tensor(array, dtype=dtype or array.dtype, requires_grad=requires_grad)


def _np(t):
    return t.detach().numpy()


# -- Linear -----------------------------------------------------------------------------------


def test_linear_weight_shape_and_pytorch_default_init():
    fastdl.manual_seed(0)
    layer = nn.Linear(400, 300)
    w, b = _np(layer.weight), _np(layer.bias)
    assert w.shape == (300, 400) and b.shape == (300,)
    assert w.dtype == np.float32 and b.dtype == np.float32
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-bound, bound): mean 0, std bound/sqrt(3), the range nearly filled, flat histogram
    assert w.max() > 0.99 * bound and w.min() < -0.99 * bound
    assert abs(w.mean()) < 0.01 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    counts, _ = np.histogram(w, bins=10, range=(-bound, bound))
    assert np.all(np.abs(counts / w.size - 0.1) < 0.005), counts
    assert b.max() > 0.5 * bound and b.min() < -0.5 * bound
    assert nn.Linear(3, 2, bias=False).bias is None
    assert nn.Linear(3, 2, dtype=fastdl.float64).weight.dtype == np.float64


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_is_x_at_w_transposed_plus_b(dtype, bias):
    fastdl.manual_seed(1)
    layer = nn.Linear(5, 4, bias=bias, dtype=dtype)
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(dtype)
    out = layer(_t(x))
    expected = x @ _np(layer.weight).T
    if bias:
        expected = expected + _np(layer.bias)
    assert out.shape == (6, 4) and out.dtype == dtype
    assert_close(_np(out), expected, dtype)
    # leading batch dimensions
    x3 = np.random.default_rng(1).standard_normal((2, 3, 5)).astype(dtype)
    expected3 = x3 @ _np(layer.weight).T
    if bias:
        expected3 = expected3 + _np(layer.bias)
    assert_close(_np(layer(_t(x3))), expected3, dtype)


def test_linear_rejects_bad_sizes():
    with pytest.raises(ValueError):
        nn.Linear(0, 3)
    with pytest.raises(ValueError):
        nn.Linear(3, -1)


# -- Sequential against a textbook NumPy MLP ---------------------------------------------------


def _act_np(name, z, slope):
    if name == "relu":
        return np.maximum(z, 0), (z > 0).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z), np.where(z > 0, 1.0, slope)
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s, s * (1 - s)
    if name == "tanh":
        t = np.tanh(z)
        return t, 1 - t * t
    raise AssertionError(name)


def _mlp_numpy(x, y, w1, b1, w2, b2, act, slope):
    """Forward and textbook backward of Linear-act-Linear + mean softmax cross-entropy."""
    n = x.shape[0]
    z1 = x @ w1.T + b1
    h, dact = _act_np(act, z1, slope)
    logits = h @ w2.T + b2
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(n), y]).mean()
    dlogits = probs.copy()
    dlogits[np.arange(n), y] -= 1
    dlogits /= n
    dw2 = dlogits.T @ h
    db2 = dlogits.sum(axis=0)
    dh = dlogits @ w2
    dz1 = dh * dact
    dw1 = dz1.T @ x
    db1 = dz1.sum(axis=0)
    dx = dz1 @ w1
    return loss, logits, dict(w1=dw1, b1=db1, w2=dw2, b2=db2, x=dx)


ACTIVATIONS = {
    "relu": (lambda: nn.ReLU(), 0.0),
    "leaky_relu": (lambda: nn.LeakyReLU(0.01), 0.01),
    "leaky_relu_0.2": (lambda: nn.LeakyReLU(0.2), 0.2),
    "sigmoid": (lambda: nn.Sigmoid(), 0.0),
    "tanh": (lambda: nn.Tanh(), 0.0),
}


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fused", [True, False])
def test_sequential_mlp_matches_numpy_backprop(act, dtype, fused):
    make_act, slope = ACTIVATIONS[act]
    act_name = act.split("_0")[0]
    fastdl.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 7), make_act(), nn.Linear(7, 3)).to(dtype)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 5)).astype(dtype)
    y = rng.integers(0, 3, 16)
    xt = _t(x, requires_grad=True)
    if fused:
        logits = model(xt)
        dot = fastdl.graph.to_dot(logits)
        assert "Activation" not in dot  # the activation ran in the Linear epilogue
    else:
        logits = xt
        for layer in model:
            logits = layer(logits)
    loss = nn.CrossEntropyLoss()(logits, _t(y))
    loss.backward()

    params = {k: v.numpy().astype(np.float64) for k, v in model.state_dict().items()}
    ref_loss, ref_logits, grads = _mlp_numpy(
        x.astype(np.float64),
        y,
        params["0.weight"],
        params["0.bias"],
        params["2.weight"],
        params["2.bias"],
        act_name,
        slope,
    )
    assert loss.dtype == dtype and logits.dtype == dtype
    assert_close(_np(logits), ref_logits, dtype, where="logits")
    assert_close(loss.item(), ref_loss, dtype, where="loss")
    got = {
        "w1": model[0].weight.grad,
        "b1": model[0].bias.grad,
        "w2": model[2].weight.grad,
        "b2": model[2].bias.grad,
        "x": xt.grad,
    }
    for name, g in got.items():
        assert g.dtype == dtype, name
        assert_close(g.numpy(), grads[name], dtype, kind="grad", where=name)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("bias", [True, False])
def test_fused_and_layer_by_layer_agree(act, bias):
    make_act, _ = ACTIVATIONS[act]
    fastdl.manual_seed(4)
    model = nn.Sequential(nn.Linear(6, 9, bias=bias), make_act(), nn.Linear(9, 4), make_act())
    x = np.random.default_rng(5).standard_normal((10, 6)).astype(np.float32)
    g = np.random.default_rng(6).standard_normal((10, 4)).astype(np.float32)

    def run(fused):
        model.zero_grad(set_to_none=True)
        xt = _t(x, requires_grad=True)
        out = model(xt) if fused else model[3](model[2](model[1](model[0](xt))))
        out.backward(_t(g))
        return [_np(out), xt.grad.numpy()] + [p.grad.numpy().copy() for p in model.parameters()]

    for a, b in zip(run(True), run(False)):
        assert_close(a, b, np.float32, kind="grad")


# -- Module bookkeeping -------------------------------------------------------------------------


def _mlp():
    fastdl.manual_seed(7)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def test_state_dict_keys_shapes_and_detached_values_sharing_storage():
    model = _mlp()
    state = model.state_dict()
    assert {k: v.shape for k, v in state.items()} == {
        "0.weight": (8, 4),
        "0.bias": (8,),
        "2.weight": (3, 8),
        "2.bias": (3,),
    }
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for name, param in model.named_parameters():
        assert isinstance(state[name], fastdl.Tensor) and not state[name].requires_grad
        np.testing.assert_array_equal(state[name].numpy(), _np(param))
        assert np.shares_memory(state[name].numpy(), _np(param))  # as in PyTorch
    with fastdl.no_grad():
        state["0.weight"].fill_(123.0)
    np.testing.assert_array_equal(_np(model[0].weight), np.full((8, 4), 123.0, np.float32))
    assert list(model.state_dict(keep_vars=True).values())[0] is model[0].weight


class _ArrayLike:
    def __init__(self, array):
        self.array = array

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)


def test_load_state_dict_accepts_arrays_tensors_and_array_likes():
    model = _mlp()
    rng = np.random.default_rng(8)
    new = {
        k: rng.standard_normal(v.shape).astype(np.float32) for k, v in model.state_dict().items()
    }
    given = {
        "0.weight": new["0.weight"],
        "0.bias": fastdl.tensor(new["0.bias"]),
        "2.weight": _ArrayLike(new["2.weight"]),
        "2.bias": nn.Parameter(fastdl.tensor(new["2.bias"])),
    }
    result = model.load_state_dict(given)
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    for name, param in model.named_parameters():
        np.testing.assert_array_equal(_np(param), new[name])
    # loaded by copy: changing the source afterwards does not reach the model
    new["0.weight"][...] = 0.0
    assert np.abs(_np(model[0].weight)).sum() > 0
    # float64 values are cast into the float32 parameters
    model.load_state_dict({k: v.double() * 2 for k, v in model.state_dict().items()})
    assert model[0].weight.dtype == np.float32


def test_load_state_dict_reports_all_problems_at_once_and_loads_nothing():
    model = _mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bad = {
        "0.weight": np.zeros((8, 4), np.float32),  # fine, but must not be loaded
        "0.bias": np.zeros((5,), np.float32),  # mis-shaped
        "2.weight": np.zeros((3, 8), np.float32),
        "extra.weight": np.zeros(3, np.float32),  # unexpected; 2.bias missing
    }
    with pytest.raises(ValueError) as info:
        model.load_state_dict(bad)
    message = str(info.value)
    for needle in ("2.bias", "extra.weight", "0.bias", "(5,)", "(8,)"):
        assert needle in message, needle
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    model = _mlp()
    w = np.full((8, 4), 0.5, np.float32)
    result = model.load_state_dict({"0.weight": w, "bogus": np.zeros(1)}, strict=False)
    assert sorted(result.missing_keys) == ["0.bias", "2.bias", "2.weight"]
    assert list(result.unexpected_keys) == ["bogus"]
    np.testing.assert_array_equal(_np(model[0].weight), w)
    with pytest.raises(ValueError, match="0.weight"):
        model.load_state_dict({"0.weight": np.zeros((4, 8), np.float32)}, strict=False)


def test_parameters_children_modules_and_modes():
    model = _mlp()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    params = list(model.parameters())
    assert len(params) == 4 and params[0] is model[0].weight and params[3] is model[2].bias
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    children = list(model.children())
    assert [type(c).__name__ for c in children] == ["Linear", "ReLU", "Linear"]
    assert [type(m).__name__ for m in model.modules()] == ["Sequential", "Linear", "ReLU", "Linear"]
    assert len(model) == 3 and isinstance(model[-1], nn.Linear)

    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())

    x = fastdl.randn(5, 4)
    model(x).sum().backward()
    assert all(p.grad is not None and np.abs(p.grad.numpy()).sum() > 0 for p in params)
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in params)
    model.zero_grad()
    assert all(p.grad is None for p in params)

    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    assert not model(x).requires_grad
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_module_list_and_dict_register_their_children():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 3)])
            self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 2, bias=False)})
            self.scale = nn.Parameter(fastdl.ones(1))
            self.plain = 5

        def forward(self, x):
            for block in self.blocks:
                x = block(x).tanh()
            return self.heads["a"](x) * self.scale

    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale",
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.1.weight",
        "blocks.1.bias",
        "heads.a.weight",
        "heads.a.bias",
        "heads.b.weight",
    ]
    assert set(net.state_dict()) == {n for n, _ in net.named_parameters()}
    assert len(net.blocks) == 2 and "a" in net.heads and list(net.heads) == ["a", "b"]
    net.blocks.append(nn.Linear(3, 3))
    assert "blocks.2.weight" in dict(net.named_parameters())
    out = net(fastdl.randn(4, 3))
    assert out.shape == (4, 1)
    out.sum().backward()
    assert net.scale.grad is not None and net.blocks[0].weight.grad is not None


def test_repr_looks_like_pytorch():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3, bias=False))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=8, out_features=3, bias=False)\n"
        ")"
    )
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


def test_to_double_float_convert_parameters_and_grads():
    model = _mlp()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    model(fastdl.randn(3, 4)).sum().backward()
    assert model.to(fastdl.float64) is model
    for name, p in model.named_parameters():
        assert p.dtype == np.float64 and p.grad.dtype == np.float64
        np.testing.assert_array_equal(_np(p), before[name].astype(np.float64))
    out = model(fastdl.randn(3, 4, dtype=fastdl.float64))
    assert out.dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    model.to("float32")
    assert all(p.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError):
        model.to(fastdl.int64)


# -- activations --------------------------------------------------------------------------------


def _sigmoid_np(z):
    return 1 / (1 + np.exp(-z))


def _leaky(slope):
    return (
        lambda z: np.where(z > 0, z, slope * z),
        lambda z: np.where(z > 0, 1.0, slope),
    )


# name -> (module, f, f')
ACTIVATION_FORMULAS = {
    "relu": (nn.ReLU(), lambda z: np.maximum(z, 0), lambda z: (z > 0) * 1.0),
    "leaky_relu_default": (nn.LeakyReLU(), *_leaky(0.01)),
    "leaky_relu_0.3": (nn.LeakyReLU(0.3), *_leaky(0.3)),
    "sigmoid": (nn.Sigmoid(), _sigmoid_np, lambda z: _sigmoid_np(z) * (1 - _sigmoid_np(z))),
    "tanh": (nn.Tanh(), np.tanh, lambda z: 1 / np.cosh(z) ** 2),
    "identity": (nn.Identity(), lambda z: z, np.ones_like),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(ACTIVATION_FORMULAS))
def test_activation_modules_match_numpy(name, dtype):
    module, forward, derivative = ACTIVATION_FORMULAS[name]
    z = np.random.default_rng(9).uniform(-4, 4, (5, 7)).astype(dtype)
    g = np.random.default_rng(10).standard_normal((5, 7)).astype(dtype)
    x = _t(z, requires_grad=True)
    out = module(x)
    assert out.dtype == dtype
    z64 = z.astype(np.float64)
    assert_close(_np(out), forward(z64), dtype)
    out.backward(_t(g))
    assert_close(x.grad.numpy(), g * derivative(z64), dtype, kind="grad")


def test_leaky_relu_default_slope_gives_one_hundredth():
    z = fastdl.tensor([-3.0, -1.0, 0.0, 2.0])
    np.testing.assert_allclose(_np(nn.LeakyReLU()(z)), [-0.03, -0.01, 0.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(_np(nn.LeakyReLU(0.01)(z)), [-0.03, -0.01, 0.0, 2.0], rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_softmax_and_log_softmax_along_dim(dim, dtype):
    z = np.random.default_rng(11).standard_normal((3, 4, 5)).astype(dtype) * 3
    z64 = z.astype(np.float64)
    expected = np.exp(z64 - z64.max(axis=dim, keepdims=True))
    expected /= expected.sum(axis=dim, keepdims=True)
    s = nn.Softmax(dim=dim)(_t(z))
    ls = nn.LogSoftmax(dim=dim)(_t(z))
    assert s.shape == z.shape and s.dtype == dtype
    assert_close(_np(s), expected, dtype)
    assert_close(_np(s).sum(axis=dim), np.ones(np.delete(z.shape, dim % 3)), dtype)
    assert_close(_np(ls), np.log(expected), dtype)
    lse = np.log(np.exp(_np(ls).astype(np.float64)).sum(axis=dim))
    assert_close(lse, np.zeros_like(lse), dtype)
    assert_close(_np(F.softmax(_t(z), dim)), expected, dtype)
    with pytest.raises(TypeError):
        F.softmax(_t(z))


@pytest.mark.parametrize("dtype", FLOATS)
def test_activation_gradients_of_softmax_family_match_numpy(dtype):
    z = np.random.default_rng(12).standard_normal((4, 6)).astype(dtype)
    g = np.random.default_rng(13).standard_normal((4, 6)).astype(dtype)
    z64, g64 = z.astype(np.float64), g.astype(np.float64)
    s = np.exp(z64) / np.exp(z64).sum(axis=1, keepdims=True)
    x = _t(z, requires_grad=True)
    F.softmax(x, 1).backward(_t(g))
    assert_close(x.grad.numpy(), s * (g64 - (g64 * s).sum(axis=1, keepdims=True)), dtype, "grad")
    x = _t(z, requires_grad=True)
    F.log_softmax(x, 1).backward(_t(g))
    assert_close(x.grad.numpy(), g64 - s * g64.sum(axis=1, keepdims=True), dtype, "grad")


@pytest.mark.parametrize("dtype", FLOATS)
def test_extreme_inputs_give_finite_values_and_gradients(dtype):
    big = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype)

    x = _t(big, requires_grad=True)
    y = F.sigmoid(x)
    y.sum().backward()
    assert_close(_np(y), [[1.0, 0.0, 0.5], [0.0, 1.0, 1 / (1 + math.exp(-5))]], dtype)
    assert np.all(np.isfinite(x.grad.numpy()))

    x = _t(big, requires_grad=True)
    s = F.softmax(x, 1)
    (s * _t(np.arange(6, dtype=dtype).reshape(2, 3))).sum().backward()
    assert_close(_np(s), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype)
    assert np.all(np.isfinite(x.grad.numpy()))

    x = _t(big, requires_grad=True)
    ls = F.log_softmax(x, 1)
    ls.sum().backward()
    assert_close(_np(ls), [[0.0, -2e4, -1e4], [-2e4, 0.0, 5.0 - 1e4]], dtype)
    assert np.all(np.isfinite(x.grad.numpy()))
    assert_close(x.grad.numpy(), [[-2.0, 1.0, 1.0], [1.0, -2.0, 1.0]], dtype, kind="grad")

    x = _t(big, requires_grad=True)
    t = np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]], dtype)
    loss = nn.BCEWithLogitsLoss(reduction="none")(x, _t(t))
    loss.sum().backward()
    expected = np.maximum(big, 0) - big * t + np.log1p(np.exp(-np.abs(big.astype(np.float64))))
    assert np.all(np.isfinite(_np(loss)))
    assert_close(_np(loss), expected, dtype)
    sig = 1 / (1 + np.exp(-np.clip(big.astype(np.float64), -500, 500)))
    assert_close(x.grad.numpy(), sig - t, dtype, kind="grad")

    x = _t(big, requires_grad=True)
    ce = nn.CrossEntropyLoss()(x, _t(np.array([1, 1])))
    ce.backward()
    assert np.isfinite(ce.item()) and np.all(np.isfinite(x.grad.numpy()))
    assert_close(ce.item(), 1e4, dtype)


def test_bce_clamps_log_at_minus_100():
    loss = nn.BCELoss(reduction="none")(
        fastdl.tensor([0.0, 1.0, 0.0, 1.0]), fastdl.tensor([1.0, 0.0, 0.0, 1.0])
    )
    np.testing.assert_allclose(_np(loss), [100.0, 100.0, 0.0, 0.0])
    p = fastdl.tensor([0.0, 1.0], requires_grad=True)
    nn.BCELoss()(p, fastdl.tensor([1.0, 0.0])).backward()
    assert np.all(np.isfinite(p.grad.numpy()))
    with pytest.raises(ValueError):
        nn.BCELoss()(fastdl.tensor([1.5]), fastdl.tensor([1.0]))


# -- losses against NumPy formulas ---------------------------------------------------------------


def _reduce(losses, reduction):
    return {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _loss_case(name, rng, dtype):
    """(module class, input, target, per-element losses, d losses / d input) in float64."""
    n, c = 6, 4
    if name == "MSELoss":
        x, t = rng.standard_normal((n, c)), rng.standard_normal((n, c))
        return x, t, (x - t) ** 2, 2 * (x - t)
    if name == "L1Loss":
        x, t = rng.standard_normal((n, c)), rng.standard_normal((n, c))
        return x, t, np.abs(x - t), np.sign(x - t)
    if name == "BCELoss":
        p, t = rng.uniform(0.05, 0.95, (n, c)), rng.uniform(0, 1, (n, c))
        return p, t, -(t * np.log(p) + (1 - t) * np.log(1 - p)), (p - t) / (p * (1 - p))
    if name == "BCEWithLogitsLoss":
        z, t = rng.standard_normal((n, c)) * 3, (rng.uniform(0, 1, (n, c)) > 0.5) * 1.0
        s = 1 / (1 + np.exp(-z))
        return z, t, -(t * np.log(s) + (1 - t) * np.log(1 - s)), s - t
    rows = np.arange(n)
    y = rng.integers(0, c, n)
    onehot = np.eye(c)[y]
    if name == "NLLLoss":
        lp = np.log(_softmax(rng.standard_normal((n, c))))
        return lp, y, -lp[rows, y], -onehot
    if name == "CrossEntropyLoss":
        z = rng.standard_normal((n, c)) * 2
        p = _softmax(z)
        return z, y, -np.log(p[rows, y]), p - onehot
    if name == "CrossEntropyLoss_probs":
        z = rng.standard_normal((n, c)) * 2
        t = _softmax(rng.standard_normal((n, c)))
        p = _softmax(z)
        return z, t, -(t * np.log(p)).sum(axis=1), p * t.sum(axis=1, keepdims=True) - t
    raise AssertionError(name)


LOSSES = [
    "MSELoss",
    "L1Loss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "NLLLoss",
    "CrossEntropyLoss",
    "CrossEntropyLoss_probs",
]


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_losses_match_numpy_formulas(name, reduction, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{name}/{reduction}".encode()))
    x, t, losses, dlosses = _loss_case(name, rng, dtype)
    x = x.astype(dtype)
    target = _t(t) if t.dtype == np.int64 else _t(t.astype(dtype))
    xt = _t(x, requires_grad=True)
    module = getattr(nn, name.split("_")[0])(reduction=reduction)
    out = module(xt, target)
    expected = _reduce(losses, reduction)
    assert out.dtype == dtype
    assert out.shape == np.shape(expected)
    assert_close(_np(out), expected, dtype)

    upstream = np.random.default_rng(1).standard_normal(np.shape(expected))
    out.backward(_t(upstream.astype(dtype)))
    if reduction == "none":
        scale = upstream if losses.ndim == x.ndim else upstream[:, None]
    else:
        scale = upstream / (losses.size if reduction == "mean" else 1)
    assert xt.grad.shape == x.shape
    assert_close(xt.grad.numpy(), dlosses * scale, dtype, kind="grad")


def test_cross_entropy_int_targets_equal_sparse_and_probability_targets_equal_categorical():
    rng = np.random.default_rng(14)
    z = rng.standard_normal((5, 3)).astype(np.float32)
    y = np.array([0, 2, 1, 1, 0])
    sparse = nn.CrossEntropyLoss()(_t(z), _t(y)).item()
    onehot = nn.CrossEntropyLoss()(_t(z), _t(np.eye(3, dtype=np.float32)[y])).item()
    via_nll = nn.NLLLoss()(F.log_softmax(_t(z), 1), _t(y)).item()
    assert_close(sparse, onehot, np.float32)
    assert_close(sparse, via_nll, np.float32)
    p = _softmax(z.astype(np.float64))
    assert_close(sparse, -np.log(p[np.arange(5), y]).mean(), np.float32)


def test_cross_entropy_target_validation():
    logits = fastdl.randn(4, 3)
    with pytest.raises(TypeError):
        nn.CrossEntropyLoss()(logits, fastdl.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="target 3"):
        nn.CrossEntropyLoss()(logits, fastdl.tensor([0, 3, 1, 2]))
    with pytest.raises(ValueError, match="target -1"):
        nn.CrossEntropyLoss()(logits, fastdl.tensor([0, -1, 1, 2]))
    with pytest.raises(ValueError, match="target 7"):
        nn.NLLLoss()(F.log_softmax(logits, 1), fastdl.tensor([7, 0, 1, 2]))
    for bad in (fastdl.tensor([0, 1, 2]), fastdl.tensor([[0], [1], [2], [0]])):
        with pytest.raises(ValueError, match=r"\(4,\)"):
            nn.CrossEntropyLoss()(logits, bad)
    with pytest.raises(ValueError):
        nn.MSELoss()(logits, fastdl.randn(4, 2))
    with pytest.raises(ValueError):
        nn.CrossEntropyLoss(reduction="avg")


# -- bad input leaves everything untouched -------------------------------------------------------


def _snapshot(model, opt):
    params = {n: _np(p).copy() for n, p in model.named_parameters()}
    grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    state = opt.state_dict()
    return params, grads, state


def _assert_same(a, b):
    for before, after in zip(a[:2], b[:2]):
        assert before.keys() == after.keys()
        for k in before:
            np.testing.assert_array_equal(after[k], before[k], err_msg=k)
    sa, sb = a[2]["state"], b[2]["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        for k in sa[i]:
            np.testing.assert_array_equal(sb[i][k], sa[i][k])
    assert a[2]["param_groups"] == b[2]["param_groups"]


def test_linear_input_validation_names_shapes_and_dtypes():
    layer = nn.Linear(4, 8)
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(8, 4\)"):
        layer(fastdl.randn(5, 3))
    with pytest.raises(TypeError, match="float64"):
        layer(fastdl.randn(5, 4, dtype=fastdl.float64))
    with pytest.raises(TypeError):
        layer(fastdl.ones(5, 4, dtype=fastdl.int64))


def test_bad_input_leaves_parameters_grads_and_optimizer_state_untouched():
    model = _mlp()
    opt = fastdl.optim.Adam(model.parameters(), lr=0.01)
    x = fastdl.randn(6, 4)
    y = fastdl.tensor([0, 1, 2, 0, 1, 2])
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(2):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    loss_fn(model(x), y).backward()  # leave non-zero grads in place
    before = _snapshot(model, opt)

    bad_calls = [
        (ValueError, lambda: model(fastdl.randn(6, 5))),
        (TypeError, lambda: model(fastdl.randn(6, 4, dtype=fastdl.float64))),
        (ValueError, lambda: loss_fn(model(x), fastdl.tensor([0, 1, 2, 0, 1, 3]))),
        (ValueError, lambda: loss_fn(model(x), fastdl.tensor([0, 1, 2]))),
        (TypeError, lambda: loss_fn(model(x), fastdl.tensor([0.0, 1, 2, 0, 1, 2]))),
        (ValueError, lambda: model.load_state_dict({"0.weight": np.zeros((2, 2))})),
    ]
    for error, call in bad_calls:
        with pytest.raises(error):
            call()
        _assert_same(before, _snapshot(model, opt))
