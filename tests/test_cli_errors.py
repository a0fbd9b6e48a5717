"""The `fastdl` command fails in one line with status 2, never a traceback, and
`fastdl train` chooses on a validation split, touching the test split once."""

import errno
import os
import subprocess
import sys

import numpy as np
import pytest

from fastdl import backends, plot
from fastdl.cli import info, main
from fastdl.cli.common import validation_split


def _fails(capsys, argv, *fragments):
    """``main(argv)`` exits 2 with one line on stderr holding every fragment; returns
    that line and what went to stdout."""
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0], out


def _spirals(out, *flags):
    return ["train", "--data", "spirals", "--hidden", "8", "--epochs", "1", "--no-progress",
            "--out", str(out), *flags]  # fmt: skip


def _write_idx(directory, prefix, n, side):
    images = np.zeros((n, side, side), np.uint8)
    labels = (np.arange(n) % 2).astype(np.uint8)
    header = np.array([0x00000803, n, side, side], ">u4").tobytes()
    (directory / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
    label_header = np.array([0x00000801, n], ">u4").tobytes()
    (directory / f"{prefix}-labels-idx1-ubyte").write_bytes(label_header + labels.tobytes())


# -- flags ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", str(2**70), "2**70", "1.5"])
@pytest.mark.parametrize("command", [["train"], ["lab", "momentum"]])
def test_seed_out_of_range(command, value, capsys, tmp_path):
    _fails(capsys, [*command, "--seed", value, "--out", str(tmp_path)], "--seed", value)


def test_bogus_backend_variable(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("FASTDL_BACKEND", "bogus")
    monkeypatch.setattr(backends._state, "cpu", None)
    _fails(capsys, ["info"], "FASTDL_BACKEND='bogus'")
    _fails(capsys, _spirals(tmp_path / "o"), "FASTDL_BACKEND='bogus'")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("model", ["mlp", "vae", "gan"])
def test_unallocatable_hidden_size(model, capsys, tmp_path):
    argv = ["train", "--model", model, "--hidden", "100000000000", "--out", str(tmp_path)]
    _fails(capsys, argv, "--hidden", "parameters", "of memory available")


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--val-fraction", "1"], "--val-fraction"),
        (["--val-fraction", "-0.1"], "--val-fraction"),
        (["--val-fraction", "0", "--early-stopping", "2"], "--early-stopping needs"),
        (["--model", "vae", "--val-fraction", "0", "--scheduler", "plateau"], "plateau with"),
        (["--val-fraction", "0.0001"], "leaves the validation split empty"),
    ],
)
def test_bad_validation_flags(flags, fragment, capsys, tmp_path):
    _, out = _fails(capsys, _spirals(tmp_path, *flags), fragment)
    assert out == ""  # refused before any work


def test_gan_takes_no_validation_split(capsys, tmp_path):
    argv = ["train", "--model", "gan", "--val-fraction", "0.2", "--out", str(tmp_path)]
    _fails(capsys, argv, "--val-fraction applies to --model vae")


# -- output folders ---------------------------------------------------------------------------


