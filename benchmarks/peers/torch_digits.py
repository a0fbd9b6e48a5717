"""Peer of ``fastdl train``: a plain PyTorch script for the same job.

MLP 64-128-64-10 (ReLU), ``torch.optim.Adam`` lr 1e-3 (its defaults), cross-entropy,
batch 32 shuffled each epoch through ``torch.utils.data.DataLoader``, 30 epochs,
float32, on the same digits split; threads set to the core count
(``torch.set_num_threads``), as fastdl's BLAS uses. Prints one line like
``fastdl train``'s::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/peers/torch_digits.py
"""

from __future__ import annotations

import argparse
import os
import time

START = time.perf_counter()

import torch  # noqa: E402
from _digits import BATCH_SIZE, EPOCHS, HIDDEN, LR, SEED, load_digits_split  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    X_train, y_train, X_test, y_test = (torch.from_numpy(a) for a in load_digits_split())

    sizes = [X_train.shape[1], *HIDDEN]
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(sizes[-1], 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(
        TensorDataset(X_train, y_train),
        batch_size=BATCH_SIZE,
        shuffle=True,
        generator=torch.Generator().manual_seed(SEED),
    )

    fit_start = time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            count += len(yb)
    fit_seconds = time.perf_counter() - fit_start
    model.eval()
    with torch.no_grad():
        accuracy = (model(X_test).argmax(1) == y_test).float().mean().item()
    print(
        f"test_accuracy={accuracy:.3f} train_loss={total / count:.4f} epochs={args.epochs} "
        f"fit_seconds={fit_seconds:.2f} seconds={time.perf_counter() - START:.2f} "
        f"peer=torch"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
