"""Module hooks: forward pre/post hooks and full backward (pre-)hooks with PyTorch's
signatures and semantics, removable handles, and Sequential's fusion stepping aside for
hooked modules."""

from collections import namedtuple

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
from fastdl import nn
from fastdl.nn.containers import _fusable

F64 = np.float64


def _t(array, requires_grad=False):
    return fastdl.tensor(np.asarray(array, dtype=F64), requires_grad=requires_grad)


def _np(t):
    return None if t is None else t.detach().numpy().copy()


def _rng(seed=0):
    return np.random.default_rng(seed)


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x, shift=0.0):
        return x * self.factor + shift


# -- forward hooks ------------------------------------------------------------------------------


def test_forward_hooks_fire_in_order_with_the_right_arguments():
    calls = []
    module = Scale(2.0)
    x = _t([1.0, 2.0])

    def pre(name):
        def hook(m, args):
            calls.append((name, m, args))

        return hook

    def post(name):
        def hook(m, args, output):
            calls.append((name, m, args, _np(output)))

        return hook

    original_forward = module.forward

    def forward(*args, **kwargs):
        calls.append(("forward",))
        return original_forward(*args, **kwargs)

    object.__setattr__(module, "forward", forward)
    module.register_forward_pre_hook(pre("pre1"))
    module.register_forward_pre_hook(pre("pre2"))
    module.register_forward_pre_hook(pre("pre0"), prepend=True)
    module.register_forward_hook(post("post1"))
    module.register_forward_hook(post("post0"), prepend=True)
    out = module(x, 1.0)

    assert [c[0] for c in calls] == ["pre0", "pre1", "pre2", "forward", "post0", "post1"]
    for call in calls[:3]:
        assert call[1] is module and call[2][0] is x and call[2][1] == 1.0
    for call in calls[4:]:
        assert call[1] is module and call[2][0] is x
        np.testing.assert_array_equal(call[3], [3.0, 5.0])
    np.testing.assert_array_equal(_np(out), [3.0, 5.0])


def test_forward_pre_hook_replaces_the_arguments():
    module = Scale(2.0)
    x = _t([1.0, 2.0])
    handle = module.register_forward_pre_hook(lambda m, args: (args[0] * 10.0,))
    np.testing.assert_array_equal(_np(module(x)), [20.0, 40.0])
    handle.remove()
    # A single value is wrapped into a one-tuple, as in PyTorch.
    module.register_forward_pre_hook(lambda m, args: args[0] + 1.0)
    np.testing.assert_array_equal(_np(module(x)), [4.0, 6.0])


def test_hooks_with_kwargs():
    module = Scale(2.0)
    x = _t([1.0, 2.0])
    seen = []

    def pre(m, args, kwargs):
        return args, {**kwargs, "shift": 100.0}

    def post(m, args, kwargs, output):
        seen.append(dict(kwargs))
        return output - 1.0

    module.register_forward_pre_hook(pre, with_kwargs=True)
    module.register_forward_hook(post, with_kwargs=True)
    np.testing.assert_array_equal(_np(module(x, shift=5.0)), [101.0, 103.0])
    assert seen == [{"shift": 100.0}]
    module.register_forward_pre_hook(lambda m, a, k: "oops", with_kwargs=True)
    with pytest.raises(RuntimeError, match="args, kwargs"):
        module(x)


def test_forward_hook_replaces_the_output_and_later_hooks_see_the_replacement():
    module = Scale(3.0)
    seen = []
    module.register_forward_hook(lambda m, args, out: out * 0.0 + 7.0)
    module.register_forward_hook(lambda m, args, out: seen.append(_np(out)))
    out = module(_t([1.0, 2.0]))
    np.testing.assert_array_equal(_np(out), [7.0, 7.0])
    np.testing.assert_array_equal(seen[0], [7.0, 7.0])


