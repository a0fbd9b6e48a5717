"""What the subcommands share: the usage error, argument types, data and the builders
of the optimizer, the scheduler and the run's output folder.

Everything heavy (fastdl's kernels, matplotlib, sklearn) is imported inside the
functions that need it, so ``fastdl --help`` and ``fastdl info`` start fast.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from typing import Any, NoReturn

import numpy as np

OPTIMIZERS = ("sgd", "adam", "adamw", "adagrad", "rmsprop", "adadelta", "adamax", "nadam", "radam")
# Learning rate when --lr is not given.
DEFAULT_LR = {
    "sgd": 0.1,
    "adam": 3e-3,
    "adamw": 3e-3,
    "adagrad": 1e-2,
    "rmsprop": 1e-3,
    "adadelta": 1.0,  # PyTorch's defaults from here on
    "adamax": 2e-3,
    "nadam": 2e-3,
    "radam": 1e-3,
}
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


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**64), what :func:`fastdl.manual_seed` takes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**64), got {text!r}")
    return value


def fraction(text: str) -> float:
    """A fraction in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


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
    files: tuple[str, ...] = (),
) -> str:
    """``--out`` (else ``default``, else ``runs/<timestamp>``), created with its
    ``subfolders`` and probed unless ``create`` is False.

    The probe writes and removes a temporary file in each folder and checks that
    each of ``files`` (paths under the folder the run will write) is absent or a
    writable regular file, so a run that could not save its results fails before
    it starts. Any failure is a UsageError naming the path.
    """
    out = args.out or default or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    if not create:
        return out
    where = f"fastdl {args.command}: --out {out}"
    for folder in subfolders or ("",):
        path = os.path.join(out, folder)
        try:
            os.makedirs(path, exist_ok=True)
            with tempfile.TemporaryFile(dir=path, prefix=".fastdl-probe-"):
                pass
        except OSError as error:
            raise UsageError(f"{where}: cannot write to {path}: {_reason(error)}") from None
    for name in files:
        path = os.path.join(out, name)
        if not os.path.lexists(path):
            continue
        if os.path.isdir(path):
            raise UsageError(f"{where}: {path} is a directory; the run writes a file there")
        if not os.path.isfile(path) or not os.access(path, os.W_OK):
            raise UsageError(f"{where}: {path} is not a writable regular file")
    return out


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def check_backend(args: argparse.Namespace) -> None:
    """A UsageError when ``FASTDL_BACKEND`` names no CPU backend (and no --backend
    overrides it)."""
    if getattr(args, "backend", None):
        return
    import fastdl

    try:
        fastdl.backends.current()
    except ValueError as error:
        raise UsageError(f"fastdl: {error}") from None


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
        split = (X_train, y_train, X_test, y_test)
        check_idx_split(spec, split)
        return split
    raise UsageError(f"fastdl train: --data must be digits, spirals or idx:DIR, got {spec!r}")


def check_idx_split(spec: str, split: tuple[np.ndarray, ...]) -> None:
    """A UsageError when IDX data has no samples, or test images of another size."""
    X_train, _, X_test, _ = split
    for name, X in (("training", X_train), ("test", X_test)):
        if len(X) == 0:
            raise UsageError(f"fastdl train: --data {spec}: the {name} files hold no samples")
    if X_train.shape[1:] != X_test.shape[1:]:
        raise UsageError(
            f"fastdl train: --data {spec}: test images have {X_test.shape[1]} pixels, "
            f"training images {X_train.shape[1]}"
        )


def validation_split(
    X: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_val, y_val)``: ``fraction`` of ``X`` held out, stratified.

    Each class gives ``fraction`` of its samples, rounded so the held-out total is
    ``round(fraction * len(X))`` (the largest remainders round up); which samples is
    drawn with ``seed``. Both parts keep the original order.

    Example:
        >>> X, y = np.arange(20.0).reshape(10, 2), np.array([0] * 5 + [1] * 5)
        >>> [len(a) for a in validation_split(X, y, 0.2, seed=0)]
        [8, 8, 2, 2]
    """
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = fraction * counts
    taken = np.floor(quota).astype(np.int64)
    short = int(round(fraction * len(y))) - int(taken.sum())
    if short > 0:  # largest remainders first, ties in a seeded order
        order = np.lexsort((rng.permutation(len(classes)), -(quota - taken)))
        taken[order[:short]] += 1
    held = np.zeros(len(y), dtype=bool)
    for label, count in zip(classes, taken):
        members = np.flatnonzero(y == label)
        held[rng.choice(members, size=int(count), replace=False)] = True
    return X[~held], y[~held], X[held], y[held]


def split_validation(args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> tuple:
    """``(X_train, y_train, X_val, y_val)``: ``--val-fraction`` of the training data
    held out (see :func:`validation_split`); a UsageError when either part would be
    empty."""
    share = args.val_fraction
    if share == 0:
        return X, y, X[:0], y[:0]
    X_train, y_train, X_val, y_val = validation_split(X, y, share, args.seed)
    if len(X_val) == 0 or len(X_train) == 0:
        part = "validation" if len(X_val) == 0 else "training"
        raise UsageError(
            f"fastdl train: --val-fraction {share:g} of {len(X)} training samples leaves the "
            f"{part} split empty"
        )
    return X_train, y_train, X_val, y_val


def check_memory(flag: str, parameters: int) -> None:
    """A UsageError, before anything is allocated, when a model of ``parameters``
    float32 parameters cannot fit in the memory available: training keeps about
    four copies (the weights, their gradients and two optimizer moments)."""
    needed = 16 * parameters
    available = available_memory()
    if available is not None and needed > available:
        raise UsageError(
            f"fastdl train: {flag}: the model has {parameters:,} parameters and needs about "
            f"{_bytes(needed)} to train, more than the {_bytes(available)} of memory available"
        )


def linear_parameters(sizes: tuple[int, ...]) -> int:
    """Weights and biases of a chain of Linear layers through ``sizes``."""
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux's MemAvailable, else the
    physical memory), or None where neither can be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _bytes(n: int) -> str:
    units = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = min(int(math.log(max(n, 1), 1024)), len(units) - 1)
    return f"{n / 1024**power:.1f} {units[power]}"


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
        "adadelta": optim.Adadelta,
        "adamax": optim.Adamax,
        "nadam": optim.NAdam,
        "radam": optim.RAdam,
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
