"""The C GEMM (``csrc/gemm.c``) as the CPU backend's dense-layer kernels.

One C function, ``fastdl_gemm_f32/f64``, serves them all: the forward with its bias and
activation epilogue (``linear``, ``linear_act``, ``gemm_bias_act``) and the backward
pieces with the activation's derivative applied while grad_out is packed and the bias
gradient summed in the same pass (``linear_backward``, ``linear_act_backward``,
``gemm_bias_act_backward``). Operands go to C as a pointer, a row stride and a
transpose flag, so ``weight.T`` and other transposed views cost nothing.

Every argument is checked here, before the C call, so a bad one raises a
``TypeError``/``ValueError`` naming it and nothing is written. Which batch sizes go to
these kernels rather than OpenBLAS is ``cpu/linear.py``'s choice (``C_MAX_BATCH``).

Example::

    >>> import numpy as np
    >>> from fastdl.backends.cpu.cext import linear
    >>> a, b = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    >>> out = np.empty((2, 4), np.float32)
    >>> linear.gemm_bias_act(a, b, None, "relu", 0.0, out)
    >>> out[0]
    array([3., 3., 3., 3.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.cpu import cext
from fastdl.threads import get_num_threads

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_CTYPES = {_F32: ("float[]", "f32"), _F64: ("double[]", "f64")}

# Activation codes of fastdl_gemm_*: 0 is none.
ACT_CODES = {None: 0, "relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4}


class _Call:
    """The arguments of one fastdl_gemm_* call, checked as they are added."""

    def __init__(self, kernel: str, name: str, first) -> None:
        """``first``: the argument ``name`` whose dtype every array must share."""
        self.kernel = kernel
        self.module = cext._module if cext._module is not None else cext._require()
        self.ffi = self.module.ffi
        dtype = first.dtype if isinstance(first, np.ndarray) else type(first).__name__
        if dtype not in _CTYPES:
            raise TypeError(f"{kernel}: {name} must be float32 or float64, got {dtype}")
        self.dtype = dtype
        self.ctype, self.suffix = _CTYPES[dtype]

    def _array(self, name: str, x, ndim: int):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.kernel}: {name} must be a NumPy array, got {type(x).__name__}")
        if x.dtype != self.dtype:
            raise TypeError(f"{self.kernel}: {name} must be {self.dtype}, got {x.dtype}")
        if x.ndim != ndim:
            raise ValueError(f"{self.kernel}: {name} must be {ndim}-D, got shape {x.shape}")
        return x

    def operand(self, name: str, x, shape: tuple, like=None):
        """(pointer, row stride, transposed) of a 2-D operand of logical shape ``shape``.

        C-contiguous arrays and transposes of C-contiguous arrays pass as they are;
        any other layout is copied. ``like``: lay x out as that operand's tuple.
        """
        x = self._array(name, x, 2)
        if x.shape != shape:
            raise ValueError(f"{self.kernel}: {name} must have shape {shape}, got {x.shape}")
        if like is not None:
            transposed = like[2]
            stored = np.ascontiguousarray(x.T if transposed else x)
            return self._pointer(stored), like[1], transposed
        if x.flags.c_contiguous:
            return self._pointer(x), max(1, x.shape[1]), 0
        if x.flags.f_contiguous:
            return self._pointer(x.T), max(1, x.shape[0]), 1
        return self._pointer(np.ascontiguousarray(x)), max(1, x.shape[1]), 0

    def vector(self, name: str, x, length: int, written: bool = False):
        """The pointer of a 1-D array of ``length`` elements, or NULL for None."""
        if x is None:
            return self.ffi.NULL
        x = self._array(name, x, 1)
        if x.shape != (length,):
            raise ValueError(f"{self.kernel}: {name} must have shape ({length},), got {x.shape}")
        return self._output(name, x) if written else self._pointer(np.ascontiguousarray(x))

    def output(self, name: str, x, shape: tuple):
        x = self._array(name, x, 2)
        if x.shape != shape:
            raise ValueError(f"{self.kernel}: {name} must have shape {shape}, got {x.shape}")
        return self._output(name, x)

    def _output(self, name: str, x):
        if not x.flags.c_contiguous:
            raise ValueError(f"{self.kernel}: {name} must be C-contiguous")
        if not x.flags.writeable:
            raise ValueError(f"{self.kernel}: {name} is read-only but {self.kernel} writes it")
        return self.ffi.from_buffer(self.ctype, x, True)

    def _pointer(self, x):
        return self.ffi.from_buffer(self.ctype, x)

    def act(self, name: str, act) -> int:
        try:
            return ACT_CODES[act]
        except (KeyError, TypeError):
            names = sorted(k for k in ACT_CODES if k)
            raise ValueError(
                f"{self.kernel}: {name} must be None or one of {names}, got {act!r}"
            ) from None

    def run(self, m, n, k, a, b, mask_act=0, slope=0.0, bias=None, act=0, c=None, sums=(None,) * 4):
        slope = float(slope)
        """Call fastdl_gemm_<dtype>: a and b are operand() tuples, c an output pointer."""
        mask_a, sum_a, mask_b, sum_b = (self.ffi.NULL if s is None else s for s in sums)
        fn = getattr(self.module.lib, f"fastdl_gemm_{self.suffix}")
        bias = self.ffi.NULL if bias is None else bias
        threads = get_num_threads()
        status = fn(
            m, n, k, *a, mask_a, sum_a, *b, mask_b, sum_b, mask_act, slope, bias, act, c, n, threads
        )
        if status != 0:
            raise MemoryError(f"{self.kernel}: the C GEMM could not allocate its packing buffers")


def _product(kernel: str, a, b):
    """The _Call of a gemm_bias_act kernel, (m, k, n) and the operands a (m, k), b (k, n)."""
    call = _Call(kernel, "a", a)
    a = call._array("a", a, 2)
    b = call._array("b", b, 2)
    (m, k), n = a.shape, b.shape[1]
    return call, (m, k, n), call.operand("a", a, (m, k)), call.operand("b", b, (k, n))


def gemm_bias_act(a, b, bias, act, negative_slope, out):
    call, (m, k, n), pa, pb = _product("gemm_bias_act", a, b)
    pbias = call.vector("bias", bias, n)
    code = call.act("act", act)
    pout = call.output("out", out, (m, n))
    call.run(m, n, k, pa, pb, slope=negative_slope, bias=pbias, act=code, c=pout)


def linear(x, weight, bias, out):
    _linear_forward("linear", x, weight, bias, None, 0.0, out)


def linear_act(x, weight, bias, act, negative_slope, out):
    _linear_forward("linear_act", x, weight, bias, act, negative_slope, out)


def _fast(dtype, arrays, outputs) -> bool:
    """Whether every array is a C-contiguous ndarray of ``dtype`` (None skipped) and
    every output writeable too: the layout the dense layer's kernels get in training,
    passed to C without the checks of _Call."""
    for x in arrays:
        if x is not None and (
            type(x) is not np.ndarray or x.dtype != dtype or not x.flags.c_contiguous
        ):
            return False
    return all(x is None or x.flags.writeable for x in outputs)


_FAST_TYPES = {_F32: ("float[]", "fastdl_gemm_f32"), _F64: ("double[]", "fastdl_gemm_f64")}


def _fast_call(dtype):
    """(ffi, cdata type, C function) for dtype: the fast paths' entry."""
    module = cext._module if cext._module is not None else cext._require()
    ctype, name = _FAST_TYPES[dtype]
    return module.ffi, ctype, getattr(module.lib, name)


