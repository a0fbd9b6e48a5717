"""The CUDA backend (numba-cuda): in progress, issue 5.

Kernels here take the spec's arguments (:mod:`fastdl.backends.spec`) as device arrays
(numba ``DeviceNDArray`` or anything with ``__cuda_array_interface__``), outputs
preallocated on the device, and launch without synchronising. The backend is not
registered with :mod:`fastdl.backends` yet: it will be once it implements every
kernel of the spec (the conformance test fails a backend that lacks one), together
with device tensors. Until then each family here is held to the NumPy reference by
its own tests, under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set by
``tests/conftest.py`` when no GPU is present) or on a GPU.

Importing a family module imports numba-cuda (the ``cuda`` or ``dev`` extra); nothing
else in fastdl imports it. ``tests/test_cuda_spec.py`` holds :func:`kernels` to the
whole spec: every name, with the reference's parameter names.
"""

from __future__ import annotations

from fastdl.backends import spec


def kernels() -> dict:
    """Every kernel this backend implements, by name (imports numba-cuda)."""
    return spec.family_kernels(__name__)
