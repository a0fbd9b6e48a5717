"""Tensor: factories, dtype inference and promotion, arithmetic, reductions, shapes,
indexing and in-place ops, checked against NumPy and PyTorch's documented rules."""

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl


def _rng(seed=0):
    return np.random.default_rng(seed)


# -- factories and dtype inference --------------------------------------------------------


@pytest.mark.parametrize(
    "data, dtype",
    [
        (1.5, np.float32),
        ([1.5, 2.0], np.float32),
        ([[1, 2], [3, 4]], np.int64),
        (3, np.int64),
        (True, np.bool_),
        ([True, False], np.bool_),
        ([1, 2.5], np.float32),
        (np.array([1.0, 2.0], dtype=np.float64), np.float64),
        (np.array([1.0, 2.0], dtype=np.float32), np.float32),
        (np.array([1, 2], dtype=np.int32), np.int64),
        (np.array([1, 2], dtype=np.uint8), np.int64),
        (np.array([True, False]), np.bool_),
    ],
)
def test_tensor_infers_dtype_as_pytorch(data, dtype):
    t = fastdl.tensor(data)
    assert t.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(t.numpy(), np.asarray(data).astype(dtype))


def test_tensor_copies_its_data_and_honours_dtype():
    source = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = fastdl.tensor(source)
    source[0, 0] = 100.0
    assert t.numpy()[0, 0] == 0.0
    assert fastdl.tensor([1, 2], dtype=fastdl.float64).dtype == np.float64
    assert fastdl.tensor([1.7], dtype="int64").dtype == np.int64
    assert fastdl.tensor(1.5).shape == ()


@pytest.mark.parametrize(
    "factory, expected",
    [
        (lambda: fastdl.zeros(2, 3), np.zeros((2, 3), np.float32)),
        (lambda: fastdl.zeros((2, 3), dtype=fastdl.float64), np.zeros((2, 3))),
        (lambda: fastdl.ones(4), np.ones(4, np.float32)),
        (lambda: fastdl.ones([2, 2], dtype=fastdl.int64), np.ones((2, 2), np.int64)),
        (lambda: fastdl.full((2, 2), 7), np.full((2, 2), 7, np.int64)),
        (lambda: fastdl.full((3,), 0.5), np.full(3, 0.5, np.float32)),
        (lambda: fastdl.full(2, True), np.full(2, True)),
        (lambda: fastdl.arange(5), np.arange(5, dtype=np.int64)),
        (lambda: fastdl.arange(1, 7, 2), np.array([1, 3, 5], np.int64)),
        (lambda: fastdl.arange(0.0, 1.0, 0.25), np.array([0, 0.25, 0.5, 0.75], np.float32)),
        (lambda: fastdl.arange(3, dtype=fastdl.float64), np.arange(3.0)),
    ],
)
def test_deterministic_factories(factory, expected):
    t = factory()
    assert t.dtype == expected.dtype
    assert t.shape == expected.shape
    np.testing.assert_array_equal(t.numpy(), expected)


def test_random_factories_shapes_dtypes_and_ranges():
    fastdl.manual_seed(0)
    u = fastdl.rand(200, 50)
    assert u.shape == (200, 50) and u.dtype == np.float32
    assert 0.0 <= u.numpy().min() and u.numpy().max() < 1.0
    assert abs(u.numpy().mean() - 0.5) < 0.02
    n = fastdl.randn(200, 50, dtype=fastdl.float64)
    assert n.shape == (200, 50) and n.dtype == np.float64
    assert abs(n.numpy().mean()) < 0.05 and abs(n.numpy().std() - 1.0) < 0.05
    assert fastdl.rand(3, requires_grad=True).requires_grad
    fastdl.manual_seed(5)
    a = fastdl.randn(4).numpy().copy()
    fastdl.manual_seed(5)
    np.testing.assert_array_equal(fastdl.randn(4).numpy(), a)


def test_from_numpy_shares_memory_both_ways():
    array = np.zeros((2, 3))
    t = fastdl.from_numpy(array)
    assert t.dtype == np.float64
    array[1, 2] = 5.0
    assert t.numpy()[1, 2] == 5.0
    t.numpy()[0, 0] = -1.0
    assert array[0, 0] == -1.0
    assert np.shares_memory(t.numpy(), array)
    with pytest.raises(TypeError):
        fastdl.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError):
        fastdl.from_numpy(np.zeros(2, np.int32))