def test_handles_remove_their_hook_only_and_reset_the_fast_path():
    module = Scale(1.0)
    calls = []
    h1 = module.register_forward_hook(lambda m, a, o: calls.append(1))
    h2 = module.register_forward_pre_hook(lambda m, a: calls.append(2))
    h3 = module.register_full_backward_hook(lambda m, gi, go: calls.append(3))
    assert len({h1.id, h2.id, h3.id}) == 3
    assert module._hooked
    module(_t([1.0]))
    assert calls == [2, 1]
    h2.remove()
    h2.remove()  # twice is harmless
    module(_t([1.0]))
    assert calls == [2, 1, 1]
    with h1:
        pass
    h3.remove()
    module(_t([1.0], requires_grad=True)).sum().backward()
    assert calls == [2, 1, 1]
    assert not module._hooked
    assert "_hooked" not in type(module).__dict__  # still the Module class default


def test_hooks_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        Scale(1.0).register_forward_hook(42)


def test_forward_hooks_run_under_no_grad_and_backward_hooks_stay_out():
    module = nn.Tanh()
    fired = []
    module.register_forward_hook(lambda m, a, o: fired.append("forward"))
    module.register_full_backward_hook(lambda m, gi, go: fired.append("backward"))
    x = _t(_rng().standard_normal(3), requires_grad=True)
    with fastdl.no_grad():
        out = module(x)
    assert fired == ["forward"]
    assert not out.requires_grad and out.grad_fn is None


# -- full backward hooks ------------------------------------------------------------------------


