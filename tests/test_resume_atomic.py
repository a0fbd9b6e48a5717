"""Resuming is all or nothing: a checkpoint that fastdl wrote and something then edited
is refused with a ValueError naming the entry, and the model, optimizer, scheduler,
data loader, generators and callbacks stay bit for bit as they were."""

from __future__ import annotations

import numpy as np
import pytest

import fastdl
from fastdl import nn, optim
from fastdl.data import DataLoader, TensorDataset
from fastdl.optim import lr_scheduler
from fastdl.train import EarlyStopping, fit, load_training_state, save_training_state


def _objects(seed: int):
    """Model (with a BatchNorm buffer and Dropout), Adam, StepLR, a shuffling loader, a
    named generator and an EarlyStopping callback."""
    fastdl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((24, 5)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    model = nn.Sequential(
        nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3)
    )
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    loader = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, seed=seed)
    gens = {"noise": fastdl.Generator().manual_seed(seed + 1)}
    callbacks = [EarlyStopping(monitor="train_loss", patience=5)]
    return model, opt, sched, loader, gens, callbacks


def _train(objects, epochs=2, **kw):
    model, opt, sched, loader, _, callbacks = objects
    return fit(model, nn.CrossEntropyLoss(), opt, loader, epochs, scheduler=sched,
               callbacks=callbacks, progress=False, **kw)  # fmt: skip


