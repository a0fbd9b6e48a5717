"""The backward engine: accumulation, graph freeing, retain_graph, non-scalar roots,
diamonds, deep chains, no_grad, retain_grad, broadcast and mixed-dtype gradients,
and DOT export of the graph."""

import re

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
from fastdl import nn


def _leaf(data, dtype=np.float64):
    return fastdl.tensor(np.asarray(data, dtype=dtype), requires_grad=True)


def test_gradients_accumulate_across_two_fresh_graphs():
    a = np.array([1.0, -2.0, 3.0])
    x = _leaf(a)
    (x * x).sum().backward()
    assert_close(x.grad.numpy(), 2 * a, kind="grad")
    (x * x * x).sum().backward()
    assert_close(x.grad.numpy(), 2 * a + 3 * a**2, kind="grad")


def test_second_backward_through_freed_graph_raises():
    x = _leaf([1.0, 2.0])
    y = (x.exp() * 3.0).sum()
    y.backward()
    first = x.grad.numpy().copy()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)


def test_retain_graph_allows_second_backward_and_grads_double():
    a = np.array([0.5, -1.0, 2.0])
    x = _leaf(a)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    once = (np.exp(a) * a + np.exp(a)).copy()
    assert_close(x.grad.numpy(), once, kind="grad")
    y.backward(retain_graph=True)
    assert_close(x.grad.numpy(), 2 * once, kind="grad")
    y.backward()  # the last pass may free it
    assert_close(x.grad.numpy(), 3 * once, kind="grad")
    with pytest.raises(RuntimeError):
        y.backward()


def test_non_scalar_backward_needs_gradient():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = _leaf(a)
    y = x * x
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    g = np.array([[1.0, 0.5], [-1.0, 2.0]])
    y.backward(gradient=fastdl.tensor(g))
    assert_close(x.grad.numpy(), 2 * a * g, kind="grad")
    with pytest.raises(ValueError, match=r"\(3,\)"):
        (x * 2.0).backward(gradient=fastdl.ones(3, dtype=fastdl.float64))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError):
        fastdl.ones(2).sum().backward()


def test_diamond_graph_sums_gradients():
    # x -> a = 2x, b = x^2 -> out = a * b = 2 x^3: d/dx = 6 x^2
    data = np.array([0.5, -1.5, 2.0])
    x = _leaf(data)
    a = x * 2.0
    b = x * x
    (a * b).sum().backward()
    assert_close(x.grad.numpy(), 6 * data**2, kind="grad")

    # an intermediate used twice: h = exp(x); out = h + h * h
    x2 = _leaf(data)
    h = x2.exp()
    (h + h * h).sum().backward()
    assert_close(x2.grad.numpy(), np.exp(data) + 2 * np.exp(2 * data), kind="grad")


def test_deep_chain_backprops_without_recursion_error():
    n = 20000
    x = _leaf([1.0])
    y = x
    for _ in range(n):
        y = y * 1.0001
    y.sum().backward()
    assert_close(x.grad.numpy(), [1.0001**n], kind="grad")
    del y  # freeing the long chain must not blow the stack either


def test_no_grad_context_manager_and_decorator_record_nothing():
    x = _leaf([1.0, 2.0])
    with fastdl.no_grad():
        assert not fastdl.is_grad_enabled()
        y = x * 2.0 + 1.0
    assert fastdl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @fastdl.no_grad()
    def f(t):
        return (t * t).sum()

    z = f(x)
    assert not z.requires_grad and z.grad_fn is None
    assert fastdl.is_grad_enabled()

    with fastdl.no_grad():
        with fastdl.enable_grad():
            w = x * 3.0
        v = x * 3.0
    assert w.requires_grad and w.grad_fn is not None
    assert not v.requires_grad


def test_no_grad_as_bare_decorator():
    # PyTorch 2 accepts @torch.no_grad without parentheses too.
    @fastdl.no_grad
    def f(t):
        return t * 2.0

    out = f(_leaf([1.0]))
    assert not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), [2.0])
    assert fastdl.is_grad_enabled()


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(KeyError):
        with fastdl.no_grad():
            raise KeyError("boom")
    assert fastdl.is_grad_enabled()


def test_retain_grad_on_intermediate():
    a = np.array([1.0, 2.0, 3.0])
    x = _leaf(a)
    h = x * 3.0
    h.retain_grad()
    u = x * 5.0  # an intermediate that does not retain
    (h * h + u).sum().backward()
    assert_close(h.grad.numpy(), 2 * 3 * a, kind="grad")
    assert_close(x.grad.numpy(), 18 * a + 5, kind="grad")
    assert u.grad is None


