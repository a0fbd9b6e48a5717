"""PyTorch's ``out=`` argument: a computed result written into a given tensor."""

from __future__ import annotations

from typing import Any

from fastdl import dtypes
from fastdl.autograd.grad_mode import is_grad_enabled
from fastdl.tensor import Tensor, _backend_of, _same_device


def check_out(out: Any, name: str) -> None:
    """Refuse, before any work, an ``out`` that PyTorch refuses."""
    if out is None:
        return
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}: out must be a Tensor, got {type(out).__name__}")
    if out.requires_grad and is_grad_enabled():
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad"
        )


def write_out(result: Tensor, out: Tensor | None, name: str) -> Tensor:
    """``result`` itself when ``out`` is None, else ``out`` holding its values.

    An empty ``out`` takes the result's shape (PyTorch resizes it); any other shape
    must match. A floating result cannot go into an integer or bool ``out``.
    """
    if out is None:
        return result
    _same_device(out, result, name)
    if dtypes.is_floating(result.dtype) and not dtypes.is_floating(out.dtype):
        raise RuntimeError(
            f"{name}: result type {result.dtype} can't be cast to the desired output type "
            f"{out.dtype}"
        )
    backend = _backend_of(out)
    if out.shape != result.shape:
        if out.numel() != 0:
            raise ValueError(
                f"{name}: out has shape {out.shape}, but the result has shape {result.shape}"
            )
        out._data = backend.empty(result.shape, out.dtype)
    backend.copy(result._data, out._data)
    return out
