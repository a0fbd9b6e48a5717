"""A multi-layer perceptron as an ``nn.Sequential``."""

from __future__ import annotations

from collections.abc import Sequence

from fastdl import nn
from fastdl.models._checks import positive_int

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def mlp(
    in_features: int,
    hidden: Sequence[int] = (128, 64),
    out_features: int = 10,
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> nn.Sequential:
    """``Linear -> [BatchNorm1d] -> activation -> [Dropout]`` per hidden size, then a
    ``Linear`` to ``out_features`` logits.

    Example::

        net = mlp(64, (128, 64), 10)   # the ``fastdl train`` default
    """
    positive_int("mlp", "in_features", in_features)
    positive_int("mlp", "out_features", out_features)
    for size in hidden:
        positive_int("mlp", "hidden sizes", size)
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"mlp: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"mlp: dropout must be in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    sizes = [in_features, *hidden]
    for a, b in zip(sizes, sizes[1:]):
        layers.append(nn.Linear(a, b))
        if batch_norm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(ACTIVATIONS[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(sizes[-1], out_features))
    return nn.Sequential(*layers)
