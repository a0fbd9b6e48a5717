"""PyTorch's Tensor methods and properties: views, metadata, conversions, factories
from a tensor, fills, bitwise operators, and the ShapeError/DeviceError classes."""

import numpy as np
import pytest

import fastdl
from fastdl.autograd import gradcheck


def _arange(*shape, dtype=fastdl.float32):
    return fastdl.tensor(np.arange(np.prod(shape)).reshape(shape), dtype=dtype)


# -- views -----------------------------------------------------------------------------


def test_view_shares_storage_both_ways():
    x = _arange(2, 3)
    v = x.view(3, 2)
    v[0, 1] = 100.0
    assert x[0, 1].item() == 100.0
    x.add_(1.0)
    assert v.tolist() == [[1.0, 101.0], [3.0, 4.0], [5.0, 6.0]]
    assert x.view(-1).shape == (6,) and x.view((2, -1, 1)).shape == (2, 3, 1)
    assert x.view_as(fastdl.zeros(6, 1)).shape == (6, 1)


def test_view_of_strides_that_allow_it_is_a_view():
    x = _arange(4, 1, 3).permute(1, 0, 2)  # (1, 4, 3): the size-1 dim moved only
    v = x.view(12)
    v.fill_(7.0)
    assert x.numpy().ravel().tolist() == [7.0] * 12


def test_view_that_needs_a_copy_is_refused():
    x = _arange(2, 3)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.T.view(6)
    with pytest.raises(fastdl.ShapeError, match="invalid for input of shape"):
        x.view(4)
    assert x.T.reshape(6).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    assert x.reshape_as(fastdl.zeros(3, 2)).shape == (3, 2)


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_view_gradients_match_finite_differences(backend):
    x = fastdl.tensor(np.random.default_rng(0).standard_normal((2, 6)), dtype=fastdl.float64)
    x.requires_grad_()
    with fastdl.use_backend(backend):
        assert gradcheck(lambda t: t.view(3, 4).T.exp().view_as(t.T) * 2.0, [x])


def test_view_on_the_gpu_is_a_view_and_matches_the_cpu():
    data = np.arange(6.0).reshape(2, 3)
    x = fastdl.tensor(data, device="cuda")
    v = x.view(3, 2)
    v[1] = 9.0
    expected = data.copy().reshape(3, 2)
    expected[1] = 9.0
    np.testing.assert_array_equal(x.cpu().numpy(), expected.reshape(2, 3))
    with pytest.raises(RuntimeError, match="view size"):
        x.T.view(6)
    strided = fastdl.tensor(np.zeros((3, 2)), device="cuda").T
    assert not strided.is_contiguous()
    v = strided.view(1, 2, 3)  # only a size-1 dim added: still a view
    v[0, 1] = 7.0
    assert strided.cpu().tolist() == [[0.0, 0.0, 0.0], [7.0, 7.0, 7.0]]


# -- metadata ----------------------------------------------------------------------------


def test_strides_offsets_and_sizes():
    x = fastdl.zeros(2, 3, 4, dtype=fastdl.float64)
    assert x.stride() == (12, 4, 1) and x.stride(-1) == 1 and x.stride(0) == 12
    assert x.permute(2, 0, 1).stride() == (1, 12, 4)
    assert x.storage_offset() == 0
    assert fastdl.from_numpy(np.zeros(10)[3:]).storage_offset() == 3
    assert x.element_size() == 8 and x.itemsize == 8 and x.nbytes == 8 * 24
    assert x.dim() == x.ndimension() == 3 and x.size(-2) == 3 and x.shape == (2, 3, 4)
    assert x.is_contiguous() and not x.transpose(0, 1).is_contiguous()
    assert x.transpose(0, 1).contiguous().is_contiguous()
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.size(3)


