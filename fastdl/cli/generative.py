"""``fastdl train --model vae|gan``: train a generative model on images and draw what it makes.

``--model vae`` trains :class:`fastdl.models.VAE` and writes, under ``--out``,
``samples/epoch_NNN.png`` (decoded draws of a fixed set of ``z ~ N(0, I)``),
``reconstructions/epoch_NNN.png`` (validation images above their reconstructions),
``elbo.png`` (the ELBO and its two terms per epoch), ``latent.png`` when
``--latent-dim 2`` (the test images' posterior means, coloured by digit) and
``checkpoint.fdl``, and
prints one summary line starting ``test_elbo=``. ``--val-fraction`` of the
training images (default 0.1, stratified by digit) is held out: its ELBO is what
early stopping and ``--scheduler plateau`` watch, and the test ELBO is measured
once, after training.

``--model gan`` trains :func:`fastdl.models.gan_mlp` and writes
``samples/epoch_NNN.png``, ``losses.png`` (both losses and the discriminator's
outputs), ``quality.png`` and ``checkpoint.fdl``. Sample quality: an MLP digits
classifier is trained here (its test accuracy must reach 0.97), labels 1,000
generated samples, and the summary line reports their mean confidence (the mean
top softmax probability; ``real_confidence`` is the same on real test images) and
the class histogram (all classes present = no mode collapse). The GAN makes no
choice on held-out data, so it trains on the whole training split
(``--val-fraction`` does not apply).

Both train through :func:`fastdl.train.fit` with a step of their own (the VAE's
negative ELBO; the GAN's alternating discriminator and generator updates) and
draw their per-epoch grids from a callback. Both print one line per epoch unless
``--no-progress``; the summary line comes last.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fastdl import plot
from fastdl.cli.common import (
    UsageError,
    build_optimizer,
    build_scheduler,
    check_memory,
    config,
    linear_parameters,
    load_data,
    output_folder,
    set_up,
    split_validation,
    square_side,
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
            ("val_fraction", None),
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
    X_train, y_train, X_test, y_test = load_data(args.data, args.seed)
    side = square_side(args, X_train.shape[1], minimum=2, verb="draws")
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


def run(args: argparse.Namespace) -> int:
    """Run ``fastdl train --model vae|gan`` (see the module docstring); returns 0."""
    import fastdl

    start = time.perf_counter()
    _reject(args)
    if args.model == "vae":
        folders = ("samples", "reconstructions")
        files = ("checkpoint.fdl", "elbo.png", "latent.png")
    else:
        folders, files = ("samples",), ("checkpoint.fdl", "losses.png", "quality.png")
    out = output_folder(args, folders, files=files)
    set_up(args)
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
    """One line for the epoch of ``record``, unless --no-progress."""
    if not args.no_progress:
        values = " ".join(f"{k}={record[k]:.4g}" for k in keys)
        print(f"epoch {record['epoch']}/{args.epochs} {values} ({record['seconds']:.1f}s)")


def _after_epoch(draw: Callable[[dict[str, Any]], None]) -> Callable[..., bool]:
    """A :func:`fastdl.train.fit` callback that calls ``draw(record)`` after each epoch
    and never stops training."""

    def callback(history: Any, model: Any, optimizer: Any) -> bool:
        draw(history.epochs[-1])
        return False

    return callback


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


def _elbo_step(vae: Any, optimizer: Any, x: Any, clip: float | None) -> dict[str, float]:
    """One step on the negative ELBO of the batch ``x``; its reconstruction NLL and KL
    per sample."""
    from fastdl.models.vae import kl_divergence, reconstruction_loss
    from fastdl.nn.utils import clip_grad_norm_

    optimizer.zero_grad()
    recon, mu, logvar = vae(x)
    nll = reconstruction_loss(recon, x, vae.likelihood).mean()
    kl = kl_divergence(mu, logvar).mean()
    (nll + kl).backward()
    if clip is not None:
        clip_grad_norm_(vae.parameters(), clip)
    optimizer.step()
    return {"train_reconstruction": nll.item(), "train_kl": kl.item()}


def _vae_figures(
    vae: Any, epoch: int, out: str, shown: tuple[str, np.ndarray], side: int, seed: int
) -> None:
    """The sample grid and the reconstructions of ``shown``, ``(name, images)``."""
    import fastdl

    name = f"epoch_{epoch:03d}.png"
    samples = vae.sample(GRID * GRID, _eval_generator(seed + 1)).numpy()
    plot.image_grid(
        samples.reshape(-1, side, side),
        os.path.join(out, "samples", name),
        f"VAE samples after epoch {epoch}: decoder mean for {GRID * GRID} fixed z ~ N(0, I)",
    )
    which, images = shown
    recons = vae.reconstruct(fastdl.tensor(images)).numpy()
    plot.reconstruction_grid(
        images.reshape(-1, side, side),
        recons.reshape(-1, side, side),
        os.path.join(out, "reconstructions", name),
        f"VAE reconstructions after epoch {epoch} ({which} images, z = mean of q(z|x))",
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
    from fastdl.train import EarlyStopping, fit

    latent_dim = args.latent_dim or VAE_LATENT_DIM
    likelihood = args.likelihood or "bernoulli"
    hidden = args.hidden or VAE_HIDDEN
    features = X_train.shape[1]
    check_memory(
        "--hidden",
        linear_parameters((features, *hidden, 2 * latent_dim))
        + linear_parameters((latent_dim, *hidden[::-1], features)),
    )
    X_train, y_train, X_val, _ = split_validation(args, X_train, y_train)
    vae = models.VAE(features, latent_dim, hidden, likelihood)
    optimizer = build_optimizer(args, vae.parameters())
    loader = _loader(X_train, args.batch_size, args.seed)
    scheduler = build_scheduler(args, optimizer, len(loader))
    shown = ("validation", X_val) if len(X_val) else ("training", X_train)
    shown = (shown[0], shown[1][: GRID * GRID // 2])

    def step(batch: Any) -> dict[str, float]:
        return _elbo_step(vae, optimizer, _as_tensor(batch[0]), args.clip_grad_norm)

    def validate(model: Any) -> dict[str, float]:
        nll, kl = _vae_terms(vae, X_val, _eval_generator(args.seed + 2))
        # val_loss, the negative validation ELBO, is what early stopping and plateau watch.
        return {
            "val_elbo": -(nll + kl),
            "val_reconstruction": nll,
            "val_kl": kl,
            "val_loss": nll + kl,
        }

    def draw(record: dict[str, Any]) -> None:
        record["train_elbo"] = -(record["train_reconstruction"] + record["train_kl"])
        _progress(args, record, ("train_elbo", "val_elbo") if len(X_val) else ("train_elbo",))
        _vae_figures(vae, record["epoch"], out, shown, side, args.seed)

    callbacks = [_after_epoch(draw)]
    if args.early_stopping is not None:
        callbacks.append(EarlyStopping("val_loss", args.early_stopping))
    history = fit(
        vae,
        None,
        optimizer,
        loader,
        args.epochs,
        scheduler=scheduler,
        callbacks=callbacks,
        progress=False,
        step=step,
        validate=validate if len(X_val) else None,
    ).epochs

    # The only look at the test split.
    nll, kl = _vae_terms(vae, X_test, _eval_generator(args.seed + 2))
    test = {"elbo": -(nll + kl), "reconstruction": nll, "kl": kl}
    plot.elbo_curves(history, os.path.join(out, "elbo.png"), likelihood, test=test)
    if latent_dim == 2:
        with fastdl.no_grad():
            mu, _ = vae.eval().encode(fastdl.from_numpy(X_test))
        plot.latent_scatter(mu.numpy(), y_test, os.path.join(out, "latent.png"))
    state = {
        "model": vae.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": {"epochs": history},
        "test": test,
        "config": {**config(args), "latent_dim": latent_dim, "likelihood": likelihood},
    }
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    fastdl.save(state, os.path.join(out, "checkpoint.fdl"))
    last = history[-1]
    stopped = " stopped_early=true" if len(history) < args.epochs else ""
    val = f"val_elbo={last['val_elbo']:.3f} " if len(X_val) else ""
    return (
        f"test_elbo={test['elbo']:.3f} test_reconstruction={test['reconstruction']:.3f} "
        f"test_kl={test['kl']:.3f} {val}model=vae likelihood={likelihood} "
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
        optimizer = build_optimizer(flags, net.parameters())
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
    from fastdl.train import fit

    latent_dim = args.latent_dim or GAN_LATENT_DIM
    smoothing = 0.0 if args.label_smoothing is None else args.label_smoothing
    hidden = args.hidden or GAN_HIDDEN
    features = X_train.shape[1]
    check_memory(
        "--hidden",
        linear_parameters((latent_dim, *hidden, features))
        + linear_parameters((features, *hidden[::-1], 1)),
    )
    gan = models.gan_mlp(features, latent_dim, hidden)
    opt_g, opt_d = _gan_optimizers(args, gan)
    loader = _loader(X_train, args.batch_size, args.seed)
    steps: list[tuple[float, float]] = []

    def step(batch: Any) -> dict[str, float]:
        stats = gan.train_step(_as_tensor(batch[0]), opt_g, opt_d, smoothing)
        steps.append((stats["d_loss"], stats["g_loss"]))
        return stats

    def draw(record: dict[str, Any]) -> None:
        _progress(args, record, ("d_loss", "g_loss", "d_real", "d_fake"))
        samples = gan.sample(GRID * GRID, _eval_generator(args.seed + 1)).numpy()
        epoch = record["epoch"]
        plot.image_grid(
            samples.reshape(-1, side, side),
            os.path.join(out, "samples", f"epoch_{epoch:03d}.png"),
            f"GAN samples after epoch {epoch}: G(z) for {GRID * GRID} fixed z ~ N(0, I)",
        )

    history = fit(
        gan,
        None,
        None,
        loader,
        args.epochs,
        callbacks=[_after_epoch(draw)],
        progress=False,
        step=step,
    ).epochs
    plot.gan_curves(history, steps, len(loader), os.path.join(out, "losses.png"))

    classifier, accuracy = quality_classifier(X_train, y_train, X_test, y_test, args.seed)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    generated = gan.sample(QUALITY_SAMPLES, _eval_generator(args.seed + 3)).numpy()
    quality = sample_quality(classifier, generated, n_classes)
    # The same figure on real test images: what a perfect generator would score.
    quality["real_confidence"] = sample_quality(classifier, X_test, n_classes)["mean_confidence"]
    plot.quality_plot(quality, accuracy, os.path.join(out, "quality.png"))
    state = {
        "model": gan.state_dict(),
        "optimizer_g": opt_g.state_dict(),
        "optimizer_d": opt_d.state_dict(),
        "history": {"epochs": history},
        "quality": {**quality, "histogram": quality["histogram"].tolist()},
        "config": {**config(args), "latent_dim": latent_dim, "label_smoothing": smoothing},
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
