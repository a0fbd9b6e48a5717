"""Tensors on the GPU: placement, moves, every op family forward and backward against
the same computation on the CPU, training steps with no host round trips.

Under the CUDA simulator (CI) the arrays are held to numba's DeviceNDArray API
(``_strict_cudasim``), so what passes here does not lean on simulator leniency.
"""

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
import fastdl.nn.functional as F
from fastdl import nn, optim

CUDA = "cuda"


def _pair(*arrays, requires_grad=True):
    """The same float64 values as CPU tensors and as CUDA tensors (leaves)."""
    cpu = [fastdl.tensor(a, requires_grad=requires_grad and a.dtype.kind == "f") for a in arrays]
    gpu = [
        fastdl.tensor(a, device=CUDA, requires_grad=requires_grad and a.dtype.kind == "f")
        for a in arrays
    ]
    return cpu, gpu


def _close(gpu_tensor, cpu_tensor, where):
    assert gpu_tensor.device == "cuda:0", where
    assert_close(gpu_tensor.cpu().numpy(), cpu_tensor.detach().numpy(), np.float64, where=where)


def _check_op(fn, *arrays, seed=0):
    """fn on CPU tensors and on CUDA tensors: same output, same input gradients."""
    cpu, gpu = _pair(*arrays)
    out_cpu, out_gpu = fn(*cpu), fn(*gpu)
    _close(out_gpu.detach(), out_cpu, "forward")
    if not out_cpu.requires_grad:
        return
    weights = np.random.default_rng(seed).standard_normal(out_cpu.shape)
    (out_cpu * fastdl.tensor(weights)).sum().backward()
    (out_gpu * fastdl.tensor(weights, device=CUDA)).sum().backward()
    for i, (c, g) in enumerate(zip(cpu, gpu, strict=True)):
        if c.grad is None:
            assert g.grad is None, f"input {i} got a gradient on CUDA only"
        else:
            assert g.grad is not None, f"input {i} got no gradient on CUDA"
            _close(g.grad, c.grad, f"grad of input {i}")


rng = np.random.default_rng(0)
A = rng.standard_normal((4, 5))
B = rng.standard_normal((4, 5))
ROW = rng.standard_normal(5)
IMG = rng.standard_normal((2, 3, 6, 6))
LABELS = np.array([0, 2, 1, 2])

OPS = {
    "add_broadcast": (lambda a, r: a + r, A, ROW),
    "sub_scalar": (lambda a: 2.0 - a, A),
    "mul": (lambda a, b: a * b, A, B),
    "div": (lambda a, b: a / (b.abs() + 1.0), A, B),
    "pow": (lambda a: a**2, A),
    "neg_exp_log_sqrt": (lambda a: (-a).exp() + (a.abs() + 1).log() + (a.abs() + 1).sqrt(), A),
    "clamp": (lambda a: a.clamp(-0.5, 0.5), A),
    "where": (lambda a, b: fastdl.where(a > 0, a, b), A, B),
    "relu_sigmoid_tanh": (lambda a: a.relu() + a.sigmoid() + a.tanh(), A),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.1), A),
    "softmax": (lambda a: a.softmax(-1) + a.log_softmax(1), A),
    "sum_mean": (lambda a: a.sum(0) + a.mean(0, keepdim=True) + a.sum(), A),
    "max": (lambda a: a.max(1)[0], A),
    "matmul": (lambda a, b: a @ b.T, A, B),
    "linear": (lambda a, w, b: F.linear(a, w, b), A, B, rng.standard_normal(4)),
    "reshape_permute": (lambda a: a.reshape(2, 10).T.reshape(5, 4) * 1.0, A),
    "getitem": (lambda a: a[1:, :3] * a[0, 2:], A),
    "cat_stack": (lambda a, b: fastdl.cat([a, b], 1).sum(1) + fastdl.stack([a, b]).sum((0, 2)),
                  A, B),
    "mse_l1": (lambda a, b: F.mse_loss(a, b) + F.l1_loss(a, b), A, B),
    "cross_entropy": (lambda a: F.cross_entropy(a[:, :3], fastdl.tensor(LABELS, device=a.device)),
                      A),
    "bce_logits": (lambda a, b: F.binary_cross_entropy_with_logits(a, b.sigmoid().detach()), A, B),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=1),
               IMG, rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)),
    "pools": (lambda x: F.max_pool2d(x, 2).sum() + F.avg_pool2d(x, 3, stride=2).sum()
              + F.adaptive_avg_pool2d(x, 1).sum(), IMG),
    "layer_norm": (lambda a, w, b: F.layer_norm(a, (5,), w, b), A, ROW, rng.standard_normal(5)),
    "batch_norm": (lambda a, w, b: F.batch_norm(a, None, None, w, b, training=True),
                   A, ROW, rng.standard_normal(5)),
    "nll_bce": (lambda a, b: F.nll_loss(a.log_softmax(1), fastdl.tensor(LABELS, device=a.device))
                + F.binary_cross_entropy(a.sigmoid(), b.sigmoid().detach()), A, B),
    "embedding": (lambda w: F.embedding(fastdl.tensor([[0, 2], [2, 3]], device=w.device), w), A),
    "adaptive_max_pool": (lambda x: F.adaptive_max_pool2d(x, (2, 3)), IMG),
    "soft_cross_entropy": (lambda a, b: F.cross_entropy(a, b.softmax(1).detach()), A, B),
}  # fmt: skip


