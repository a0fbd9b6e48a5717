"""Figures, drawn with matplotlib's Agg renderer: every figure fastdl draws is here.

``history`` draws a training history; ``gradient_norms`` and ``activations`` draw
what :mod:`fastdl.diagnostics` recorded; ``image_grid``, ``reconstruction_grid``,
``elbo_curves``, ``latent_scatter``, ``gan_curves`` and ``quality_plot`` draw what
``fastdl train --model vae|gan`` writes; ``figure``, ``style_axes`` and
``save_figure`` are the small kit the labs (:mod:`fastdl.labs`) draw with.

Figures are built from ``matplotlib.figure.Figure`` and ``FigureCanvasAgg``
directly, never through ``pyplot``: nothing here changes the global backend,
opens a window or keeps figures alive in pyplot's registry, so it is safe in
notebooks and GUI programs that use another backend. matplotlib is imported
only when a figure is drawn.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_SERIES = (
    ("Loss", "loss", (("train_loss", "train"), ("val_loss", "val"))),
    ("Accuracy", "accuracy", (("train_accuracy", "train"), ("val_accuracy", "val"))),
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


def history(
    history,
    path,
    *,
    title: str | None = None,
    dpi: int = 100,
    test: Mapping[str, Any] | None = None,
):
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
        test: an optional dict with ``loss`` and ``accuracy`` measured once on
            the test split after training, drawn as one marker at the last
            epoch (labelled "test, once") rather than as a curve.

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
    for ax, (name, metric, series) in zip(axes, _SERIES):
        drawn = 0
        for key, label in series:
            points = [(x, _value(r, key)) for x, r in zip(xs, epochs)]
            points = [(x, v) for x, v in points if v is not None]
            if not points:
                continue
            px, py = zip(*points)
            ax.plot(px, py, marker="o" if len(points) < 30 else None, label=label)
            drawn += 1
        final = None if test is None or not xs else _value(test, metric)
        if final is not None:
            ax.plot([xs[-1]], [final], marker="*", markersize=12, linestyle="", label="test, once")
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


# -- the labs' kit ----------------------------------------------------------------------------


def _canvas(width: float, height: float) -> Any:
    """A constrained-layout Figure of ``width`` x ``height`` inches on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure(
    ncols: int = 1, nrows: int = 1, size: tuple[float, float] | None = None
) -> tuple[Any, list[Any]]:
    """A constrained-layout Figure on an Agg canvas and its axes (a flat list, row-major).

    Example::

        fig, (left, right) = plot.figure(2)
        left.plot([1, 2, 3]); plot.style_axes(left, "loss", "epoch", "loss")
        plot.save_figure(fig, "runs/x", "loss.png", "one title for the figure")
    """
    width, height = size or (5.2 * ncols, 4.2 * nrows)
    axes = _canvas(width, height).subplots(nrows, ncols, squeeze=False)
    return axes[0][0].figure, [ax for row in axes for ax in row]


def save_figure(fig: Any, out: str | os.PathLike, filename: str, title: str) -> str:
    """Give ``fig`` its title and write it as ``out/filename`` (PNG); returns the path."""
    os.makedirs(out, exist_ok=True)
    fig.suptitle(title, fontsize=12)
    path = os.path.join(os.fspath(out), filename)
    fig.savefig(path, format="png", dpi=100)
    return path


def style_axes(
    ax: Any,
    title: str,
    xlabel: str,
    ylabel: str,
    legend: bool = True,
    integer_x: bool = False,
    **kw: Any,
) -> None:
    """Title, axis labels, a light grid and (if there are labelled artists) a legend;
    ``integer_x`` puts the x ticks on whole numbers (layers, epochs)."""
    if integer_x:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, which="both")
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, **kw)


# -- generative models ------------------------------------------------------------------------

GRID_COLUMNS = 8  # reconstruction grids pair rows of this many images


