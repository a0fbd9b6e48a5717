"""C im2col / col2im kernels (csrc/im2col.c) wrapped with the signatures of fastdl.backends.spec.

:func:`im2col` and :func:`col2im` are the spec kernels (cols (C*KH*KW, N, OH, OW));
:func:`unfold` and :func:`fold` are what ``cpu/conv.py`` calls: the same kernels on
columns (C*KH*KW, N, OH*rw) whose output rows are ``rw >= OW`` wide (the extra
columns zero, or wrapped-around pixels where stride is 1 and rw = W; see
csrc/fastdl_cext.h), with padding that may be negative (rows/columns of x skipped).
Every argument is checked before the C code runs; the GIL is released around it.

Example::

    >>> import numpy as np
    >>> from fastdl.backends.cpu.cext import conv
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> cols = np.empty((4, 1, 2, 2))
    >>> conv.im2col(x, 2, 2, 1, 1, 0, 0, 1, 1, cols)
    >>> cols[:, 0, 0, 0]  # the taps of output pixel (0, 0)
    array([0., 1., 3., 4.])
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.cpu import cext

# Elements per thread below which a call stays on one thread: waking the worker costs
# 35-40 us on the 2-core development machine, about a 1 MB copy (see _threads).
PARALLEL_MIN_PER_THREAD = 1 << 19

_CTYPES = {np.dtype(np.float32): ("float[]", "f32"), np.dtype(np.float64): ("double[]", "f64")}
_functions: dict[tuple[str, str], object] = {}


def _threads(n: int) -> int:
    if n < 2 * PARALLEL_MIN_PER_THREAD:
        return 1
    from fastdl.threads import get_num_threads

    return max(1, min(get_num_threads(), n // PARALLEL_MIN_PER_THREAD))


def _array(kernel: str, name: str, a, ndim: int, dtype=None, written: bool = False):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{kernel}: {name} must be a NumPy array, got {type(a).__name__}")
    if dtype is None and a.dtype not in _CTYPES:
        raise TypeError(f"{kernel}: {name} must be float32 or float64, got {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{kernel}: {name} must be {dtype} like the other array, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{kernel}: {name} must be {ndim}-D, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{kernel}: {name} must be C-contiguous")
    if written and not a.flags.writeable:
        raise ValueError(f"{kernel}: {name} is read-only but {kernel} writes it")


def _ints(kernel: str, names: tuple, values: tuple, low: int | None) -> tuple:
    out = []
    for name, v in zip(names, values, strict=True):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{kernel}: {name} must be an int, got {type(v).__name__}")
        if low is not None and v < low:
            raise ValueError(f"{kernel}: {name} must be >= {low}, got {v}")
        out.append(int(v))
    return tuple(out)


def _call(kernel, src, dst, x_shape, kernel_hw, stride, pad, dil, oh, ow, rw):
    """Run fastdl_<kernel>_<f32|f64>; src/dst are checked arrays of one dtype."""
    module = cext._module if cext._module is not None else cext._require()
    ctype, suffix = _CTYPES[src.dtype]
    fn = _functions.get((kernel, suffix))
    if fn is None:
        fn = _functions[(kernel, suffix)] = getattr(module.lib, f"fastdl_{kernel}_{suffix}")
    ffi = module.ffi
    n = dst.size
    fn(
        ffi.from_buffer(ctype, src),
        *x_shape,
        *kernel_hw,
        *stride,
        *pad,
        *dil,
        oh,
        ow,
        rw,
        ffi.from_buffer(ctype, dst, True),
        _threads(n),
    )


def _check(kernel, x, cols, geometry, pads_low, out_hw, rw, x_written):
    """Check everything, return the ints: (kh, kw), stride, pad, dilation, (oh, ow), rw."""
    x_name, cols_name = ("grad_x", "cols") if x_written else ("x", "cols")
    _array(kernel, x_name, x, 4, written=x_written)
    _array(kernel, cols_name, cols, cols.ndim if isinstance(cols, np.ndarray) else 0, x.dtype)
    kh, kw, sh, sw, dh, dw = _ints(
        kernel,
        ("kernel_h", "kernel_w", "stride_h", "stride_w", "dil_h", "dil_w"),
        (geometry[0], geometry[1], geometry[2], geometry[3], geometry[6], geometry[7]),
        1,
    )
    ph, pw = _ints(kernel, ("pad_h", "pad_w"), geometry[4:6], pads_low)
    oh, ow, rw = _ints(kernel, ("OH", "OW", "rw"), (*out_hw, rw), 0)
    if rw < ow:
        raise ValueError(f"{kernel}: rw must be >= OW = {ow}, got {rw}")
    n, c = x.shape[:2]
    rows, size = c * kh * kw, n * oh * rw
    if cols.size != rows * size or cols.shape[:2] != (rows, n):
        raise ValueError(
            f"{kernel}: cols must be ({rows}, {n}, ...) with {rows * size} elements for "
            f"{x_name} {x.shape}, a {kh}x{kw} kernel and output {oh}x{ow}, got {cols.shape}"
        )
    if not x_written and not cols.flags.writeable:
        raise ValueError(f"{kernel}: cols is read-only but {kernel} writes it")
    if np.may_share_memory(x, cols):
        raise ValueError(f"{kernel}: {x_name} and cols must not overlap")
    return (kh, kw), (sh, sw), (ph, pw), (dh, dw), oh, ow, rw


def unfold(x, kh, kw, sh, sw, top, left, dh, dw, oh, ow, rw, cols) -> None:
    """cols (C*KH*KW, N, OH*rw) = the columns of x (N,C,H,W), rows ``rw`` wide."""
    geo = _check("im2col", x, cols, (kh, kw, sh, sw, top, left, dh, dw), None, (oh, ow), rw, False)
    _call("im2col", x, cols, x.shape, *geo)


def fold(cols, kh, kw, sh, sw, top, left, dh, dw, oh, ow, rw, x) -> None:
    """x (N,C,H,W) = col2im of cols (C*KH*KW, N, OH*rw); columns z >= OW are not read."""
    geo = _check("col2im", x, cols, (kh, kw, sh, sw, top, left, dh, dw), None, (oh, ow), rw, True)
    _call("col2im", cols, x, x.shape, *geo)


def _spec_out(kernel: str, cols) -> tuple:
    if not isinstance(cols, np.ndarray) or cols.ndim != 4:
        got = cols.shape if isinstance(cols, np.ndarray) else type(cols).__name__
        raise ValueError(f"{kernel}: cols must be a 4-D array (C*KH*KW, N, OH, OW), got {got}")
    return cols.shape[2], cols.shape[3]


def im2col(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, cols) -> None:
    """The spec kernel: cols (C*KH*KW, N, OH, OW) = the taps of x (N,C,H,W)."""
    oh, ow = _spec_out("im2col", cols)
    geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
    geo = _check("im2col", x, cols, geometry, 0, (oh, ow), ow, False)
    _call("im2col", x, cols, x.shape, *geo)


def col2im(
    cols, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, grad_x
) -> None:
    """The spec kernel: grad_x (N,C,H,W) = the adjoint of im2col applied to cols."""
    oh, ow = _spec_out("col2im", cols)
    geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
    geo = _check("col2im", grad_x, cols, geometry, 0, (oh, ow), ow, True)
    _call("col2im", cols, grad_x, grad_x.shape, *geo)


def _operand(a) -> tuple[np.ndarray, int, int]:
    """(stored array, row stride, transposed) of a 2-D operand that is C-contiguous or
    the transpose of a C-contiguous array (any other layout is copied)."""
    if a.flags.c_contiguous:
        return a, max(1, a.shape[1]), 0
    if a.T.flags.c_contiguous:
        return a.T, max(1, a.shape[0]), 1
    return np.ascontiguousarray(a), max(1, a.shape[1]), 0


def matmul(a, b, out) -> None:
    """out[g] = a[g] @ b[g] for grouped (G, M, K) @ (G, K, N) -> (G, M, N) on the C GEMM.

    a[g] and b[g] may be transposed views (``x.transpose(0, 2, 1)``) of C-contiguous
    arrays; out must be C-contiguous and of a's dtype. Runs on fastdl's threads.

    Example::

        >>> a = np.ones((1, 2, 3), np.float32); b = np.ones((1, 3, 4), np.float32)
        >>> out = np.empty((1, 2, 4), np.float32)
        >>> matmul(a, b, out); out[0, 0]
        array([3., 3., 3., 3.], dtype=float32)
    """
    from fastdl.threads import get_num_threads

    for name, arr in (("a", a), ("b", b)):
        if not isinstance(arr, np.ndarray) or arr.ndim != 3 or arr.dtype not in _CTYPES:
            raise TypeError(f"matmul: {name} must be a 3-D float32 or float64 array")
    if b.dtype != a.dtype:
        raise TypeError(f"matmul: b must be {a.dtype} like a, got {b.dtype}")
    _array("matmul", "out", out, 3, a.dtype, True)
    g, m, k = a.shape
    n = b.shape[2]
    if b.shape[:2] != (g, k) or out.shape != (g, m, n):
        raise ValueError(f"matmul: shapes {a.shape} @ {b.shape} -> {out.shape} do not match")
    if k == 0 or out.size == 0:
        out.fill(0)
        return
    module = cext._module if cext._module is not None else cext._require()
    ctype, suffix = _CTYPES[a.dtype]
    fn = getattr(module.lib, f"fastdl_gemm_{suffix}")
    ffi, null, threads = module.ffi, module.ffi.NULL, get_num_threads()
    for i in range(g):
        sa, lda, ta = _operand(a[i])
        sb, ldb, tb = _operand(b[i])
        status = fn(
            m, n, k, ffi.from_buffer(ctype, sa), lda, ta, null, null,
            ffi.from_buffer(ctype, sb), ldb, tb, null, null, 0, 0.0, null, 0,
            ffi.from_buffer(ctype, out[i], True), max(1, n), threads,
        )  # fmt: skip
        if status != 0:
            raise MemoryError("matmul: the C GEMM could not allocate its packing buffers")
