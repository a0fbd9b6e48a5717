"""``fastdl info``: versions, backends, threads, the BLAS kernel, host memory and CUDA."""

from __future__ import annotations

import argparse
import os
import platform
from typing import Any


def add_parser(sub: Any) -> None:
    """Add ``info`` to the subparsers ``sub``."""
    sub.add_parser("info", help="versions, backends, threads, BLAS kernel, CUDA")


def run(args: argparse.Namespace) -> int:
    """Print what this installation runs on; returns 0."""
    import numba
    import numpy as np

    import fastdl
    from fastdl.backends.cpu import cext

    cext_status = cext.status()
    print(
        f"fastdl {fastdl.__version__}  python {platform.python_version()}  "
        f"numpy {np.__version__}  numba {numba.__version__}"
    )
    print(
        f"backends: {', '.join(fastdl.backends.available())} "
        f"(CPU backend in use: {fastdl.backends.current()})"
    )
    if cext_status["loaded"] and cext_status["enabled"]:
        served = ", ".join(sorted(cext.kernels()))
        print(
            f"C extension: loaded from {cext_status['path']}; C kernels serve {served} "
            f"(Philox: {cext_status['philox_isa']}; GEMM: {cext_status['gemm_isa']})"
        )
    else:
        state = "loaded" if cext_status["loaded"] else "not loaded"
        print(f"C extension: {state} ({cext_status['reason']}); the Numba path serves")
    print(
        f"threads: fastdl {fastdl.get_num_threads()}, numba layer "
        f"{numba.config.THREADING_LAYER} (Numba kernels single-threaded; C optimizer steps "
        f"split from 1M elements), cores {os.cpu_count()}"
    )
    for pool in fastdl.threads.blas_info():
        print(
            f"BLAS: {pool.get('internal_api')} {pool.get('version')} kernel "
            f"{pool.get('architecture')} threads {pool.get('num_threads')} "
            f"({pool.get('threading_layer')})"
        )
    print(f"host memory: {fastdl.memory.malloc_status()}")
    print(f"CUDA: {_cuda_status()}")
    return 0


def _cuda_status() -> str:
    try:
        from fastdl import cuda

        return cuda.describe()
    except Exception as error:  # a broken driver must not break `fastdl info`
        return f"unavailable ({type(error).__name__}: {error})"
