"""The CPU backend: Numba ``@njit(cache=True)`` kernels, plus the C extension.

Kernels compile lazily on first call (nothing compiles at import) and are cached
on disk. They run single-threaded: OpenBLAS owns the cores for the matmuls, and a
parallel Numba region right after a BLAS call fights its spinning threads on a
small machine (see ARCHITECTURE.md, "Performance notes"). The one exception is the
C extension's optimizer steps, which split buffers of 1M elements and more over
``fastdl.get_num_threads()`` persistent workers taking 64K-element chunks from a
shared counter, so a worker delayed by a spinning BLAS thread costs one chunk.

Generic kernels whose NumPy form is already one vectorised pass (broadcast
arithmetic, reductions, matmul through OpenBLAS) are shared with the reference
backend by name, listed in ``SHARED_WITH_REFERENCE``; a Numba version would add
compile time and nothing else. Every other kernel in the spec must come from a
module here.
"""

from __future__ import annotations

import importlib

from fastdl.backends import reference, spec

_FAMILIES = (
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

SHARED_WITH_REFERENCE: tuple[str, ...] = spec.GENERIC_NAMES


def kernels() -> dict:
    """Every kernel this backend implements, by name."""
    shared = reference.kernels()
    found = {name: shared[name] for name in SHARED_WITH_REFERENCE if name in shared}
    for family in _FAMILIES:
        module = importlib.import_module(f"{__name__}.{family}")
        for name in spec.NAMES:
            if hasattr(module, name):
                found[name] = getattr(module, name)
    from fastdl.backends.cpu import cext

    found.update(cext.kernels())
    return found
