"""fastdl: a deep-learning training library whose hot paths are compiled kernels.

Example::

    import fastdl
    model = fastdl.nn.Sequential(fastdl.nn.Linear(64, 10))
    labels = fastdl.zeros(8, dtype=fastdl.int64)
    loss = fastdl.nn.CrossEntropyLoss()(model(fastdl.randn(8, 64)), labels)
    loss.backward()
"""

from fastdl import (  # memory: tunes glibc malloc on import (see fastdl/memory.py)
    accelerator,
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
from fastdl.autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from fastdl.backends import use_backend
from fastdl.backends.cpu import cext as _cext_loader
from fastdl.device import device, get_default_device, set_default_device
from fastdl.dtypes import (
    bfloat16,
    bool_,
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from fastdl.errors import DeviceError, ShapeError
from fastdl.ops.activation import log_softmax, relu, sigmoid, softmax, tanh
from fastdl.ops.bitwise import (
    bitwise_and,
    bitwise_left_shift,
    bitwise_not,
    bitwise_or,
    bitwise_right_shift,
    bitwise_xor,
)
from fastdl.ops.creation import (
    BoolTensor,
    DoubleTensor,
    FloatTensor,
    LongTensor,
    as_tensor,
    empty,
    empty_like,
    eye,
    full_like,
    is_tensor,
    linspace,
    logspace,
    meshgrid,
    numel,
    ones_like,
    zeros_like,
)
from fastdl.ops.elementwise import abs, clamp, exp, log, sqrt
from fastdl.ops.indexing import (
    gather,
    index_select,
    masked_select,
    nonzero,
    scatter,
    scatter_add,
    where,
)
from fastdl.ops.mathops import (
    add,
    addmm,
    allclose,
    amax,
    amin,
    argmin,
    bmm,
    ceil,
    clip,
    cos,
    cumprod,
    cumsum,
    div,
    dot,
    einsum,
    eq,
    equal,
    erf,
    expm1,
    floor,
    ge,
    gt,
    isclose,
    isfinite,
    isinf,
    isnan,
    le,
    log1p,
    log2,
    logsumexp,
    lt,
    matmul,
    maximum,
    min,
    minimum,
    mm,
    mul,
    nan_to_num,
    ne,
    norm,
    outer,
    pow,
    prod,
    round,
    rsqrt,
    sign,
    sin,
    std,
    sub,
    trunc,
    var,
)
from fastdl.ops.reduce import argmax, max, mean, sum
from fastdl.ops.reshaping import (
    expand,
    expand_as,
    flatten,
    flip,
    movedim,
    repeat,
    repeat_interleave,
    roll,
    squeeze,
    t,
    unsqueeze,
)
from fastdl.ops.sampling import (
    multinomial,
    rand_like,
    randint,
    randint_like,
    randn_like,
    randperm,
)
from fastdl.ops.shape import cat, permute, reshape, stack, transpose
from fastdl.ops.slicing import (
    chunk,
    concat,
    diag,
    hstack,
    narrow,
    split,
    tril,
    triu,
    unbind,
    vstack,
)
from fastdl.ops.sorting import argsort, sort, topk
from fastdl.random import Generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
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

# torch.float, torch.int, torch.bool; out of __all__, so a star import keeps the builtins.
float = dtypes.float  # noqa: A001
int = dtypes.int  # noqa: A001
bool = dtypes.bool  # noqa: A001

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
    # shape and indexing ops
    "argsort",
    "chunk",
    "concat",
    "diag",
    "expand",
    "expand_as",
    "flatten",
    "flip",
    "gather",
    "hstack",
    "index_select",
    "masked_select",
    "movedim",
    "narrow",
    "nonzero",
    "permute",
    "repeat",
    "repeat_interleave",
    "roll",
    "scatter",
    "scatter_add",
    "sort",
    "split",
    "squeeze",
    "t",
    "topk",
    "tril",
    "triu",
    "unbind",
    "unsqueeze",
    "vstack",
    # torch namespace: factories, dtypes, grad modes, random state, default device
    "BoolTensor",
    "DoubleTensor",
    "FloatTensor",
    "LongTensor",
    "accelerator",
    "as_tensor",
    "bfloat16",
    "empty",
    "empty_like",
    "eye",
    "float16",
    "full_like",
    "get_default_device",
    "get_default_dtype",
    "get_rng_state",
    "half",
    "inference_mode",
    "int8",
    "int16",
    "int32",
    "is_inference_mode_enabled",
    "is_tensor",
    "linspace",
    "logspace",
    "meshgrid",
    "multinomial",
    "numel",
    "ones_like",
    "rand_like",
    "randint",
    "randint_like",
    "randn_like",
    "randperm",
    "seed",
    "set_default_device",
    "set_default_dtype",
    "set_rng_state",
    "short",
    "uint8",
    "zeros_like",
    "add",
    "addmm",
    "allclose",
    "amax",
    "amin",
    "argmin",
    "bmm",
    "ceil",
    "clip",
    "cos",
    "cumprod",
    "cumsum",
    "div",
    "dot",
    "einsum",
    "eq",
    "equal",
    "erf",
    "expm1",
    "floor",
    "ge",
    "gt",
    "isclose",
    "isfinite",
    "isinf",
    "isnan",
    "le",
    "log1p",
    "log2",
    "logsumexp",
    "lt",
    "matmul",
    "maximum",
    "min",
    "minimum",
    "mm",
    "mul",
    "nan_to_num",
    "ne",
    "norm",
    "outer",
    "pow",
    "prod",
    "round",
    "rsqrt",
    "sign",
    "sin",
    "std",
    "sub",
    "trunc",
    "var",
    "DeviceError",
    "ShapeError",
    "load_safetensors",
    "save_safetensors",
    "bitwise_and",
    "bitwise_left_shift",
    "bitwise_not",
    "bitwise_or",
    "bitwise_right_shift",
    "bitwise_xor",
]

from fastdl.compiler import compile  # noqa: E402  (torch.compile's name)

__all__ += ["compile"]