def test_numpy_shares_memory_and_refuses_when_requires_grad():
    t = fastdl.zeros(3)
    view = t.numpy()
    view[1] = 4.0
    assert t.tolist() == [0.0, 4.0, 0.0]
    leaf = fastdl.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        leaf.numpy()
    np.testing.assert_array_equal(leaf.detach().numpy(), np.zeros(3))


def test_item_data_and_detach():
    assert fastdl.tensor(2.5).item() == 2.5
    assert isinstance(fastdl.tensor([7]).item(), int)
    with pytest.raises(ValueError):
        fastdl.tensor([1.0, 2.0]).item()

    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    d = y.data
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y.detach().numpy())
    d.numpy()[0] = 10.0
    assert y.detach().numpy()[0] == 10.0

    xd = x.data
    assert xd.is_leaf and not xd.requires_grad
    xd.numpy()[1] = -3.0
    assert x.detach().numpy()[1] == -3.0

    det = y.detach()
    assert not det.requires_grad and det.is_leaf
    assert np.shares_memory(det.numpy(), d.numpy())


def test_requires_grad_refused_on_integer_and_bool_tensors():
    with pytest.raises(RuntimeError, match="floating"):
        fastdl.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError):
        fastdl.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError):
        fastdl.tensor([True]).requires_grad_()
    assert fastdl.tensor([1.0]).requires_grad_().requires_grad


# -- arithmetic -------------------------------------------------------------------------

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a**b, np.power),
}


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize(
    "shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3))]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_ops_broadcast_like_numpy(op, shapes, dtype):
    rng = _rng(1)
    a = rng.uniform(0.5, 2.0, shapes[0]).astype(dtype)
    b = rng.uniform(0.5, 2.0, shapes[1]).astype(dtype)
    fn, ref = BINARY[op]
    out = fn(fastdl.tensor(a), fastdl.tensor(b))
    expected = ref(a, b)
    assert out.shape == expected.shape
    assert out.dtype == dtype
    assert_close(out.numpy(), expected, dtype)


@pytest.mark.parametrize("op", sorted(BINARY))
def test_reflected_ops_with_python_scalars(op):
    a = np.array([[0.5, 1.0, 2.0], [3.0, 0.25, 1.5]], np.float32)
    t = fastdl.tensor(a)
    fn, ref = BINARY[op]
    left = fn(t, 2.0)
    right = fn(2.0, t)
    assert left.dtype == np.float32 and right.dtype == np.float32
    assert_close(left.numpy(), ref(a, np.float32(2.0)), np.float32)
    assert_close(right.numpy(), ref(np.float32(2.0), a), np.float32)


def test_unary_negation_and_abs():
    a = np.array([-1.5, 0.0, 2.0], np.float32)
    np.testing.assert_array_equal((-fastdl.tensor(a)).numpy(), -a)
    np.testing.assert_array_equal(abs(fastdl.tensor(a)).numpy(), np.abs(a))


PROMOTION = {
    "f32*float": (lambda: fastdl.ones(2) * 2.0, np.float32),
    "float*f32": (lambda: 2.0 * fastdl.ones(2), np.float32),
    "f64*float": (lambda: fastdl.ones(2, dtype=fastdl.float64) * 2.0, np.float64),
    "f32+int": (lambda: fastdl.ones(2, dtype=fastdl.float32) + 1, np.float32),
    "i64*int": (lambda: fastdl.tensor([1, 2]) * 2, np.int64),
    "i64*float": (lambda: fastdl.tensor([1, 2]) * 2.5, np.float32),
    "i64/i64": (lambda: fastdl.tensor([1, 2]) / fastdl.tensor([2, 4]), np.float32),
    "i64/int": (lambda: fastdl.tensor([1, 2]) / 2, np.float32),
    "f32+f64": (lambda: fastdl.ones(2) + fastdl.ones(2, dtype=fastdl.float64), np.float64),
    "f64*f32": (lambda: fastdl.ones(2, dtype=fastdl.float64) * fastdl.ones(2), np.float64),
    "i64+f32": (lambda: fastdl.tensor([1, 2]) + fastdl.ones(2), np.float32),
    "f32*i64": (lambda: fastdl.ones(2) * fastdl.tensor([1, 2]), np.float32),
    "i64@f32": (lambda: fastdl.tensor([[1, 2]]) @ fastdl.ones(2, 1), np.float32),
    "cat(i64,f32)": (lambda: fastdl.cat([fastdl.tensor([1]), fastdl.ones(1)]), np.float32),
    "bool+i64": (lambda: fastdl.tensor([True, False]) + fastdl.tensor([1, 2]), np.int64),
}


@pytest.mark.parametrize("case", sorted(PROMOTION))
def test_type_promotion_follows_pytorch(case):
    # PyTorch: a floating tensor keeps its own dtype against an integer tensor.
    make, dtype = PROMOTION[case]
    assert make().dtype == np.dtype(dtype)


def test_integer_true_division_values():
    out = fastdl.tensor([1, 3, -7]) / fastdl.tensor([2, 2, 2])
    np.testing.assert_allclose(out.numpy(), [0.5, 1.5, -3.5])


def test_tensor_with_numpy_array_operand_is_refused():
    with pytest.raises(TypeError, match="fastdl.tensor"):
        fastdl.ones(2) + np.ones(2)


@pytest.mark.parametrize(
    "op, ref",
    [
        (lambda a, b: a == b, np.equal),
        (lambda a, b: a != b, np.not_equal),
        (lambda a, b: a < b, np.less),
        (lambda a, b: a <= b, np.less_equal),
        (lambda a, b: a > b, np.greater),
        (lambda a, b: a >= b, np.greater_equal),
    ],
)
def test_comparisons_return_bool_without_grad(op, ref):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], np.float32)
    b = np.array([2.0, 2.0, 2.0], np.float32)
    x = fastdl.tensor(a, requires_grad=True)
    out = op(x, fastdl.tensor(b))
    assert out.dtype == np.bool_
    assert not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), ref(a, b))
    np.testing.assert_array_equal(op(x, 2.0).numpy(), ref(a, 2.0))