@pytest.mark.parametrize("name", list(OPS))
def test_op_matches_cpu(name):
    fn, *arrays = OPS[name]
    _check_op(fn, *arrays)


# -- placement and moves ------------------------------------------------------------------


def test_factories_place_tensors_on_the_gpu():
    assert fastdl.zeros(2, 3, device=CUDA).device == "cuda:0"
    assert fastdl.ones(2, device="cuda:0").cpu().tolist() == [1.0, 1.0]
    assert fastdl.full((2,), 7, device=CUDA).tolist() == [7, 7]
    assert fastdl.tensor([[1.0, 2.0]], device=CUDA).device.type == "cuda"
    assert fastdl.arange(4, device=CUDA).tolist() == [0, 1, 2, 3]
    fastdl.manual_seed(3)
    host_u, host_n = fastdl.rand(3, 4), fastdl.randn(5)
    fastdl.manual_seed(3)
    dev_u, dev_n = fastdl.rand(3, 4, device=CUDA), fastdl.randn(5, device=CUDA)
    np.testing.assert_array_equal(dev_u.cpu().numpy(), host_u.numpy())  # same Philox words
    np.testing.assert_allclose(dev_n.cpu().numpy(), host_n.numpy(), rtol=1e-6, atol=1e-6)


def test_to_cuda_cpu_round_trip_and_gradient_flows_back():
    x = fastdl.tensor(A, requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda:0" and y.requires_grad and x.cuda().is_cuda
    assert x.to("cpu") is x and y.to("cuda:0") is y
    z = y.to("cuda", fastdl.float32)
    assert z.dtype == fastdl.float32 and z.device == "cuda:0"
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * A)
    np.testing.assert_array_equal(y.detach().cpu().numpy(), A)


def test_a_zero_dim_tensor_keeps_its_shape_on_the_gpu():
    x = fastdl.tensor(3.0).to("cuda")
    assert x.shape == () and x.cpu().shape == () and x.cpu().item() == 3.0
    bn = nn.BatchNorm2d(2).to("cuda")
    assert bn.state_dict()["num_batches_tracked"].shape == ()


def test_embedding_module_looks_up_device_indices():
    emb = nn.Embedding(4, 3).to("cuda")
    rows = emb(fastdl.tensor([[0, 3], [2, 2]]).to("cuda"))
    assert rows.device == "cuda:0" and rows.shape == (2, 2, 3)
    np.testing.assert_array_equal(
        rows.detach().cpu().numpy()[0, 1], emb.state_dict()["weight"].cpu().numpy()[3]
    )


def test_device_errors_are_clear():
    x = fastdl.ones(2, device=CUDA)
    with pytest.raises(RuntimeError, match="same device"):
        x + fastdl.ones(2)
    with pytest.raises(TypeError, match=r"can't convert cuda:0 device type tensor to numpy"):
        x.numpy()
    with pytest.raises(TypeError, match="Use Tensor.cpu()"):
        np.asarray(x)
    with pytest.raises(ValueError, match="unknown device"):
        fastdl.zeros(2, device="tpu")
    with pytest.raises(RuntimeError, match="not available"):
        fastdl.zeros(2, device="cuda:7")
    with pytest.raises(RuntimeError, match="same device"):
        F.cross_entropy(fastdl.zeros(2, 3, device=CUDA), fastdl.tensor([0, 1]))
    with pytest.raises(ValueError, match="Newton: parameters on cuda:0"):
        optim.Newton(nn.Linear(2, 1).cuda().parameters())
    assert (x + fastdl.tensor(2.0)).tolist() == [3.0, 3.0]  # a host scalar goes anywhere
    assert "device='cuda:0'" in repr(x)


