"""Autograd as users extend it: ``fastdl.autograd.Function`` subclasses written as in
PyTorch, ``autograd.grad`` and ``backward(inputs=)`` with PyTorch's errors, tensor hooks.
Gradients are checked against float64 central differences and closed forms."""

import inspect

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
import fastdl.ops
from fastdl.autograd import Function, gradcheck
from fastdl.autograd.function import Function as KernelFunction
from fastdl.autograd.function import once_differentiable


def _leaf(array, requires_grad=True):
    return fastdl.tensor(np.asarray(array, np.float64), requires_grad=requires_grad)


def _np(t):
    return t.detach().numpy()


class Cube(Function):
    """x**3 with a backward built from differentiable ops (so twice differentiable)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x**2 * grad


class ScaledMul(Function):
    """a * b * scale, with a non-tensor argument and a keyword."""

    @staticmethod
    def forward(ctx, a, b, scale, *, shift=0.0):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        ctx.seen_needs = ctx.needs_input_grad
        return a * b * scale + shift

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad * b * ctx.scale if ctx.needs_input_grad[0] else None
        grad_b = grad * a * ctx.scale if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


class SinCos(Function):
    """Two outputs; the saved output comes back in the graph."""

    @staticmethod
    def forward(ctx, x):
        s = fastdl.tensor(np.sin(_np(x)))
        c = fastdl.tensor(np.cos(_np(x)))
        ctx.save_for_backward(s, c)
        return s, c

    @staticmethod
    def backward(ctx, grad_s, grad_c):
        s, c = ctx.saved_tensors
        return grad_s * c - grad_c * s


def test_forward_receives_tensors_and_runs_without_recording():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x, n):
            seen["x"], seen["n"] = x, n
            seen["recording"] = fastdl.is_grad_enabled()
            return x * n

        @staticmethod
        def backward(ctx, grad):
            return grad * 2, None

    x = _leaf([1.0, 2.0])
    y = Probe.apply(x, 2)
    assert seen["x"] is x and seen["n"] == 2 and seen["recording"] is False
    assert y.requires_grad and repr(y.grad_fn) == "<ProbeBackward>"
    y.sum().backward()
    assert_close(_np(x.grad), [2.0, 2.0], kind="grad")


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x = _leaf(rng.standard_normal((3, 4)))
    assert gradcheck(Cube.apply, [x], eps=1e-6, atol=1e-6, rtol=1e-5)
    a, b = _leaf(rng.standard_normal(5)), _leaf(rng.standard_normal(5))
    assert gradcheck(lambda a, b: ScaledMul.apply(a, b, 1.5, shift=2.0), [a, b], atol=1e-6)
    assert gradcheck(lambda t: SinCos.apply(t)[0] * 2 + SinCos.apply(t)[1], [x], atol=1e-6)


def test_needs_input_grad_and_non_tensor_arguments():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0], requires_grad=False)
    out = ScaledMul.apply(a, b, 2.0)
    assert out.grad_fn is not None
    out.sum().backward()
    assert_close(_np(a.grad), [6.0, 8.0], kind="grad")
    assert b.grad is None
    with fastdl.no_grad():
        plain = ScaledMul.apply(a, b, 2.0)
    assert not plain.requires_grad and plain.grad_fn is None


def test_double_backward_through_a_differentiable_backward():
    x = _leaf([0.5, -1.0, 2.0])
    (g,) = fastdl.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert_close(_np(g), 3 * _np(x) ** 2, kind="grad")
    (h,) = fastdl.autograd.grad(g.sum(), x)
    assert_close(_np(h), 6 * _np(x), kind="grad")
    hessian = fastdl.autograd.hessian(lambda t: Cube.apply(t).sum(), x)
    assert_close(np.asarray(hessian), np.diag(6 * _np(x)), kind="grad")


def test_saved_output_is_in_the_graph_for_double_backward():
    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

    x = _leaf([0.1, 0.7])
    (g,) = fastdl.autograd.grad(Exp.apply(x).sum(), x, create_graph=True)
    (h,) = fastdl.autograd.grad(g.sum(), x)
    assert_close(_np(h), np.exp(_np(x)), kind="grad")


def test_multiple_outputs_unused_output_gets_zeros_or_none():
    seen = []

    class Two(Function):
        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            seen.append((g1, g2))
            total = 0
            for g, k in ((g1, 2), (g2, 3)):
                if g is not None:
                    total = total + g * k
            return total, None

    x = _leaf([1.0, 2.0])
    a, b = Two.apply(x, True)
    assert a.requires_grad and b.requires_grad
    a.sum().backward()
    g1, g2 = seen.pop()
    assert_close(_np(g1), [1.0, 1.0]) and assert_close(_np(g2), [0.0, 0.0])
    assert_close(_np(x.grad), [2.0, 2.0], kind="grad")
    x.grad = None
    a, b = Two.apply(x, False)
    (a.sum() + 2 * b.sum()).backward()
    assert_close(_np(x.grad), [8.0, 8.0], kind="grad")
    a, b = Two.apply(x, False)
    b.sum().backward()
    assert seen[-1][0] is None


def test_mark_non_differentiable_outputs():
    class SortLike(Function):
        @staticmethod
        def forward(ctx, x):
            order = fastdl.tensor(np.argsort(_np(x)))
            values = fastdl.tensor(np.sort(_np(x)))
            flag = values * 0
            ctx.mark_non_differentiable(order, flag)
            ctx.save_for_backward(order)
            return values, order, flag

        @staticmethod
        def backward(ctx, grad, grad_order, grad_flag):
            (order,) = ctx.saved_tensors
            assert_close(_np(grad_flag), np.zeros(3))
            out = np.zeros(grad.shape)
            out[_np(order)] = _np(grad)
            return fastdl.tensor(out)

    x = _leaf([3.0, 1.0, 2.0])
    values, order, flag = SortLike.apply(x)
    assert values.requires_grad and not order.requires_grad and not flag.requires_grad
    (values * fastdl.tensor([1.0, 10.0, 100.0], dtype=fastdl.float64)).sum().backward()
    assert_close(_np(x.grad), [100.0, 1.0, 10.0], kind="grad")


def test_mark_dirty_is_accepted():
    class AddOneInPlace(Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1.0)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad

    base = _leaf([1.0, 2.0])
    x = base * 1.0
    y = AddOneInPlace.apply(x)
    assert_close(_np(y), [2.0, 3.0])
    (y * y).sum().backward()
    assert_close(_np(base.grad), [4.0, 6.0], kind="grad")


def test_once_differentiable_gives_gradients_without_a_graph():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, grad):
            assert not fastdl.is_grad_enabled()
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    x = _leaf([1.0, -2.0])
    (g,) = fastdl.autograd.grad(Square.apply(x).sum(), x, create_graph=True)
    assert_close(_np(g), [2.0, -4.0], kind="grad")
    assert not g.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        g.sum().backward()
    assert fastdl.autograd.once_differentiable is once_differentiable


def test_setup_context_style():
    class Mul(Function):
        @staticmethod
        def forward(a, b):
            return a * b

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            return grad * b, grad * a

    rng = np.random.default_rng(1)
    a, b = _leaf(rng.standard_normal(4)), _leaf(rng.standard_normal(4))
    assert gradcheck(Mul.apply, [a, b], atol=1e-6)


def test_a_broadcastable_gradient_is_summed_down():
    class Bias(Function):
        @staticmethod
        def forward(ctx, x, b):
            return x + b

        @staticmethod
        def backward(ctx, grad):
            return grad, grad  # b's gradient has x's shape

    x, b = _leaf(np.ones((3, 2))), _leaf([0.5, 1.0])
    Bias.apply(x, b).sum().backward()
    assert_close(_np(b.grad), [3.0, 3.0], kind="grad")


def test_bad_backward_results_raise_pytorchs_errors():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, grad):
            return grad

    class WrongShape(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return fastdl.ones(3, dtype=fastdl.float64)

    x = _leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 2, got 1\)"):
        TooFew.apply(x, x).sum().backward()
    with pytest.raises(RuntimeError, match="invalid gradient at index 0 - got"):
        WrongShape.apply(x).sum().backward()
    with pytest.raises(TypeError, match="Tensors or None"):

        class SavesArray(Function):
            @staticmethod
            def forward(ctx, a):
                ctx.save_for_backward(np.ones(2))
                return a

        SavesArray.apply(x)


def test_second_backward_without_retain_graph_raises_and_retain_graph_allows_it():
    x = _leaf([1.0, 2.0])
    y = Cube.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(_np(x.grad), 2 * 3 * _np(x) ** 2, kind="grad")
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_custom_function_on_the_cuda_backend_matches_the_cpu():
    rng = np.random.default_rng(2)
    data = rng.standard_normal((2, 3))
    results = []
    for device in ("cpu", "cuda"):
        x = fastdl.tensor(data, requires_grad=True, device=device)
        out = Cube.apply(x)
        (out * out).sum().backward()
        assert out.device == x.grad.device == fastdl.device(device if device == "cpu" else "cuda:0")
        results.append((_np(out.cpu()), _np(x.grad.cpu())))
    assert_close(results[1][0], results[0][0])
    assert_close(results[1][1], results[0][1], kind="grad")


def test_every_op_is_a_kernel_function():
    # fastdl's ops subclass the kernel-level Function (forward on raw arrays); the
    # user-facing fastdl.autograd.Function would hand them Tensors.
    import pkgutil
    from importlib import import_module

    for info in pkgutil.iter_modules(fastdl.ops.__path__):
        module = import_module(f"fastdl.ops.{info.name}")
        for name, value in inspect.getmembers(module, inspect.isclass):
            assert not issubclass(value, Function), f"fastdl.ops.{info.name}.{name}"
    assert issubclass(fastdl.ops.elementwise.Mul, KernelFunction)


# -- autograd.grad and backward(inputs=) ------------------------------------------------


def test_grad_errors_are_pytorchs():
    x, free = _leaf([1.0, 2.0]), _leaf([1.0, 2.0], requires_grad=False)
    unused = _leaf([0.0, 0.0])
    with pytest.raises(RuntimeError, match="One of the differentiated Tensors does not require"):
        fastdl.autograd.grad((x * 2).sum(), [x, free])
    with pytest.raises(RuntimeError, match="index 1 appears to not have been used"):
        fastdl.autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = fastdl.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert_close(_np(gx), [2.0, 2.0], kind="grad") and gu is None
    with pytest.raises(RuntimeError, match="implicitly created only for scalar"):
        fastdl.autograd.grad(x * 2, x)
    with pytest.raises(RuntimeError, match="got 2 tensors and 1 gradients"):
        fastdl.autograd.grad([x * 2, x * 3], x, grad_outputs=[fastdl.ones(2)])
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\]"):
        fastdl.autograd.grad(x * 2, x, grad_outputs=fastdl.ones(3, dtype=fastdl.float64))
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        fastdl.autograd.grad(free.sum(), x)


def test_grad_with_grad_outputs_and_no_accumulation():
    x = _leaf([1.0, 2.0, 3.0])
    v = np.array([0.5, -1.0, 2.0])
    (g,) = fastdl.autograd.grad(x**2, x, grad_outputs=fastdl.tensor(v))
    assert_close(_np(g), 2 * _np(x) * v, kind="grad")
    assert x.grad is None


def test_backward_with_inputs_accumulates_only_into_them():
    a, b = _leaf([1.0, 2.0]), _leaf([3.0, 4.0])
    (a * b).sum().backward(inputs=[a])
    assert_close(_np(a.grad), [3.0, 4.0], kind="grad")
    assert b.grad is None
    hidden = a * 2
    (hidden * b).sum().backward(inputs=hidden)
    assert_close(_np(hidden.grad), [3.0, 4.0], kind="grad")
    assert_close(_np(a.grad), [3.0, 4.0], kind="grad")
    fastdl.autograd.backward([(a * a).sum(), (b * 1).sum()], inputs=[b])
    assert_close(_np(b.grad), [1.0, 1.0], kind="grad")


# -- tensor hooks ---------------------------------------------------------------------


def test_leaf_hook_sees_the_summed_gradient_once_and_may_replace_it():
    x = _leaf([1.0, 2.0])
    calls = []

    def hook(g):
        calls.append(_np(g).copy())
        return g * 10

    handle = x.register_hook(hook)
    (x * x + x * 3).sum().backward()  # two paths into x
    assert len(calls) == 1
    assert_close(calls[0], 2 * _np(x) + 3, kind="grad")
    assert_close(_np(x.grad), 10 * (2 * _np(x) + 3), kind="grad")
    handle.remove()
    handle.remove()
    x.grad = None
    (x * x).sum().backward()
    assert_close(_np(x.grad), 2 * _np(x), kind="grad") and len(calls) == 1


def test_non_leaf_hook_changes_what_flows_on_and_retain_grad():
    x = _leaf([1.0, 2.0])
    y = x * 3
    y.retain_grad()
    seen = []
    y.register_hook(lambda g: seen.append(_np(g).copy()))
    y.register_hook(lambda g: g * 2)
    (y * y).sum().backward()
    assert_close(seen[0], 2 * _np(y), kind="grad")
    assert_close(_np(y.grad), 2 * _np(y), kind="grad")
    assert_close(_np(x.grad), 3 * 2 * (2 * _np(y)), kind="grad")


def test_hooks_apply_to_autograd_grad_and_refuse_bad_use():
    x = _leaf([1.0, 2.0])
    x.register_hook(lambda g: g + 1)
    (g,) = fastdl.autograd.grad((x * x).sum(), x)
    assert_close(_np(g), 2 * _np(x) + 1, kind="grad")
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        fastdl.ones(2).register_hook(lambda g: g)
    z = _leaf([1.0])
    z.register_hook(lambda g: fastdl.ones(3, dtype=fastdl.float64))
    with pytest.raises(RuntimeError, match="shape"):
        (z * 2).sum().backward()


def test_module_hooks_with_a_custom_function_inside():
    class Cubed(fastdl.nn.Module):
        def forward(self, x):
            return Cube.apply(x)

    module = Cubed()
    events = []
    module.register_forward_pre_hook(lambda m, args: events.append("pre"))
    module.register_forward_hook(lambda m, args, out: events.append("post"))
    module.register_full_backward_hook(
        lambda m, grad_in, grad_out: events.append(("back", _np(grad_in[0]).copy()))
    )
    x = _leaf([1.0, 2.0])
    module(x).sum().backward()
    assert events[:2] == ["pre", "post"]
    assert events[2][0] == "back"
    assert_close(events[2][1], 3 * _np(x) ** 2, kind="grad")
