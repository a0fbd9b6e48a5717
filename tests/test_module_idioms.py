"""Module idioms of PyTorch scripts: layer signatures, registration, traversal, modes,
zero_grad, dtype conversion, state dicts."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import fastdl
from fastdl import nn, optim

# Every layer's positional arguments, in torch.nn's order (as torch 2.13 spells them).
TORCH_ORDER = {
    nn.Linear: ["in_features", "out_features", "bias", "device", "dtype"],
    nn.Conv2d: [
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "bias",
        "padding_mode",
        "device",
        "dtype",
    ],
    nn.Embedding: [
        "num_embeddings",
        "embedding_dim",
        "padding_idx",
        "max_norm",
        "norm_type",
        "scale_grad_by_freq",
        "sparse",
        "_weight",
        "_freeze",
        "device",
        "dtype",
    ],
    nn.BatchNorm1d: [
        "num_features",
        "eps",
        "momentum",
        "affine",
        "track_running_stats",
        "device",
        "dtype",
    ],
    nn.BatchNorm2d: [
        "num_features",
        "eps",
        "momentum",
        "affine",
        "track_running_stats",
        "device",
        "dtype",
    ],
    nn.LayerNorm: ["normalized_shape", "eps", "elementwise_affine", "bias", "device", "dtype"],
    nn.RNNCell: ["input_size", "hidden_size", "bias", "nonlinearity", "device", "dtype"],
    nn.LSTMCell: ["input_size", "hidden_size", "bias", "device", "dtype"],
}


def _arguments(init) -> list[str]:
    """The arguments that may be passed by position, in order."""
    return [
        name
        for name, p in inspect.signature(init).parameters.items()
        if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
    ]


@pytest.mark.parametrize("cls", list(TORCH_ORDER), ids=lambda c: c.__name__)
def test_layer_arguments_follow_torch_order(cls):
    assert _arguments(cls.__init__) == TORCH_ORDER[cls]


def test_positional_device_and_dtype_build_the_layer():
    fastdl.manual_seed(0)
    layer = nn.Linear(3, 2, False, "cpu", fastdl.float64)
    assert layer.weight.dtype == np.float64 and layer.bias is None
    assert layer.weight.device == "cpu"
    bn = nn.BatchNorm1d(4, 1e-5, 0.1, True, True, None, fastdl.float64)
    assert {t.dtype for t in bn.parameters()} == {np.dtype(np.float64)}
    assert bn.running_mean.dtype == np.float64
    assert nn.BatchNorm2d(3, bias=False).bias is None
    ln = nn.LayerNorm(5, 1e-5, True, False)
    assert ln.bias is None and ln.weight.shape == (5,)
    conv = nn.Conv2d(2, 3, 3, dtype=fastdl.float64)
    assert conv.weight.dtype == np.float64
    emb = nn.Embedding(4, 3, None, None, 2.0, False, False, None, True, dtype=fastdl.float64)
    assert emb.weight.dtype == np.float64 and not emb.weight.requires_grad
    lstm = nn.LSTM(3, 4, dtype=fastdl.float64)
    assert all(p.dtype == np.float64 for p in lstm.parameters())


def test_layer_refuses_bad_factory_arguments_before_building():
    with pytest.raises(TypeError, match="Linear: dtype must be a floating dtype"):
        nn.Linear(3, 2, dtype=fastdl.int64)
    with pytest.raises(TypeError, match="float16"):
        nn.Linear(3, 2, dtype="float16")
    with pytest.raises(ValueError, match="sparse"):
        nn.Embedding(4, 3, sparse=True)
    with pytest.raises(ValueError, match="_weight has shape"):
        nn.Embedding(4, 3, _weight=fastdl.zeros(3, 3))


def test_embedding_takes_its_weight():
    weight = fastdl.tensor(np.arange(12.0).reshape(4, 3))
    emb = nn.Embedding(4, 3, _weight=weight)
    np.testing.assert_array_equal(emb(fastdl.tensor([2])).detach().numpy(), [[6.0, 7.0, 8.0]])


def test_layer_built_on_a_cuda_device():
    fastdl.manual_seed(3)
    on_host = nn.Linear(3, 2)
    fastdl.manual_seed(3)
    on_device = nn.Linear(3, 2, device="cuda")
    assert on_device.weight.device.type == "cuda"
    np.testing.assert_array_equal(
        on_device.weight.cpu().detach().numpy(), on_host.weight.detach().numpy()
    )
    bn = nn.BatchNorm1d(3, device="cuda")
    assert bn.running_var.device.type == "cuda"


# -- traversal ---------------------------------------------------------------------------


class Block(nn.Module):
    def __init__(self, shared: nn.Module | None = None) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.act = nn.ReLU()
        self.shared = shared
        self.register_buffer("scale", fastdl.ones(2))
        self.register_buffer("cache", fastdl.zeros(2), persistent=False)

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale

    def extra_repr(self) -> str:
        return "width=2"


def _nested():
    shared = nn.Linear(2, 2)
    return nn.Sequential(Block(shared), Block(shared)), shared


def test_apply_visits_children_first_then_the_module():
    model, _ = _nested()
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == [
        "Linear", "ReLU", "Linear", "Block",
        "Linear", "ReLU", "Linear", "Block",
        "Sequential",
    ]  # fmt: skip


def test_named_modules_prefix_and_duplicates():
    model, shared = _nested()
    names = [name for name, _ in model.named_modules(prefix="net")]
    assert names == ["net", "net.0", "net.0.fc", "net.0.act", "net.0.shared", "net.1",
                     "net.1.fc", "net.1.act"]  # fmt: skip
    everything = [name for name, _ in model.named_modules(remove_duplicate=False)]
    assert "1.shared" in everything and len(everything) == 9
    assert [n for n, _ in model[0].named_children()] == ["fc", "act", "shared"]
    assert list(model.children()) == [model[0], model[1]]
    assert sum(1 for _ in model.modules()) == 8


def test_parameters_buffers_recurse_and_prefix():
    model, shared = _nested()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.fc.weight", "0.fc.bias", "0.shared.weight", "0.shared.bias",
                     "1.fc.weight", "1.fc.bias"]  # fmt: skip
    assert [n for n, _ in model[0].named_parameters(prefix="b", recurse=False)] == []
    assert [n for n, _ in model[0].fc.named_parameters(prefix="fc")] == ["fc.weight", "fc.bias"]
    assert len(list(model.parameters(recurse=False))) == 0
    assert len(list(model.parameters())) == 6
    assert [n for n, _ in model.named_buffers()] == ["0.scale", "0.cache", "1.scale", "1.cache"]
    assert len(list(model[0].buffers(recurse=False))) == 2


def test_get_submodule_parameter_and_buffer():
    model, shared = _nested()
    assert model.get_submodule("") is model
    assert model.get_submodule("1.shared") is shared
    assert model.get_parameter("0.fc.bias") is model[0].fc.bias
    assert model.get_buffer("1.scale") is model[1].scale
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        model.get_submodule("0.nope")
    with pytest.raises(AttributeError, match="no parameter 'gamma'"):
        model.get_parameter("0.fc.gamma")


# -- registration ------------------------------------------------------------------------


def test_registration_methods_and_their_checks():
    m = nn.Module()
    m.register_parameter("w", nn.Parameter(fastdl.ones(2)))
    m.register_module("child", nn.Linear(1, 1))
    m.add_module("other", None)
    m.register_buffer("b", None)
    assert [n for n, _ in m.named_parameters()] == ["w", "child.weight", "child.bias"]
    assert m.other is None and m.b is None
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'x'"):
        m.register_parameter("x", fastdl.ones(2))
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", fastdl.ones(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("w", fastdl.ones(1))
    with pytest.raises(TypeError, match="not a Module"):
        m.add_module("bad", 3)


def test_setattr_after_construction_follows_the_registries():
    layer = nn.Linear(3, 2)
    layer.extra = nn.Parameter(fastdl.zeros(2))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias", "extra"]
    layer.bias = None
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight", "extra"]
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'weight'"):
        layer.weight = fastdl.zeros(2, 3)
    layer.head = nn.Linear(2, 1)
    assert "head" in dict(layer.named_children())
    with pytest.raises(TypeError, match="as child module 'head'"):
        layer.head = 3
    layer.head = None
    assert list(layer.children()) == []
    del layer.extra
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    with pytest.raises(AttributeError):
        getattr(layer, "extra")  # noqa: B009


def test_assigning_a_buffer_keeps_it_a_buffer():
    block = Block()
    block.cache = fastdl.full((2,), 7.0)
    block.scale = fastdl.full((2,), 3.0)
    assert [n for n, _ in block.named_buffers()] == ["scale", "cache"]
    assert "cache" not in block.state_dict()
    np.testing.assert_array_equal(block.state_dict()["scale"], [3.0, 3.0])
    del block.cache
    assert [n for n, _ in block.named_buffers()] == ["scale"]


# -- modes, gradients, dtypes, repr -------------------------------------------------------------


def test_modes_and_requires_grad_return_the_module():
    model, _ = _nested()
    assert model.eval() is model and not any(m.training for m in model.modules())
    assert model.train() is model and all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="boolean"):
        model.train("yes")
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())


def test_zero_grad_sets_none_and_backward_refills_the_flat_buffer():
    fastdl.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert all(p.grad is None for p in model.parameters())
    x = fastdl.randn(5, 4)
    model(x).sum().backward()
    first = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model(x).sum().backward()  # written into the flat buffer, not added to old values
    (buffer,) = fastdl.flat.flatten(list(model.parameters()))
    for p, g in zip(model.parameters(), first):
        np.testing.assert_array_equal(p.grad.numpy(), g)
        assert p.grad.numpy().base is buffer.grads
    model.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in model.parameters())
    opt.zero_grad()
    opt.step()  # no gradients: nothing moves


def test_zero_grad_without_an_optimizer():
    layer = nn.Linear(2, 2)
    x = fastdl.randn(3, 2)
    layer(x).sum().backward()
    first = layer.weight.grad.numpy().copy()
    layer.zero_grad()
    assert layer.weight.grad is None
    layer(x).sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy(), first)


def test_half_is_refused_float_double_convert():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="float16"):
        layer.half()
    with pytest.raises(TypeError, match="bfloat16"):
        layer.bfloat16()
    assert layer.weight.dtype == np.float32  # untouched
    before = layer.weight.detach().numpy().copy()
    assert layer.double() is layer and layer.weight.dtype == np.float64
    np.testing.assert_array_equal(layer.weight.detach().numpy(), before.astype(np.float64))
    assert layer.float().weight.dtype == np.float32
    block = Block()
    block.to(fastdl.float64)
    assert block.cache.dtype == np.float64  # non-persistent buffers convert too


def test_extra_repr_shows_in_repr():
    text = repr(Block())
    assert text.startswith("Block(\n  width=2\n  (fc): Linear(in_features=2, out_features=2")


# -- state dicts -----------------------------------------------------------------------------


def test_state_dict_prefix_keep_vars_and_non_persistent_buffers():
    model, shared = _nested()
    state = model.state_dict()
    # PyTorch's order: each module's own entries, then its children's; a shared module
    # under each of its names
    assert list(state) == ["0.scale", "0.fc.weight", "0.fc.bias", "0.shared.weight",
                           "0.shared.bias", "1.scale", "1.fc.weight", "1.fc.bias",
                           "1.shared.weight", "1.shared.bias"]  # fmt: skip
    assert list(model[0].fc.state_dict(prefix="enc.")) == ["enc.weight", "enc.bias"]
    kept = model.state_dict(keep_vars=True)
    assert kept["0.fc.weight"] is model[0].fc.weight


def test_load_state_dict_reports_missing_and_unexpected_keys():
    source, target = Block(), Block()
    state = dict(source.state_dict())
    state.pop("fc.bias")
    state["extra"] = np.zeros(1, np.float32)
    with pytest.raises(
        ValueError, match=r'(?s)Missing key\(s\).*"fc.bias".*Unexpected key\(s\).*"extra"'
    ):
        target.load_state_dict(state)
    result = target.load_state_dict(state, strict=False)
    assert result.missing_keys == ["fc.bias"] and result.unexpected_keys == ["extra"]
    missing, unexpected = result
    assert missing == ["fc.bias"]
    np.testing.assert_array_equal(
        target.fc.weight.detach().numpy(), source.fc.weight.detach().numpy()
    )
    # a non-persistent buffer is neither expected nor loaded
    assert target.load_state_dict(source.state_dict()).missing_keys == []
