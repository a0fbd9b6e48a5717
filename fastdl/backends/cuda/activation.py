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

from fastdl.backends import activation_rules as rules
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


# -- activations differentiated from their input x (see fastdl.backends.activation_rules) --


@cache
def _rules():
    return rules.build(cuda.jit(device=True, inline=True))


@cache
def _x_forward_kernel(act, dtype):
    value, code = _rules()[0], rules.code_of(act)

    def forward(x, alpha, beta, out):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = value(code, x[i], alpha, beta)

    return cuda.jit(signature(dtype, "v", "s", "s", "v"))(forward)


@cache
def _x_backward_kernel(act, dtype):
    grad, code = _rules()[1], rules.code_of(act)

    def backward(x, grad_out, alpha, beta, grad_x):
        i = cuda.grid(1)
        if i < grad_x.size:
            grad_x[i] = grad(code, x[i], grad_out[i], alpha, beta)

    return cuda.jit(signature(dtype, "v", "v", "s", "s", "v"))(backward)


def act_x_forward(x, act, alpha, beta, out):
    """out = act(x) elementwise, for the activations differentiated from x."""
    dtype = np.dtype(out.dtype)
    kernel = _x_forward_kernel(act, dtype)
    launch_flat(kernel, out.size, flat(x), dtype.type(alpha), dtype.type(beta), flat(out))


def act_x_backward(x, grad_out, act, alpha, beta, grad_x):
    """grad_x = grad_out * act'(x), from the input x."""
    dtype = np.dtype(grad_x.dtype)
    kernel = _x_backward_kernel(act, dtype)
    args = flat(x), flat(grad_out), dtype.type(alpha), dtype.type(beta), flat(grad_x)
    launch_flat(kernel, grad_x.size, *args)
