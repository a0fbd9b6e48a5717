"""Exception classes of fastdl's checks that PyTorch reports as ``RuntimeError``.

fastdl names a bad shape or device in a ``ValueError``; PyTorch raises a
``RuntimeError`` for the same mistakes. These classes are both, so code written for
either library catches them.

Example::

    try:
        fastdl.ones(2, 3) @ fastdl.ones(2, 3)
    except RuntimeError as error:      # ``except ValueError`` works as well
        print(error)
"""

from __future__ import annotations


class ShapeError(ValueError, RuntimeError):
    """Shapes that do not fit (broadcasting, matmul, cat, layers, loss targets)."""


class DeviceError(ValueError, RuntimeError):
    """Tensors of one call on different devices."""
