"""``fastdl train --model transformer``: a character-level Transformer language model.

Trains :func:`fastdl.models.transformer_lm` (4 pre-norm blocks of width 128, 4 heads,
context ``--context``, default 128) on the bundled Tiny Shakespeare, or on the UTF-8
file of ``--data text:FILE``. The last ``--val-fraction`` of the text (default 0.1) is
the validation split; each epoch is ``STEPS_PER_EPOCH`` batches of random windows, and
the validation loss (mean nats per character over every full window of the split) is
printed after it. At the end it prints a sample of ``SAMPLE_LENGTH`` characters
generated from a newline (the text's first character if it has none), then one
summary line starting ``val_loss=``, and writes under ``--out``: ``loss.png`` (train
and validation loss per epoch), ``sample.txt`` and ``model.fdl`` (the model's
state_dict and the vocabulary).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from fastdl.cli.common import (
    UsageError,
    build_optimizer,
    build_scheduler,
    config,
    output_folder,
    set_up,
)

STEPS_PER_EPOCH = 100
EPOCHS = 10  # with the defaults below: under 2.1 nats per character in about 4 minutes
DEFAULT_LR = 3e-3
DEFAULT_CONTEXT = 128
SAMPLE_LENGTH = 500
EVAL_BATCH = 64

# Flags that belong to other models.
_OTHER_FLAGS = {
    "hidden": None,
    "activation": None,
    "latent_dim": None,
    "likelihood": None,
    "label_smoothing": None,
    "checkpoint_every": None,
    "resume": None,
    "distributed": False,
}


def _reject(args: argparse.Namespace) -> None:
    for flag, unset in _OTHER_FLAGS.items():
        if getattr(args, flag, unset) != unset:
            raise UsageError(
                f"fastdl train: --{flag.replace('_', '-')} does not apply to --model transformer"
            )
    if args.batch_size == "full":
        raise UsageError("fastdl train: --batch-size full does not apply to --model transformer")
    if args.device != "cpu":
        raise UsageError("fastdl train: --model transformer trains on the CPU")


def _load_text(spec: str) -> str:
    from fastdl.data import text

    if spec in ("digits", "shakespeare"):  # digits: the flag's default, for image models
        return text.shakespeare()
    if spec.startswith("text:"):
        path = spec[5:]
        if not os.path.isfile(path):
            raise UsageError(f"fastdl train: --data {spec}: {path!r} is not a file")
        try:
            return text.read_text(path)
        except (OSError, ValueError) as error:
            raise UsageError(f"fastdl train: --data: {error}") from None
    raise UsageError(
        f"fastdl train: --model transformer trains on shakespeare or text:FILE, not --data {spec}"
    )


def _split(ids: np.ndarray, fraction: float, context: int) -> tuple[np.ndarray, np.ndarray]:
    n_val = int(round(len(ids) * fraction))
    if n_val and n_val < context + 1:
        raise UsageError(
            f"fastdl train: --val-fraction {fraction} leaves {n_val} characters for validation; "
            f"a window of --context {context} needs {context + 1}"
        )
    train = ids[: len(ids) - n_val]
    if len(train) < context + 1:
        raise UsageError(
            f"fastdl train: the text has {len(ids)} characters; training with --context "
            f"{context} needs at least {context + 1} outside the validation split"
        )
    return train, ids[len(ids) - n_val :]


def mean_loss(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy (nats per character) of ``model`` over windows ``x -> y``."""
    import fastdl
    from fastdl.nn import functional as F

    model.eval()
    total = 0.0
    with fastdl.no_grad():
        for i in range(0, len(x), EVAL_BATCH):
            logits = model(fastdl.from_numpy(x[i : i + EVAL_BATCH]))
            target = fastdl.from_numpy(y[i : i + EVAL_BATCH])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
            total += loss.item() * target.numel()
    model.train()
    return total / y.size


def run(args: argparse.Namespace) -> int:
    """Run ``fastdl train --model transformer``; returns the exit status."""
    import fastdl
    from fastdl import models, plot
    from fastdl.data.text import CharVocab, CharWindows, char_blocks
    from fastdl.nn import functional as F
    from fastdl.train import EarlyStopping, fit

    _reject(args)
    start = time.perf_counter()
    context = DEFAULT_CONTEXT if args.context is None else args.context
    args.epochs = EPOCHS if args.epochs is None else args.epochs
    corpus = _load_text(args.data)
    out = output_folder(args, create=True, files=("loss.png", "sample.txt", "model.fdl"))
    set_up(args)
    if args.lr is None:
        args.lr = DEFAULT_LR

    vocab = CharVocab(corpus)
    train_ids, val_ids = _split(vocab.encode(corpus), args.val_fraction, context)
    windows = CharWindows(train_ids, context, args.batch_size, STEPS_PER_EPOCH, seed=args.seed)
    val = char_blocks(val_ids, context) if len(val_ids) else None
    model = models.transformer_lm(len(vocab), context=context)
    optimizer = build_optimizer(args, model.parameters())
    scheduler = build_scheduler(args, optimizer, len(windows))
    clip = args.clip_grad_norm

    def step(batch: Any) -> dict[str, float]:
        x, y = (fastdl.from_numpy(a) for a in batch)
        optimizer.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
        loss.backward()
        if clip is not None:
            fastdl.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return {"train_loss": loss.item()}

    def validate(_: Any) -> dict[str, float]:
        return {"val_loss": mean_loss(model, *val)}

    def report(history: Any, *_: Any) -> bool:
        record = history.epochs[-1]
        if not args.no_progress:
            shown = " ".join(
                f"{key}={record[key]:.4f}" for key in ("train_loss", "val_loss") if key in record
            )
            print(f"epoch {record['epoch']}: {shown}", flush=True)
        return False

    callbacks = [report]
    if args.early_stopping is not None:
        callbacks.append(EarlyStopping("val_loss", args.early_stopping))
    history = fit(
        model,
        None,
        optimizer,
        windows,
        args.epochs,
        scheduler=scheduler,
        callbacks=callbacks,
        progress=False,
        step=step,
        validate=validate if val is not None else None,
    ).epochs

    start_char = "\n" if "\n" in vocab.chars else corpus[0]
    prompt = fastdl.tensor([vocab.encode(start_char)])
    generator = fastdl.Generator().manual_seed(args.seed)
    sample = vocab.decode(model.generate(prompt, SAMPLE_LENGTH, generator=generator)[0, 1:])
    print(sample, flush=True)
    with open(os.path.join(out, "sample.txt"), "w", encoding="utf-8") as f:
        f.write(sample)
    plot.history(history, os.path.join(out, "loss.png"), title="character language model")
    state = dict(model.state_dict())
    state["vocab"] = fastdl.tensor([ord(c) for c in vocab.chars])
    fastdl.save({"model": state, "config": config(args)}, os.path.join(out, "model.fdl"))

    last = history[-1]
    val_text = f"val_loss={last['val_loss']:.4f} " if "val_loss" in last else ""
    print(
        f"{val_text}train_loss={last['train_loss']:.4f} epochs={len(history)} "
        f"parameters={sum(p.numel() for p in model.parameters())} "
        f"seconds={time.perf_counter() - start:.1f} out={out}",
        flush=True,
    )
    return 0
