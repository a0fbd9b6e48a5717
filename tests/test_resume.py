"""Checkpoint and resume: a killed run resumes bit-identically; bad checkpoints load nothing."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import fastdl
from fastdl import nn, optim
from fastdl.cli import main
from fastdl.data import DataLoader, TensorDataset
from fastdl.optim import lr_scheduler
from fastdl.train import (
    EarlyStopping,
    fit,
    load_training_state,
    save_training_state,
)

CLI = ["--model", "mlp", "--hidden", "32", "--batch-size", "8", "--no-progress"]


def _cli(out, *extra):
    return [sys.executable, "-m", "fastdl.cli", "train", *CLI, "--out", str(out), *extra]


def _params(path):
    return fastdl.load(path)["model"]


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    flags = ["--epochs", "5", "--checkpoint-every", "5"]
    ckpt = tmp_path / "killed" / "checkpoint.fdl"
    proc = subprocess.Popen(
        _cli(tmp_path / "killed", *flags), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    state = fastdl.load(ckpt)
    # A mid-run checkpoint: some batches of an epoch done, training not finished.
    assert state["step"] > 0 and state["meter"] is not None and state["epoch"] <= 5

    subprocess.run(_cli(tmp_path / "killed", *flags, "--resume", str(ckpt)), check=True)
    subprocess.run(_cli(tmp_path / "whole", *flags), check=True, capture_output=True)

    resumed, whole = _params(ckpt), _params(tmp_path / "whole" / "checkpoint.fdl")
    assert list(resumed) == list(whole)
    for name in whole:
        assert np.array_equal(resumed[name], whole[name]), name
    a = fastdl.load(ckpt)["history"]["epochs"]
    b = fastdl.load(tmp_path / "whole" / "checkpoint.fdl")["history"]["epochs"]
    assert [e["train_loss"] for e in a] == [e["train_loss"] for e in b]


def _setup(seed=0, patience=None):
    """A small classifier with Dropout (the generator's state matters), Adam, OneCycleLR."""
    fastdl.manual_seed(seed)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 6)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1e-2, epochs=3, steps_per_epoch=8)
    loader = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, seed=1)
    callbacks = [] if patience is None else [EarlyStopping(monitor="train_loss", patience=9)]
    return model, opt, sched, loader, callbacks


class _Crash(Exception):
    pass


def _crash_after(opt, steps):
    step = opt.step
    done = [0]

    def crashing(*args):
        step(*args)
        done[0] += 1
        if done[0] == steps:
            raise _Crash

    opt.step = crashing


def _fit(model, opt, sched, loader, callbacks, **kw):
    return fit(model, nn.CrossEntropyLoss(), opt, loader, 3, scheduler=sched, progress=False,
               callbacks=callbacks, **kw)  # fmt: skip


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("crash_at", [11, 16])  # mid-epoch; the last batch of epoch 2
def test_fit_resume_with_dropout_is_bit_identical(tmp_path, backend, crash_at):
    ckpt = tmp_path / "ckpt.fdl"
    with fastdl.use_backend(backend):
        model, opt, sched, loader, cbs = _setup(patience=9)
        whole = _fit(model, opt, sched, loader, cbs)
        expected = [p.detach().numpy().copy() for p in model.parameters()]

        model, opt, sched, loader, cbs = _setup(patience=9)
        _crash_after(opt, crash_at)
        with pytest.raises(_Crash):
            _fit(model, opt, sched, loader, cbs, checkpoint_every=4, checkpoint_path=ckpt)

        model, opt, sched, loader, cbs = _setup(seed=123, patience=9)  # other init, other RNG
        resumed = _fit(model, opt, sched, loader, cbs, resume_from=ckpt)
    for a, p in zip(expected, model.parameters()):
        assert np.array_equal(a, p.detach().numpy())
    assert [e["train_loss"] for e in resumed.epochs] == [e["train_loss"] for e in whole.epochs]
    assert [e["lr"] for e in resumed.epochs] == [e["lr"] for e in whole.epochs]
    assert cbs[0].state_dict() is not None and cbs[0].best == min(
        e["train_loss"] for e in whole.epochs
    )


def test_loader_state_resumes_the_epoch_and_the_following_ones():
    data = TensorDataset(np.arange(20.0))
    a = DataLoader(data, batch_size=3, shuffle=True, seed=4)
    it = iter(a)
    next(it), next(it)
    b = DataLoader(data, batch_size=3, shuffle=True, seed=999)
    b.load_state_dict(a.state_dict())
    rest_a = [x.numpy().tolist() for (x,) in it] + [x.numpy().tolist() for (x,) in a]
    rest_b = [x.numpy().tolist() for (x,) in b] + [x.numpy().tolist() for (x,) in b]
    assert rest_a == rest_b and len(rest_a) == 5 + 7


# --- corrupted checkpoints: a clear ValueError and nothing modified ---------------------


def _snapshot(model, opt):
    return [p.detach().numpy().copy() for p in model.parameters()], opt.state_dict()


