"""``fastdl train``: train a model and report its test accuracy.

``fastdl train`` with no arguments trains an MLP 64-128-64-10 (ReLU, Adam) on the
bundled 8x8 digits (``--model cnn|resnet|lstm`` picks a LeNet-style CNN, a small
ResNet, or an LSTM reading the image rows as a sequence), writes a checkpoint and
a history plot under ``--out``, and prints one summary line with
``test_accuracy=``. ``--val-fraction`` of the training data (default 0.1,
stratified by class, drawn with ``--seed``) is held out as the validation split:
early stopping, ``--scheduler plateau`` and the history's ``val`` curves use it,
and the test split is evaluated once, after training. Errors in flags, paths or
files print one line and exit with status 2. ``--model vae|gan`` trains a
generative model instead (see :mod:`fastdl.cli.generative`).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from fastdl.cli.common import (
    DEFAULT_LR,
    OPTIMIZERS,
    SCHEDULERS,
    UsageError,
    batch_size,
    build_optimizer,
    build_scheduler,
    check_memory,
    config,
    device,
    fraction,
    hidden_sizes,
    linear_parameters,
    load_data,
    non_negative_float,
    output_folder,
    positive_float,
    positive_int,
    seed,
    set_up,
    split_validation,
    square_side,
)

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
MODELS = ("mlp", "cnn", "resnet", "lstm", "vae", "gan", "transformer")
GENERATIVE = ("vae", "gan")
CUDA_MODELS = ("mlp", "cnn", "resnet", "lstm")  # the models the GPU trains
MODEL_HELP = (
    "mlp (default; --hidden, --activation) | cnn = models.lenet, LeNet-5 on 28x28 images "
    "and a two-stage 3x3 LeNet on 8x8 | resnet = models.resnet, BasicBlock stages of 16 "
    "and 32 channels | lstm = models.lstm_classifier, hidden 64, reading each image row as "
    "one step; the image models need square images (digits, idx:DIR) | vae = models.VAE "
    "(--latent-dim, default 8; --hidden, default 256,128; --likelihood) writing sample and "
    "reconstruction grids and the ELBO curve | gan = models.gan_mlp (--latent-dim, default 16; "
    "--hidden of the generator, default 256,512; --label-smoothing) writing sample grids, the "
    "loss curves and a classifier's verdict on 1,000 samples | transformer = "
    "models.transformer_lm, a character language model (--context) on shakespeare or "
    "text:FILE, printing the validation loss per epoch and a generated sample"
)
SCHEDULER_HELP = (
    "learning-rate schedule (default none): step = StepLR(step_size=max(1, epochs // 3), "
    "gamma=0.1); cosine = CosineAnnealingLR(T_max=epochs); exponential = "
    "ExponentialLR(gamma=0.9); onecycle = OneCycleLR(max_lr=LR, stepped per batch, "
    "beta1 or a non-zero momentum cycled 0.95-0.85); plateau = "
    "ReduceLROnPlateau(factor=0.1, patience=3) on the validation loss (the training loss "
    "with --val-fraction 0)"
)


def add_parser(sub: Any) -> None:
    """Add ``train`` and its flags to the subparsers ``sub``."""
    train = sub.add_parser("train", help="train a model and report its test accuracy")
    train.add_argument(
        "--data",
        default="digits",
        help="digits | spirals | idx:DIR (MNIST-style IDX files); default digits; for "
        "--model transformer: shakespeare (the bundled text, its default) | text:FILE "
        "(a UTF-8 file)",
    )
    train.add_argument("--model", choices=MODELS, default="mlp", help=MODEL_HELP)
    train.add_argument(
        "--latent-dim", type=positive_int, default=None, help="of vae (default 8) or gan (16)"
    )
    train.add_argument(
        "--likelihood",
        choices=("bernoulli", "gaussian"),
        default=None,
        help="of vae: bernoulli = BCE on logits (default), gaussian = squared error",
    )
    train.add_argument(
        "--label-smoothing",
        type=non_negative_float,
        default=None,
        metavar="S",
        help="of gan: real targets 1 - S for the discriminator, 0 <= S < 1 (default 0)",
    )
    train.add_argument(
        "--hidden",
        type=hidden_sizes,
        default=None,
        help="hidden layer sizes of the mlp (default 128,64), vae or gan, comma-separated",
    )
    train.add_argument(
        "--activation", choices=ACTIVATIONS, default=None, help="of the mlp (default relu)"
    )
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    train.add_argument(
        "--lr",
        type=non_negative_float,
        default=None,
        help="learning rate (default "
        + ", ".join(f"{v:g} for {k}" for k, v in DEFAULT_LR.items())
        + "); the peak lr with --scheduler onecycle",
    )
    train.add_argument(
        "--momentum",
        type=non_negative_float,
        default=None,
        help="momentum of sgd (default 0.9) or rmsprop (default 0)",
    )
    train.add_argument(
        "--weight-decay",
        type=non_negative_float,
        default=None,
        metavar="WD",
        help="L2 penalty added to the gradient (sgd, adam, adagrad, rmsprop; default 0) or "
        "decoupled weight decay (adamw; default 0.01)",
    )
    train.add_argument("--scheduler", choices=SCHEDULERS, default="none", help=SCHEDULER_HELP)
    train.add_argument(
        "--clip-grad-norm",
        type=positive_float,
        default=None,
        metavar="MAX",
        help="rescale the gradients so their total 2-norm is at most MAX before each step",
    )
    train.add_argument(
        "--early-stopping",
        type=positive_int,
        default=None,
        metavar="PATIENCE",
        help="stop when the validation loss has not improved for PATIENCE epochs",
    )
    train.add_argument(
        "--val-fraction",
        type=fraction,
        default=None,
        metavar="F",
        help="hold out F of the training data, stratified by class, as the validation "
        "split of early stopping, plateau and the val curves (default 0.1; 0 = none; "
        "not for gan); the test split is evaluated once, after training",
    )
    train.add_argument(
        "--epochs", type=positive_int, default=None, help="default 30; 10 for transformer"
    )
    train.add_argument(
        "--context",
        type=positive_int,
        default=None,
        help="characters the transformer reads per window (default 128)",
    )
    train.add_argument(
        "--batch-size",
        type=batch_size,
        default=32,
        help="samples per step: 'full' = full-batch gradient descent (one step per epoch), "
        "1 = stochastic gradient descent (one step per sample), N = mini-batch (default 32)",
    )
    train.add_argument("--seed", type=seed, default=0)
    train.add_argument(
        "--backend",
        choices=("numba", "reference"),
        default=None,
        help="CPU backend (default: FASTDL_BACKEND or numba)",
    )
    train.add_argument(
        "--device",
        type=device,
        default="cpu",
        help="cpu (default) | cuda | cuda:N; the GPU trains --model " + ", ".join(CUDA_MODELS),
    )
    train.add_argument("--threads", type=positive_int, default=None)
    train.add_argument("--out", default=None, help="output folder (default runs/<timestamp>)")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument(
        "--compile",
        action="store_true",
        help="record each batch shape's training step once, then replay it (fastdl.compile)",
    )
    train.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=None,
        metavar="N",
        help="write the full training state to OUT/checkpoint.fdl every N steps (atomically)",
    )
    train.add_argument(
        "--resume",
        default=None,
        metavar="PATH",
        help="continue the run saved in checkpoint PATH (same flags; bit-identical result)",
    )
    train.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over the ranks of `mpiexec -n N fastdl train ...` "
        "(--batch-size is per rank; rank 0 prints and writes)",
    )


def _check_device(args: argparse.Namespace) -> None:
    """--device cuda[:N]: a UsageError naming why it cannot train there (no GPU, no such
    GPU, or a model or mode the GPU path does not serve)."""
    device = args.device
    if device == "cpu":
        return
    from fastdl import cuda

    where = f"fastdl train: --device {device}"
    reason = cuda.unavailable_reason()
    if reason is not None:
        raise UsageError(f"{where}: {reason}")
    index, count = int(device[5:] or 0), cuda.device_count()
    if index >= count:
        raise UsageError(f"{where}: no such GPU ({count} found)")
    if index != cuda.current_device():
        raise UsageError(
            f"{where}: fastdl trains on the current GPU (cuda:{cuda.current_device()})"
        )
    if args.model not in CUDA_MODELS:
        raise UsageError(
            f"{where}: trains --model {' or '.join(CUDA_MODELS)} on the GPU, not {args.model}"
        )
    if getattr(args, "distributed", False):
        raise UsageError(f"{where}: --distributed runs on the CPU only")


def _build_model(
    args: argparse.Namespace, arrays: tuple[np.ndarray, ...], n_classes: int
) -> tuple[Any, tuple[np.ndarray, ...]]:
    """The model --model names, and ``arrays`` (inputs) reshaped to what it reads."""
    from fastdl import models

    for flag in ("latent_dim", "likelihood", "label_smoothing"):
        if getattr(args, flag) is not None:
            raise UsageError(
                f"fastdl train: --{flag.replace('_', '-')} applies to --model vae or gan, "
                f"not {args.model}"
            )
    features = arrays[0].shape[1]
    if args.model == "mlp":
        hidden = (128, 64) if args.hidden is None else args.hidden
        check_memory("--hidden", linear_parameters((features, *hidden, n_classes)))
        activation = args.activation or "relu"
        return models.mlp(features, hidden, n_classes, activation), arrays
    for flag in ("hidden", "activation"):
        if getattr(args, flag) is not None:
            raise UsageError(f"fastdl train: --{flag} applies to --model mlp, not {args.model}")
    side = square_side(args, features, minimum=4, verb="reads")
    if args.model == "lstm":
        model = models.lstm_classifier(input_size=side, num_classes=n_classes)
        shape: tuple[int, ...] = (side, side)
    else:
        build = models.lenet if args.model == "cnn" else models.resnet
        model = build((1, side, side), num_classes=n_classes)
        shape = (1, side, side)
    return model, tuple(X.reshape(-1, *shape) for X in arrays)


def run(args: argparse.Namespace) -> int:
    """Run ``fastdl train`` (see the module docstring); returns the exit status."""
    from fastdl import nn, plot
    from fastdl.data import DataLoader, TensorDataset
    from fastdl.train import EarlyStopping, evaluate, fit, save_training_state

    _check_device(args)
    _resolve_val_fraction(args)
    if args.model == "transformer":
        from fastdl.cli import language

        return language.run(args)
    if args.context is not None:
        raise UsageError(
            f"fastdl train: --context applies to --model transformer, not {args.model}"
        )
    if args.epochs is None:
        args.epochs = 30
    resume = _read_resume(args)  # before any work: a bad checkpoint or flag exits 2
    if args.model in GENERATIVE:
        if getattr(args, "distributed", False):
            raise UsageError(f"fastdl train: --distributed does not support --model {args.model}")
        from fastdl.cli import generative

        return generative.run(args)
    start = time.perf_counter()
    dist = _distributed(args)
    main = dist is None or dist.is_main()
    out = output_folder(args, create=main, files=("checkpoint.fdl", "history.png"))
    set_up(args)

    X_train, y_train, X_test, y_test = load_data(args.data, args.seed)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    X_train, y_train, X_val, y_val = split_validation(args, X_train, y_train)
    model, (X_train, X_val, X_test) = _build_model(args, (X_train, X_val, X_test), n_classes)
    model.to(args.device)  # before the optimizer: it lays the parameters out where they are
    net = model if dist is None else dist.DistributedDataParallel(model)
    optimizer = build_optimizer(args, net.parameters())
    clip = args.clip_grad_norm
    if dist is not None:  # average the gradients before clipping them, in optimizer.step
        net.hook_optimizer(optimizer, clip_grad_norm=clip)
        clip = None
    shard = None if dist is None else (dist.rank(), dist.world_size())
    loss_fn = nn.CrossEntropyLoss()
    train_loader = DataLoader(
        TensorDataset(X_train, y_train),
        batch_size=args.batch_size,
        shuffle=True,
        seed=args.seed,
        shard=shard,
    )
    val_loader = None
    if len(X_val):
        val_loader = DataLoader(TensorDataset(X_val, y_val), batch_size=1024)
    test_loader = DataLoader(TensorDataset(X_test, y_test), batch_size=1024)
    scheduler = build_scheduler(args, optimizer, len(train_loader))
    callbacks = [] if args.early_stopping is None else [EarlyStopping(patience=args.early_stopping)]
    if main:
        print(_regime(args.batch_size, len(X_train), len(train_loader), len(X_val)))

    if resume is not None:
        resume = _restore(args, resume, model, optimizer, scheduler, train_loader, callbacks)
    every = args.checkpoint_every if main else None  # only rank 0 writes checkpoints
    fit_start = time.perf_counter()
    history = fit(
        net,
        loss_fn,
        optimizer,
        train_loader,
        args.epochs,
        val_loader=val_loader,
        scheduler=scheduler,
        callbacks=callbacks,
        progress=not args.no_progress and main,
        clip_grad_norm=clip,
        checkpoint_every=every,
        checkpoint_path=os.path.join(out, "checkpoint.fdl") if every else None,
        resume_from=resume,
        checkpoint_extra={"config": config(args)},
        compile=args.compile,
    )
    fit_seconds = time.perf_counter() - fit_start
    test = evaluate(model, test_loader, loss_fn)  # the only look at the test split
    if not main:
        return 0

    checkpoint = os.path.join(out, "checkpoint.fdl")
    # A full training state (resumable), of the unwrapped model.
    save_training_state(
        checkpoint, model, optimizer, scheduler, train_loader, epoch=len(history) + 1,
        global_step=len(history) * len(train_loader), history=history, callbacks=callbacks,
        extra={"config": config(args)},
    )  # fmt: skip
    plot.history(history, os.path.join(out, "history.png"), test=test)
    stopped = " stopped_early=true" if len(history) < args.epochs else ""
    last = history.epochs[-1]
    val = "" if val_loader is None else f"val_accuracy={last['val_accuracy']:.3f} "
    print(
        f"test_accuracy={test['accuracy']:.3f} test_loss={test['loss']:.4f} {val}"
        f"model={args.model} train_loss={last['train_loss']:.4f} epochs={len(history)}{stopped} "
        f"optimizer={args.optimizer} final_lr={optimizer.param_groups[0]['lr']:.3g} "
        f"scheduler={args.scheduler} batch_size={args.batch_size} "
        f"backend={_backend_name(args.device)} seconds={time.perf_counter() - start:.1f} "
        f"out={out}" + _throughput(dist, train_loader, len(history), fit_seconds)
    )
    return 0


def _resolve_val_fraction(args: argparse.Namespace) -> None:
    """Default --val-fraction to 0.1 (the GAN takes none), and refuse what needs a
    validation split without one."""
    if args.model == "gan":
        return
    if args.val_fraction is None:
        args.val_fraction = 0.1
    if args.val_fraction == 0:
        if args.early_stopping is not None:
            raise UsageError("fastdl train: --early-stopping needs a --val-fraction above 0")
        if args.model == "vae" and args.scheduler == "plateau":
            raise UsageError(
                "fastdl train: --scheduler plateau with --model vae needs a --val-fraction above 0"
            )


def _backend_name(device: str) -> str:
    import fastdl

    return fastdl.backends.current() if device == "cpu" else "cuda"


def _distributed(args: argparse.Namespace) -> Any:
    """``fastdl.distributed``, initialised, under ``--distributed``; else None."""
    if not getattr(args, "distributed", False):
        return None
    from fastdl import distributed

    distributed.init(threads=args.threads)
    return distributed


def _throughput(dist: Any, loader: Any, epochs: int, seconds: float) -> str:
    """`` world_size=N samples_per_s=S`` for the summary line of a distributed run."""
    if dist is None:
        return ""
    world = dist.world_size()
    samples = -(-len(loader.dataset) // world) * epochs  # each rank's padded shard
    return f" world_size={world} samples_per_s={samples * world / max(seconds, 1e-9):.0f}"


def _regime(batch_size: int | str, n_samples: int, steps: int, held_out: int) -> str:
    """One line naming the gradient-descent regime the batch size gives, and the
    number of samples held out for validation."""
    per_epoch = f"{steps} step{'s' if steps != 1 else ''} per epoch"
    if batch_size == "full" or batch_size >= n_samples:
        kind = "full-batch gradient descent: each step uses all"
    elif batch_size == 1:
        kind = "stochastic gradient descent: each step uses one of the"
    else:
        kind = f"mini-batch gradient descent: each step uses {batch_size} of the"
    return (
        f"regime: {kind} {n_samples} training samples, {per_epoch}; "
        f"{held_out} held out for validation"
    )


# Flags that may differ between a run and its --resume.
_RESUME_FREE = (
    "out",
    "no_progress",
    "threads",
    "backend",
    "device",
    "checkpoint_every",
    "resume",
)


def _read_resume(args: argparse.Namespace) -> dict[str, Any] | None:
    """The checkpoint --resume names, read whole and checked against the flags."""
    import fastdl

    if args.model in GENERATIVE and args.checkpoint_every is not None:
        raise UsageError(f"fastdl train: --checkpoint-every does not support --model {args.model}")
    if args.resume is None:
        return None
    where = f"fastdl train: --resume {args.resume}"
    if args.model in GENERATIVE or getattr(args, "distributed", False):
        what = f"--model {args.model}" if args.model in GENERATIVE else "--distributed"
        raise UsageError(f"{where}: resuming is not supported with {what}")
    try:
        state = fastdl.load(args.resume)
    except (OSError, ValueError) as error:
        raise UsageError(f"{where}: {error}") from None
    saved = state.get("config") if isinstance(state, dict) else None
    if not isinstance(saved, dict):
        raise UsageError(f"{where}: not a checkpoint of fastdl train (no config)")
    now = config(args)
    differ = [
        f"--{k.replace('_', '-')} {saved.get(k)!r} (now {now.get(k)!r})"
        for k in sorted(set(saved) | set(now))
        if k not in _RESUME_FREE and saved.get(k) != now.get(k)
    ]
    if differ:
        raise UsageError(f"{where}: the checkpoint was made with " + ", ".join(differ))
    return state


def _restore(args: argparse.Namespace, state: dict[str, Any], *objects: Any) -> Any:
    """Load ``state`` into model, optimizer, scheduler, loader, callbacks (all or nothing)."""
    from fastdl.train import load_training_state

    model, optimizer, scheduler, loader, callbacks = objects
    try:
        return load_training_state(state, model, optimizer, scheduler, loader, callbacks=callbacks)
    except ValueError as error:
        raise UsageError(f"fastdl train: --resume {args.resume}: {error}") from None