def test_retain_grad_on_the_tensor_backward_is_called_on():
    # PyTorch: y.retain_grad(); y.backward() gives y.grad == 1 (the seed).
    x = _leaf([1.0, 2.0])
    y = (x * 3.0).sum()
    y.retain_grad()
    y.backward()
    assert y.grad is not None
    np.testing.assert_array_equal(y.grad.numpy(), 1.0)
    h = x * 2.0
    h.retain_grad()
    h.backward(gradient=fastdl.tensor([0.5, 2.0], dtype=fastdl.float64))
    assert h.grad is not None
    np.testing.assert_array_equal(h.grad.numpy(), [0.5, 2.0])


@pytest.mark.parametrize(
    "shape_a, shape_b",
    [((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((), (2, 3)), ((5, 1, 2), (1, 2))],
)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_broadcast_gradient_shapes_equal_input_shapes(shape_a, shape_b, op):
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, shape_a)
    b = rng.uniform(0.5, 2.0, shape_b)
    x, y = _leaf(a), _leaf(b)
    fn = {
        "add": lambda p, q: p + q,
        "sub": lambda p, q: p - q,
        "mul": lambda p, q: p * q,
        "div": lambda p, q: p / q,
    }[op]
    fn(x, y).sum().backward()
    assert x.grad.shape == shape_a and y.grad.shape == shape_b
    ones = np.ones(np.broadcast_shapes(shape_a, shape_b))
    a_b, b_b = a * ones, b * ones
    da, db = {
        "add": (ones, ones),
        "sub": (ones, -ones),
        "mul": (b_b, a_b),
        "div": (1 / b_b, -a_b / b_b**2),
    }[op]

    def reduce_to(g, shape):
        lead = g.ndim - len(shape)
        g = g.sum(axis=tuple(range(lead)))
        axes = tuple(i for i, n in enumerate(shape) if n == 1)
        return g.sum(axis=axes, keepdims=True).reshape(shape)

    assert_close(x.grad.numpy(), reduce_to(da, shape_a), kind="grad")
    assert_close(y.grad.numpy(), reduce_to(db, shape_b), kind="grad")


def test_mixed_float32_float64_grads_keep_each_inputs_dtype():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    b = np.array([0.5, -1.0, 4.0], np.float64)
    x, y = _leaf(a, np.float32), _leaf(b, np.float64)
    out = x * y
    assert out.dtype == np.float64
    out.sum().backward()
    assert x.grad.dtype == np.float32
    assert y.grad.dtype == np.float64
    assert_close(x.grad.numpy(), b.astype(np.float32), np.float32, kind="grad")
    assert_close(y.grad.numpy(), a.astype(np.float64), np.float64, kind="grad")


def test_leaf_grads_do_not_alias_each_other_or_the_seed():
    x, y = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    (x + y).sum().backward()
    x.grad.numpy()[0] = 100.0
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])
    seed = fastdl.tensor([1.0, 1.0], dtype=fastdl.float64)
    z = _leaf([0.0, 0.0])
    z.backward(gradient=seed)
    z.grad.numpy()[1] = 7.0
    np.testing.assert_array_equal(seed.numpy(), [1.0, 1.0])


def test_leaf_backward_and_requires_grad_false_inputs_get_no_grad():
    x = _leaf([1.0, 2.0])
    c = fastdl.tensor([3.0, 4.0], dtype=fastdl.float64)
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


# -- DOT export --------------------------------------------------------------------------------


def _balanced(text):
    depth = 0
    for ch in text:
        depth += ch == "{"
        depth -= ch == "}"
        if depth < 0:
            return False
    return depth == 0


def test_to_dot_names_ops_and_shapes():
    fastdl.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 10))
    x = fastdl.randn(32, 20)
    y = fastdl.tensor(np.arange(32) % 10)
    loss = nn.CrossEntropyLoss()(model(x), y)
    dot = fastdl.graph.to_dot(loss)
    assert dot.startswith("digraph")
    assert _balanced(dot) and dot.rstrip().endswith("}")
    assert "Linear" in dot and "CrossEntropy" in dot
    assert "(32, 10)" in dot  # logits
    assert "(32, 20)" in dot  # input
    assert "(10, 20)" in dot  # weight
    # every edge joins two declared nodes
    declared = set(re.findall(r"^\s*(\w+) \[", dot, re.M))
    for src, dst in re.findall(r"^\s*(\w+) -> (\w+)", dot, re.M):
        assert src in declared and dst in declared


def test_to_dot_on_a_deep_graph():
    x = _leaf([1.0, 2.0])
    y = x
    for _ in range(5000):
        y = y + 1.0
    dot = fastdl.graph.to_dot(y.sum())
    assert dot.startswith("digraph") and _balanced(dot)
    assert dot.count("Add") >= 5000
    assert "Sum" in dot


def test_to_dot_rejects_non_tensors():
    with pytest.raises(TypeError):
        fastdl.graph.to_dot(np.zeros(2))


def test_forward_and_backward_work_in_a_new_thread():
    import threading

    result = {}

    def work():
        x = fastdl.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        result["grad"] = x.grad.numpy().copy()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    np.testing.assert_array_equal(result["grad"], [2.0, 4.0])
