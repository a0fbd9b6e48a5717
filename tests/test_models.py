"""fastdl.models and nn.BasicBlock: module trees and state_dict names as PyTorch's,
output shapes, gradients, and ``fastdl train --model``."""

import numpy as np
import pytest

import fastdl
from fastdl import models, nn
from fastdl.autograd import gradcheck
from fastdl.cli import main


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _bn(prefix, c):
    return {
        f"{prefix}.weight": (c,),
        f"{prefix}.bias": (c,),
        f"{prefix}.running_mean": (c,),
        f"{prefix}.running_var": (c,),
        f"{prefix}.num_batches_tracked": (),
    }


# -- BasicBlock -----------------------------------------------------------------------


def test_basic_block_identity_shortcut_state_dict():
    block = nn.BasicBlock(4, 4)
    assert block.downsample is None
    expected = {"conv1.weight": (4, 4, 3, 3), **_bn("bn1", 4), "conv2.weight": (4, 4, 3, 3)}
    expected.update(_bn("bn2", 4))
    assert _shapes(block) == expected
    assert list(block.state_dict()) == list(expected)


def test_basic_block_projection_built_in_init():
    block = nn.BasicBlock(3, 5, stride=2)
    shapes = _shapes(block)
    assert shapes["conv1.weight"] == (5, 3, 3, 3)
    assert shapes["downsample.0.weight"] == (5, 3, 1, 1)
    assert "downsample.0.bias" not in shapes
    assert shapes["downsample.1.running_var"] == (5,)
    y = block(fastdl.randn(2, 3, 7, 7)).detach()
    assert y.shape == (2, 5, 4, 4)
    assert (y.numpy() >= 0).all()  # ReLU after the sum


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("stride, c_out", [(1, 2), (2, 3)])
def test_basic_block_gradcheck(backend, stride, c_out):
    fastdl.manual_seed(0)
    block = nn.BasicBlock(2, c_out, stride=stride).to(dtype=fastdl.float64)
    rng = np.random.default_rng(0)
    x = fastdl.tensor(rng.standard_normal((3, 2, 4, 4)), requires_grad=True)
    with fastdl.use_backend(backend):
        assert gradcheck(lambda x, *p: block(x), [x, *block.parameters()], atol=1e-6, rtol=1e-4)


def test_basic_block_matches_its_definition():
    fastdl.manual_seed(1)
    block = nn.BasicBlock(2, 2)
    x = fastdl.randn(4, 2, 5, 5)
    block.eval()  # running statistics: two calls give the same normalisation
    with fastdl.no_grad():
        out = block(x)
        inner = block.bn2(block.conv2(fastdl.relu(block.bn1(block.conv1(x)))))
    expected = np.maximum(inner.numpy() + x.numpy(), 0)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "args, fragment",
    [((0, 4), "in_channels"), ((4, 4, 0), "stride"), ((4, 2.5), "out_channels")],
)
def test_basic_block_bad_arguments(args, fragment):
    with pytest.raises(ValueError, match=f"BasicBlock: {fragment}"):
        nn.BasicBlock(*args)


# -- model builders -------------------------------------------------------------------


def test_lenet5_tree_matches_torch_names():
    net = models.lenet((1, 28, 28))
    assert _shapes(net) == {
        "0.weight": (6, 1, 5, 5),
        "0.bias": (6,),
        "3.weight": (16, 6, 5, 5),
        "3.bias": (16,),
        "7.weight": (120, 400),
        "7.bias": (120,),
        "9.weight": (84, 120),
        "9.bias": (84,),
        "11.weight": (10, 84),
        "11.bias": (10,),
    }
    assert net(fastdl.randn(2, 1, 28, 28)).shape == (2, 10)


def test_lenet_small_images():
    net = models.lenet((1, 8, 8), num_classes=7)
    assert _shapes(net)["7.weight"] == (64, 32 * 2 * 2)
    assert net(fastdl.randn(3, 1, 8, 8)).shape == (3, 7)
    with pytest.raises(ValueError, match="lenet: input_shape"):
        models.lenet((1, 3, 3))
    with pytest.raises(ValueError, match="lenet: input_shape"):
        models.lenet((28, 28))