# -- reductions ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_mean_match_numpy(name, dim, keepdim):
    a = _rng(2).standard_normal((3, 4, 5))
    t = fastdl.tensor(a)
    out = getattr(t, name)(dim=dim, keepdim=keepdim)
    expected = getattr(np, name)(a, axis=dim, keepdims=keepdim)
    assert out.shape == expected.shape
    assert_close(out.numpy(), expected, np.float64)
    numpy_style = getattr(t, name)(axis=dim, keepdims=keepdim)
    assert_close(numpy_style.numpy(), expected, np.float64)
    functional = getattr(fastdl, name)(t, dim, keepdim)
    assert_close(functional.numpy(), expected, np.float64)


def test_sum_of_bool_and_int_and_mean_of_int():
    assert fastdl.tensor([True, True, False]).sum().item() == 2
    s = fastdl.tensor([[1, 2], [3, 4]]).sum(0)
    assert s.dtype == np.int64 and s.tolist() == [4, 6]
    with pytest.raises(TypeError):
        fastdl.tensor([1, 2]).mean()
    with pytest.raises(TypeError):
        fastdl.ones(2).sum(dim=0, axis=0)


def test_max_without_dim_is_the_largest_element():
    a = _rng(3).standard_normal((4, 5)).astype(np.float32)
    m = fastdl.tensor(a).max()
    assert m.shape == ()
    assert m.item() == a.max()


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_dim_returns_values_and_indices(dim, keepdim):
    a = _rng(4).standard_normal((4, 6))
    values, indices = fastdl.tensor(a).max(dim, keepdim)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(values.numpy(), a.max(axis=dim, keepdims=keepdim))
    np.testing.assert_array_equal(indices.numpy(), a.argmax(axis=dim, keepdims=keepdim))
    v2, i2 = fastdl.max(fastdl.tensor(a), axis=dim, keepdims=keepdim)
    np.testing.assert_array_equal(i2.numpy(), indices.numpy())
    np.testing.assert_array_equal(v2.numpy(), values.numpy())


def test_argmax_flat_and_along_dim_first_on_ties():
    a = np.array([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]])
    t = fastdl.tensor(a)
    assert t.argmax().item() == 3
    np.testing.assert_array_equal(t.argmax(1).numpy(), [1, 0])
    np.testing.assert_array_equal(fastdl.argmax(t, 0).numpy(), [1, 0, 1])
    assert t.argmax(dim=1, keepdim=True).shape == (2, 1)
    assert t.argmax().dtype == np.int64


# -- shapes and indexing ------------------------------------------------------------------


def test_reshape_view_transpose_permute_T():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = fastdl.tensor(a)
    np.testing.assert_array_equal(t.reshape(6, -1).numpy(), a.reshape(6, 4))
    np.testing.assert_array_equal(t.reshape((4, 6)).numpy(), a.reshape(4, 6))
    np.testing.assert_array_equal(t.view(-1).numpy(), a.reshape(-1))
    np.testing.assert_array_equal(fastdl.reshape(t, (3, 8)).numpy(), a.reshape(3, 8))
    np.testing.assert_array_equal(t.transpose(0, 2).numpy(), a.transpose(2, 1, 0))
    np.testing.assert_array_equal(fastdl.transpose(t, -1, 1).numpy(), a.swapaxes(-1, 1))
    np.testing.assert_array_equal(t.permute(1, 2, 0).numpy(), a.transpose(1, 2, 0))
    np.testing.assert_array_equal(t.permute((2, 0, 1)).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.T.numpy(), a.T)
    np.testing.assert_array_equal(t.flatten(1).numpy(), a.reshape(2, 12))
    with pytest.raises(ValueError):
        t.permute(0, 0, 1)


