"""In-place ops: they write into the storage, augmented assignment is one of them,
recorded ones give the gradients of their out-of-place twins (float64 central
differences), and one that overwrote a saved array makes backward raise."""

import numpy as np
import pytest

import fastdl
import fastdl.nn.functional as F
from fastdl import nn
from fastdl.autograd import gradcheck

BACKENDS = ["reference", "numba"]


def _leaf(rng, *shape, positive=False):
    data = rng.standard_normal(shape)
    if positive:
        data = np.abs(data) + 0.5
    return fastdl.tensor(data, dtype=fastdl.float64, requires_grad=True)


def _chain_add(x, w):
    y = x * 2.0
    y.add_(w, alpha=-3.0)
    y += w * w
    return y * x


def _chain_mul(x, w):
    y = x + 1.0
    y.mul_(w)
    y *= x
    return y


def _chain_div_sub(x, w):
    y = x * 1.0
    y /= w
    y.sub_(x, alpha=0.5)
    y -= 2.0
    return y.exp()


def _chain_pow_relu(x, w):
    y = x * w
    y **= 2
    y.relu_()
    return F.relu(y - 0.5, inplace=True) * w


def _chain_clamp_masked(x, w):
    y = x * w
    y.clamp_(-0.5, 0.5)
    y.masked_fill_(x > 1.0, 3.0)
    return y * y


def _chain_copy_fill(x, w):
    y = x * 2.0
    y[0].fill_(0.0)  # a copy: y keeps its values
    z = fastdl.zeros(3, 4, dtype=fastdl.float64)
    z.copy_(w)  # broadcast (4,) -> (3, 4); the gradient reaches w
    z.mul_(y)
    return z


def _chain_through_a_view(x, w):
    y = x * 1.0
    v = y.view(12)
    v.mul_(w.reshape(12))  # y sees the product, and so does its graph
    return y * x


def _chain_remainder_floordiv(x, w):
    y = x * 3.0
    y %= 1.5
    z = x * 1.0
    z //= 0.7
    return y * w + z