def test_python_protocols():
    loss = fastdl.tensor(0.123456)
    assert f"{loss:.4f}" == "0.1235" and f"{fastdl.tensor(3):>3d}" == "  3"
    assert len(fastdl.zeros(4, 2)) == 4
    assert [t.tolist() for t in fastdl.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]
    assert bool(fastdl.tensor([1.0])) and not bool(fastdl.tensor(0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(fastdl.ones(2))
    assert [10, 20, 30][fastdl.tensor(2)] == 30
    with pytest.raises(TypeError):
        [10, 20][fastdl.tensor(1.0)]
    assert int(fastdl.tensor(3.7)) == 3 and float(fastdl.tensor(2)) == 2.0
    with pytest.raises(TypeError, match="0-d"):
        iter(fastdl.tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        len(fastdl.tensor(1.0))


def test_item_tolist_numpy():
    x = fastdl.tensor([[1.5, 2.5]], requires_grad=True)
    assert x[0, 1].item() == 2.5 and x.tolist() == [[1.5, 2.5]]
    with pytest.raises(RuntimeError, match="requires grad"):
        x.numpy()
    assert x.detach().numpy().dtype == np.float32
    with pytest.raises(TypeError, match="cpu"):
        x.detach().to("cuda").numpy()


# -- conversions -------------------------------------------------------------------------


def test_type_names_and_conversions():
    x = fastdl.tensor([1.7, -2.2])
    assert x.type() == "torch.FloatTensor"
    assert x.double().type() == "torch.DoubleTensor"
    assert x.long().type() == "torch.LongTensor" and x.long().tolist() == [1, -2]
    assert x.int().dtype == fastdl.int64 and x.bool().type() == "torch.BoolTensor"
    assert x.float() is x and x.type(fastdl.float32) is x
    assert x.type("torch.DoubleTensor").dtype == fastdl.float64
    assert x.type(fastdl.int64).tolist() == [1, -2]
    assert x.type_as(fastdl.tensor([1])).dtype == fastdl.int64
    assert x.to("cuda").type() == "torch.cuda.FloatTensor"
    assert x.type("torch.cuda.LongTensor").device.type == "cuda"
    with pytest.raises(TypeError, match="invalid type"):
        x.type("torch.HalfTensor")


def test_new_factories_take_the_dtype_and_device_of_the_tensor():
    x = fastdl.zeros(2, dtype=fastdl.float64)
    for made in (x.new_zeros(2, 3), x.new_ones((2, 3)), x.new_empty(2, 3), x.new_full((2, 3), 7)):
        assert made.shape == (2, 3) and made.dtype == fastdl.float64
    assert x.new_ones(2).tolist() == [1.0, 1.0] and x.new_full((1,), 7).tolist() == [7.0]
    assert x.new_zeros(2, dtype=fastdl.int64).dtype == fastdl.int64
    t = x.new_tensor([1, 2])
    assert t.dtype == fastdl.float64 and t.tolist() == [1.0, 2.0]
    g = x.to("cuda").new_zeros(3, requires_grad=True)
    assert g.device.type == "cuda" and g.requires_grad


# -- gradients and data ----------------------------------------------------------------------


def test_grad_setter_checks_shape_dtype_and_device():
    w = fastdl.zeros(3, requires_grad=True)
    w.grad = fastdl.ones(3)
    assert w.grad.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="shape"):
        w.grad = fastdl.ones(2)
    with pytest.raises(TypeError, match="dtype"):
        w.grad = fastdl.ones(3, dtype=fastdl.float64)
    with pytest.raises(RuntimeError, match="cuda"):
        w.grad = fastdl.ones(3, device="cuda")
    w.grad = None
    assert w.grad is None


def test_data_detach_and_requires_grad():
    w = fastdl.ones(2, requires_grad=True)
    w.data.mul_(3.0)  # no leaf error: .data is cut from the graph
    assert w.tolist() == [3.0, 3.0] and w.requires_grad
    w.data = fastdl.tensor([5.0, 6.0])
    assert w.tolist() == [5.0, 6.0] and w.requires_grad
    y = w * 2.0
    assert y.detach_() is y and y.is_leaf and not y.requires_grad
    assert fastdl.zeros(1).requires_grad_().requires_grad


# -- fills and random initialisers -------------------------------------------------------------


def test_fill_zero_copy_masked_fill():
    x = fastdl.zeros(2, 3)
    assert x.fill_(2.5) is x and x.tolist() == [[2.5] * 3] * 2
    x.fill_(fastdl.tensor(4.0))
    assert x.tolist() == [[4.0] * 3] * 2
    assert x.zero_().tolist() == [[0.0] * 3] * 2
    x.copy_(fastdl.tensor([1, 2, 3]))  # broadcast and cast
    assert x.tolist() == [[1.0, 2.0, 3.0]] * 2
    x.copy_(fastdl.tensor([[7.0], [8.0]], device="cuda"))  # across devices
    assert x.tolist() == [[7.0] * 3, [8.0] * 3]
    with pytest.raises(fastdl.ShapeError, match="cannot be broadcast"):
        x.copy_(fastdl.zeros(4))
    mask = fastdl.tensor([True, False, True])
    m = x.masked_fill(mask, -1.0)
    assert m.tolist() == [[-1.0, 7.0, -1.0], [-1.0, 8.0, -1.0]] and x[0, 0].item() == 7.0
    assert x.masked_fill_(mask, 0.0) is x and x.tolist() == [[0.0, 7.0, 0.0], [0.0, 8.0, 0.0]]
    with pytest.raises(TypeError, match="bool"):
        x.masked_fill(fastdl.tensor([1, 0, 1]), 0.0)
    ints = fastdl.tensor([1, 2]).masked_fill(fastdl.tensor([True, False]), 2.7)
    assert ints.tolist() == [2, 2] and ints.dtype == fastdl.int64


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_masked_fill_gradient_matches_finite_differences(backend):
    rng = np.random.default_rng(2)
    x = fastdl.tensor(rng.standard_normal((3, 4)), dtype=fastdl.float64, requires_grad=True)
    v = fastdl.tensor(0.3, dtype=fastdl.float64, requires_grad=True)
    mask = fastdl.tensor(rng.random(4) > 0.5)
    with fastdl.use_backend(backend):
        assert gradcheck(lambda a, b: a.masked_fill(mask, b) * a, [x, v])


def test_random_initialisers_follow_the_seed_and_the_generator():
    x = fastdl.zeros(1000, dtype=fastdl.float64)
    x.uniform_(-2.0, 3.0)
    assert -2.0 <= x.numpy().min() and x.numpy().max() < 3.0 and abs(x.mean().item() - 0.5) < 0.2
    x.normal_(1.0, 0.5)
    assert abs(x.mean().item() - 1.0) < 0.1 and abs(x.numpy().std() - 0.5) < 0.05
    gen = fastdl.Generator().manual_seed(3)
    a = fastdl.zeros(500).bernoulli_(0.3, generator=gen)
    b = fastdl.zeros(500).bernoulli_(0.3, generator=fastdl.Generator().manual_seed(3))
    assert a.tolist() == b.tolist() and set(a.tolist()) == {0.0, 1.0}
    assert abs(a.mean().item() - 0.3) < 0.08
    p = fastdl.tensor([0.0, 1.0])
    assert fastdl.zeros(3, 2).bernoulli_(p).tolist() == [[0.0, 1.0]] * 3
    assert fastdl.zeros(4, dtype=fastdl.bool_).bernoulli_(1.0).tolist() == [True] * 4
    with pytest.raises(TypeError, match="floating"):
        fastdl.zeros(2, dtype=fastdl.int64).normal_()


def test_random_initialisers_fill_on_the_gpu():
    x = fastdl.zeros(64, device="cuda").uniform_(1.0, 2.0)
    host = x.cpu().numpy()
    assert x.device.type == "cuda" and host.min() >= 1.0 and host.max() < 2.0
    assert set(fastdl.zeros(16, device="cuda").bernoulli_(0.5).cpu().tolist()) <= {0.0, 1.0}


# -- bitwise -----------------------------------------------------------------------------------


def test_bitwise_operators_on_bool_tensors():
    a = fastdl.tensor([True, True, False, False])
    b = fastdl.tensor([True, False, True, False])
    assert (a & b).tolist() == [True, False, False, False]
    assert (a | b).tolist() == [True, True, True, False]
    assert (a ^ b).tolist() == [False, True, True, False]
    assert (~a).tolist() == [False, False, True, True]
    assert (True & b).tolist() == b.tolist() and (False | b).tolist() == b.tolist()
    assert (True ^ b).tolist() == [False, True, False, True]
    x = fastdl.tensor([1.0, 5.0, 3.0])
    assert ((x > 2) & (x < 4)).tolist() == [False, False, True]
    assert (~fastdl.tensor([0, 5])).tolist() == [-1, -6]
    with pytest.raises(TypeError, match="bool"):
        x & x
    with pytest.raises(TypeError):
        x.__invert__()


# -- error classes -------------------------------------------------------------------------------


def test_shape_and_device_errors_are_value_and_runtime_errors():
    assert issubclass(fastdl.ShapeError, ValueError) and issubclass(fastdl.ShapeError, RuntimeError)
    assert issubclass(fastdl.DeviceError, ValueError)
    assert issubclass(fastdl.DeviceError, RuntimeError)
    cases = [
        (lambda: fastdl.ones(2, 3) + fastdl.ones(4), "broadcast"),
        (lambda: fastdl.ones(2, 3) @ fastdl.ones(2, 3), "cannot be multiplied"),
        (lambda: fastdl.cat([fastdl.ones(2, 3), fastdl.ones(2, 4)]), "incompatible"),
        (lambda: fastdl.nn.Linear(3, 2)(fastdl.ones(4, 5)), "input features"),
        (lambda: fastdl.nn.MSELoss()(fastdl.ones(3), fastdl.ones(4)), "target shape"),
        (lambda: fastdl.nn.CrossEntropyLoss()(fastdl.ones(3, 4), fastdl.tensor([0, 1])), "target"),
        (lambda: fastdl.nn.Conv2d(3, 2, 3)(fastdl.ones(1, 2, 5, 5)), "channels"),
    ]
    for fn, message in cases:
        with pytest.raises(fastdl.ShapeError, match=message):
            fn()
    with pytest.raises(fastdl.DeviceError, match="same device"):
        fastdl.ones(2) * fastdl.ones(2, device="cuda")