def test_scalars_and_in_place_ops_on_the_gpu():
    x = fastdl.zeros(3, 4, device=CUDA)
    x[1] = 2.0
    x[2, 1:3] = fastdl.ones(2, device=CUDA)
    x.add_(1.0).mul_(2.0)
    expected = np.zeros((3, 4))
    expected[1] = 2.0
    expected[2, 1:3] = 1.0
    np.testing.assert_array_equal(x.cpu().numpy(), (expected + 1) * 2)
    assert (x.sum() * 0.5).item() == pytest.approx(((expected + 1) * 2).sum() / 2)
    x.copy_(np.ones((3, 4)))
    assert x.sum().item() == 12
    with pytest.raises(TypeError, match="ints, slices"):
        x[np.array([0, 1])] = 1.0


# -- training on the GPU -------------------------------------------------------------------


def _mlp():
    fastdl.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.25), nn.Linear(8, 3))


def _cnn():
    fastdl.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * 2 * 2, 3),
    )


OPTIMIZERS = {
    "sgd_momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda p: optim.Adam(p, lr=0.01, amsgrad=True),
    "adamw": lambda p: optim.AdamW(p, lr=0.01),
    "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1),
}


def _train(model, make_optimizer, x, y, steps, device, clip=None):
    model = model.to(device)
    opt = make_optimizer(model.parameters())
    x, y = x.to(device), y.to(device)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.detach())
    return model, opt, [float(loss.item()) for loss in losses]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_mlp_training_matches_cpu(name):
    x = fastdl.tensor(rng.standard_normal((5, 6)), dtype=fastdl.float64)
    y = fastdl.tensor([0, 2, 1, 1, 0])
    cpu_model, cpu_opt, cpu_losses = _train(_mlp().double(), OPTIMIZERS[name], x, y, 3, "cpu", 1.0)
    gpu_model, gpu_opt, gpu_losses = _train(_mlp().double(), OPTIMIZERS[name], x, y, 3, CUDA, 1.0)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-10)
    for (name_, c), g in zip(cpu_model.state_dict().items(), gpu_model.state_dict().values()):
        assert_close(g.cpu(), c, np.float64, "grad", where=name_)
    for p in gpu_model.parameters():
        assert p.device == "cuda:0" and p.grad.device == "cuda:0"
    saved = gpu_opt.state_dict()["state"][0]
    assert all(isinstance(v, np.ndarray) for k, v in saved.items() if k != "step")
    gpu_opt.load_state_dict(cpu_opt.state_dict())


def test_cnn_with_batch_norm_trains_like_cpu():
    x = fastdl.tensor(rng.standard_normal((3, 1, 4, 4)), dtype=fastdl.float64)
    y = fastdl.tensor([0, 2, 1])
    adam = OPTIMIZERS["adam"]
    cpu_model, _, cpu_losses = _train(_cnn().double(), adam, x, y, 2, "cpu")
    gpu_model, _, gpu_losses = _train(_cnn().double(), adam, x, y, 2, CUDA)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-10)
    for (name, c), g in zip(cpu_model.state_dict().items(), gpu_model.state_dict().values()):
        assert_close(g.cpu(), c, np.float64, "grad", where=name)  # running stats too; sums reorder
    gpu_model.eval()
    cpu_model.eval()
    with fastdl.no_grad():
        assert_close(gpu_model(x.cuda()).cpu().numpy(), cpu_model(x).numpy(), np.float64, "grad")


def test_a_training_step_stays_on_the_gpu():
    """After a first step, a step makes no host <-> device copy and no driver allocation
    (the loss is read with .item(): the one device-to-host copy, made on purpose)."""
    model = _mlp().to(CUDA)
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = fastdl.randn(5, 6, device=CUDA)
    y = fastdl.tensor([0, 2, 1, 1, 0], device=CUDA)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    step()
    with fastdl.cuda.profile() as p:
        loss = step()
    assert (p.host_to_device, p.device_to_host) == (0, 0)
    assert p.device_allocations == 0
    assert 0 < p.launches < 40
    with fastdl.cuda.profile() as p:
        loss.item()
    assert p.device_to_host == 1


def test_module_to_and_back_keeps_values_and_state_dict_loads_across_devices():
    model = _mlp()
    before = model.state_dict()
    model.cuda()
    assert all(p.device == "cuda:0" for p in model.parameters())
    for (name, b), a in zip(before.items(), model.state_dict().values()):
        np.testing.assert_array_equal(a.cpu(), b, err_msg=name)
    model.load_state_dict({k: v * 2 for k, v in before.items()})
    model.cpu()
    for (name, b), a in zip(before.items(), model.state_dict().values()):
        np.testing.assert_array_equal(a, b * 2, err_msg=name)
    assert all(p.device == "cpu" for p in model.parameters())


