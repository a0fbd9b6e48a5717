"""fastdl.diagnostics: per-layer gradient norms with vanishing/exploding warnings, dead
ReLU and saturation fractions from forward hooks, and their plots."""

import math
import warnings

import numpy as np
import pytest

import fastdl
from fastdl import diagnostics, nn, plot
from fastdl.diagnostics import ActivationMonitor, GradientMonitor, GradientWarning
from fastdl.nn.containers import _fusable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _x(shape, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return fastdl.tensor((scale * rng.standard_normal(shape)).astype(np.float32))


def _deep_sigmoid(depth=6, width=8, std=0.01):
    fastdl.manual_seed(0)
    layers = []
    for _ in range(depth):
        layer = nn.Linear(width, width)
        nn.init.normal_(layer.weight, 0.0, std)
        layers += [layer, nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(width, 1))


def _backward(model, x):
    model.zero_grad()
    out = model(x)
    loss = (out * out).mean()
    loss.backward()
    return loss


def _kinds(monitor):
    return {(layer, kind) for _, layer, kind, _ in monitor.events}


# -- GradientMonitor ---------------------------------------------------------------------------


def test_norms_are_numpy_norms_of_the_gradients():
    fastdl.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2, bias=False))
    monitor = GradientMonitor(model)
    assert monitor.layers == ["0", "2"]
    for step in range(2):
        _backward(model, _x((5, 4), seed=step))
        record = monitor.step()
        assert monitor.history[-1] is record
        for name in ("0", "2"):
            params = list(model._modules[name].parameters())
            grad = np.concatenate([p.grad.numpy().ravel() for p in params]).astype(np.float64)
            value = np.concatenate([p.detach().numpy().ravel() for p in params]).astype(np.float64)
            np.testing.assert_allclose(record[name]["grad_norm"], np.linalg.norm(grad), rtol=1e-6)
            np.testing.assert_allclose(record[name]["param_norm"], np.linalg.norm(value), rtol=1e-6)
            np.testing.assert_allclose(
                record[name]["ratio"], np.linalg.norm(grad) / np.linalg.norm(value), rtol=1e-6
            )
    assert len(monitor.history) == 2
    assert monitor.series("grad_norm")["0"] == [r["0"]["grad_norm"] for r in monitor.history]
    assert monitor.events == []


def test_deep_sigmoid_net_with_tiny_init_warns_of_vanishing_gradients_in_the_first_layers():
    model = _deep_sigmoid()
    monitor = GradientMonitor(model)
    _backward(model, _x((16, 8)))
    with pytest.warns(GradientWarning) as caught:
        monitor.step()
    messages = [str(w.message) for w in caught]
    assert any("vanishing gradient in layer '0' (Linear)" in m for m in messages), messages
    assert all(w.filename == __file__ for w in caught)  # points at the caller of step()
    kinds = _kinds(monitor)
    assert ("0", "vanishing") in kinds and ("2", "vanishing") in kinds
    # The last layers still learn: gradients shrink towards the input.
    assert ("12", "vanishing") not in kinds and ("10", "vanishing") not in kinds
    norms = [monitor.history[0][name]["grad_norm"] for name in monitor.layers]
    assert norms == sorted(norms)
    assert monitor.history[0]["0"]["ratio"] < 1e-7

    # Each (layer, problem) warns once; later occurrences are still recorded.
    _backward(model, _x((16, 8), seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monitor.step()
    assert sum(1 for e in monitor.events if e[1] == "0") == 2
    assert "vanishing x2" in monitor.summary()


def test_huge_init_warns_of_exploding_gradients():
    fastdl.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 4))
    with fastdl.no_grad():
        for p in model.parameters():
            p.mul_(300.0)
    monitor = GradientMonitor(model)
    _backward(model, _x((8, 4)))
    with pytest.warns(GradientWarning, match=r"exploding gradient in layer '\d' \(Linear\)"):
        monitor.step()
    assert all(kind == "exploding" for _, _, kind, _ in monitor.events)
    assert max(r["ratio"] for r in monitor.history[0].values()) > 1e3


