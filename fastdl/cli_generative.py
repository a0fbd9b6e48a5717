"""``fastdl train --model vae|gan``: train a generative model on images and draw what it makes.

``--model vae`` trains :class:`fastdl.models.VAE` and writes, under ``--out``,
``samples/epoch_NNN.png`` (decoded draws of a fixed set of ``z ~ N(0, I)``),
``reconstructions/epoch_NNN.png`` (test images above their reconstructions),
``elbo.png`` (the ELBO and its two terms per epoch), ``latent.png`` when
``--latent-dim 2`` (the test images' posterior means, coloured by digit) and
``checkpoint.fdl``, and
prints one summary line starting ``test_elbo=``.

``--model gan`` trains :func:`fastdl.models.gan_mlp` and writes
``samples/epoch_NNN.png``, ``losses.png`` (both losses and the discriminator's
outputs), ``quality.png`` and ``checkpoint.fdl``. Sample quality: an MLP digits
classifier is trained here (its test accuracy must reach 0.97), labels 1,000
generated samples, and the summary line reports their mean confidence (the mean
top softmax probability; ``real_confidence`` is the same on real test images) and
the class histogram (all classes present = no mode collapse).

Both print one line per epoch unless ``--no-progress``; the summary line comes last.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from types import SimpleNamespace
from typing import Any

import numpy as np

from fastdl.cli import (
    UsageError,
    _build_optimizer,
    _build_scheduler,
    _config,
    _load_data,
    _square_side,
)

# Hyper-parameters when no flag sets them: chosen so the 30 default epochs on the
# 8x8 digits give recognisable digits in seconds.
VAE_LATENT_DIM = 8
VAE_HIDDEN = (256, 128)
GAN_LATENT_DIM = 16
GAN_HIDDEN = (256, 512)
GAN_LR = 5e-4  # Adam with betas (0.5, 0.999), as DCGAN (Radford et al., 2016)
GAN_BETAS = (0.5, 0.999)
QUALITY_SAMPLES = 1000
CLASSIFIER_THRESHOLD = 0.97
GRID = 8  # sample grids are GRID x GRID images


# -- setup ----------------------------------------------------------------------------


def _reject(args: argparse.Namespace) -> None:
    """Flags that mean nothing for this model: one clear line each."""
    name = args.model
    if args.activation is not None:
        raise UsageError(f"fastdl train: --activation applies to --model mlp, not {name}")
    if name == "gan":
        for flag, default in (
            ("scheduler", "none"),
            ("early_stopping", None),
            ("clip_grad_norm", None),
            ("likelihood", None),
        ):
            if getattr(args, flag) != default:
                option = "--" + flag.replace("_", "-")
                raise UsageError(f"fastdl train: {option} applies to --model vae, not gan")
        if args.label_smoothing is not None and not args.label_smoothing < 1:
            raise UsageError(
                f"fastdl train: --label-smoothing must be in [0, 1), got {args.label_smoothing:g}"
            )
    elif args.label_smoothing is not None:
        raise UsageError("fastdl train: --label-smoothing applies to --model gan, not vae")


def _images(args: argparse.Namespace) -> tuple[np.ndarray, ...]:
    """``(X_train, y_train, X_test, y_test, side)``: square images scaled to [0, 1]."""
    if args.data == "spirals":
        raise UsageError(
            f"fastdl train: --model {args.model} learns images; use --data digits or idx:DIR, "
            "not spirals"
        )
    X_train, y_train, X_test, y_test = _load_data(args.data, args.seed)
    side = _square_side(args, X_train.shape[1], minimum=2, verb="draws")
    return X_train, y_train, X_test, y_test, side


def _loader(X: np.ndarray, batch_size: Any, seed: int) -> Any:
    from fastdl.data import DataLoader, TensorDataset

    return DataLoader(TensorDataset(X), batch_size=batch_size, shuffle=True, seed=seed)


def _as_tensor(batch: Any) -> Any:
    import fastdl

    return batch if isinstance(batch, fastdl.Tensor) else fastdl.tensor(batch)


def _eval_generator(seed: int) -> Any:
    """A generator of its own for the fixed noise of grids and test ELBOs, so drawing
    them leaves the training stream alone and every epoch sees the same noise."""
    import fastdl

    return fastdl.Generator().manual_seed(seed)


def train_generative(args: argparse.Namespace) -> int:
    """Run ``fastdl train --model vae|gan`` (see the module docstring); returns 0."""
    import fastdl

    start = time.perf_counter()
    _reject(args)
    out = args.out or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    try:
        for folder in ("samples", "reconstructions") if args.model == "vae" else ("samples",):
            os.makedirs(os.path.join(out, folder), exist_ok=True)
    except OSError as error:
        raise UsageError(f"fastdl train: --out {out!r}: {error.strerror}") from None
    if args.backend:
        fastdl.use_backend(args.backend)
    if args.threads:
        fastdl.set_num_threads(args.threads)
    fastdl.manual_seed(args.seed)
    data = _images(args)
    run = _train_vae if args.model == "vae" else _train_gan
    summary = run(args, out, *data)
    print(
        f"{summary} epochs={args.epochs} optimizer={args.optimizer} "
        f"batch_size={args.batch_size} backend={fastdl.backends.current()} "
        f"seconds={time.perf_counter() - start:.1f} out={out}"
    )
    return 0


def _progress(args: argparse.Namespace, record: dict[str, Any], keys: tuple[str, ...]) -> None:
    if not args.no_progress:
        values = " ".join(f"{k}={record[k]:.4g}" for k in keys)
        print(f"epoch {record['epoch']}/{args.epochs} {values} ({record['seconds']:.1f}s)")


# -- VAE ------------------------------------------------------------------------------


def _vae_terms(vae: Any, X: np.ndarray, generator: Any) -> tuple[float, float]:
    """Mean reconstruction NLL and KL per sample of ``X``, one seeded draw of ``z`` each."""
    import fastdl
    from fastdl.models.vae import kl_divergence, reconstruction_loss

    x = fastdl.tensor(X)
    eps = fastdl.randn(len(X), vae.latent_dim, dtype=x.dtype, generator=generator)
    vae.eval()
    with fastdl.no_grad():
        recon, mu, logvar = vae(x, eps)
        nll = reconstruction_loss(recon, x, vae.likelihood).mean().item()
        kl = kl_divergence(mu, logvar).mean().item()
    vae.train()
    return float(nll), float(kl)


def _vae_epoch(
    vae: Any, optimizer: Any, loader: Any, args: argparse.Namespace, scheduler: Any
) -> np.ndarray:
    """One pass over ``loader``; returns the mean reconstruction NLL and KL per sample."""
    from fastdl.models.vae import kl_divergence, reconstruction_loss
    from fastdl.nn.utils import clip_grad_norm_

    sums, count = np.zeros(2), 0
    for (batch,) in loader:
        x = _as_tensor(batch)
        optimizer.zero_grad()
        recon, mu, logvar = vae(x)
        nll = reconstruction_loss(recon, x, vae.likelihood).mean()
        kl = kl_divergence(mu, logvar).mean()
        (nll + kl).backward()
        if args.clip_grad_norm is not None:
            clip_grad_norm_(vae.parameters(), args.clip_grad_norm)
        optimizer.step()
        if args.scheduler == "onecycle":
            scheduler.step()
        sums += np.array([nll.item(), kl.item()]) * len(x)
        count += len(x)
    return sums / count


def _vae_figures(vae: Any, epoch: int, out: str, shown: np.ndarray, side: int, seed: int) -> None:
    import fastdl

    name = f"epoch_{epoch:03d}.png"
    samples = vae.sample(GRID * GRID, _eval_generator(seed + 1)).numpy()
    image_grid(
        samples.reshape(-1, side, side),
        os.path.join(out, "samples", name),
        f"VAE samples after epoch {epoch}: decoder mean for {GRID * GRID} fixed z ~ N(0, I)",
    )
    recons = vae.reconstruct(fastdl.tensor(shown)).numpy()
    reconstruction_grid(
        shown.reshape(-1, side, side),
        recons.reshape(-1, side, side),
        os.path.join(out, "reconstructions", name),
        f"VAE reconstructions after epoch {epoch} (test images, z = mean of q(z|x))",
    )


def _train_vae(
    args: argparse.Namespace,
    out: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    side: int,
) -> str:
    import fastdl
    from fastdl import models
    from fastdl.train import EarlyStopping

    latent_dim = args.latent_dim or VAE_LATENT_DIM
    likelihood = args.likelihood or "bernoulli"
    vae = models.VAE(X_train.shape[1], latent_dim, args.hidden or VAE_HIDDEN, likelihood)
    optimizer = _build_optimizer(args, vae.parameters())
    loader = _loader(X_train, args.batch_size, args.seed)
    scheduler = _build_scheduler(args, optimizer, len(loader))
    patience = args.early_stopping
    stopper = None if patience is None else EarlyStopping("test_loss", patience)
    history: list[dict[str, Any]] = []
    for epoch in range(1, args.epochs + 1):
        began, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        train_nll, train_kl = _vae_epoch(vae, optimizer, loader, args, scheduler)
        test_nll, test_kl = _vae_terms(vae, X_test, _eval_generator(args.seed + 2))
        record = {
            "epoch": epoch,
            "train_elbo": -(train_nll + train_kl),
            "train_reconstruction": train_nll,
            "train_kl": train_kl,
            "test_elbo": -(test_nll + test_kl),
            "test_reconstruction": test_nll,
            "test_kl": test_kl,
            "test_loss": test_nll + test_kl,
            "lr": lr,
            "seconds": time.perf_counter() - began,
        }
        history.append(record)
        _progress(args, record, ("train_elbo", "test_elbo"))
        _vae_figures(vae, epoch, out, X_test[: GRID * GRID // 2], side, args.seed)
        if args.scheduler == "plateau":
            scheduler.step(record["test_loss"])
        elif scheduler is not None and args.scheduler != "onecycle":
            scheduler.step()
        if stopper is not None and stopper(SimpleNamespace(epochs=history), vae, optimizer):
            break

    elbo_curves(history, os.path.join(out, "elbo.png"), likelihood)
    if latent_dim == 2:
        with fastdl.no_grad():
            mu, _ = vae.eval().encode(fastdl.from_numpy(X_test))
        latent_scatter(mu.numpy(), y_test, os.path.join(out, "latent.png"))
    state = {
        "model": vae.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": {"epochs": history},
        "config": {**_config(args), "latent_dim": latent_dim, "likelihood": likelihood},
    }
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    fastdl.save(state, os.path.join(out, "checkpoint.fdl"))
    last = history[-1]
    stopped = " stopped_early=true" if len(history) < args.epochs else ""
    return (
        f"test_elbo={last['test_elbo']:.3f} test_reconstruction={last['test_reconstruction']:.3f} "
        f"test_kl={last['test_kl']:.3f} model=vae likelihood={likelihood} "
        f"latent_dim={latent_dim} train_elbo={last['train_elbo']:.3f}{stopped} "
        f"scheduler={args.scheduler}"
    )


# -- GAN ------------------------------------------------------------------------------


def _gan_optimizers(args: argparse.Namespace, gan: Any) -> tuple[Any, Any]:
    """One optimizer per network from the --optimizer flags. Adam and AdamW get
    betas (0.5, 0.999), and lr 5e-4 unless --lr is given."""
    adam = args.optimizer in ("adam", "adamw")
    flags = argparse.Namespace(**vars(args))
    if adam and args.lr is None:
        flags.lr = GAN_LR
    optimizers = []
    for net in (gan.generator, gan.discriminator):
        optimizer = _build_optimizer(flags, net.parameters())
        if adam:
            for group in optimizer.param_groups:
                group["betas"] = GAN_BETAS
        optimizers.append(optimizer)
    return optimizers[0], optimizers[1]


def quality_classifier(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, seed: int
) -> tuple[Any, float]:
    """An MLP classifier (256-128, Adam 2e-3 cosine-annealed over 30 epochs) and its
    test accuracy: about 0.98 on the 8x8 digits in under a second."""
    import fastdl
    from fastdl import data, models, nn, optim
    from fastdl.optim.lr_scheduler import CosineAnnealingLR
    from fastdl.train import evaluate, fit

    fastdl.manual_seed(seed)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    model = models.mlp(X_train.shape[1], (256, 128), n_classes)
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    epochs = 30
    train = data.DataLoader(
        data.TensorDataset(X_train, y_train), batch_size=32, shuffle=True, seed=seed
    )
    fit(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        train,
        epochs,
        scheduler=CosineAnnealingLR(optimizer, T_max=epochs),
        progress=False,
    )
    test = data.DataLoader(data.TensorDataset(X_test, y_test), batch_size=1024)
    accuracy = evaluate(model, test, nn.CrossEntropyLoss())["accuracy"]
    return model, float(accuracy)


def sample_quality(classifier: Any, samples: np.ndarray, n_classes: int) -> dict[str, Any]:
    """What ``classifier`` makes of ``samples``: ``mean_confidence`` (mean top softmax
    probability), ``histogram`` (samples per predicted class) and ``classes_covered``."""
    import fastdl

    classifier.eval()
    with fastdl.no_grad():
        probs = classifier(fastdl.tensor(samples)).softmax(1).numpy()
    histogram = np.bincount(probs.argmax(1), minlength=n_classes)
    return {
        "mean_confidence": float(probs.max(1).mean()),
        "histogram": histogram,
        "classes_covered": int((histogram > 0).sum()),
    }


def _train_gan(
    args: argparse.Namespace,
    out: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    side: int,
) -> str:
    import fastdl
    from fastdl import models

    latent_dim = args.latent_dim or GAN_LATENT_DIM
    smoothing = 0.0 if args.label_smoothing is None else args.label_smoothing
    gan = models.gan_mlp(X_train.shape[1], latent_dim, args.hidden or GAN_HIDDEN)
    opt_g, opt_d = _gan_optimizers(args, gan)
    loader = _loader(X_train, args.batch_size, args.seed)
    history: list[dict[str, Any]] = []
    steps: list[tuple[float, float]] = []
    for epoch in range(1, args.epochs + 1):
        began = time.perf_counter()
        stats = []
        for (batch,) in loader:
            stats.append(gan.train_step(_as_tensor(batch), opt_g, opt_d, smoothing))
        steps += [(s["d_loss"], s["g_loss"]) for s in stats]
        record: dict[str, Any] = {"epoch": epoch}
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            record[key] = float(np.mean([s[key] for s in stats]))
        record["seconds"] = time.perf_counter() - began
        history.append(record)
        _progress(args, record, ("d_loss", "g_loss", "d_real", "d_fake"))
        samples = gan.sample(GRID * GRID, _eval_generator(args.seed + 1)).numpy()
        image_grid(
            samples.reshape(-1, side, side),
            os.path.join(out, "samples", f"epoch_{epoch:03d}.png"),
            f"GAN samples after epoch {epoch}: G(z) for {GRID * GRID} fixed z ~ N(0, I)",
        )
    gan_curves(history, steps, len(loader), os.path.join(out, "losses.png"))

    classifier, accuracy = quality_classifier(X_train, y_train, X_test, y_test, args.seed)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    generated = gan.sample(QUALITY_SAMPLES, _eval_generator(args.seed + 3)).numpy()
    quality = sample_quality(classifier, generated, n_classes)
    # The same figure on real test images: what a perfect generator would score.
    quality["real_confidence"] = sample_quality(classifier, X_test, n_classes)["mean_confidence"]
    quality_plot(quality, accuracy, os.path.join(out, "quality.png"))
    state = {
        "model": gan.state_dict(),
        "optimizer_g": opt_g.state_dict(),
        "optimizer_d": opt_d.state_dict(),
        "history": {"epochs": history},
        "quality": {**quality, "histogram": quality["histogram"].tolist()},
        "config": {**_config(args), "latent_dim": latent_dim, "label_smoothing": smoothing},
    }
    fastdl.save(state, os.path.join(out, "checkpoint.fdl"))
    below = "" if accuracy >= CLASSIFIER_THRESHOLD else f"(below_{CLASSIFIER_THRESHOLD})"
    last = history[-1]
    return (
        f"mean_confidence={quality['mean_confidence']:.3f} "
        f"real_confidence={quality['real_confidence']:.3f} "
        f"classes_covered={quality['classes_covered']}/{n_classes} "
        f"class_histogram={','.join(map(str, quality['histogram']))} "
        f"classifier_accuracy={accuracy:.3f}{below} model=gan latent_dim={latent_dim} "
        f"label_smoothing={smoothing:g} d_loss={last['d_loss']:.3f} g_loss={last['g_loss']:.3f}"
    )


# -- figures --------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


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
    """Write ``images`` ``(n, H, W)`` with values in [0, 1] (dark = 1) as a square grid PNG."""
    cols = math.ceil(math.sqrt(len(images)))
    fig = _figure(6, 6.4)
    _show(fig.subplots(), _mosaic(images, cols))
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, format="png", dpi=dpi)
    return path


def reconstruction_grid(
    originals: np.ndarray, recons: np.ndarray, path: str, title: str, dpi: int = 100
) -> str:
    """Rows of ``originals`` ``(n, H, W)``, each row above the row of their reconstructions."""
    cols = GRID
    n, h, w = originals.shape
    rows = []
    for start in range(0, n, cols):
        rows += [originals[start : start + cols], recons[start : start + cols]]
    pairs = [np.concatenate([r, np.full((cols - len(r), h, w), np.nan)]) for r in rows]
    fig = _figure(6, 0.75 * len(pairs) + 0.8)
    ax = fig.subplots()
    _show(ax, _mosaic(np.concatenate(pairs), cols))
    ax.set_yticks([(h + 1) * i + h / 2 for i in range(len(pairs))])
    ax.set_yticklabels(["data", "recon."] * (len(pairs) // 2), fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, format="png", dpi=dpi)
    return path


def elbo_curves(history: list[dict[str, Any]], path: str, likelihood: str) -> str:
    """Train and test ELBO per epoch, and the test ELBO's two terms."""
    epochs = [r["epoch"] for r in history]
    fig = _figure(10, 4)
    left, right = fig.subplots(1, 2)
    for split in ("train", "test"):
        left.plot(epochs, [r[f"{split}_elbo"] for r in history], marker=".", label=split)
    left.set_title("ELBO (higher is better)")
    left.set_ylabel("ELBO per sample (nats)")
    for key, label in (
        ("test_reconstruction", f"reconstruction: -log p(x|z) ({likelihood})"),
        ("test_kl", "KL(q(z|x) || N(0, I))"),
    ):
        right.plot(epochs, [r[key] for r in history], marker=".", label=label)
    right.set_title("the test ELBO's terms (ELBO = -reconstruction - KL)")
    right.set_ylabel("nats per sample")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.savefig(path, format="png", dpi=100)
    return path


def latent_scatter(mu: np.ndarray, labels: np.ndarray, path: str) -> str:
    """The test images' posterior means in a 2-D latent space, coloured by digit."""
    fig = _figure(6, 5.5)
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
    history: list[dict[str, Any]], steps: list[tuple[float, float]], per_epoch: int, path: str
) -> str:
    """Both losses per step (faint) and per epoch, and the discriminator's mean outputs."""
    epochs = [r["epoch"] for r in history]
    fig = _figure(10, 4)
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


def quality_plot(quality: dict[str, Any], accuracy: float, path: str) -> str:
    """Bar chart of the classes a digits classifier gives the generated samples."""
    histogram = quality["histogram"]
    fig = _figure(6, 4)
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
