"""What the subcommands share: the usage error, argument types, data and the builders
of the optimizer, the scheduler and the run's output folder.

Everything heavy (fastdl's kernels, matplotlib, sklearn) is imported inside the
functions that need it, so ``fastdl --help`` and ``fastdl info`` start fast.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import Any, NoReturn

import numpy as np

OPTIMIZERS = ("sgd", "adam", "adamw", "adagrad", "rmsprop")
# Learning rate when --lr is not given.
DEFAULT_LR = {"sgd": 0.1, "adam": 3e-3, "adamw": 3e-3, "adagrad": 1e-2, "rmsprop": 1e-3}
SCHEDULERS = ("none", "step", "cosine", "exponential", "onecycle", "plateau")


class UsageError(Exception):
    """A bad flag, path or file: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one-line UsageErrors (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


# -- argument types ---------------------------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def batch_size(text: str) -> int | str:
    return "full" if text == "full" else positive_int(text)


def hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes such as 128,64, got {text!r}"
        ) from None
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def device(text: str) -> str:
    if text in ("cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


# -- the run ----------------------------------------------------------------------------------


def output_folder(
    args: argparse.Namespace,
    subfolders: tuple[str, ...] = (),
    create: bool = True,
    default: str | None = None,
) -> str:
    """``--out`` (else ``default``, else ``runs/<timestamp>``), created with its
    ``subfolders`` unless ``create`` is False; a folder that cannot be made is a
    UsageError."""
    out = args.out or default or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    try:
        if create:
            for folder in subfolders or ("",):
                os.makedirs(os.path.join(out, folder), exist_ok=True)
    except OSError as error:
        raise UsageError(f"fastdl {args.command}: --out {out!r}: {error.strerror}") from None
    return out


def set_up(args: argparse.Namespace) -> None:
    """Apply --backend, --threads and --seed."""
    import fastdl

    if args.backend:
        fastdl.use_backend(args.backend)
    if args.threads:
        fastdl.set_num_threads(args.threads)
    fastdl.manual_seed(args.seed)


def config(args: argparse.Namespace) -> dict[str, Any]:
    """The flags as saved in a checkpoint's ``"config"``."""
    saved = {k: v for k, v in vars(args).items() if k != "command"}
    if saved["hidden"] is not None:
        saved["hidden"] = list(saved["hidden"])
    return saved


# -- data -------------------------------------------------------------------------------------


def load_data(spec: str, seed: int) -> tuple[np.ndarray, ...]:
    """``(X_train, y_train, X_test, y_test)`` of ``--data`` (digits, spirals, idx:DIR)."""
    from fastdl import data

    if spec == "digits":
        return tuple(data.load_digits())
    if spec == "spirals":
        from sklearn.model_selection import train_test_split

        X, y = data.make_spirals(n_samples=600, n_classes=3, noise=0.2, seed=seed)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, random_state=seed, stratify=y
        )
        return X_train, y_train, X_test, y_test
    if spec.startswith("idx:"):
        directory = spec[4:]
        if not os.path.isdir(directory):
            raise UsageError(f"fastdl train: --data {spec}: {directory!r} is not a directory")
        try:
            X_train, y_train = data.load_idx(directory, kind="train")
            X_test, y_test = data.load_idx(directory, kind="test")
        except (OSError, ValueError) as error:
            raise UsageError(f"fastdl train: --data {spec}: {error}") from None
        return X_train, y_train, X_test, y_test
    raise UsageError(f"fastdl train: --data must be digits, spirals or idx:DIR, got {spec!r}")


def square_side(args: argparse.Namespace, features: int, minimum: int, verb: str) -> int:
    """The side of the square images ``features`` pixels make, or a UsageError."""
    side = math.isqrt(features)
    if side * side != features or side < minimum:
        raise UsageError(
            f"fastdl train: --model {args.model} {verb} square images; --data {args.data} has "
            f"{features} features per sample"
        )
    return side


# -- optimizer and scheduler ------------------------------------------------------------------


def build_optimizer(args: argparse.Namespace, params: Any) -> Any:
    """The optimizer named by --optimizer with --lr, --momentum and --weight-decay."""
    from fastdl import optim

    name = args.optimizer
    cls = {
        "sgd": optim.SGD,
        "adam": optim.Adam,
        "adamw": optim.AdamW,
        "adagrad": optim.Adagrad,
        "rmsprop": optim.RMSprop,
    }[name]
    if args.momentum is not None and name not in ("sgd", "rmsprop"):
        raise UsageError(f"fastdl train: --momentum applies to sgd and rmsprop, not {name}")
    kwargs: dict[str, Any] = {"lr": DEFAULT_LR[name] if args.lr is None else args.lr}
    if args.weight_decay is not None:
        kwargs["weight_decay"] = args.weight_decay
    if name == "sgd":
        kwargs["momentum"] = 0.9 if args.momentum is None else args.momentum
    elif name == "rmsprop" and args.momentum is not None:
        kwargs["momentum"] = args.momentum
    try:
        return cls(params, **kwargs)
    except ValueError as error:
        raise UsageError(f"fastdl train: --optimizer {name}: {error}") from None


def build_scheduler(args: argparse.Namespace, optimizer: Any, steps_per_epoch: int) -> Any:
    """The scheduler named by --scheduler (see ``train.SCHEDULER_HELP``), or None."""
    from fastdl.optim import lr_scheduler

    name, epochs = args.scheduler, args.epochs
    if name == "none":
        return None
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=3)
    max_lr = optimizer.param_groups[0]["lr"]
    if not max_lr > 0:
        raise UsageError("fastdl train: --scheduler onecycle needs a positive --lr (its peak)")
    # Cycle beta1, or a momentum in use: rmsprop's default momentum 0 stays off.
    cycle = "betas" in optimizer.defaults or optimizer.defaults.get("momentum", 0) > 0
    return lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=max_lr,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        cycle_momentum=cycle,
    )
