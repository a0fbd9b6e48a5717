"""CUDA activation kernels: elementwise, any shape.  x, y, out, grad_* all the same shape.

One thread per element, one launch per call. The activation and its derivative (in
terms of the output y = act(x)) are the device functions of the fused GEMM epilogue
and prologue in :mod:`fastdl.backends.cuda.linear`, so a standalone activation and a
fused one compute the same values; each kernel is specialised per (activation, dtype)
with an explicit signature. Arrays of any shape are viewed as flat vectors (C-contiguous
arrays reshape without a copy); the flat-vector helpers here also serve the elementwise
losses of :mod:`fastdl.backends.cuda.loss`.

Example::

    >>> import numpy as np
    >>> from numba import cuda
    >>> out = cuda.device_array(3, np.float32)
    >>> act_forward(cuda.to_device(np.array([-1, 0, 2], np.float32)), "relu", 0.01, out)
    >>> out.copy_to_host()
    array([0., 0., 2.], dtype=float32)
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import config, cuda

from fastdl.backends.cuda import _launch
from fastdl.backends.cuda.linear import _activation, _derivative
from fastdl.backends.cuda.softmax import signature

# Threads per block; the simulator runs a Python thread per CUDA thread, so there small
# blocks let the tests cross block boundaries cheaply.
BLOCK = 64 if config.ENABLE_CUDASIM else _launch.BLOCK


def flat(a):
    """A C-contiguous device array as a flat vector (a view, no copy)."""
    return a if a.ndim == 1 else a.reshape(a.size)


def launch_flat(kernel, n: int, *args) -> None:
    """Launch a one-thread-per-element kernel over n elements (none for n = 0)."""
    if n:
        _launch.launch(kernel, n, *args, block=BLOCK)


@cache
def _forward_kernel(act, dtype):
    f = _activation(act, dtype)

    def forward(x, slope, out):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = f(x[i], slope)

    return cuda.jit(signature(dtype, "v", "s", "v"))(forward)


@cache
def _backward_kernel(act, dtype):
    derive = _derivative(act, dtype)

    def backward(y, grad_out, slope, grad_x):
        i = cuda.grid(1)
        if i < grad_x.size:
            grad_x[i] = derive(grad_out[i], y[i], slope)

    return cuda.jit(signature(dtype, "v", "v", "s", "v"))(backward)


def act_forward(x, act, negative_slope, out):
    """out = act(x) elementwise."""
    dtype = np.dtype(out.dtype)
    kernel = _forward_kernel(act, dtype)
    launch_flat(kernel, out.size, flat(x), dtype.type(negative_slope), flat(out))


def act_backward(y, grad_out, act, negative_slope, grad_x):
    """grad_x = grad_out * act'(x), written in terms of the output y = act(x)."""
    dtype = np.dtype(grad_x.dtype)
    kernel = _backward_kernel(act, dtype)
    launch_flat(
        kernel, grad_x.size, flat(y), flat(grad_out), dtype.type(negative_slope), flat(grad_x)
    )