def test_resnet_tree_and_shapes():
    net = models.resnet((1, 8, 8), num_classes=10, widths=(4, 8), blocks=(1, 2))
    keys = list(net.state_dict())
    assert keys[:2] == ["conv1.weight", "bn1.weight"]
    assert "layer1.0.conv1.weight" in keys and "layer1.0.downsample.0.weight" not in keys
    assert "layer2.0.downsample.0.weight" in keys and "layer2.1.downsample.0.weight" not in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    assert _shapes(net)["fc.weight"] == (10, 8)
    assert net(fastdl.randn(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="ResNet: widths and blocks"):
        models.ResNet(1, 10, widths=(4, 8), blocks=(1,))


def test_lstm_classifier_tree_and_shapes():
    net = models.lstm_classifier(input_size=8, hidden_size=6, num_classes=10)
    assert _shapes(net) == {
        "lstm.weight_ih_l0": (24, 8),
        "lstm.weight_hh_l0": (24, 6),
        "lstm.bias_ih_l0": (24,),
        "lstm.bias_hh_l0": (24,),
        "fc.weight": (10, 6),
        "fc.bias": (10,),
    }
    assert net(fastdl.randn(5, 8, 8)).shape == (5, 10)
    with pytest.raises(ValueError, match="LSTMClassifier"):
        net(fastdl.randn(5, 64))


def test_lstm_classifier_reads_the_last_hidden_state():
    fastdl.manual_seed(0)
    net = models.lstm_classifier(input_size=3, hidden_size=4, num_classes=2)
    x = fastdl.randn(2, 5, 3)
    with fastdl.no_grad():
        out, (h_n, _) = net.lstm(x)
        logits, expected = net(x), net.fc(h_n[-1])
    np.testing.assert_allclose(out.numpy()[:, -1], h_n.numpy()[-1], rtol=1e-6)
    np.testing.assert_allclose(logits.numpy(), expected.numpy(), rtol=1e-6)


def test_mlp_builder():
    net = models.mlp(64, (32,), 10, activation="tanh", dropout=0.1, batch_norm=True)
    assert [type(m).__name__ for m in net] == [
        "Linear",
        "BatchNorm1d",
        "Tanh",
        "Dropout",
        "Linear",
    ]
    with pytest.raises(ValueError, match="mlp: activation"):
        models.mlp(4, (3,), 2, activation="gelu")


# -- fastdl train --model ---------------------------------------------------------------


def _summary(capsys) -> dict:
    last = capsys.readouterr().out.strip().splitlines()[-1]
    return dict(part.split("=", 1) for part in last.split())


@pytest.mark.parametrize(
    "model, epochs, floor",
    [("cnn", 3, 0.8), ("resnet", 1, 0.5), ("lstm", 3, 0.5)],
)
def test_train_model_flag(model, epochs, floor, tmp_path, capsys):
    out = tmp_path / model
    argv = ["train", "--model", model, "--epochs", str(epochs), "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    summary = _summary(capsys)
    assert summary["model"] == model
    assert float(summary["test_accuracy"]) > floor
    checkpoint = fastdl.load(out / "checkpoint.fdl")
    assert checkpoint["config"]["model"] == model


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--model", "cnn", "--hidden", "32"], "--hidden applies to --model mlp"),
        (["--model", "lstm", "--activation", "tanh"], "--activation applies to --model mlp"),
        (["--model", "cnn", "--data", "spirals"], "reads square images"),
        (["--model", "cnn", "--latent-dim", "4"], "--latent-dim applies to --model vae or gan"),
        (["--model", "vgg"], "invalid choice"),
    ],
)
def test_train_model_flag_errors(argv, fragment, tmp_path, capsys):
    assert main(["train", *argv, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err