def test_dropout_mask_is_the_same_on_both_devices():
    x = np.ones((4, 8))
    fastdl.manual_seed(11)
    host = F.dropout(fastdl.tensor(x), 0.5)
    fastdl.manual_seed(11)
    dev = F.dropout(fastdl.tensor(x, device=CUDA), 0.5)
    np.testing.assert_array_equal(dev.cpu().numpy(), host.numpy())


@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_recurrent_layers_match_cpu(kind):
    def run(device):
        fastdl.manual_seed(0)
        layer = (nn.LSTM if kind == "lstm" else nn.RNN)(3, 4, batch_first=True).double()
        layer.to(device)
        x = fastdl.tensor(rng_fixed.standard_normal((2, 5, 3)), device=device, requires_grad=True)
        out, _ = layer(x)
        (out * out).sum().backward()
        return out, x.grad, [p.grad for p in layer.parameters()]

    rng_fixed = np.random.default_rng(5)
    cpu = run("cpu")
    rng_fixed = np.random.default_rng(5)
    gpu = run(CUDA)
    _close(gpu[0].detach(), cpu[0], "output")
    _close(gpu[1], cpu[1], "grad x")
    for g, c in zip(gpu[2], cpu[2], strict=True):
        assert_close(g.cpu().numpy(), c.numpy(), np.float64, "grad", where="parameter grad")


def test_fit_trains_a_gpu_model_like_the_cpu():
    """fit() moves each batch to the model's device, sums losses and accuracy there and
    reads them once per epoch: the same history as on the CPU."""
    from fastdl.data import DataLoader, TensorDataset
    from fastdl.train import evaluate, fit

    x = rng.standard_normal((8, 6))
    y = np.array([0, 1, 2, 1, 0, 2, 1, 0])

    def run(device):
        model = _mlp().double().to(device)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, seed=0)
        history = fit(model, nn.CrossEntropyLoss(), opt, loader, 2, val_loader=loader,
                      progress=False, clip_grad_norm=1.0)  # fmt: skip
        return history, evaluate(model, loader, nn.CrossEntropyLoss())

    (cpu_history, cpu_eval), (gpu_history, gpu_eval) = run("cpu"), run(CUDA)
    for c, g in zip(cpu_history.epochs, gpu_history.epochs, strict=True):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            assert g[key] == pytest.approx(c[key], rel=1e-9), key
    assert gpu_eval == pytest.approx(cpu_eval, rel=1e-9)


@pytest.mark.parametrize("name", ["poly", "loss"])
def test_double_backward_matches_cpu(name):
    def f(x):
        if name == "poly":
            return (x**3 * x.sigmoid()).sum()
        labels = fastdl.tensor([0, 2, 1, 1], device=x.device)
        return F.cross_entropy(F.linear(x, x * 0.5 + 1.0).tanh(), labels)

    def hessian_row_sums(device):
        x = fastdl.tensor(A[:, :4], device=device, requires_grad=True)
        (g,) = fastdl.autograd.grad(f(x), x, create_graph=True)
        (h,) = fastdl.autograd.grad(g.sum(), x)
        return h

    _close(hessian_row_sums(CUDA), hessian_row_sums("cpu"), "second derivative")


@pytest.mark.parametrize("norm_type", [2.0, 3.0, float("inf")])
def test_clip_grad_norm_of_separate_gradients_matches_cpu(norm_type):
    """Gradients outside a flat buffer: one norm per gradient, combined on the GPU."""

    def clipped(device):
        params = [fastdl.tensor(a, device=device, requires_grad=True) for a in (A, ROW)]
        (params[0] * 3.0).sum().backward()
        (params[1] ** 2).sum().backward()
        total = nn.utils.clip_grad_norm_(params, 0.5, norm_type=norm_type)
        return total, [p.grad for p in params]

    cpu_total, cpu_grads = clipped("cpu")
    gpu_total, gpu_grads = clipped(CUDA)
    assert gpu_total.device == "cuda:0" and gpu_total.shape == ()
    _close(gpu_total, cpu_total, "total norm")
    for g, c in zip(gpu_grads, cpu_grads, strict=True):
        _close(g, c, "clipped gradient")


