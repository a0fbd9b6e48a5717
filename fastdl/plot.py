"""Figures for training histories, drawn with matplotlib's Agg renderer.

Figures are built from ``matplotlib.figure.Figure`` and ``FigureCanvasAgg``
directly, never through ``pyplot``: nothing here changes the global backend,
opens a window or keeps figures alive in pyplot's registry, so it is safe in
notebooks and GUI programs that use another backend. matplotlib is imported
only when a figure is drawn.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

_SERIES = (
    ("Loss", (("train_loss", "train"), ("val_loss", "val"))),
    ("Accuracy", (("train_accuracy", "train"), ("val_accuracy", "val"))),
)


def _epochs_of(history) -> list:
    """The list of per-epoch records in ``history`` (object, list or dict)."""
    if isinstance(history, Mapping):
        if "epochs" not in history:
            raise ValueError(
                "plot.history: a dict history needs an 'epochs' key; "
                f"got keys {sorted(map(str, history))}"
            )
        epochs = history["epochs"]
    elif isinstance(history, (list, tuple)):
        epochs = history
    elif hasattr(history, "epochs"):
        epochs = history.epochs
    else:
        raise TypeError(
            "plot.history: history must have an .epochs list, be a list of "
            f"per-epoch dicts, or a dict with key 'epochs'; got {type(history).__name__}"
        )
    epochs = list(epochs)
    for position, record in enumerate(epochs):
        if not isinstance(record, Mapping):
            raise TypeError(
                f"plot.history: epoch record {position} must be a dict; got {type(record).__name__}"
            )
    return epochs


def _value(record: Mapping, key: str):
    """``record[key]`` as a float, or None when missing, None or not finite."""
    value = record.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def history(history, path, *, title: str | None = None, dpi: int = 100):
    """Write a PNG of loss and accuracy (train and validation) against epoch.

    Arguments:
        history: an object with ``.epochs`` (such as the history that
            ``fastdl.train.fit`` returns), a list of per-epoch dicts, or a dict
            with key ``"epochs"``. Each record may hold ``epoch``,
            ``train_loss``, ``train_accuracy``, ``val_loss``,
            ``val_accuracy`` and ``seconds``; missing, ``None`` or non-finite
            values are skipped, and a series with no values is left out. A
            record without ``epoch`` is numbered by its position (from 1).
        path: where to write the PNG (str or os.PathLike); the format is PNG
            whatever the suffix.
        title: an optional figure title.
        dpi: resolution of the PNG.

    Returns:
        ``path``, as given.

    Example:
        >>> import os, tempfile
        >>> records = [
        ...     {"epoch": 1, "train_loss": 1.2, "train_accuracy": 0.6,
        ...      "val_loss": None, "val_accuracy": None, "seconds": 0.4},
        ...     {"epoch": 2, "train_loss": 0.7, "train_accuracy": 0.8,
        ...      "val_loss": None, "val_accuracy": None, "seconds": 0.4},
        ... ]
        >>> out = history(records, os.path.join(tempfile.mkdtemp(), "h.png"))
        >>> os.path.getsize(out) > 0
        True
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = _epochs_of(history)
    xs = []
    for position, record in enumerate(epochs):
        epoch = _value(record, "epoch")
        xs.append(position + 1 if epoch is None else epoch)

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(_SERIES))
    for ax, (name, series) in zip(axes, _SERIES):
        drawn = 0
        for key, label in series:
            points = [(x, _value(r, key)) for x, r in zip(xs, epochs)]
            points = [(x, v) for x, v in points if v is not None]
            if not points:
                continue
            px, py = zip(*points)
            ax.plot(px, py, marker="o" if len(points) < 30 else None, label=label)
            drawn += 1
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name.lower())
        ax.grid(True, alpha=0.3)
        if drawn:
            ax.legend()
        else:
            ax.text(
                0.5,
                0.5,
                "no data",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="gray",
            )
    if title is not None:
        fig.suptitle(title)
    fig.savefig(os.fspath(path), format="png", dpi=dpi)
    return path