def test_a_large_lr_step_gives_non_finite_gradients_and_a_warning():
    fastdl.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    optimizer = fastdl.optim.SGD(model.parameters(), lr=1e30)
    monitor = GradientMonitor(model, exploding=math.inf)  # only the non-finite check
    x = _x((8, 4), scale=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _backward(model, x)
        monitor.step()
    optimizer.step()
    with np.errstate(all="ignore"):
        _backward(model, x)
    with pytest.warns(GradientWarning, match="non-finite gradient in layer"):
        monitor.step()
    assert {kind for _, _, kind, _ in monitor.events} == {"non-finite"}
    norms = [r["grad_norm"] for r in monitor.history[1].values()]
    assert not all(math.isfinite(g) for g in norms)


def test_warn_false_records_without_warning_and_bad_arguments_are_refused():
    model = _deep_sigmoid()
    monitor = GradientMonitor(model, warn=False)
    _backward(model, _x((16, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monitor.step()
    assert ("0", "vanishing") in _kinds(monitor)
    with pytest.raises(ValueError, match="vanishing"):
        GradientMonitor(model, vanishing=1.0, exploding=0.5)
    with pytest.raises(TypeError, match="Module"):
        GradientMonitor([1, 2])


def test_frozen_and_unused_parameters_are_left_out():
    fastdl.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    model[0].requires_grad_(False)
    monitor = GradientMonitor(model)
    _backward(model, _x((2, 3)))
    record = monitor.step()
    assert list(record) == ["1"]
    assert monitor.series()["0"] == [None]


# -- ActivationMonitor --------------------------------------------------------------------------


def test_relu_with_a_large_negative_bias_is_all_dead():
    fastdl.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU())
    nn.init.constant_(model[0].bias, -100.0)
    with ActivationMonitor(model) as monitor:
        model(_x((32, 4)))
        model(_x((32, 4), seed=1))
    assert monitor.stats["1"]["kind"] == "relu"
    assert monitor.stats["1"]["dead_fraction"] == 1.0
    assert monitor.stats["1"]["running_dead_fraction"] == 1.0
    assert monitor.stats["1"]["batches"] == 2
    assert monitor.history["1"] == [1.0, 1.0]
    # Removed: the model fuses again and nothing more is recorded.
    assert _fusable(model[0], model[1]) is not None
    model(_x((32, 4)))
    assert monitor.stats["1"]["batches"] == 2


def test_dead_fraction_per_batch_and_running():
    model = nn.Sequential(nn.ReLU())
    monitor = ActivationMonitor(model)
    model(fastdl.tensor([[1.0, -1.0, -2.0], [0.5, -1.0, 0.0]]))  # units 1, 2 dead
    model(fastdl.tensor([[-1.0, 3.0, -2.0]]))  # units 0, 2 dead
    stats = monitor.stats["0"]
    assert monitor.history["0"] == pytest.approx([2 / 3, 2 / 3])
    assert stats["dead_fraction"] == pytest.approx(2 / 3)
    assert stats["running_dead_fraction"] == pytest.approx(1 / 3)  # only unit 2, never alive
    monitor.reset()
    model(fastdl.tensor([[1.0, 1.0, 1.0]]))
    assert monitor.stats["0"]["running_dead_fraction"] == 0.0
    monitor.remove()


def test_dead_fraction_matches_numpy_on_a_random_layer():
    fastdl.manual_seed(6)
    model = nn.Sequential(nn.Linear(3, 50), nn.LeakyReLU(0.1))
    x = _x((4, 3), seed=2)
    pre = x.numpy() @ model[0].weight.detach().numpy().T + model[0].bias.detach().numpy()
    expected = float(np.mean(np.all(pre <= 0, axis=0)))
    assert 0 < expected < 1
    assert diagnostics.dead_units(model, x) == {"1": pytest.approx(expected)}


def test_tanh_and_sigmoid_with_huge_weights_saturate():
    fastdl.manual_seed(7)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Sigmoid())
    for layer in (model[0], model[2]):
        nn.init.normal_(layer.weight, 0.0, 100.0)
    with ActivationMonitor(model) as monitor:
        out = model(_x((64, 8)))
    assert monitor.stats["1"]["kind"] == "tanh"
    assert monitor.stats["1"]["saturation"] > 0.97
    assert monitor.stats["3"]["saturation"] > 0.97
    np.testing.assert_allclose(
        monitor.stats["3"]["saturation"], np.mean(np.abs(out.detach().numpy() - 0.5) > 0.49)
    )
    # A well-scaled layer is not saturated.
    nn.init.normal_(model[0].weight, 0.0, 0.01)
    assert diagnostics.saturation(model, _x((64, 8)))["1"] == 0.0
    # The threshold is the documented one: |tanh| > 0.99, sigmoid outside [0.01, 0.99].
    probe = nn.Sequential(nn.Tanh())
    y = np.tanh(np.array([[-3.0, -2.0, 2.0, 2.7, 2.6]]))  # |y| > 0.99 for |x| > ~2.65
    frac = diagnostics.saturation(probe, fastdl.tensor(np.arctanh(y)))["0"]
    assert frac == pytest.approx(np.mean(np.abs(y) > 0.99)) == pytest.approx(0.4)


def test_monitored_model_gives_the_same_outputs():
    fastdl.manual_seed(8)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3), nn.Sigmoid())
    x = _x((9, 5))
    plain = model(x).detach().numpy().copy()
    with ActivationMonitor(model) as monitor:
        assert _fusable(model[0], model[1]) is None
        np.testing.assert_allclose(model(x).detach().numpy(), plain, rtol=1e-6, atol=1e-7)
        monitor.enabled = False
        model(x)
    assert monitor.stats["1"]["batches"] == 1
    assert "dead" in monitor.summary() and "saturated" in monitor.summary()