CHAINS = {
    "add": (_chain_add, lambda r: [_leaf(r, 3, 4), _leaf(r, 3, 4)]),
    "mul": (_chain_mul, lambda r: [_leaf(r, 3, 4), _leaf(r, 4)]),
    "div_sub": (_chain_div_sub, lambda r: [_leaf(r, 3, 4), _leaf(r, 3, 4, positive=True)]),
    "pow_relu": (_chain_pow_relu, lambda r: [_leaf(r, 3, 4), _leaf(r, 3, 4)]),
    "clamp_masked": (_chain_clamp_masked, lambda r: [_leaf(r, 3, 4), _leaf(r, 3, 4)]),
    "copy_fill": (_chain_copy_fill, lambda r: [_leaf(r, 3, 4), _leaf(r, 4)]),
    "through_a_view": (_chain_through_a_view, lambda r: [_leaf(r, 3, 4), _leaf(r, 3, 4)]),
    "remainder_floordiv": (_chain_remainder_floordiv, lambda r: [_leaf(r, 3, 4), _leaf(r, 3, 4)]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_recorded_inplace_ops_match_finite_differences(name, backend):
    fn, build = CHAINS[name]
    with fastdl.use_backend(backend):
        assert gradcheck(fn, build(np.random.default_rng(3)))


def test_recorded_inplace_values_match_out_of_place():
    rng = np.random.default_rng(0)
    x, w = _leaf(rng, 3, 4), _leaf(rng, 3, 4)
    y = x * 2.0
    y.add_(w, alpha=-3.0)
    y.mul_(w)
    expected = (x.detach().numpy() * 2 - 3 * w.detach().numpy()) * w.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-12)


def test_augmented_assignment_under_no_grad_keeps_the_leaf():
    w = fastdl.tensor([1.0, -2.0, 3.0], requires_grad=True)
    alias = w.data
    (w * w).sum().backward()
    before = id(w)
    with fastdl.no_grad():
        w -= 0.1 * w.grad
    assert id(w) == before and w.requires_grad and w.is_leaf
    np.testing.assert_allclose(alias.numpy(), [0.8, -1.6, 2.4], rtol=1e-6)


@pytest.mark.parametrize(
    "op, operand, expected",
    [
        ("__iadd__", 2, [3, 4, 9]),
        ("__isub__", 2, [-1, 0, 5]),
        ("__imul__", 2, [2, 4, 14]),
        ("__ifloordiv__", 2, [0, 1, 3]),
        ("__imod__", 3, [1, 2, 1]),
        ("__ipow__", 2, [1, 4, 49]),
    ],
)
def test_every_augmented_assignment_is_in_place(op, operand, expected):
    x = fastdl.tensor([1, 2, 7])
    alias = x.detach()
    assert getattr(x, op)(operand) is x
    assert alias.tolist() == expected and x.dtype == fastdl.int64


def test_bitwise_augmented_assignments_are_in_place():
    m = fastdl.tensor([True, True, False])
    alias = m.detach()
    m &= fastdl.tensor([True, False, False])
    assert alias.tolist() == [True, False, False]
    m |= fastdl.tensor([False, False, True])
    assert alias.tolist() == [True, False, True]
    m ^= True
    assert alias.tolist() == [False, True, False]


def test_float_division_and_rounding_modes():
    x = fastdl.tensor([7.5, -7.5, 3.0], dtype=fastdl.float64)
    x /= 2.0
    np.testing.assert_allclose(x.numpy(), [3.75, -3.75, 1.5])
    t = fastdl.tensor([7.5, -7.5, np.inf, np.nan])
    t.div_(2.0, rounding_mode="trunc")
    np.testing.assert_array_equal(t.numpy(), np.trunc(np.array([3.75, -3.75, np.inf, np.nan])))
    f = fastdl.tensor([7, -7, 6])
    f.div_(2, rounding_mode="floor")
    assert f.tolist() == [3, -4, 3]
    with pytest.raises(ValueError, match="rounding_mode"):
        fastdl.ones(2).div_(2, rounding_mode="round")


def test_a_float_result_cannot_be_written_into_an_integer_tensor():
    x = fastdl.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        x /= 2
    with pytest.raises(RuntimeError, match="can't be cast"):
        x += 0.5
    assert x.tolist() == [1, 2]


def test_a_result_that_does_not_fit_the_shape_is_refused():
    x = fastdl.zeros(3)
    with pytest.raises(fastdl.ShapeError, match="broadcast shape"):
        x += fastdl.ones(2, 3)
    assert x.tolist() == [0.0, 0.0, 0.0]


def test_inplace_on_a_leaf_requiring_grad_raises_outside_no_grad():
    w = fastdl.ones(3, requires_grad=True)
    for op in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.zero_(), lambda: w.__iadd__(1)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op()
    v = w.view(3)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        v.mul_(2)
    assert w.tolist() == [1.0, 1.0, 1.0]


def test_overwriting_a_saved_tensor_makes_backward_raise():
    x = fastdl.tensor([0.5, 1.0], dtype=fastdl.float64, requires_grad=True)
    y = x.exp()  # exp's backward reads its output
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    a = x * 1.0
    b = a * a  # mul's backward reads its inputs
    a.mul_(3.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()
    d = x * 1.0
    e = d.detach()
    s = d.sigmoid()  # reads its output only: writing its input is fine
    e.zero_()
    s.sum().backward()
    sig = 1 / (1 + np.exp(-np.array([0.5, 1.0])))
    np.testing.assert_allclose(x.grad.numpy(), sig * (1 - sig), rtol=1e-12)


def test_an_add_of_an_overwritten_input_still_differentiates():
    x = fastdl.tensor([1.0, 2.0], dtype=fastdl.float64, requires_grad=True)
    a = x * 1.0
    b = a + 1.0  # add reads no values
    a.mul_(5.0)
    (b.sum() + a.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_inplace_ops_on_tensors_not_requiring_grad_enter_the_graph_of_operands():
    w = fastdl.tensor([1.0, 2.0], dtype=fastdl.float64, requires_grad=True)
    buf = fastdl.zeros(2, dtype=fastdl.float64)
    buf.add_(w * w)
    assert buf.requires_grad and not buf.is_leaf
    buf.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0])


def test_fill_and_zero_of_a_graph_tensor_cut_the_gradient_to_zero():
    x = fastdl.tensor([1.0, 2.0], dtype=fastdl.float64, requires_grad=True)
    y = x * 3.0
    y.zero_()
    (y + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


@pytest.mark.parametrize("module_inplace", [False, True])
def test_inplace_activation_flags_give_the_out_of_place_results(module_inplace):
    rng = np.random.default_rng(1)
    data = rng.standard_normal((4, 5))
    expected = np.maximum(data, 0)
    x = fastdl.tensor(data, dtype=fastdl.float64, requires_grad=True)
    h = x * 1.0
    out = nn.ReLU(inplace=module_inplace)(h)
    np.testing.assert_allclose(out.detach().numpy(), expected)
    assert (out is h) == module_inplace
    leaky = nn.LeakyReLU(0.1, inplace=module_inplace)(x * 1.0)
    np.testing.assert_allclose(leaky.detach().numpy(), np.where(data > 0, data, 0.1 * data))
    (out.sum() + leaky.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), (data > 0) + np.where(data > 0, 1.0, 0.1))
    assert "inplace=True" in repr(nn.ReLU(inplace=True))


def test_dropout_inplace_writes_the_same_mask_as_out_of_place():
    x = fastdl.tensor(np.arange(1.0, 21.0), dtype=fastdl.float64, requires_grad=True)
    fastdl.manual_seed(5)
    expected = F.dropout(x, 0.5)
    fastdl.manual_seed(5)
    h = x * 1.0
    out = nn.Dropout(0.5, inplace=True)(h)
    assert out is h
    np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (expected.detach().numpy() != 0) * 2.0)
    y = x * 1.0
    assert F.dropout(y, 0.5, training=False, inplace=True) is y