@pytest.mark.parametrize(
    "index",
    [
        1,
        -1,
        (0, -2),
        slice(1, None),
        (slice(None), slice(None, None, 2)),
        (Ellipsis, 1),
        (None, 0),
        (-2, slice(-3, None)),
        np.array([2, 0, 2]),
        (np.array([0, 1]), np.array([3, 2])),
        np.array([True, False, True]),
    ],
)
def test_indexing_matches_numpy(index):
    a = np.arange(12.0).reshape(3, 4)
    out = fastdl.tensor(a)[index]
    np.testing.assert_array_equal(out.numpy(), a[index])


def test_indexing_with_tensors_lists_and_masks():
    a = np.arange(12.0).reshape(3, 4)
    t = fastdl.tensor(a)
    np.testing.assert_array_equal(t[fastdl.tensor([2, 1])].numpy(), a[[2, 1]])
    np.testing.assert_array_equal(t[[0, 0]].numpy(), a[[0, 0]])
    np.testing.assert_array_equal(t[t > 5.0].numpy(), a[a > 5.0])
    np.testing.assert_array_equal(
        t[:, fastdl.tensor([True, False, False, True])].numpy(), a[:, [0, 3]]
    )
    with pytest.raises(TypeError):
        t[np.array([0.5])]


def test_cat_and_stack_match_numpy():
    rng = _rng(5)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    np.testing.assert_array_equal(
        fastdl.cat([fastdl.tensor(a), fastdl.tensor(b)]).numpy(), np.concatenate([a, b])
    )
    c = rng.standard_normal((2, 5))
    np.testing.assert_array_equal(
        fastdl.cat([fastdl.tensor(a), fastdl.tensor(c)], dim=-1).numpy(),
        np.concatenate([a, c], axis=-1),
    )
    for dim in (0, 1, 2, -1):
        np.testing.assert_array_equal(
            fastdl.stack([fastdl.tensor(a), fastdl.tensor(a * 2)], dim=dim).numpy(),
            np.stack([a, a * 2], axis=dim),
        )
    mixed = fastdl.cat([fastdl.ones(2), fastdl.ones(2, dtype=fastdl.float64)])
    assert mixed.dtype == np.float64


def test_where_matches_numpy_with_broadcasting_and_scalars():
    rng = _rng(6)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    cond = a > 0
    out = fastdl.where(fastdl.tensor(cond), fastdl.tensor(a), fastdl.tensor(b))
    np.testing.assert_array_equal(out.numpy(), np.where(cond, a, b))
    out = fastdl.where(fastdl.tensor(cond), fastdl.tensor(a), 0.0)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.numpy(), np.where(cond, a, 0.0))
    with pytest.raises(TypeError):
        fastdl.where(fastdl.tensor([1, 0]), fastdl.ones(2), fastdl.zeros(2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_math_matches_numpy(dtype):
    a = _rng(7).uniform(-3, 3, (4, 5)).astype(dtype)
    pos = np.abs(a) + 0.1
    t, tp = fastdl.tensor(a), fastdl.tensor(pos)
    assert_close(t.exp().numpy(), np.exp(a), dtype)
    assert_close(fastdl.exp(t).numpy(), np.exp(a), dtype)
    assert_close(tp.log().numpy(), np.log(pos), dtype)
    assert_close(fastdl.log(tp).numpy(), np.log(pos), dtype)
    assert_close(tp.sqrt().numpy(), np.sqrt(pos), dtype)
    assert_close(fastdl.sqrt(tp).numpy(), np.sqrt(pos), dtype)
    np.testing.assert_array_equal(t.abs().numpy(), np.abs(a))
    np.testing.assert_array_equal(fastdl.abs(t).numpy(), np.abs(a))
    np.testing.assert_array_equal(t.clamp(-1.0, 0.5).numpy(), np.clip(a, -1.0, 0.5))
    np.testing.assert_array_equal(t.clamp(min=0.0).numpy(), np.maximum(a, 0.0))
    np.testing.assert_array_equal(fastdl.clamp(t, max=0.2).numpy(), np.minimum(a, 0.2))
    for out in (t.exp(), tp.log(), t.clamp(-1.0, 1.0)):
        assert out.dtype == dtype
    with pytest.raises(ValueError):
        t.clamp()


def test_unary_math_on_int_gives_float32():
    out = fastdl.tensor([1, 4, 9]).sqrt()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), [1.0, 2.0, 3.0])


