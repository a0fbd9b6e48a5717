"""Figures for training histories and diagnostics, drawn with matplotlib's Agg renderer.

``history`` draws a training history; ``gradient_norms`` and ``activations`` draw
what :mod:`fastdl.diagnostics` recorded.

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


# -- diagnostics ------------------------------------------------------------------------------


def _gradient_steps(monitor_or_history) -> tuple[list, list[str]]:
    """The per-step records and the layer names of a GradientMonitor or its history."""
    records = getattr(monitor_or_history, "history", monitor_or_history)
    if not isinstance(records, (list, tuple)):
        raise TypeError(
            "plot.gradient_norms: expected a GradientMonitor or its .history (a list of "
            f"per-step dicts); got {type(monitor_or_history).__name__}"
        )
    layers: list[str] = list(getattr(monitor_or_history, "layers", []))
    for position, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise TypeError(
                f"plot.gradient_norms: step record {position} must be a dict; "
                f"got {type(record).__name__}"
            )
        for name, values in record.items():
            if not isinstance(values, Mapping):
                raise TypeError(
                    f"plot.gradient_norms: step {position}, layer {name!r} must map to a "
                    f"dict of norms; got {type(values).__name__}"
                )
            if name not in layers:
                layers.append(name)
    return list(records), layers


def _no_data(ax) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")


def gradient_norms(monitor_or_history, path, *, title: str | None = None, dpi: int = 100):
    """Write a PNG of each layer's gradient norm, and of its ratio to the layer's
    parameter norm, against the step (log scales).

    Layers are coloured from the input (dark) to the output (light), so gradients
    that shrink towards the input show as a fan of dark curves at the bottom. Steps
    where a gradient was not finite are marked by red vertical lines; the
    monitor's ``vanishing`` and ``exploding`` thresholds are drawn as dashed lines.

    Arguments:
        monitor_or_history: a :class:`fastdl.diagnostics.GradientMonitor`, or its
            ``history`` (a list of ``{layer: {"grad_norm", "param_norm", "ratio"}}``).
        path: where to write the PNG (str or os.PathLike).
        title: an optional figure title.
        dpi: resolution of the PNG.

    Returns:
        ``path``, as given.

    Example:
        >>> import os, tempfile
        >>> steps = [{"fc": {"grad_norm": 0.1 / s, "param_norm": 1.0, "ratio": 0.1 / s}}
        ...          for s in range(1, 6)]
        >>> out = gradient_norms(steps, os.path.join(tempfile.mkdtemp(), "g.png"))
        >>> os.path.getsize(out) > 0
        True
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    records, layers = _gradient_steps(monitor_or_history)
    thresholds = [
        (getattr(monitor_or_history, attr, None), label)
        for attr, label in (("vanishing", "vanishing"), ("exploding", "exploding"))
    ]
    colours = colormaps["viridis"]

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    bad_steps = sorted(
        {
            step
            for step, record in enumerate(records)
            for values in record.values()
            if _value(values, "grad_norm") is None and values.get("grad_norm") is not None
        }
    )
    panels = (("grad_norm", "gradient norm"), ("ratio", "gradient norm / parameter norm"))
    for ax, (key, name) in zip(axes, panels):
        drawn = 0
        for index, layer in enumerate(layers):
            points = [(step, _value(r.get(layer, {}), key)) for step, r in enumerate(records)]
            points = [(x, v) for x, v in points if v is not None and v > 0]
            if not points:
                continue
            px, py = zip(*points)
            colour = colours(index / max(len(layers) - 1, 1) * 0.9)
            marker = "o" if len(points) < 30 else None
            ax.plot(px, py, color=colour, marker=marker, markersize=3, label=layer)
            drawn += 1
        for step in bad_steps:
            ax.axvline(step, color="tab:red", linestyle=":", alpha=0.7)
        if key == "ratio":
            for threshold, label in thresholds:
                if threshold:
                    ax.axhline(threshold, color="tab:red", linestyle="--", alpha=0.6)
                    ax.annotate(
                        label,
                        (0, threshold),
                        xycoords=("axes fraction", "data"),
                        color="tab:red",
                        fontsize=8,
                        va="bottom",
                    )
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3, which="both")
        if drawn:
            ax.set_yscale("log")
            if drawn <= 12:
                ax.legend(fontsize=8, title="layer", title_fontsize=8)
        else:
            _no_data(ax)
    if title is not None:
        fig.suptitle(title)
    fig.savefig(os.fspath(path), format="png", dpi=dpi)
    return path