def test_out_under_a_file(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "run"
    _fails(capsys, _spirals(out), "--out", str(out), "cannot write")
    _fails(capsys, ["lab", "momentum", "--quick", "--out", str(out)], "cannot write")


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux's sysfs")
def test_out_in_sysfs_fails_before_training(capsys):
    _, out = _fails(capsys, _spirals("/sys/kernel"), "--out /sys/kernel", "cannot write")
    assert out == ""  # refused before training


@pytest.mark.parametrize(
    "argv, name",
    [
        (["train", "--data", "spirals", "--epochs", "1"], "checkpoint.fdl"),
        (["train", "--data", "spirals", "--epochs", "1"], "history.png"),
        (["train", "--model", "vae", "--epochs", "1"], "checkpoint.fdl"),
        (["train", "--model", "gan", "--epochs", "1"], "quality.png"),
        (["lab", "momentum", "--quick"], "momentum.png"),
    ],
)
def test_output_file_is_a_directory(argv, name, capsys, tmp_path):
    (tmp_path / name).mkdir()
    argv = [*argv, "--out", str(tmp_path)]
    _, out = _fails(capsys, argv, str(tmp_path / name), "is a directory")
    assert out == ""  # refused before any work


# -- data -------------------------------------------------------------------------------------


def test_idx_without_samples(capsys, tmp_path):
    _write_idx(tmp_path, "train", 0, 4)
    _write_idx(tmp_path, "t10k", 4, 4)
    _fails(capsys, ["train", "--data", f"idx:{tmp_path}", "--out", str(tmp_path / "o")],
           "training files hold no samples")  # fmt: skip


def test_idx_test_images_of_another_size(capsys, tmp_path):
    _write_idx(tmp_path, "train", 8, 4)
    _write_idx(tmp_path, "t10k", 4, 5)
    _fails(capsys, ["train", "--data", f"idx:{tmp_path}", "--out", str(tmp_path / "o")],
           "test images have 25 pixels, training images 16")  # fmt: skip


# -- errors met while running -----------------------------------------------------------------


@pytest.mark.parametrize(
    "error, fragments",
    [
        (OSError(errno.ENOSPC, "No space left on device", "/data/x.fdl"), ["/data/x.fdl", "space"]),
        (PermissionError(errno.EACCES, "Permission denied", "/root/x"), ["/root/x", "denied"]),
        (MemoryError("Unable to allocate 8.00 TiB for an array"), ["out of memory", "8.00 TiB"]),
        (MemoryError(), ["out of memory"]),
    ],
)
def test_os_and_memory_errors_are_one_line(error, fragments, monkeypatch, capsys):
    def raise_error(args):
        raise error

    monkeypatch.setattr(info, "run", raise_error)
    _fails(capsys, ["info"], *fragments)


def test_broken_pipe_is_quiet(monkeypatch, capsys):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["info"]) == 2
    assert capsys.readouterr().err == ""


def test_info_into_a_closed_pipe():
    reader, writer = os.pipe()
    os.close(reader)  # closed before fastdl writes: its first print meets EPIPE
    try:
        result = subprocess.run(
            [sys.executable, "-m", "fastdl.cli", "info"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert result.returncode == 2 and result.stderr == ""


# -- the validation split ---------------------------------------------------------------------


def test_validation_split_is_stratified_and_seeded():
    y = np.repeat(np.arange(3), [50, 30, 20])
    X = np.arange(len(y) * 2, dtype=np.float32).reshape(-1, 2)
    X_train, y_train, X_val, y_val = validation_split(X, y, 0.1, seed=7)
    assert np.bincount(y_val).tolist() == [5, 3, 2]
    assert len(X_train) == 90 and len(y_train) == 90
    rows = {tuple(r) for r in X_train} | {tuple(r) for r in X_val}
    assert len(rows) == 100  # a partition: nothing lost, nothing twice
    again = validation_split(X, y, 0.1, seed=7)
    other = validation_split(X, y, 0.1, seed=8)
    assert np.array_equal(again[2], X_val) and not np.array_equal(other[2], X_val)
    # Remainders: 0.25 of (3, 3, 2) is (0.75, 0.75, 0.5); round(2) held out, by largest remainder.
    _, _, _, held = validation_split(X[:8], np.array([0, 0, 0, 1, 1, 1, 2, 2]), 0.25, seed=0)
    assert np.bincount(held, minlength=3).tolist() == [1, 1, 0]


def test_train_chooses_on_validation_and_tests_once(monkeypatch, capsys, tmp_path):
    import fastdl.train

    seen = []
    evaluate = fastdl.train.evaluate

    def counting(model, loader, loss_fn):
        seen.append(len(loader.dataset))
        return evaluate(model, loader, loss_fn)

    monkeypatch.setattr(fastdl.train, "evaluate", counting)
    flags = ["--epochs", "3", "--val-fraction", "0.2", "--scheduler", "plateau"]
    assert main([*_spirals(tmp_path), *flags]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "360 training samples" in lines[0] and "90 held out for validation" in lines[0]
    assert seen == [90, 90, 90, 150]  # validation each epoch, the test split once at the end
    assert "val_accuracy=" in lines[-1]
    history = fastdl.load(tmp_path / "checkpoint.fdl")["history"]["epochs"]
    for record in history:  # accuracies on 90 validation samples
        assert record["val_accuracy"] * 90 == pytest.approx(round(record["val_accuracy"] * 90))
    assert fastdl.load(tmp_path / "checkpoint.fdl")["config"]["val_fraction"] == 0.2


def test_history_plot_marks_the_test_result(tmp_path):
    records = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e} for e in (1, 2)]
    path = tmp_path / "h.png"
    plot.history(records, path, test={"loss": 0.6, "accuracy": 0.9})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
