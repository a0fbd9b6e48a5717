"""One knob for the CPU backend's threads: BLAS (matmuls) and Numba together.

The Numba kernels are single-threaded by design (see ``fastdl.backends.cpu``), so
in practice this sets how many threads OpenBLAS uses. The ``OPENBLAS_*``
environment variables are never touched: the limit is applied at run time
through threadpoolctl.
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_info, threadpool_limits

_state: dict[str, int | None] = {"threads": None}


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for BLAS and Numba parallel regions.

    Example::

        fastdl.set_num_threads(1)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    threadpool_limits(limits=n, user_api="blas")
    import numba

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    _state["threads"] = n


def get_num_threads() -> int:
    """The thread count set by :func:`set_num_threads`, else BLAS's at first call.

    Cheap after the first call (kernels ask it per step): asking threadpoolctl costs
    about 0.6 ms, so the default is read once.
    """
    if _state["threads"] is None:
        _state["threads"] = _blas_threads()
    return int(_state["threads"])


def _blas_threads() -> int:
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return int(pool["num_threads"])
    return os.cpu_count() or 1


def blas_info() -> list[dict]:
    """threadpoolctl's report of the BLAS libraries loaded, with their kernels."""
    return [p for p in threadpool_info() if p.get("user_api") == "blas"]
