"""``torch.onnx``'s name, so ``import torch.onnx`` converts by renaming.

fastdl has no ONNX exporter: :func:`export` raises ``NotImplementedError``.

Example::

    >>> import fastdl.onnx
    >>> fastdl.onnx.is_in_onnx_export()
    False
"""

from __future__ import annotations

from typing import Any


def export(model: Any, args: Any, f: Any, *rest: Any, **kwargs: Any) -> None:
    """Refuse: fastdl cannot write ONNX graphs (save weights with ``fastdl.save`` or
    ``fastdl.save_safetensors`` and export from PyTorch instead)."""
    raise NotImplementedError(
        "fastdl.onnx.export: fastdl has no ONNX exporter; save the weights with "
        "fastdl.save_safetensors and export from PyTorch"
    )


def is_in_onnx_export() -> bool:
    """Always False: fastdl never runs an ONNX export."""
    return False


__all__ = ["export", "is_in_onnx_export"]
