"""``torch.nn.modules``' paths (``nn.modules.linear.Linear``, ``nn.modules.rnn.LSTM``...)
as aliases of :mod:`fastdl.nn`, so code naming a layer by its PyTorch file converts by
renaming. Every submodule resolves any name through ``fastdl.nn``.

Example::

    >>> import fastdl
    >>> fastdl.nn.modules.linear.Linear is fastdl.nn.Linear
    True
"""

from __future__ import annotations

import sys
import types
from typing import Any

# PyTorch's files under torch/nn/modules/ that scripts name.
SUBMODULES = (
    "activation",
    "batchnorm",
    "container",
    "conv",
    "dropout",
    "flatten",
    "linear",
    "loss",
    "module",
    "normalization",
    "padding",
    "pixelshuffle",
    "pooling",
    "rnn",
    "sparse",
    "transformer",
    "upsampling",
)


class _Alias(types.ModuleType):
    """A module whose attributes are :mod:`fastdl.nn`'s."""

    def __getattr__(self, name: str) -> Any:
        import fastdl.nn

        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(fastdl.nn, name)
        except AttributeError:
            raise AttributeError(
                f"module {self.__name__!r} has no attribute {name!r} (fastdl.nn has no {name})"
            ) from None


for _name in SUBMODULES:
    _module = _Alias(f"{__name__}.{_name}", f"``torch.nn.modules.{_name}``: fastdl.nn's names.")
    sys.modules[_module.__name__] = _module
    globals()[_name] = _module


def __getattr__(name: str) -> Any:
    import fastdl.nn

    return getattr(fastdl.nn, name)
