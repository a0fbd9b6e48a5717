"""The official PyTorch examples in examples/pytorch, imports changed only, run for a
few steps on offline data in a subprocess each.

The two fastest run always; the others only with ``FASTDL_EXAMPLES=1`` (each takes
several seconds), and an example whose missing layer or optimizer has not landed yet
is skipped with the missing name.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastdl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "pytorch"
ALL = os.environ.get("FASTDL_EXAMPLES") == "1"

# name -> (commands run in order inside a copy of the example's folder, the fastdl names
# the example needs beyond what it always has, whether it runs without FASTDL_EXAMPLES)
CASES = {
    "mnist_forward_forward": (
        [["main.py", "--epochs", "2", "--train_size", "64", "--test_size", "32"]],
        [],
        True,
    ),
    "vae": ([["main.py", "--epochs", "1", "--batch-size", "256"]], [], True),
    "regression": ([["main.py"]], ["nn.functional.smooth_l1_loss"], False),
    "mnist": (
        [
            [
                "main.py",
                "--epochs",
                "1",
                "--dry-run",
                "--batch-size",
                "16",
                "--test-batch-size",
                "64",
            ]
        ],
        ["optim.Adadelta"],
        False,
    ),
    "mnist_rnn": (
        [
            [
                "main.py",
                "--epochs",
                "1",
                "--dry-run",
                "--batch-size",
                "16",
                "--test-batch-size",
                "64",
            ]
        ],
        ["optim.Adadelta", "nn.Dropout2d"],
        False,
    ),
    "time_sequence_prediction": (
        [["generate_sine_wave.py"], ["train.py", "--steps", "1"]],
        ["optim.LBFGS"],
        False,
    ),
    "word_language_model": (
        [
            ["main.py", "--data", "data/tiny", "--epochs", "1", "--emsize", "8", "--nhid", "8"]
            + ["--bptt", "8", "--batch_size", "8", "--log-interval", "50", "--dry-run"]
        ],
        ["nn.Transformer", "nn.GRU"],
        False,
    ),
}


def _missing(names: list) -> list:
    gone = []
    for name in names:
        obj = fastdl
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            gone.append(name)
    return gone


@pytest.mark.parametrize("name", list(CASES))
def test_example_runs(name, tmp_path):
    commands, needs, fast = CASES[name]
    if not (fast or ALL):
        pytest.skip("set FASTDL_EXAMPLES=1 to run the slower examples")
    missing = _missing(needs)
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}")
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder)
    if name == "word_language_model":
        sys.path.insert(0, str(EXAMPLES))
        try:
            from prepare_data import write_corpus
        finally:
            sys.path.remove(str(EXAMPLES))
        write_corpus(str(folder / "data" / "tiny"), {"train": 60, "valid": 10, "test": 10})
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(EXAMPLES / "offline")])
    for command in commands:
        done = subprocess.run(
            [sys.executable, *command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (
            f"{name} {command}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
