"""Launch bookkeeping shared by the CUDA kernels: 1-D grids and the launch counter.

A numba-cuda launch costs 25-40 us of Python on an H100, so the count of launches per
training step matters as much as the kernels; :func:`launches` reports it (the
``fastdl.cuda.profile()`` counter reads it).

Example::

    >>> from fastdl.backends.cuda import _launch
    >>> _launch.grid_1d(1000)
    (4, 256)
"""

from __future__ import annotations

from functools import lru_cache

BLOCK = 256  # threads per block of the 1-D kernels

_count = [0]


@lru_cache(maxsize=4096)
def grid_1d(n: int, block: int = BLOCK) -> tuple[int, int]:
    """(blocks, threads per block) covering ``n`` elements, at least one block."""
    return max(1, -(-int(n) // block)), block


def launch(kernel, n: int, *args, block: int = BLOCK, stream=0) -> None:
    """Launch ``kernel`` over ``n`` elements (one thread each) and count it."""
    blocks, threads = grid_1d(n, block)
    kernel[blocks, threads, stream](*args)
    _count[0] += 1


def count(launched: int = 1) -> None:
    """Count launches made directly (2-D grids and the like)."""
    _count[0] += launched


def launches() -> int:
    """Kernel launches counted in this process so far."""
    return _count[0]
