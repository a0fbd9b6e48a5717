"""The reference backend: pure NumPy, one readable function per kernel — the oracle."""

from __future__ import annotations

import importlib

from fastdl.backends import spec

_FAMILIES = (
    "generic",
    "linear",
    "activation",
    "softmax",
    "loss",
    "optim",
    "clip",
    "random",
    "norm",
    "conv",
    "pool",
    "rnn",
)


def kernels() -> dict:
    """Every kernel this backend implements, by name."""
    found = {}
    for family in _FAMILIES:
        module = importlib.import_module(f"{__name__}.{family}")
        for name in spec.NAMES:
            if hasattr(module, name):
                found[name] = getattr(module, name)
    return found
