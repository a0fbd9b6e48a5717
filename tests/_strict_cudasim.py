"""Hold the CUDA simulator's arrays to the API of numba's real ``DeviceNDArray``.

The simulator's ``FakeCUDAArray`` forwards any attribute it lacks to the NumPy array it
wraps, so ``a.flags.c_contiguous``, ``np.asarray(a)``, ``a + 1`` or the reshape of a
non-contiguous array all work there and fail (or copy to the host) on a GPU. Under
the simulator the test session patches it to refuse what a ``DeviceNDArray`` refuses,
and what would be a hidden device-to-host copy on a GPU (``__array__``,
``__setitem__``), so the CUDA paths tested in CI hold on a real device.
"""

from __future__ import annotations

import numpy as np

# Attributes a DeviceNDArray has that FakeCUDAArray takes from its NumPy array.
_FORWARDED = frozenset({"strides", "dtype", "ndim", "size", "squeeze"})


def install() -> None:
    from numba.cuda.simulator.cudadrv.devicearray import (
        FakeCUDAArray,
        FakeWithinKernelCUDAArray,
    )

    if getattr(FakeCUDAArray, "_fastdl_strict", False):
        return

    def strict_getattr(self, name):
        if name in _FORWARDED:
            return getattr(self._ary, name)
        if name == "flags":  # a plain dict on a GPU: flags["C_CONTIGUOUS"], no attributes
            flags = self._ary.flags
            return {"C_CONTIGUOUS": flags.c_contiguous, "F_CONTIGUOUS": flags.f_contiguous}
        raise AttributeError(
            f"{name!r} is not part of numba's DeviceNDArray API (the simulator would "
            "forward it to the host NumPy array)"
        )

    reshape = FakeCUDAArray.reshape

    def strict_reshape(self, *shape, **kwargs):
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        if tuple(shape) != tuple(self.shape) and not self.is_c_contiguous():
            raise NotImplementedError("operation requires copying")
        return reshape(self, tuple(shape), **kwargs)

    def refuse_transpose(self, axes=None):
        raise NotImplementedError(
            "DeviceNDArray.transpose copies (2-D) or fails (other ranks): use a strided view"
        )

    getitem = FakeCUDAArray.__getitem__

    def strict_getitem(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        for part in parts:
            if not isinstance(part, int | np.integer | slice) and part is not Ellipsis:
                raise TypeError(f"a DeviceNDArray takes basic indices only, got {part!r}")
        return getitem(self, index)

    def refuse(name):
        def method(self, *args, **kwargs):
            raise TypeError(f"{name} on a device array: a host copy or unsupported on a GPU")

        return method

    # Inside kernels (FakeWithinKernelCUDAArray) indexing and stores are device code.
    def kernel_setitem(self, index, value):
        self._item._ary[index] = value

    def kernel_getitem(self, index):
        item = getitem(self._item, index)
        return FakeWithinKernelCUDAArray(item) if isinstance(item, FakeCUDAArray) else item

    FakeWithinKernelCUDAArray.__setitem__ = kernel_setitem
    FakeWithinKernelCUDAArray.__getitem__ = kernel_getitem
    FakeCUDAArray.__getattr__ = strict_getattr
    FakeCUDAArray.reshape = strict_reshape
    FakeCUDAArray.transpose = refuse_transpose
    FakeCUDAArray.T = property(refuse_transpose)
    FakeCUDAArray.__getitem__ = strict_getitem
    FakeCUDAArray.__setitem__ = refuse("__setitem__")
    FakeCUDAArray.__array__ = refuse("__array__")
    operators = "eq ne lt le gt ge add sub mul floordiv truediv mod pow".split()
    for name in operators:
        setattr(FakeCUDAArray, f"__{name}__", refuse(f"__{name}__"))
    FakeCUDAArray.__hash__ = object.__hash__
    FakeCUDAArray._fastdl_strict = True