def _mosaic(images: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
    """Tile ``images`` ``(n, H, W)`` row-major into one array, ``pad`` blank pixels apart
    (NaN, drawn as background), so a whole grid is one ``imshow``: fast to draw."""
    n, h, w = images.shape
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = image
    return out


def _show(ax: Any, mosaic: np.ndarray) -> None:
    import matplotlib

    cmap = matplotlib.colormaps["gray_r"].with_extremes(bad="#d0d8e8")
    ax.imshow(mosaic, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(images: np.ndarray, path: str, title: str, dpi: int = 100) -> str:
    """Write ``images`` ``(n, H, W)`` with values in [0, 1] (dark = 1) as a square grid PNG.

    Example::

        plot.image_grid(vae.sample(64).numpy().reshape(-1, 8, 8), "s.png", "64 samples")
    """
    cols = math.ceil(math.sqrt(len(images)))
    fig = _canvas(6, 6.4)
    _show(fig.subplots(), _mosaic(images, cols))
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, format="png", dpi=dpi)
    return path


def reconstruction_grid(
    originals: np.ndarray, recons: np.ndarray, path: str, title: str, dpi: int = 100
) -> str:
    """Rows of ``originals`` ``(n, H, W)``, each row above the row of their reconstructions."""
    cols = GRID_COLUMNS
    n, h, w = originals.shape
    rows = []
    for start in range(0, n, cols):
        rows += [originals[start : start + cols], recons[start : start + cols]]
    pairs = [np.concatenate([r, np.full((cols - len(r), h, w), np.nan)]) for r in rows]
    fig = _canvas(6, 0.75 * len(pairs) + 0.8)
    ax = fig.subplots()
    _show(ax, _mosaic(np.concatenate(pairs), cols))
    ax.set_yticks([(h + 1) * i + h / 2 for i in range(len(pairs))])
    ax.set_yticklabels(["data", "recon."] * (len(pairs) // 2), fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, format="png", dpi=dpi)
    return path


def elbo_curves(
    history: Sequence[Mapping[str, Any]],
    path: str,
    likelihood: str,
    test: Mapping[str, float] | None = None,
) -> str:
    """Train and validation ELBO per epoch, and the validation ELBO's two terms
    (records with ``epoch``, ``train_elbo`` and, when a validation split was held
    out, ``val_elbo``, ``val_reconstruction``, ``val_kl``). ``test`` (``elbo``,
    ``reconstruction``, ``kl``), measured once after training, is one marker at the
    last epoch."""
    epochs = [r["epoch"] for r in history]
    has_val = bool(history) and "val_elbo" in history[-1]
    fig = _canvas(10, 4)
    left, right = fig.subplots(1, 2)
    for split, label in (("train", "train"), ("val", "validation")):
        if split == "train" or has_val:
            left.plot(epochs, [r[f"{split}_elbo"] for r in history], marker=".", label=label)
    once = {"marker": "*", "markersize": 12, "linestyle": ""}
    if test is not None and epochs:
        left.plot([epochs[-1]], [test["elbo"]], label="test, once", **once)
    left.set_title("ELBO (higher is better)")
    left.set_ylabel("ELBO per sample (nats)")
    terms = (
        ("reconstruction", f"reconstruction: -log p(x|z) ({likelihood})", "reconstruction"),
        ("kl", "KL(q(z|x) || N(0, I))", "KL"),
    )
    for key, label, short in terms:
        color = None
        if has_val:
            (line,) = right.plot(epochs, [r[f"val_{key}"] for r in history], marker=".")
            line.set_label(f"{label}, validation")
            color = line.get_color()
        if test is not None and epochs:
            right.plot([epochs[-1]], [test[key]], label=f"{short}, test, once", color=color, **once)
    right.set_title("the ELBO's terms (ELBO = -reconstruction - KL)")
    right.set_ylabel("nats per sample")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.savefig(path, format="png", dpi=100)
    return path


def latent_scatter(mu: np.ndarray, labels: np.ndarray, path: str) -> str:
    """The test images' posterior means in a 2-D latent space, coloured by digit."""
    fig = _canvas(6, 5.5)
    ax = fig.subplots()
    points = ax.scatter(mu[:, 0], mu[:, 1], c=labels, cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_title("VAE latent space: mean of q(z|x) for each test image")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.grid(True, alpha=0.3)
    fig.savefig(path, format="png", dpi=100)
    return path


def gan_curves(
    history: Sequence[Mapping[str, Any]],
    steps: Sequence[tuple[float, float]],
    per_epoch: int,
    path: str,
) -> str:
    """Both losses per step (faint, ``steps`` of ``(d_loss, g_loss)``) and per epoch,
    and the discriminator's mean outputs (records with ``d_real``, ``d_fake``)."""
    epochs = [r["epoch"] for r in history]
    fig = _canvas(10, 4)
    left, right = fig.subplots(1, 2)
    xs = np.arange(1, len(steps) + 1) / per_epoch
    for i, (key, label) in enumerate(
        (
            ("d_loss", "discriminator: BCE(real, 1) + BCE(fake, 0)"),
            ("g_loss", "generator: -log D(G(z))"),
        )
    ):
        left.plot(xs, [s[i] for s in steps], color=f"C{i}", alpha=0.2, linewidth=0.7)
        left.plot(epochs, [r[key] for r in history], color=f"C{i}", marker=".", label=label)
    left.set_title("GAN losses (faint: per step; dots: epoch mean)")
    left.set_ylabel("loss")
    right.plot(epochs, [r["d_real"] for r in history], marker=".", label="D(x), real")
    right.plot(epochs, [r["d_fake"] for r in history], marker=".", label="D(G(z)), fake")
    right.axhline(0.5, color="gray", linestyle="--", linewidth=0.8, label="0.5 (cannot tell)")
    right.set_title("discriminator's mean probability of 'real'")
    right.set_ylabel("probability")
    right.set_ylim(0, 1)
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path, format="png", dpi=100)
    return path


def quality_plot(quality: Mapping[str, Any], accuracy: float, path: str) -> str:
    """Bar chart of the classes a digits classifier gives generated samples (``quality``
    holds ``histogram``, ``mean_confidence``, ``classes_covered``, ``real_confidence``)."""
    histogram = quality["histogram"]
    fig = _canvas(6, 4)
    ax = fig.subplots()
    ax.bar(np.arange(len(histogram)), histogram, color="C0")
    ax.axhline(histogram.sum() / len(histogram), color="gray", linestyle="--", label="uniform")
    ax.set_xticks(np.arange(len(histogram)))
    ax.set_xlabel("class predicted by the classifier")
    ax.set_ylabel("generated samples")
    ax.set_title(
        f"{histogram.sum()} GAN samples: mean confidence {quality['mean_confidence']:.3f}, "
        f"{quality['classes_covered']}/{len(histogram)} classes\n"
        f"(MLP classifier: test accuracy {accuracy:.3f}, mean confidence on real test "
        f"images {quality['real_confidence']:.3f})",
        fontsize=9,
    )
    ax.legend()
    fig.savefig(path, format="png", dpi=100)
    return path