def activations(monitor, path, *, title: str | None = None, dpi: int = 100):
    """Write a PNG of each activation layer's dead (ReLU) or saturated (sigmoid, tanh)
    fraction: a bar per layer (running value over all batches, with the last batch as
    a dot) and, next to it, the fraction batch by batch.

    Arguments:
        monitor: a :class:`fastdl.diagnostics.ActivationMonitor`, or its ``stats``
            dict (then only the bars are drawn).
        path: where to write the PNG (str or os.PathLike).
        title: an optional figure title.
        dpi: resolution of the PNG.

    Returns:
        ``path``, as given.

    Example:
        >>> import os, tempfile
        >>> stats = {"1": {"kind": "relu", "batches": 1, "dead_fraction": 0.25,
        ...                "running_dead_fraction": 0.25}}
        >>> out = activations(stats, os.path.join(tempfile.mkdtemp(), "a.png"))
        >>> os.path.getsize(out) > 0
        True
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    stats = getattr(monitor, "stats", monitor)
    per_batch = getattr(monitor, "history", None)
    if not isinstance(stats, Mapping) or not all(isinstance(s, Mapping) for s in stats.values()):
        raise TypeError(
            "plot.activations: expected an ActivationMonitor or its .stats (a dict of "
            f"per-layer dicts); got {type(monitor).__name__}"
        )
    rows = []
    for layer, s in stats.items():
        saturating = s.get("kind") in ("sigmoid", "tanh")
        key = "saturation" if saturating else "dead_fraction"
        colour = "tab:orange" if saturating else "tab:red"
        label = f"{layer} ({s['kind']})" if s.get("kind") else str(layer)
        rows.append((label, _value(s, "running_" + key), _value(s, key), colour))

    fig = Figure(figsize=(11, max(3.5, 0.35 * len(rows) + 1.5)), layout="constrained")
    FigureCanvasAgg(fig)
    bars, lines = fig.subplots(1, 2)
    if rows:
        ys = list(range(len(rows)))
        bars.barh(ys, [r[1] or 0.0 for r in rows], color=[r[3] for r in rows], alpha=0.6)
        last = [(y, r[2]) for y, r in zip(ys, rows) if r[2] is not None]
        if last:
            bars.scatter([v for _, v in last], [y for y, _ in last], color="black", s=12, zorder=3)
        bars.set_yticks(ys, [r[0] for r in rows])
        bars.invert_yaxis()
    else:
        _no_data(bars)
    bars.set_xlim(0, 1)
    bars.set_xlabel("fraction (bar: all batches, dot: last batch)")
    bars.set_ylabel("layer")
    bars.set_title("dead units (red) / saturated outputs (orange)")
    bars.grid(True, axis="x", alpha=0.3)

    drawn = 0
    if isinstance(per_batch, Mapping):
        for layer, series in per_batch.items():
            values = [(i + 1, _value({"v": v}, "v")) for i, v in enumerate(series)]
            values = [(x, v) for x, v in values if v is not None]
            if values:
                px, py = zip(*values)
                lines.plot(px, py, marker="o" if len(values) < 30 else None, label=str(layer))
                drawn += 1
    lines.set_ylim(-0.02, 1.02)
    lines.set_xlabel("batch")
    lines.xaxis.set_major_locator(MaxNLocator(integer=True))
    lines.set_ylabel("dead / saturated fraction")
    lines.set_title("per batch")
    lines.grid(True, alpha=0.3)
    if drawn:
        if drawn <= 12:
            lines.legend(fontsize=8, title="layer", title_fontsize=8)
    else:
        _no_data(lines)
    if title is not None:
        fig.suptitle(title)
    fig.savefig(os.fspath(path), format="png", dpi=dpi)
    return path