def _linear_forward(kernel, x, weight, bias, act, negative_slope, out):
    dtype = getattr(x, "dtype", None)
    if (
        dtype in _FAST_TYPES
        and act in ACT_CODES
        and _fast(dtype, (x, weight, bias, out), (out,))
        and x.ndim == 2
        and weight.ndim == 2
        and x.shape[1] == weight.shape[1]
        and out.shape == (x.shape[0], weight.shape[0])
        and (bias is None or bias.shape == weight.shape[:1])
    ):
        ffi, ctype, fn = _fast_call(dtype)
        (n, k), m_out = x.shape, weight.shape[0]
        null, buf = ffi.NULL, ffi.from_buffer
        status = fn(
            n, m_out, k, buf(ctype, x), max(1, k), 0, null, null,
            buf(ctype, weight), max(1, k), 1, null, null, 0, float(negative_slope),
            null if bias is None else buf(ctype, bias), ACT_CODES[act],
            buf(ctype, out, True), m_out, get_num_threads(),
        )  # fmt: skip
        if status == 0:
            return
    _linear_forward_checked(kernel, x, weight, bias, act, negative_slope, out)


def _linear_forward_checked(kernel, x, weight, bias, act, negative_slope, out):
    call = _Call(kernel, "x", x)
    weight = call._array("weight", weight, 2)
    m_out, k = weight.shape
    x = call._array("x", x, 2)
    pa = call.operand("x", x, (x.shape[0], k))
    pb = call.operand("weight.T", weight.T, (k, m_out))
    pbias = call.vector("bias", bias, m_out)
    code = call.act("act", act)
    pout = call.output("out", out, (x.shape[0], m_out))
    call.run(x.shape[0], m_out, k, pa, pb, slope=negative_slope, bias=pbias, act=code, c=pout)


def linear_backward(x, weight, grad_out, grad_x, grad_weight, grad_bias):
    args = (x, weight, None, grad_out, None, 0.0, grad_x, grad_weight, grad_bias)
    _linear_grads("linear_backward", *args)


def linear_act_backward(
    x, weight, out, grad_out, act, negative_slope, grad_x, grad_weight, grad_bias
):
    args = (x, weight, out, grad_out, act, negative_slope, grad_x, grad_weight, grad_bias)
    _linear_grads("linear_act_backward", *args)


