"""The check the CUDA kernel tests share: run a kernel on the device and the reference
on copies of the same arguments, then compare."""

import copy

import numpy as np
from _tolerance import assert_close
from numba import cuda

from fastdl.backends import reference, spec
from fastdl.backends.cuda import _launch, views

REF = reference.kernels()
KERNELS = {k.name: k for k in spec.KERNELS}


def to_device(value):
    """A device copy of an array (a transposed view stays a transposed view); other
    arguments as they are."""
    if not isinstance(value, np.ndarray):
        return value
    if value.ndim == 2 and not value.flags.c_contiguous:
        return views.permute(cuda.to_device(np.ascontiguousarray(value.T)), (1, 0))
    return cuda.to_device(value)


def check_against_reference(module, name: str, args: dict, dtype=None) -> int:
    """Run ``module.<name>`` on device copies of ``args`` and the reference on host
    copies: every output fully written (no NaN left of the NaN-filled outputs) and
    close within the dtype's tolerance, every input untouched. Returns the launches."""
    kernel = KERNELS[name]
    expected = copy.deepcopy(args)
    REF[name](*(expected[a] for a in kernel.args))
    device = {a: to_device(v) for a, v in args.items()}
    before = _launch.launches()
    getattr(module, name)(*(device[a] for a in kernel.args))
    launched = _launch.launches() - before
    for arg in kernel.args:
        if not isinstance(args[arg], np.ndarray):
            continue
        actual = device[arg].copy_to_host()
        if arg in kernel.writes:
            assert not np.isnan(actual).any(), f"{name}: {arg} not fully written"
            assert_close(actual, expected[arg], dtype=dtype, where=f"{name} {arg}")
        else:
            np.testing.assert_array_equal(actual, args[arg], err_msg=f"{name} wrote {arg}")
    return launched
