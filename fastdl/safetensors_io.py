"""Weights in the safetensors format, through the ``safetensors`` package: a flat
``{name: tensor}`` file with a JSON header and raw little-endian data, no pickle, read
and written by ``safetensors.torch`` on the PyTorch side.

:func:`save_safetensors` writes a path atomically (as :func:`fastdl.save` does) or a
binary file object; :func:`load_safetensors` reads either into fastdl Tensors.

Example::

    fastdl.save_safetensors(model.state_dict(), "model.safetensors")
    model.load_state_dict(fastdl.load_safetensors("model.safetensors"))
    # in PyTorch: torch_model.load_state_dict(safetensors.torch.load_file("model.safetensors"))
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.serialization import write_atomically
from fastdl.tensor import Tensor, from_numpy


def save_safetensors(
    tensors: Mapping[str, Any], path: Any, metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``tensors`` (str keys; fastdl Tensors, NumPy arrays or anything with
    ``__array__``) to ``path`` (a path, or a binary file object) as safetensors.

    ``metadata`` is an optional ``{str: str}`` stored in the header. Everything is
    checked before a byte is written.

    Example::

        fastdl.save_safetensors({"w": fastdl.ones(2, 3)}, "w.safetensors", {"step": "10"})
    """
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save_safetensors: tensors must be a dict, got {type(tensors).__name__}")
    if metadata is not None and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise TypeError("save_safetensors: metadata must map str to str")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: key {name!r} is not a str")
        arrays[name] = _host_array(name, value)
    import safetensors.numpy  # imported on use: keeps ``import fastdl`` light

    data = safetensors.numpy.save(arrays, metadata=dict(metadata) if metadata else None)
    if callable(getattr(path, "write", None)):
        path.write(data)
    else:
        write_atomically(path, lambda f: f.write(data))


def load_safetensors(path: Any, device: Any = "cpu") -> OrderedDict[str, Tensor]:
    """The tensors of a safetensors file (a path or a binary file object) as fastdl
    Tensors on ``device``, by name.

    Tensors of a dtype fastdl does not hold (float16, bfloat16, int32...) raise a
    TypeError naming them.

    Example::

        state = fastdl.load_safetensors("model.safetensors")
    """
    if callable(getattr(path, "read", None)):
        data = path.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    import safetensors.numpy

    try:
        arrays = safetensors.numpy.load(data)
    except Exception as error:  # the Rust parser raises its own SafetensorError
        raise ValueError(
            f"load_safetensors: {path}: not a valid safetensors file: {error}"
        ) from error
    out: OrderedDict[str, Tensor] = OrderedDict()
    for name, array in arrays.items():
        if array.dtype not in dtypes.SUPPORTED:
            raise TypeError(
                f"load_safetensors: {name} has dtype {array.dtype}, which fastdl does not "
                "support (float32, float64, int64 or bool); convert it before saving"
            )
        tensor = from_numpy(np.array(array, copy=True))
        out[name] = tensor if str(device) == "cpu" else tensor.to(device)
    return out


def _host_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        array = value.detach()._host()
    elif isinstance(value, np.ndarray):
        array = value
    elif hasattr(value, "__array__"):
        array = np.asarray(value)
    else:
        raise TypeError(
            f"save_safetensors: {name} is a {type(value).__name__}; expected a Tensor or an array"
        )
    if array.dtype.hasobject:
        raise TypeError(f"save_safetensors: {name} has object dtype")
    return np.require(array, requirements="C")  # keeps 0-d arrays 0-d
