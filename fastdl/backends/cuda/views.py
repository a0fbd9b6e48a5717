"""Views of device arrays with any strides: permutations and broadcasts without a copy.

numba's ``DeviceNDArray.transpose`` copies (2-D) or refuses (other ranks), and it has no
``broadcast_to``; a view over the same memory with other strides is what NumPy gives,
and what the kernels (which index through strides) take.

Example::

    >>> x = fastdl.cuda.empty((2, 3), np.float32)   # doctest: +SKIP
    >>> permute(x, (1, 0)).shape                      # doctest: +SKIP
    (3, 2)
"""

from __future__ import annotations

import numpy as np
from numba import config


def strided(array, shape: tuple[int, ...], strides: tuple[int, ...]):
    """A view of ``array``'s memory, starting at its first element, with ``shape`` and
    ``strides`` in bytes (non-negative)."""
    shape, strides = tuple(int(n) for n in shape), tuple(int(s) for s in strides)
    if config.ENABLE_CUDASIM:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        return FakeCUDAArray(np.lib.stride_tricks.as_strided(array._ary, shape, strides))
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    return DeviceNDArray(shape, strides, array.dtype, gpu_data=array.gpu_data)


def permute(array, dims: tuple[int, ...]):
    """``np.transpose(array, dims)`` as a view."""
    if tuple(dims) == tuple(range(array.ndim)):
        return array
    return strided(
        array, tuple(array.shape[d] for d in dims), tuple(array.strides[d] for d in dims)
    )


def broadcast_to(array, shape: tuple[int, ...]):
    """``np.broadcast_to(array, shape)`` as a view (stride 0 along broadcast axes)."""
    shape = tuple(shape)
    if tuple(array.shape) == shape:
        return array
    lead = len(shape) - array.ndim
    strides = [0] * lead
    for n, m, s in zip(array.shape, shape[lead:], array.strides, strict=True):
        if n not in (1, m):
            raise ValueError(f"cannot broadcast shape {tuple(array.shape)} to {shape}")
        strides.append(s if n == m else 0)
    return strided(array, shape, tuple(strides))