# -- plots --------------------------------------------------------------------------------------


def _read_png(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 10
    return image


def test_gradient_norm_plot(tmp_path):
    model = _deep_sigmoid(depth=3)
    monitor = GradientMonitor(model, warn=False)
    for step in range(4):
        _backward(model, _x((8, 8), seed=step))
        monitor.step()
    path = tmp_path / "grads.png"
    assert plot.gradient_norms(monitor, path, title="gradients") == path
    _read_png(path)
    # A bare history with a non-finite step and a missing layer still draws.
    history = [dict(r) for r in monitor.history]
    history[1] = {"0": {"grad_norm": float("nan"), "param_norm": 1.0, "ratio": None}}
    plot.gradient_norms(history, str(tmp_path / "h.png"), dpi=50)
    _read_png(tmp_path / "h.png")
    plot.gradient_norms([], tmp_path / "empty.png", dpi=50)
    _read_png(tmp_path / "empty.png")
    with pytest.raises(TypeError, match="GradientMonitor"):
        plot.gradient_norms(42, tmp_path / "x.png")
    with pytest.raises(TypeError, match="step record 0"):
        plot.gradient_norms([1.0], tmp_path / "x.png")


def test_activation_plot(tmp_path):
    fastdl.manual_seed(9)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh())
    with ActivationMonitor(model) as monitor:
        for seed in range(3):
            model(_x((16, 4), seed=seed))
    path = tmp_path / "act.png"
    assert plot.activations(monitor, path) == path
    _read_png(path)
    plot.activations(monitor.stats, tmp_path / "stats.png", dpi=50)
    _read_png(tmp_path / "stats.png")
    with pytest.raises(TypeError, match="ActivationMonitor"):
        plot.activations([1, 2], tmp_path / "x.png")
