"""The `fastdl` command: train end to end, info, and one-line errors with status 2."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastdl
from fastdl.cli import main


def test_train_writes_checkpoint_plot_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["train", "--epochs", "3", "--out", str(out), "--no-progress", "--hidden", "32"])
    assert status == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "test_accuracy=0." in last
    accuracy = float(last.split("test_accuracy=")[1].split()[0])
    assert accuracy > 0.8
    checkpoint = fastdl.load(out / "checkpoint.fdl")
    assert checkpoint["model"]["0.weight"].shape == (32, 64)
    assert checkpoint["model"]["2.weight"].shape == (10, 32)
    assert checkpoint["optimizer"]["state"][0]["step"] > 0
    assert len(checkpoint["history"]["epochs"]) == 3
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_idx_data(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        labels = rng.integers(0, 3, n).astype(np.uint8)
        images = (labels[:, None, None] * 80 + rng.integers(0, 20, (n, 4, 4))).astype(np.uint8)
        header = np.array([0x00000803, n, 4, 4], ">u4").tobytes()
        (tmp_path / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
        label_header = np.array([0x00000801, n], ">u4").tobytes()
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(label_header + labels.tobytes())
    status = main(
        [
            "train",
            "--data",
            f"idx:{tmp_path}",
            "--epochs",
            "5",
            "--no-progress",
            "--batch-size",
            "full",
            "--optimizer",
            "sgd",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert status == 0
    assert "test_accuracy=" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--bogus"], "unrecognized arguments"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--batch-size", "x"], "--batch-size"),
        (["train", "--data", "idx:/nonexistent/dir"], "not a directory"),
        (["train", "--data", "cifar"], "--data"),
        (["train", "--activation", "gelu"], "--activation"),
        (["train", "--scheduler", "warmup"], "--scheduler"),
        (["train", "--optimizer", "lbfgs"], "--optimizer"),
        (["train", "--weight-decay", "-1e-4"], "--weight-decay"),
        (["train", "--clip-grad-norm", "0"], "--clip-grad-norm"),
        (["train", "--clip-grad-norm", "nan"], "--clip-grad-norm"),
        (["train", "--early-stopping", "0"], "--early-stopping"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--momentum", "0.5"], "--momentum applies to sgd and rmsprop"),
        (["train", "--scheduler", "onecycle", "--lr", "0"], "positive --lr"),
        ([], "required"),
    ],
)
def test_bad_input_is_one_line_and_status_2(argv, fragment, capsys, tmp_path):
    status = main(argv + (["--out", str(tmp_path)] if argv[:1] == ["train"] else []))
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and fragment in err
    assert "Traceback" not in err


def test_corrupt_idx_file_is_one_line_error(tmp_path, capsys):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00")
    status = main(["train", "--data", f"idx:{tmp_path}", "--out", str(tmp_path / "o")])
    assert status == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_console_script_info():
    env = {k: v for k, v in os.environ.items()}
    result = subprocess.run(
        [sys.executable, "-m", "fastdl.cli", "info"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for word in ("fastdl 0.1.0", "backends: numba, reference", "C extension:", "BLAS:", "CUDA:"):
        assert word in result.stdout


def _spirals(tmp_path, *flags, epochs=3):
    """Run `fastdl train` on the small spirals set; returns (status, stdout lines)."""
    argv = ["train", "--data", "spirals", "--hidden", "16", "--epochs", str(epochs)]
    argv += ["--no-progress", "--out", str(tmp_path / "o"), *flags]
    return main(argv)


@pytest.mark.parametrize(
    "flags",
    [
        ["--scheduler", "step", "--optimizer", "sgd", "--weight-decay", "1e-4"],
        ["--scheduler", "cosine", "--optimizer", "adamw"],
        ["--scheduler", "exponential", "--optimizer", "adam", "--weight-decay", "1e-4"],
        ["--scheduler", "onecycle", "--optimizer", "adam", "--clip-grad-norm", "1.0"],
        ["--scheduler", "onecycle", "--optimizer", "sgd", "--momentum", "0.8"],
        ["--scheduler", "plateau", "--optimizer", "sgd", "--early-stopping", "5"],
    ],
)
def test_train_scheduler_optimizer_flags(flags, tmp_path, capsys):
    assert _spirals(tmp_path, *flags) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    scheduler, optimizer = flags[1], flags[3]
    assert f"scheduler={scheduler} " in last and f"optimizer={optimizer} " in last
    checkpoint = fastdl.load(tmp_path / "o" / "checkpoint.fdl")
    assert checkpoint["config"]["scheduler"] == scheduler
    assert checkpoint["scheduler"]["last_epoch"] >= 3
    lrs = [e["lr"] for e in checkpoint["history"]["epochs"]]
    expected = {  # lr at the start of epochs 1..3 (default lr 0.1 for sgd, 3e-3 for adam/adamw)
        "step": [0.1, 0.01, 0.001],  # step_size = epochs // 3 = 1
        "cosine": [3e-3, 3e-3 * 0.75, 3e-3 * 0.25],  # T_max = epochs = 3
        "exponential": [3e-3, 2.7e-3, 2.43e-3],  # gamma 0.9
        "plateau": [0.1, 0.1, 0.1],  # patience 3: no reduction yet
    }
    if scheduler == "onecycle":
        assert lrs[0] == pytest.approx(checkpoint["optimizer"]["param_groups"][0]["max_lr"] / 25)
        assert max(lrs) > 10 * lrs[0]
    else:
        assert lrs == pytest.approx(expected[scheduler])


def test_train_early_stopping_stops(tmp_path, capsys):
    # lr 0: the validation loss never improves, so patience 2 stops after epoch 3.
    assert _spirals(tmp_path, "--lr", "0", "--early-stopping", "2", epochs=20) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "epochs=3 stopped_early=true" in last


@pytest.mark.parametrize(
    "batch_size, regime, steps",
    [
        ("1", "stochastic gradient descent", "405 steps per epoch"),
        ("full", "full-batch gradient descent", "1 step per epoch"),
        ("100", "mini-batch gradient descent: each step uses 100", "5 steps per epoch"),
    ],
)
def test_train_batch_size_regimes(batch_size, regime, steps, tmp_path, capsys):
    assert _spirals(tmp_path, "--batch-size", batch_size, epochs=1) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("regime: ") and regime in lines[0] and steps in lines[0]
    assert f"batch_size={batch_size} " in lines[-1]


@pytest.mark.parametrize(
    "flags",
    [
        ["--optimizer", "adagrad", "--scheduler", "onecycle", "--weight-decay", "1e-4"],
        ["--optimizer", "rmsprop", "--scheduler", "onecycle"],
        ["--optimizer", "rmsprop", "--momentum", "0.5", "--scheduler", "onecycle"],
    ],
)
def test_train_adagrad_rmsprop(flags, tmp_path, capsys):
    # onecycle: Adagrad has no momentum to cycle; RMSprop's is cycled only when in use.
    assert _spirals(tmp_path, *flags, epochs=2) == 0
    assert f"optimizer={flags[1]} " in capsys.readouterr().out
    groups = fastdl.load(tmp_path / "o" / "checkpoint.fdl")["optimizer"]["param_groups"]
    if "--momentum" in flags:
        assert groups[0]["base_momentum"] == 0.85
    else:
        assert "base_momentum" not in groups[0]


@pytest.mark.parametrize("name", ["adadelta", "adamax", "nadam", "radam"])
def test_train_more_optimizers(name, tmp_path, capsys):
    assert _spirals(tmp_path, "--optimizer", name, "--scheduler", "onecycle", epochs=1) == 0
    assert f"optimizer={name} " in capsys.readouterr().out
    groups = fastdl.load(tmp_path / "o" / "checkpoint.fdl")["optimizer"]["param_groups"]
    # onecycle cycles beta1 of the Adam family; Adadelta has nothing to cycle
    assert ("base_momentum" in groups[0]) == (name != "adadelta")