# -- in-place ops -----------------------------------------------------------------------------


def test_inplace_ops_on_plain_tensors():
    t = fastdl.tensor([1.0, 2.0, 3.0])
    storage = t.numpy()
    assert t.add_(fastdl.tensor([1.0, 1.0, 1.0])) is t
    np.testing.assert_array_equal(t.numpy(), [2.0, 3.0, 4.0])
    t.add_(1.0, alpha=2.0)
    np.testing.assert_array_equal(t.numpy(), [4.0, 5.0, 6.0])
    t.mul_(0.5)
    np.testing.assert_array_equal(t.numpy(), [2.0, 2.5, 3.0])
    t.sub_(fastdl.tensor([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(t.numpy(), [1.0, 1.5, 2.0])
    t.fill_(7.0)
    np.testing.assert_array_equal(t.numpy(), [7.0, 7.0, 7.0])
    t.copy_(fastdl.tensor([3.0, 2.0, 1.0]))
    np.testing.assert_array_equal(t.numpy(), [3.0, 2.0, 1.0])
    t.copy_(np.array([9.0]))  # broadcast
    np.testing.assert_array_equal(t.numpy(), [9.0, 9.0, 9.0])
    t.zero_()
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.0, 0.0])
    assert t.numpy() is storage  # same storage throughout
    with pytest.raises(ValueError):
        t.copy_(np.ones(2))
    with pytest.raises(ValueError):
        t.add_(fastdl.ones(2, 3))


def test_inplace_ops_keep_the_dtype_and_refuse_lossy_casts():
    # PyTorch: "result type Float can't be cast to the desired output type Long".
    t = fastdl.tensor([1, 2])
    t.add_(3)
    assert t.dtype == np.int64 and t.tolist() == [4, 5]
    for op in (lambda: t.add_(0.5), lambda: t.mul_(1.5), lambda: t.add_(fastdl.ones(2))):
        with pytest.raises(RuntimeError):
            op()
        assert t.tolist() == [4, 5]
    f = fastdl.ones(2)
    f.add_(fastdl.ones(2, dtype=fastdl.float64))  # float64 into float32 is allowed
    assert f.dtype == np.float32 and f.tolist() == [2.0, 2.0]


def test_inplace_ops_on_leaf_requiring_grad():
    w = fastdl.tensor([1.0, 2.0], requires_grad=True)
    for op in (
        lambda: w.add_(1.0),
        lambda: w.mul_(2.0),
        lambda: w.zero_(),
        lambda: w.fill_(3.0),
        lambda: w.copy_(fastdl.ones(2)),
        lambda: w.sub_(1.0),
    ):
        with pytest.raises(RuntimeError, match="in-place"):
            op()
        np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])
    with fastdl.no_grad():
        w.add_(fastdl.tensor([1.0, 1.0]))
        w.mul_(3.0)
        np.testing.assert_array_equal(w.detach().numpy(), [6.0, 9.0])
        w.copy_(fastdl.tensor([0.5, 0.25]))
        np.testing.assert_array_equal(w.detach().numpy(), [0.5, 0.25])
        w.fill_(2.0)
        w.zero_()
    np.testing.assert_array_equal(w.detach().numpy(), [0.0, 0.0])
    assert w.requires_grad and w.is_leaf and w.grad_fn is None


# -- error messages ----------------------------------------------------------------------------


def test_matmul_matches_numpy_and_names_shapes_on_mismatch():
    rng = _rng(8)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    assert_close((fastdl.tensor(a) @ fastdl.tensor(b)).numpy(), a @ b, np.float64)
    v = rng.standard_normal(4)
    assert_close(fastdl.matmul(fastdl.tensor(b.T), fastdl.tensor(v)).numpy(), b.T @ v, np.float64)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        fastdl.zeros(2, 3) @ fastdl.zeros(4, 5)


def test_cat_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(2, 3\)"):
        fastdl.cat([fastdl.zeros(2, 3), fastdl.zeros(2, 4)], dim=0)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        fastdl.stack([fastdl.zeros(2), fastdl.zeros(3)])


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(4, 4\).*\(2, 3\)"):
        fastdl.zeros(2, 3).reshape(4, 4)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        fastdl.zeros(2, 3).reshape(-1, -1)