def test_clip_grad_norm_refuses_a_nonfinite_norm_on_the_gpu_before_scaling():
    p = fastdl.tensor(A, device=CUDA, requires_grad=True)
    (p * fastdl.tensor(np.where(A > 0, np.inf, 1.0), device=CUDA)).sum().backward()
    before = p.grad.cpu().numpy().copy()
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.cpu().numpy(), before)


def test_total_norm_then_clip_with_it_stays_on_the_gpu():
    def run(device):
        p = fastdl.tensor(A, device=device, requires_grad=True)
        (p * 3.0).sum().backward()
        total = nn.utils.get_total_norm([p.grad])
        nn.utils.clip_grads_with_norm_([p], 1.0, total)
        nn.utils.clip_grad_value_([p], 0.1)
        return total, p.grad

    cpu_total, cpu_grad = run("cpu")
    run(CUDA)  # compiles the kernels
    with fastdl.cuda.profile() as counted:
        gpu_total, gpu_grad = run(CUDA)
    assert counted.host_to_device == 1 and counted.device_to_host == 0  # the tensor() call
    _close(gpu_total, cpu_total, "total norm")
    _close(gpu_grad, cpu_grad, "clipped gradient")


def test_diagnostics_read_gpu_models_like_cpu_ones():
    from fastdl import diagnostics

    def report(device):
        model = _mlp().double().to(device)
        model.eval()  # no dropout: the same activations on both devices
        x = fastdl.tensor(rng_diag.standard_normal((6, 6)), device=device)
        monitor = diagnostics.GradientMonitor(model)
        model(x).sum().backward()
        return monitor.step(), diagnostics.dead_units(model, x)

    rng_diag = np.random.default_rng(9)
    cpu = report("cpu")
    rng_diag = np.random.default_rng(9)
    gpu = report(CUDA)
    assert gpu[1] == pytest.approx(cpu[1])
    for layer, stats in cpu[0].items():
        assert gpu[0][layer] == pytest.approx(stats, rel=1e-9), layer


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_generative_models_train_on_the_gpu_like_on_the_cpu(kind):
    from fastdl import models

    x = np.random.default_rng(4).random((6, 8))

    def run(device):
        fastdl.manual_seed(0)
        if kind == "vae":
            model = models.VAE(8, latent_dim=2, hidden=(6,)).double().to(device)
            opt = optim.Adam(model.parameters(), lr=0.01)
            losses = []
            for _ in range(2):
                opt.zero_grad()
                loss = model.loss(fastdl.tensor(x, device=device))
                loss.backward()
                opt.step()
                losses.append(loss.item())
            return losses + list(model.sample(2).cpu().numpy().ravel())
        model = models.gan_mlp(8, latent_dim=2, hidden=(6,)).double().to(device)
        opt_g = optim.Adam(model.generator.parameters(), lr=0.01)
        opt_d = optim.Adam(model.discriminator.parameters(), lr=0.01)
        stats = [model.train_step(fastdl.tensor(x, device=device), opt_g, opt_d) for _ in range(2)]
        return [v for s in stats for v in s.values()]

    np.testing.assert_allclose(run(CUDA), run("cpu"), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind", ["resnet", "lstm"])
def test_resnet_and_lstm_classifier_train_on_the_gpu_like_on_the_cpu(kind):
    from fastdl import models

    shape = (2, 1, 4, 4) if kind == "resnet" else (2, 5, 4)
    x = np.random.default_rng(6).standard_normal(shape)
    y = np.array([0, 2])

    def run(device):
        fastdl.manual_seed(0)
        if kind == "resnet":
            model = models.resnet((1, 4, 4), num_classes=3, widths=(2, 2), blocks=(1, 1))
        else:
            model = models.lstm_classifier(input_size=4, hidden_size=3, num_classes=3)
        model = model.double().to(device)
        steps = 1 if kind == "resnet" else 2  # the simulator runs a thread per CUDA thread
        _, _, losses = _train(model, OPTIMIZERS["adam"], fastdl.tensor(x), fastdl.tensor(y), steps,
                              device)  # fmt: skip
        return losses + [float(p.detach().sum().item()) for p in model.parameters()]

    np.testing.assert_allclose(run(CUDA), run("cpu"), rtol=1e-9, atol=1e-12)


def test_clip_grad_norm_of_a_strided_gradient_copies_it_on_the_gpu():
    def total(device):
        p = fastdl.zeros(5, 4, dtype=fastdl.float64, device=device, requires_grad=True)
        p.grad = fastdl.tensor(A, device=device).T  # a strided view, outside any op
        return nn.utils.clip_grad_norm_([p], 0.5)

    _close(total(CUDA), total("cpu"), "total norm")