def _linear_grads(kernel, x, weight, out, grad_out, act, slope, grad_x, grad_weight, grad_bias):
    """grad_x = g @ weight and grad_weight = g.T @ x with grad_bias = g.sum(0) in the same
    pass, g = grad_out * act'(out) formed as grad_out is packed."""
    dtype = getattr(x, "dtype", None)
    arrays = (x, weight, out, grad_out, grad_x, grad_weight, grad_bias)
    if (
        dtype in _FAST_TYPES
        and act in ACT_CODES
        and grad_weight is not None
        and _fast(dtype, arrays, (grad_x, grad_weight, grad_bias))
        and x.ndim == 2
        and weight.ndim == 2
        and x.shape[1] == weight.shape[1]
        and grad_out.shape == (x.shape[0], weight.shape[0])
        and (out is None or out.shape == grad_out.shape)
        and (grad_x is None or grad_x.shape == x.shape)
        and grad_weight.shape == weight.shape
        and (grad_bias is None or grad_bias.shape == weight.shape[:1])
    ):
        ffi, ctype, fn = _fast_call(dtype)
        (batch, k), m_out = x.shape, weight.shape[0]
        null, buf = ffi.NULL, ffi.from_buffer
        g, code = buf(ctype, grad_out), 0 if out is None else ACT_CODES[act]
        mask = null if out is None else buf(ctype, out)
        threads, slope = get_num_threads(), float(slope)
        status = 0
        if grad_x is not None:
            status = fn(
                batch, k, m_out, g, max(1, m_out), 0, mask, null, buf(ctype, weight), max(1, k),
                0, null, null, code, slope, null, 0, buf(ctype, grad_x, True), k, threads,
            )  # fmt: skip
        if status == 0:
            status = fn(
                m_out, k, batch, g, max(1, m_out), 1, mask,
                null if grad_bias is None else buf(ctype, grad_bias, True),
                buf(ctype, x), max(1, k), 0, null, null, code, slope, null, 0,
                buf(ctype, grad_weight, True), k, threads,
            )  # fmt: skip
        if status == 0:
            return
    _linear_grads_checked(
        kernel, x, weight, out, grad_out, act, slope, grad_x, grad_weight, grad_bias
    )


def _linear_grads_checked(
    kernel, x, weight, out, grad_out, act, slope, grad_x, grad_weight, grad_bias
):
    call = _Call(kernel, "x", x)
    x = call._array("x", x, 2)
    weight = call._array("weight", weight, 2)
    batch, (m_out, k) = x.shape[0], weight.shape
    if x.shape[1] != k:
        raise ValueError(f"{kernel}: x has shape {x.shape} but weight has shape {weight.shape}")
    g = call.operand("grad_out", grad_out, (batch, m_out))
    code = 0 if out is None else call.act("act", act)
    mask = None if out is None else call.operand("out", out, (batch, m_out), like=g)[0]
    px = call.operand("x", x, (batch, k))
    pw = call.operand("weight", weight, (m_out, k))
    pgx = None if grad_x is None else call.output("grad_x", grad_x, (batch, k))
    pgw = None if grad_weight is None else call.output("grad_weight", grad_weight, (m_out, k))
    pgb = call.vector("grad_bias", grad_bias, m_out, written=True)
    if grad_weight is None and grad_bias is not None:
        _bias_grad_only(call, g, mask, code, slope, batch, m_out, pgb)
    if pgx is not None:
        call.run(batch, k, m_out, g, pw, code, slope, c=pgx, sums=(mask, None, None, None))
    if pgw is not None:
        g_t = (g[0], g[1], 1 - g[2])  # grad_out.T: the same buffer, the other layout
        sums = (mask, None if grad_bias is None else pgb, None, None)
        call.run(m_out, k, batch, g_t, px, code, slope, c=pgw, sums=sums)


def _bias_grad_only(call, g, mask, code, slope, rows, cols, pgb):
    """grad_bias = the column sums of g: a GEMM with a 1 x rows matrix of ones."""
    ones = np.ones((1, rows), call.dtype)
    scratch = np.empty((1, cols), call.dtype)
    pones = call.operand("ones", ones, (1, rows))
    pscratch = call.output("scratch", scratch, (1, cols))
    call.run(1, cols, rows, pones, g, code, slope, c=pscratch, sums=(None, None, mask, pgb))


def gemm_bias_act_backward(a, b, out, grad_out, act, negative_slope, grad_a, grad_b, grad_bias):
    call, (m, k, n), pa, pb = _product("gemm_bias_act_backward", a, b)
    g = call.operand("grad_out", grad_out, (m, n))
    code = call.act("act", act)
    mask = None if act is None else call.operand("out", out, (m, n), like=g)[0]
    pga = None if grad_a is None else call.output("grad_a", grad_a, (m, k))
    pgb = None if grad_b is None else call.output("grad_b", grad_b, (k, n))
    pbias = call.vector("grad_bias", grad_bias, n, written=True)
    if pga is not None:
        b_t = (pb[0], pb[1], 1 - pb[2])
        call.run(m, k, n, g, b_t, code, negative_slope, c=pga, sums=(mask, None, None, None))
    if pgb is not None:
        a_t = (pa[0], pa[1], 1 - pa[2])
        sums = (None, None, mask, None if grad_bias is None else pbias)
        call.run(k, n, m, a_t, g, code, negative_slope, c=pgb, sums=sums)
    elif grad_bias is not None:
        _bias_grad_only(call, g, mask, code, negative_slope, m, n, pbias)
