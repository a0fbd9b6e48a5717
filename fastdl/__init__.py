"""fastdl: a deep-learning training library whose hot paths are compiled kernels.

Example::

    import fastdl
    model = fastdl.nn.Sequential(fastdl.nn.Linear(64, 10))
    labels = fastdl.zeros(8, dtype=fastdl.int64)
    loss = fastdl.nn.CrossEntropyLoss()(model(fastdl.randn(8, 64)), labels)
    loss.backward()
"""

from fastdl import (  # memory: tunes glibc malloc on import (see fastdl/memory.py)
    autograd,
    backends,
    data,
    dtypes,
    flat,
    graph,
    memory,
    nn,
    ops,
    optim,
    threads,
    train,
    utils,
)
from fastdl.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from fastdl.backends import use_backend
from fastdl.backends.cpu import cext as _cext_loader
from fastdl.device import device
from fastdl.dtypes import bool_, double, float32, float64, int64, long
from fastdl.ops.activation import log_softmax, relu, sigmoid, softmax, tanh
from fastdl.ops.elementwise import abs, clamp, exp, log, sqrt, where
from fastdl.ops.matmul import matmul
from fastdl.ops.reduce import argmax, max, mean, sum
from fastdl.ops.shape import cat, reshape, stack, transpose
from fastdl.random import Generator, initial_seed, manual_seed
from fastdl.safetensors_io import load_safetensors, save_safetensors
from fastdl.serialization import load, save
from fastdl.tensor import (
    Tensor,
    arange,
    from_numpy,
    full,
    ones,
    rand,
    randn,
    tensor,
    zeros,
)
from fastdl.threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

_cext_loader.warn_if_missing()


def from_dlpack(obj) -> Tensor:
    """A tensor sharing memory with ``obj``, which exposes DLPack (``__dlpack__``) or the
    CUDA array interface: NumPy, CuPy, PyTorch (CPU or CUDA), numba device arrays.

    Example::

        >>> import numpy as np
        >>> t = from_dlpack(np.arange(3.0))
        >>> t.device
        'cpu'
    """
    from fastdl import dlpack

    return Tensor._wrap(dlpack.import_dlpack(obj))


def __getattr__(name: str):
    # loaded on first use (plot: matplotlib; cuda: numba-cuda, itself imported lazily)
    if name in ("plot", "diagnostics", "models", "distributed", "cuda"):
        import importlib

        return importlib.import_module(f"fastdl.{name}")
    raise AttributeError(f"module 'fastdl' has no attribute {name!r}")


__all__ = [
    "Generator",
    "Tensor",
    "backends",
    "abs",
    "arange",
    "argmax",
    "autograd",
    "bool_",
    "cat",
    "clamp",
    "data",
    "double",
    "device",
    "dtypes",
    "enable_grad",
    "exp",
    "flat",
    "memory",
    "float32",
    "float64",
    "from_dlpack",
    "from_numpy",
    "full",
    "get_num_threads",
    "graph",
    "initial_seed",
    "int64",
    "is_grad_enabled",
    "load",
    "log",
    "log_softmax",
    "long",
    "manual_seed",
    "matmul",
    "max",
    "mean",
    "nn",
    "no_grad",
    "ones",
    "ops",
    "optim",
    "rand",
    "randn",
    "relu",
    "reshape",
    "save",
    "set_grad_enabled",
    "set_num_threads",
    "sigmoid",
    "softmax",
    "sqrt",
    "stack",
    "sum",
    "tanh",
    "tensor",
    "threads",
    "train",
    "transpose",
    "use_backend",
    "utils",
    "where",
    "zeros",
    "load_safetensors",
    "save_safetensors",
]