def _assert_untouched(model, opt, before, rng_before):
    params, opt_state = before
    for a, p in zip(params, model.parameters()):
        assert np.array_equal(a, p.detach().numpy())
    assert opt.state_dict()["param_groups"] == opt_state["param_groups"]
    assert opt.state_dict()["state"].keys() == opt_state["state"].keys()
    for i, entry in opt_state["state"].items():
        for k, v in entry.items():
            assert np.array_equal(opt.state_dict()["state"][i][k], v)
    assert np.array_equal(fastdl.random.get_rng_state(), rng_before)


def _trained_checkpoint(path):
    model, opt, sched, loader, cbs = _setup()
    _crash_after(opt, 6)
    with pytest.raises(_Crash):
        _fit(model, opt, sched, loader, cbs, checkpoint_every=5, checkpoint_path=path)


def _rewrite(src, dst, edit_manifest=None, edit_entry=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "manifest.json" and edit_manifest:
                data = json.dumps(edit_manifest(json.loads(data))).encode()
            elif edit_entry and info.filename == edit_entry[0]:
                data = edit_entry[1](data)
            zout.writestr(info.filename, data)


def _find(node, key):
    """The manifest node of a model entry."""
    for k, v in node["root"]["items"]:
        if k == "model":
            return dict(v["items"])[key]
    raise KeyError(key)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _flip_npy_byte(path):
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(_find(json.loads(zf.read("manifest.json")), "0.weight")["entry"])
    # Inside the entry's data, past its local header and .npy header.
    at = info.header_offset + 30 + len(info.filename) + info.file_size - 7
    data[at] ^= 0x40
    path.write_bytes(bytes(data))


def _wrong_shape(path):
    def edit(manifest):
        _find(manifest, "0.weight")["shape"] = [3, 6]
        return manifest

    _rewrite(path, path.with_suffix(".tmp"), edit_manifest=edit)
    os.replace(path.with_suffix(".tmp"), path)


def _swap_entries(path):
    """A consistent file whose model weight has the wrong shape for the model."""

    def edit(manifest):
        w, b = _find(manifest, "0.weight"), _find(manifest, "0.bias")
        for key in ("entry", "shape", "dtype"):
            w[key], b[key] = b[key], w[key]
        return manifest

    _rewrite(path, path.with_suffix(".tmp"), edit_manifest=edit)
    os.replace(path.with_suffix(".tmp"), path)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_truncate, "truncated or not a zip"),
        (_flip_npy_byte, "unreadable"),
        (_wrong_shape, "the manifest says [3, 6]"),
        (_swap_entries, "model entry '0.weight' has shape (16,)"),
    ],
)
def test_corrupted_checkpoint_is_refused_and_nothing_changes(tmp_path, corrupt, message):
    path = tmp_path / "ckpt.fdl"
    _trained_checkpoint(path)
    corrupt(path)
    model, opt, sched, loader, cbs = _setup(seed=7)
    _fit(model, opt, sched, loader, cbs)  # some optimizer state to protect
    before, rng_before = _snapshot(model, opt), fastdl.random.get_rng_state()
    loader_before = loader.state_dict()
    with pytest.raises(ValueError) as info:
        load_training_state(path, model, opt, sched, loader)
    assert message in str(info.value)
    _assert_untouched(model, opt, before, rng_before)
    assert loader.state_dict()["rng"] == loader_before["rng"]


def test_restore_failing_late_rolls_everything_back(tmp_path):
    """A state that passes the checks but is refused by the optimizer: all restored."""
    path = tmp_path / "ckpt.fdl"
    model, opt, sched, loader, _ = _setup()
    _fit(model, opt, sched, loader, [])
    save_training_state(path, model, opt, sched, loader, epoch=4)
    state = fastdl.load(path)
    state["optimizer"]["state"][0]["exp_avg"] = np.zeros((2, 2), np.float32)  # wrong shape
    fresh, opt2, sched2, loader2, _ = _setup(seed=9)
    before, rng_before = _snapshot(fresh, opt2), fastdl.random.get_rng_state()
    with pytest.raises(ValueError, match="nothing was changed"):
        load_training_state(state, fresh, opt2, sched2, loader2)
    _assert_untouched(fresh, opt2, before, rng_before)


def test_cli_resume_refuses_other_flags_and_bad_files(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *CLI, "--epochs", "1", "--out", str(out)]) == 0
    ckpt = str(out / "checkpoint.fdl")
    capsys.readouterr()
    assert main(["train", *CLI, "--epochs", "1", "--lr", "0.5", "--resume", ckpt]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--lr None (now 0.5)" in err
    junk = tmp_path / "junk.fdl"
    junk.write_bytes(b"PK\x03\x04 not really")
    assert main(["train", *CLI, "--epochs", "1", "--resume", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a fastdl checkpoint" in err
    assert main(["train", "--model", "vae", "--checkpoint-every", "5"]) == 2
    assert "--checkpoint-every does not support --model vae" in capsys.readouterr().err
    # A finished run resumes to the same end (nothing left to train).
    again = tmp_path / "again"
    assert main(["train", *CLI, "--epochs", "1", "--out", str(again), "--resume", ckpt]) == 0
    a, b = _params(ckpt), _params(again / "checkpoint.fdl")
    assert all(np.array_equal(a[k], b[k]) for k in a)