class TwoInputs(nn.Module):
    """The two inputs take separate paths that meet only at the end, so the engine
    reaches their gradients at different times."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.array([0.5, -1.5, 2.0]))

    def forward(self, a, b, scale, c):
        return (a.tanh() * self.w + (b * b).sigmoid() * scale) * c.exp()


def _two_inputs_reference(a, b, scale, c, w):
    return (a.tanh() * w + (b * b).sigmoid() * scale) * c.exp()


def test_full_backward_hook_sees_the_true_gradients():
    rng = _rng(1)
    a0, b0, c0 = rng.standard_normal((3, 4, 3))
    g0 = rng.standard_normal((4, 3))
    module = TwoInputs()
    seen = []
    module.register_full_backward_hook(lambda m, gi, go: seen.append((m, gi, go)))

    a, b = _t(a0, requires_grad=True), _t(b0, requires_grad=True)
    c = _t(c0)  # does not require grad: None in grad_input
    module(a * 1.0, b * 1.0, 3.0, c).backward(_t(g0))

    # The same function without the module, its inputs and output retaining gradients.
    ra, rb = _t(a0, requires_grad=True), _t(b0, requires_grad=True)
    ia, ib = ra * 1.0, rb * 1.0
    ia.retain_grad()
    ib.retain_grad()
    w = _t(module.w.detach().numpy(), requires_grad=True)
    out = _two_inputs_reference(ia, ib, 3.0, _t(c0), w)
    out.retain_grad()
    out.backward(_t(g0))

    assert len(seen) == 1
    m, grad_input, grad_output = seen[0]
    assert m is module
    assert isinstance(grad_input, tuple) and len(grad_input) == 4
    assert isinstance(grad_output, tuple) and len(grad_output) == 1
    assert grad_input[2] is None and grad_input[3] is None
    assert_close(_np(grad_input[0]), _np(ia.grad), F64, kind="grad")
    assert_close(_np(grad_input[1]), _np(ib.grad), F64, kind="grad")
    assert_close(_np(grad_output[0]), _np(out.grad), F64, kind="grad")
    # The leaves got the same gradients as without the hook.
    assert_close(_np(a.grad), _np(ra.grad), F64, kind="grad")
    assert_close(_np(b.grad), _np(rb.grad), F64, kind="grad")
    assert_close(_np(module.w.grad), _np(w.grad), F64, kind="grad")


def test_replacement_grad_input_is_what_flows_on():
    rng = _rng(2)
    x0 = rng.standard_normal((5, 3))
    fastdl.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()

    def run(hook):
        model.zero_grad(set_to_none=True)
        handle = model[2].register_full_backward_hook(hook) if hook else None
        x = _t(x0, requires_grad=True)
        (model(x) ** 2).sum().backward()
        if handle is not None:
            handle.remove()
        return _np(x.grad), [_np(p.grad) for p in model.parameters()]

    x_grad, grads = run(None)
    x_grad3, grads3 = run(lambda m, gi, go: (gi[0] * 3.0,))
    assert_close(x_grad3, 3.0 * x_grad, F64, kind="grad")
    assert_close(grads3[0], 3.0 * grads[0], F64, kind="grad")  # layer 0: upstream, scaled
    assert_close(grads3[1], 3.0 * grads[1], F64, kind="grad")
    assert_close(grads3[2], grads[2], F64, kind="grad")  # layer 2's own: unchanged
    assert_close(grads3[3], grads[3], F64, kind="grad")
    # A NumPy array or None is accepted too; None stops the gradient.
    x_grad0, grads0 = run(lambda m, gi, go: (None,))
    assert x_grad0 is None and grads0[0] is None
    assert_close(grads0[2], grads[2], F64, kind="grad")


def test_hooks_chain_and_the_next_hook_sees_the_replacement():
    module = nn.Tanh()
    seen = []
    module.register_full_backward_hook(lambda m, gi, go: (gi[0] * 2.0,))
    module.register_full_backward_hook(lambda m, gi, go: seen.append(_np(gi[0])))
    x0 = _rng(4).standard_normal(3)
    x = _t(x0, requires_grad=True)
    module(x).sum().backward()
    expected = 2.0 * (1.0 - np.tanh(x0) ** 2)
    assert_close(seen[0], expected, F64, kind="grad")
    assert_close(_np(x.grad), expected, F64, kind="grad")


def test_backward_pre_hook_replaces_grad_output():
    module = nn.Sigmoid()
    order = []

    def pre(m, grad_output):
        order.append("pre")
        return (grad_output[0] * 5.0,)

    def full(m, grad_input, grad_output):
        order.append("full")
        assert_close(_np(grad_output[0]), np.full(3, 5.0), F64, kind="grad")

    module.register_full_backward_pre_hook(pre)
    module.register_full_backward_hook(full)
    x0 = _rng(5).standard_normal(3)
    x = _t(x0, requires_grad=True)
    module(x).sum().backward()
    s = 1 / (1 + np.exp(-x0))
    assert order == ["pre", "full"]
    assert_close(_np(x.grad), 5.0 * s * (1 - s), F64, kind="grad")


def test_backward_hook_when_no_input_requires_grad():
    fastdl.manual_seed(6)
    layer = nn.Linear(3, 2).double()
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append((gi, _np(go[0]))))
    g0 = _rng(7).standard_normal((4, 2))
    layer(_t(_rng(8).standard_normal((4, 3)))).backward(_t(g0))
    assert len(seen) == 1
    assert seen[0][0] == (None,)
    assert_close(seen[0][1], g0, F64, kind="grad")
    assert layer.weight.grad is not None

    layer.register_full_backward_hook(lambda m, gi, go: (fastdl.zeros(4, 3),))
    with pytest.raises(RuntimeError, match="no input"):
        layer(_t(np.ones((4, 3)))).sum().backward()


def test_bad_replacements_are_refused():
    x = _t([1.0, 2.0], requires_grad=True)
    module = nn.Tanh()
    handle = module.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="tuple of 1"):
        module(x).sum().backward()
    handle.remove()
    module.register_full_backward_hook(lambda m, gi, go: (fastdl.zeros(3),))
    with pytest.raises(RuntimeError, match=r"shape \(3,\)"):
        module(x).sum().backward()


def test_multiple_outputs_and_namedtuples():
    Pair = namedtuple("Pair", "double square")

    class Split(nn.Module):
        def forward(self, x):
            return Pair(x * 2.0, x * x)

    module = Split()
    seen = []
    module.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go)))
    x0 = np.array([1.0, -2.0, 3.0])
    x = _t(x0, requires_grad=True)
    out = module(x)
    assert isinstance(out, Pair)
    (out.double.sum() + (out.square * 3.0).sum()).backward()
    (grad_input,), grad_output = seen[0]
    assert_close(_np(grad_output[0]), np.ones(3), F64, kind="grad")
    assert_close(_np(grad_output[1]), np.full(3, 3.0), F64, kind="grad")
    assert_close(_np(grad_input), 2.0 + 6.0 * x0, F64, kind="grad")

    # An output that receives no gradient shows as None.
    seen.clear()
    module(_t(x0, requires_grad=True)).double.sum().backward()
    assert seen[0][1][1] is None


def test_backward_hook_fires_on_every_pass_with_retain_graph():
    module = nn.Tanh()
    seen = []
    module.register_full_backward_hook(lambda m, gi, go: seen.append(_np(go[0])))
    out = module(_t([0.5, 1.0], requires_grad=True))
    out.backward(_t([1.0, 2.0]), retain_graph=True)
    out.backward(_t([3.0, 4.0]))
    np.testing.assert_array_equal(seen[0], [1.0, 2.0])
    np.testing.assert_array_equal(seen[1], [3.0, 4.0])


@pytest.mark.skipif(not hasattr(fastdl.autograd, "grad"), reason="needs autograd.grad")
def test_double_backward_through_a_hooked_module():
    x0 = _rng(9).standard_normal((3, 2))

    def second_derivative(hooked):
        module = nn.Tanh()
        if hooked:
            module.register_full_backward_hook(lambda m, gi, go: None)
        x = _t(x0, requires_grad=True)
        (g,) = fastdl.autograd.grad((module(x) ** 2).sum(), x, create_graph=True)
        (h,) = fastdl.autograd.grad(g.sum(), x)
        return _np(g), _np(h)

    for plain, hooked in zip(second_derivative(False), second_derivative(True)):
        assert_close(hooked, plain, F64, kind="grad")


# -- Sequential fusion --------------------------------------------------------------------------


def _mlp():
    fastdl.manual_seed(10)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3), nn.Tanh())


def test_sequential_with_a_hooked_activation_matches_and_the_hook_sees_its_output():
    model = _mlp()
    x0 = _rng(11).standard_normal((6, 5)).astype(np.float32)
    g0 = _rng(12).standard_normal((6, 3)).astype(np.float32)

    def run():
        model.zero_grad(set_to_none=True)
        x = fastdl.tensor(x0, requires_grad=True)
        out = model(x)
        out.backward(fastdl.tensor(g0))
        return [_np(out), _np(x.grad)] + [_np(p.grad) for p in model.parameters()]

    assert _fusable(model[0], model[1]) is not None
    plain = run()

    seen = {}
    hooks = [
        model[1].register_forward_hook(lambda m, a, o: seen.update(relu_in=_np(a[0]), relu=_np(o))),
        model[0].register_forward_hook(lambda m, a, o: seen.update(linear=_np(o))),
        model[1].register_full_backward_hook(lambda m, gi, go: seen.update(relu_grad=_np(go[0]))),
    ]
    assert _fusable(model[0], model[1]) is None
    hooked = run()
    for a, b in zip(hooked, plain):
        assert_close(a, b, np.float32, kind="grad")

    w, b = _np(model[0].weight), _np(model[0].bias)
    pre_activation = x0 @ w.T + b
    assert_close(seen["linear"], pre_activation, np.float32)  # the Linear's own output
    assert_close(seen["relu_in"], pre_activation, np.float32)
    assert_close(seen["relu"], np.maximum(pre_activation, 0), np.float32)
    # d(out)/d(relu output): back through Tanh and the second Linear.
    y = np.tanh(seen["relu"] @ _np(model[2].weight).T + _np(model[2].bias))
    expected = (g0 * (1 - y**2)) @ _np(model[2].weight)
    assert_close(seen["relu_grad"], expected, np.float32, kind="grad")

    for h in hooks:
        h.remove()
    assert _fusable(model[0], model[1]) is not None
    for a, b in zip(run(), plain):
        assert_close(a, b, np.float32, kind="grad")


def test_a_hook_on_the_linear_alone_also_stops_fusion():
    model = _mlp()
    handle = model[2].register_forward_pre_hook(lambda m, args: None)
    assert _fusable(model[0], model[1]) is not None
    assert _fusable(model[2], model[3]) is None
    handle.remove()
    assert _fusable(model[2], model[3]) is not None
