"""Grad modes as PyTorch has them (``set_grad_enabled`` as a call, a context manager
and a decorator; ``inference_mode``; ``no_grad``/``enable_grad`` as decorators), the
random state (``get_rng_state``, ``Generator``) and the ``accelerator`` and
``backends`` flags scripts probe."""

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.utils.data import DataLoader, TensorDataset, random_split


@pytest.fixture(autouse=True)
def grad_mode_restored():
    yield
    fastdl.set_grad_enabled(True)


def _records() -> bool:
    x = fastdl.ones(2, requires_grad=True)
    return (x * 2.0).requires_grad


def test_set_grad_enabled_as_a_call():
    fastdl.set_grad_enabled(False)
    assert not fastdl.is_grad_enabled() and not _records()
    fastdl.set_grad_enabled(True)
    assert fastdl.is_grad_enabled() and _records()


@pytest.mark.parametrize("outer", [True, False])
@pytest.mark.parametrize("inner", [True, False])
def test_set_grad_enabled_as_a_context_manager_restores(outer, inner):
    fastdl.set_grad_enabled(outer)
    with fastdl.set_grad_enabled(inner):
        assert fastdl.is_grad_enabled() == inner and _records() == inner
    assert fastdl.is_grad_enabled() == outer


def test_set_grad_enabled_restores_after_an_exception_and_decorates():
    with pytest.raises(KeyError):
        with fastdl.set_grad_enabled(False):
            raise KeyError("boom")
    assert fastdl.is_grad_enabled()

    @fastdl.set_grad_enabled(False)
    def f():
        return _records()

    assert fastdl.is_grad_enabled()  # decorating changes nothing yet
    assert f() is False
    assert fastdl.is_grad_enabled()


def test_inference_mode_context_and_decorators():
    assert not fastdl.is_inference_mode_enabled()
    with fastdl.inference_mode():
        assert fastdl.is_inference_mode_enabled() and not _records()
    assert fastdl.is_grad_enabled() and not fastdl.is_inference_mode_enabled()
    with fastdl.inference_mode(False):
        assert _records() and not fastdl.is_inference_mode_enabled()
    with fastdl.no_grad(), fastdl.inference_mode(mode=False):
        assert not _records()  # mode=False leaves the outer mode alone

    @fastdl.inference_mode()
    def with_parens():
        return _records(), fastdl.is_inference_mode_enabled()

    @fastdl.inference_mode
    def bare():
        return _records()

    assert with_parens() == (False, True) and bare() is False
    assert with_parens.__name__ == "with_parens"
    assert fastdl.is_grad_enabled() and not fastdl.is_inference_mode_enabled()
    with pytest.raises(ValueError):
        with fastdl.inference_mode():
            raise ValueError
    assert fastdl.is_grad_enabled() and not fastdl.is_inference_mode_enabled()


def test_no_grad_and_enable_grad_decorate():
    @fastdl.no_grad()
    def off():
        return _records()

    @fastdl.enable_grad()
    def on():
        return _records()

    assert off() is False
    with fastdl.no_grad():
        assert on() is True
    assert fastdl.is_grad_enabled()


def test_manual_update_under_no_grad_keeps_the_leaf():
    w = fastdl.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with fastdl.set_grad_enabled(False):
        w.data = (w - 0.1 * w.grad).data
    np.testing.assert_allclose(w.detach().numpy(), [0.8, 1.6], rtol=1e-6)
    assert w.requires_grad and w.is_leaf and fastdl.is_grad_enabled()


# -- random state --------------------------------------------------------------------------


def test_rng_state_is_a_uint8_tensor_and_round_trips():
    fastdl.manual_seed(4)
    fastdl.rand(3)
    state = fastdl.get_rng_state()
    assert isinstance(state, fastdl.Tensor) and state.dtype == fastdl.uint8
    assert state.shape == (16,)
    a = (fastdl.rand(5), fastdl.randn(2), fastdl.randint(0, 50, (4,)))
    fastdl.set_rng_state(state)
    b = (fastdl.rand(5), fastdl.randn(2), fastdl.randint(0, 50, (4,)))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    with pytest.raises(ValueError, match="16 bytes"):
        fastdl.set_rng_state(state[:3])


def test_generator_api():
    g = fastdl.Generator()
    assert g.manual_seed(12) is g and g.initial_seed() == 12
    state = g.get_state()
    first = fastdl.rand(4, generator=g)
    g.set_state(state)
    np.testing.assert_array_equal(fastdl.rand(4, generator=g).numpy(), first.numpy())
    s = g.seed()
    assert g.initial_seed() == s
    # the uint64 [seed, offset] form restores a Generator too
    h = fastdl.Generator().set_state(fastdl.random._from_bytes(state))
    np.testing.assert_array_equal(fastdl.rand(4, generator=h).numpy(), first.numpy())
    # a generator draws independently of the default one
    fastdl.manual_seed(0)
    fastdl.rand(1, generator=fastdl.Generator().manual_seed(3))
    after = fastdl.rand(2)
    fastdl.manual_seed(0)
    np.testing.assert_array_equal(fastdl.rand(2).numpy(), after.numpy())


def test_cuda_generator_draws_on_the_device():
    g = fastdl.Generator(device="cuda").manual_seed(5)
    assert g.device == "cuda"
    drawn = fastdl.rand(3, generator=g, device="cuda")
    on_cpu = fastdl.rand(3, generator=fastdl.Generator().manual_seed(5))
    np.testing.assert_array_equal(drawn.cpu().numpy(), on_cpu.numpy())
    assert fastdl.randperm(4, generator=g).device == "cpu"


def test_generator_accepted_by_init_data_and_splits():
    layer = nn.Linear(3, 2)
    a = nn.init.normal_(layer.weight, generator=fastdl.Generator().manual_seed(1)).detach()
    b = nn.init.normal_(nn.Linear(3, 2).weight, generator=fastdl.Generator().manual_seed(1))
    np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    data = TensorDataset(fastdl.arange(10))
    orders = [
        [
            int(x)
            for (batch,) in DataLoader(data, 5, True, generator=fastdl.Generator().manual_seed(2))
            for x in batch
        ]
        for _ in range(2)
    ]
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(10))
    splits = [
        [
            s.indices
            for s in random_split(data, [0.5, 0.5], generator=fastdl.Generator().manual_seed(3))
        ]
        for _ in range(2)
    ]
    assert [list(i) for i in splits[0]] == [list(i) for i in splits[1]]


# -- accelerator and torch.backends flags ---------------------------------------------------


def test_accelerator_without_a_gpu():
    available = fastdl.cuda.is_available()
    assert fastdl.accelerator.is_available() == available
    current = fastdl.accelerator.current_accelerator()
    if available:
        assert current.type == "cuda" and fastdl.accelerator.device_count() >= 1
    else:
        assert current is None and fastdl.accelerator.device_count() == 0
    device = current if fastdl.accelerator.is_available() else "cpu"
    assert fastdl.zeros(1, device=device).device.type == (current.type if current else "cpu")


def test_backends_flags():
    assert fastdl.backends.mps.is_available() is False
    assert fastdl.backends.mps.is_built() is False
    cudnn = fastdl.backends.cudnn
    before = (cudnn.benchmark, cudnn.deterministic)
    cudnn.benchmark, cudnn.deterministic = True, True
    assert cudnn.benchmark and cudnn.deterministic
    cudnn.benchmark, cudnn.deterministic = before
    assert fastdl.backends.get("reference").name == "reference"  # the registry is intact