def test_inplace_ops_on_the_gpu_match_the_cpu():
    data = np.arange(6.0).reshape(2, 3) - 2.0
    w_data = np.array([0.5, -1.0, 2.0])
    results = []
    for device in ("cpu", "cuda"):
        x = fastdl.tensor(data, dtype=fastdl.float64, device=device, requires_grad=True)
        w = fastdl.tensor(w_data, dtype=fastdl.float64, device=device, requires_grad=True)
        y = x * 1.0
        y.mul_(w)
        y += 1.0
        y.relu_()
        y.masked_fill_(y > 2.5, 0.0)
        y.sum().backward()
        results.append([t.cpu().detach().numpy() for t in (y, x.grad, w.grad)])
        with fastdl.no_grad():
            w -= 0.5 * w.grad
        results[-1].append(w.detach().cpu().numpy())
    for gpu, cpu in zip(results[1], results[0]):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-12)


def _chain_setitem(x, w):
    y = x * 2.0
    y[1] = w  # a row from w
    y[:, 0] = 5.0  # a constant column: no gradient there
    y[fastdl.tensor([0, 2]), 3] = w[0]
    return y * x


@pytest.mark.parametrize("backend", BACKENDS)
def test_item_assignment_into_a_graph_tensor_matches_finite_differences(backend):
    rng = np.random.default_rng(4)
    with fastdl.use_backend(backend):
        assert gradcheck(_chain_setitem, [_leaf(rng, 3, 4), _leaf(rng, 4)])


def test_item_assignment_into_a_graph_tensor_writes_exact_values():
    x = fastdl.tensor([[1e20, 2.0], [3.0, 4.0]], dtype=fastdl.float64, requires_grad=True)
    y = x * 1.0
    alias = y.detach()
    y[0, 0] = 1.0
    assert alias.tolist() == [[1.0, 2.0], [3.0, 4.0]] and y.grad_fn is not None
