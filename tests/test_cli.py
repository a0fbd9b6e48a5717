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