def _snapshot(objects) -> dict:
    """Every piece of state as bytes or plain values, for a bitwise comparison."""
    model, opt, sched, loader, gens, callbacks = objects
    opt_state = opt.state_dict()
    loader_state = loader.state_dict()
    return {
        "model": {k: np.asarray(v).tobytes() for k, v in model.state_dict().items()},
        "optimizer": {
            i: {k: np.asarray(v).tobytes() for k, v in entry.items()}
            for i, entry in opt_state["state"].items()
        },
        "groups": [
            {k: v for k, v in g.items() if k != "params"} | {"params": [id(p) for p in g["params"]]}
            for g in opt.param_groups
        ],
        "scheduler": sched.state_dict(),
        "rng": np.asarray(fastdl.random.get_rng_state()).tobytes(),
        "gens": {k: g._state_words().tobytes() for k, g in gens.items()},
        "loader": (loader_state["rng"], loader_state["position"], sorted(loader.__dict__)),
        "callbacks": [cb.state_dict() for cb in callbacks],
    }


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A mid-epoch checkpoint written by fit."""
    path = tmp_path_factory.mktemp("ckpt") / "ckpt.fdl"
    objects = _objects(seed=0)
    model, opt, sched, loader, gens, callbacks = objects
    _train(objects, epochs=2)
    it = iter(loader)
    next(it)
    history = fastdl.train.History([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "lr": 0.1}])
    save_training_state(path, model, opt, sched, loader, epoch=3, step=1, global_step=7,
                        history=history, generators=gens, callbacks=callbacks)  # fmt: skip
    return path


def _edit(path, value):
    """An edit that puts ``value`` at ``path`` in the loaded state dict."""

    def edit(state):
        node = state
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


EDITS = {
    "optimizer state of the wrong type": (_edit(["optimizer", "state"], [1, 2]), "'state'"),
    "optimizer state entry of the wrong type": (
        _edit(["optimizer", "state", 0], "adam"),
        "parameter 0",
    ),
    "optimizer step 10**30": (_edit(["optimizer", "state", 0, "step"], 10**30), "'step'"),
    "negative exp_avg_sq": (
        _edit(["optimizer", "state", 1, "exp_avg_sq"], -np.ones(8, np.float32)),
        "exp_avg_sq",
    ),
    "nan learning rate": (
        _edit(["optimizer", "param_groups", 0, "lr"], float("nan")),
        "Invalid learning rate: nan",
    ),
    "malformed history": (_edit(["history", "epochs"], [1, 2]), "history epoch 0"),
    "history value of the wrong type": (
        _edit(["history", "epochs", 0, "train_loss"], [1.0]),
        "train_loss",
    ),
    "wrong parameter shape": (
        _edit(["model", "0.weight"], np.zeros((8, 4), np.float32)),
        "'0.weight' has shape",
    ),
    "wrong parameter dtype": (
        _edit(["model", "0.weight"], np.zeros((8, 5), np.float64)),
        "'0.weight' has dtype",
    ),
    "nan parameter": (
        _edit(["model", "4.bias"], np.array([0.0, np.nan, 1.0], np.float32)),
        "'4.bias' holds non-finite",
    ),
    "scheduler step_size 0": (_edit(["scheduler", "step_size"], 0), "step_size"),
    "scheduler gamma a string": (_edit(["scheduler", "gamma"], "half"), "gamma"),
    "generator state of the wrong dtype": (
        _edit(["rng", "noise"], np.array([1, 2], np.int64)),
        "generator state 'noise'",
    ),
    "generator state of the wrong shape": (
        _edit(["rng", "default"], np.array([1, 2, 3], np.uint64)),
        "generator state 'default'",
    ),
    "meter of the wrong type": (_edit(["meter"], {"loss": "x"}), "meter"),
    "callback state of the wrong type": (_edit(["callbacks", 0], [1]), "EarlyStopping"),
    "loader order out of range": (
        _edit(["loader", "order"], np.array([99, 0, 1], np.int64)),
        "order",
    ),
    "epoch 10**30": (_edit(["epoch"], 10**30), "epoch"),
}


def _edited_checkpoint(checkpoint, tmp_path, edit):
    state = fastdl.load(checkpoint)
    edit(state)
    path = tmp_path / "edited.fdl"
    fastdl.save(state, path)
    return path


@pytest.mark.parametrize("case", sorted(EDITS))
def test_an_edited_checkpoint_changes_nothing(checkpoint, tmp_path, case):
    edit, message = EDITS[case]
    path = _edited_checkpoint(checkpoint, tmp_path, edit)
    objects = _objects(seed=5)
    _train(objects, epochs=1)  # optimizer and scheduler state to protect
    model, opt, sched, loader, gens, callbacks = objects
    next(iter(loader))  # an epoch in progress in the loader
    before = _snapshot(objects)
    with pytest.raises(ValueError, match="nothing was changed") as info:
        load_training_state(path, model, opt, sched, loader, generators=gens, callbacks=callbacks)
    assert message in str(info.value)
    assert _snapshot(objects) == before


def test_the_unedited_checkpoint_loads(checkpoint):
    """The control: the same objects take the checkpoint before it is edited."""
    objects = _objects(seed=5)
    model, opt, sched, loader, gens, callbacks = objects
    state = load_training_state(
        checkpoint, model, opt, sched, loader, generators=gens, callbacks=callbacks
    )
    assert (state.epoch, state.step, state.global_step, len(state.history)) == (3, 1, 7, 2)
    saved = fastdl.load(checkpoint)
    for name, value in model.state_dict().items():
        assert value.numpy().tobytes() == saved["model"][name].tobytes()
    assert gens["noise"]._state_words().tobytes() == saved["rng"]["noise"].tobytes()


class _Boom(Exception):
    pass


@pytest.mark.parametrize("error", [_Boom, KeyboardInterrupt])
def test_a_failure_while_writing_rolls_everything_back(checkpoint, error):
    """The last piece to be restored fails: the pieces restored before it go back too,
    an Exception becomes a ValueError, an interrupt stays one."""
    objects = _objects(seed=5)
    _train(objects, epochs=1)
    model, opt, sched, loader, gens, callbacks = objects
    before = _snapshot(objects)

    def failing(state):
        raise error("callback refuses")

    callbacks[0].load_state_dict = failing
    expected = KeyboardInterrupt if error is KeyboardInterrupt else ValueError
    with pytest.raises(expected, match="callback refuses"):
        load_training_state(
            checkpoint, model, opt, sched, loader, generators=gens, callbacks=callbacks
        )
    del callbacks[0].load_state_dict
    assert _snapshot(objects) == before


def test_fit_resume_from_an_edited_checkpoint_changes_nothing(checkpoint, tmp_path):
    def edit(state):
        del state["rng"]["noise"]  # fit restores fastdl's default generator only
        state["history"]["epochs"] = ["x"]

    path = _edited_checkpoint(checkpoint, tmp_path, edit)
    objects = _objects(seed=5)
    _train(objects, epochs=1)
    before = _snapshot(objects)
    with pytest.raises(ValueError, match="history epoch 0"):
        _train(objects, epochs=3, resume_from=path)
    assert _snapshot(objects) == before


def test_a_diverged_run_is_rolled_back_as_it_was(checkpoint):
    """Rolling back restores the optimizer's own state without checking it: state that
    a load would refuse (NaN moments) comes back too."""
    objects = _objects(seed=5)
    _train(objects, epochs=1)
    model, opt, sched, loader, gens, callbacks = objects
    opt._chunks[0][0].state["exp_avg"][:3] = np.nan
    before = _snapshot(objects)
    callbacks[0].load_state_dict = lambda state: 1 / 0
    with pytest.raises(ValueError, match="ZeroDivisionError"):
        load_training_state(
            checkpoint, model, opt, sched, loader, generators=gens, callbacks=callbacks
        )
    assert _snapshot(objects) == before
