"""The CUDA backend (numba-cuda): the kernels behind tensors on ``device="cuda"``.

Kernels here take the spec's arguments (:mod:`fastdl.backends.spec`) as device arrays
(numba ``DeviceNDArray`` or anything with ``__cuda_array_interface__``), outputs
preallocated on the device, and launch without synchronising. :mod:`fastdl.backends`
serves this backend for CUDA tensors; the conformance test holds every kernel to the
NumPy reference, under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set by
``tests/conftest.py`` when no GPU is present) or on a GPU.

Importing a family module imports numba-cuda (the ``cuda`` or ``dev`` extra); nothing
else in fastdl imports it. ``tests/test_cuda_spec.py`` holds :func:`kernels` to the
whole spec: every name, with the reference's parameter names.
"""

from __future__ import annotations

from numba import config

from fastdl.backends import spec
from fastdl.backends.cuda import runtime


def _simulator_shapes_as_on_a_gpu() -> None:
    """Under the CUDA simulator, give host code a DeviceNDArray's shape: a tuple, which
    takes negative indices (``x.shape[-1]``); device code keeps the simulator's
    FakeShape, which refuses them as compiled kernels do."""
    from numba.cuda.simulator.cudadrv.devicearray import (
        FakeCUDAArray,
        FakeShape,
        FakeWithinKernelCUDAArray,
    )

    if getattr(FakeCUDAArray, "_fastdl_shapes", False):
        return
    kernel_getattr = FakeWithinKernelCUDAArray.__getattr__

    def kernel_shape(self, name):
        if name == "shape":
            return FakeShape(self._item._ary.shape)
        return kernel_getattr(self, name)

    FakeCUDAArray.shape = property(lambda self: tuple(self._ary.shape))
    FakeWithinKernelCUDAArray.__getattr__ = kernel_shape
    FakeCUDAArray._fastdl_shapes = True


if config.ENABLE_CUDASIM:
    _simulator_shapes_as_on_a_gpu()


def kernels() -> dict:
    """Every kernel this backend implements, by name (imports numba-cuda)."""
    return spec.family_kernels(__name__)


def available() -> bool:
    """Whether kernels can run here: a GPU, or the CUDA simulator."""
    return runtime.device_count() > 0


def arrays() -> dict:
    """The backend's array functions (see :mod:`fastdl.backends`; imports numba-cuda)."""
    from fastdl.backends.cuda import array_functions

    return array_functions.arrays()
