"""fastdl.plot: history figures written as PNG without touching pyplot's state."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from fastdl import plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _records(n=5, with_val=True):
    records = []
    for epoch in range(1, n + 1):
        records.append(
            {
                "epoch": epoch,
                "train_loss": 1.0 / epoch,
                "train_accuracy": 1.0 - 0.5 / epoch,
                "val_loss": 1.1 / epoch if with_val else None,
                "val_accuracy": 0.9 - 0.5 / epoch if with_val else None,
                "seconds": 0.25,
            }
        )
    return records


def _read_png(path):
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


@pytest.mark.parametrize(
    "make_history",
    [
        lambda r: SimpleNamespace(epochs=r),
        lambda r: r,
        lambda r: {"epochs": r},
    ],
    ids=["object", "list", "dict"],
)
def test_history_writes_png(tmp_path, make_history):
    path = tmp_path / "history.png"
    returned = plot.history(make_history(_records()), path)
    assert returned == path
    image = _read_png(path)
    # Not a blank canvas: the curves put more than one colour on it.
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 10


def test_history_skips_missing_series(tmp_path):
    records = _records(4, with_val=False)
    del records[2]["train_accuracy"]
    records[1]["train_loss"] = float("nan")
    for record in records:
        del record["epoch"]
    path = tmp_path / "partial.png"
    assert plot.history(records, str(path)) == str(path)
    _read_png(path)


def test_history_with_no_epochs_still_writes(tmp_path):
    path = tmp_path / "empty.png"
    plot.history([], path)
    _read_png(path)


def test_history_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match="history"):
        plot.history(42, tmp_path / "x.png")
    with pytest.raises(ValueError, match="epochs"):
        plot.history({"loss": [1.0]}, tmp_path / "x.png")
    with pytest.raises(TypeError, match="record 0"):
        plot.history([1.0, 2.0], tmp_path / "x.png")


def test_history_leaves_pyplot_alone(tmp_path):
    """No pyplot import, no backend switch: users keep their own backend."""
    import matplotlib

    backend = matplotlib.get_backend()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    plot.history(_records(), tmp_path / "h.png")
    assert matplotlib.get_backend() == backend
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot
