"""The CPU backend: Numba ``@njit(cache=True)`` kernels, plus the C extension.

Kernels compile lazily on first call (nothing compiles at import) and are cached
on disk. Threads, deliberately: the Numba kernels run single-threaded, because a
parallel Numba region right after a BLAS call fights OpenBLAS's spinning threads on
a small machine (8 ms for a 450 us step; see docs/ARCHITECTURE.md, "Threads: one pool per step").
Multithreaded work goes to two places only: OpenBLAS (the matmuls the C extension
does not serve: convolutions, RNNs, generic matmul, dense layers above a batch of
512) and the C extension's one pool (the dense layers' GEMMs, optimizer steps,
Philox, im2col), ``fastdl.get_num_threads()`` threads each. The pool's threads take
work from a shared counter, so one delayed by a spinning BLAS thread costs a chunk,
never a stall (benchmarks/bench_gemm.py, "mixed").

Generic kernels whose NumPy form is already one vectorised pass (broadcast
arithmetic, reductions, matmul through OpenBLAS) are shared with the reference
backend by name, listed in ``SHARED_WITH_REFERENCE``, as are the gather and the stable
sort along a dimension (NumPy's ``take_along_axis`` and ``argsort``); a Numba version
would add compile time and nothing else. Every other kernel in the spec must come from a
module here.

The C extension: a family module with a C path (today linear, conv, optim, random)
names the kernels it serves through ``cpu/cext/<family>.py`` in its own
``cext_kernels()``; they replace the Numba versions unless ``FASTDL_CEXT=0``.
"""

from __future__ import annotations

import importlib

from fastdl.backends import host, reference, spec

SHARED_WITH_REFERENCE: tuple[str, ...] = (
    *spec.GENERIC_NAMES,
    *spec.NUMPY_PASS_NAMES,
    "gather_along",
    "sort_along",
    *(k.name for k in spec.bitwise.KERNELS),
)
_FAMILIES = tuple(f for f in spec.FAMILIES if f != "generic")


def cext_kernels() -> dict:
    """The kernels this backend takes from the C extension, by name ({} when it is
    unbuilt or ``FASTDL_CEXT=0``): each family module's ``cext_kernels()``, where it
    has one."""
    found = {}
    for family in _FAMILIES:
        module = importlib.import_module(f"{__name__}.{family}")
        if hasattr(module, "cext_kernels"):
            found.update(module.cext_kernels())
    return found


def kernels() -> dict:
    """Every kernel this backend implements, by name."""
    shared = reference.kernels()
    found = {name: shared[name] for name in SHARED_WITH_REFERENCE if name in shared}
    found.update(spec.family_kernels(__name__, _FAMILIES))
    found.update(cext_kernels())
    return found


def arrays() -> dict:
    """The backend's array functions: NumPy's (see :mod:`fastdl.backends.host`)."""
    return host.arrays()
