"""The kernel contract: every kernel's name, arguments, what it writes, its option
sets and a sampler.

A kernel works on raw C-contiguous arrays and knows nothing of autograd. It writes
into caller-allocated outputs (or updates state in place) and returns nothing, so
the same signature fits ``@njit``, ``@cuda.jit`` and cffi pointers. Every backend
implements every name below; ``tests/test_conformance.py`` walks this table and
holds each backend to the reference (NumPy) backend on sampled inputs, once per
option set of each kernel.

The contracts live in one module per kernel family (``spec/linear.py``,
``spec/conv.py``, ...), named as the family modules of every backend: a kernel's
contract, reference, Numba, C and CUDA twins are ``<family>.py`` in ``spec/``,
``reference/``, ``cpu/``, ``cpu/cext/`` and ``cuda/``.

Dtype rules: floating kernels take float32 or float64 and all their float arrays
share one dtype; class targets are int64; outputs are allocated by the caller in
the dtype the contract names. Scalar hyper-parameters (learning rates, bias
corrections, ...) are formed in double precision and rounded once to the arrays'
dtype, so float32 buffers are updated in float32 arithmetic, as PyTorch does.

Example::

    >>> from fastdl.backends import spec
    >>> spec.BY_NAME["linear"].family, spec.BY_NAME["linear"].args
    ('linear', ('x', 'weight', 'bias', 'out'))
"""

from __future__ import annotations

import importlib

from fastdl.backends.spec import (
    activation,
    attention,
    base,
    bitwise,
    clip,
    conv,
    generic,
    indexing,
    linear,
    loss,
    norm,
    optim,
    pointwise,
    pool,
    random,
    rnn,
    scan,
    softmax,
)
from fastdl.backends.spec.base import (
    ACTIVATIONS,
    Kernel,
    Sampler,
    capped_sizes,
    each,
    fixed_sizes,
    option_id,
    product,
)
from fastdl.backends.spec.conv import CONV_GEOMETRY, IM2COL_GEOMETRY
from fastdl.backends.spec.generic import COMPARISONS
from fastdl.backends.spec.pool import pool_output_size

# The family modules, in the order of the kernel table.
_FAMILY_MODULES = (generic, linear, activation, softmax, loss, norm, optim, clip, random)
_FAMILY_MODULES += (conv, pool, rnn, indexing)
_FAMILY_MODULES += (pointwise, scan, bitwise, attention)

KERNELS: tuple[Kernel, ...] = tuple(k for module in _FAMILY_MODULES for k in module.KERNELS)
BY_NAME: dict[str, Kernel] = {k.name: k for k in KERNELS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
FAMILIES: tuple[str, ...] = tuple(module.__name__.rsplit(".", 1)[1] for module in _FAMILY_MODULES)

GENERIC_KERNELS: tuple[Kernel, ...] = generic.KERNELS
GENERIC_NAMES: tuple[str, ...] = tuple(k.name for k in GENERIC_KERNELS)
# Pointwise and scan kernels whose NumPy form is one vectorised pass (not erf, lgamma...).
NUMPY_PASS_NAMES: tuple[str, ...] = tuple(
    k.name for k in pointwise.KERNELS + scan.KERNELS if k.name not in pointwise.NOT_NUMPY
)
CONV_KERNELS: tuple[Kernel, ...] = conv.KERNELS
POOL_KERNELS: tuple[Kernel, ...] = pool.KERNELS
RNN_KERNELS: tuple[Kernel, ...] = rnn.KERNELS


def family_kernels(package: str, families: tuple[str, ...] = FAMILIES) -> dict:
    """The kernels a backend package defines, by name: each kernel is looked up in the
    module ``<package>.<its family>`` only, so a helper that happens to share a spec
    name (a device function ``add``, an imported ``act_backward``) never stands in."""
    modules = {f: importlib.import_module(f"{package}.{f}") for f in families}
    return {
        k.name: getattr(modules[k.family], k.name)
        for k in KERNELS
        if k.family in modules and hasattr(modules[k.family], k.name)
    }


__all__ = [
    "ACTIVATIONS",
    "BY_NAME",
    "COMPARISONS",
    "CONV_GEOMETRY",
    "CONV_KERNELS",
    "FAMILIES",
    "GENERIC_KERNELS",
    "GENERIC_NAMES",
    "IM2COL_GEOMETRY",
    "KERNELS",
    "NAMES",
    "NUMPY_PASS_NAMES",
    "POOL_KERNELS",
    "RNN_KERNELS",
    "Kernel",
    "Sampler",
    "base",
    "capped_sizes",
    "each",
    "family_kernels",
    "fixed_sizes",
    "option_id",
    "pool_output_size",
    "product",
]
