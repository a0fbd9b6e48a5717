"""The gradient norm of the C extension (csrc/clip.c) with the signature of
fastdl.backends.spec: ``grad_norm`` over a flat (P,) buffer on the C pool, plus the
in-place scaling ``scale`` that clipping applies afterwards.

Example::

    >>> import numpy as np
    >>> from fastdl.backends.cpu.cext import clip
    >>> out = np.zeros(1)
    >>> clip.grad_norm(np.array([3.0, -4.0], np.float32), 2.0, out)
    >>> out
    array([5.])
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.cpu import cext

_CTYPES = {np.dtype(np.float32): ("float[]", "f32"), np.dtype(np.float64): ("double[]", "f64")}
_functions: dict[tuple[str, str], object] = {}  # (kernel, "f32"/"f64") -> C function


def _function(module, kernel: str, suffix: str):
    fn = _functions.get((kernel, suffix))
    if fn is None:
        fn = _functions[(kernel, suffix)] = getattr(module.lib, f"fastdl_{kernel}_{suffix}")
    return fn


def grad_norm(x, norm_type, out):
    """out[0] = the norm_type-norm of the flat buffer x, in float64 (spec: grad_norm)."""
    module = cext._module if cext._module is not None else cext._require()
    ffi = module.ffi
    if not isinstance(x, np.ndarray) or x.dtype not in _CTYPES:
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"grad_norm: x must be a float32 or float64 array, got {got}")
    if not x.flags.c_contiguous or x.ndim != 1:
        raise ValueError("grad_norm: x must be a C-contiguous (P,) array")
    if not isinstance(out, np.ndarray) or out.dtype != np.float64 or out.size != 1:
        raise TypeError("grad_norm: out must be a (1,) float64 array")
    ctype, suffix = _CTYPES[x.dtype]
    result = ffi.new("double[1]")
    status = _function(module, "grad_norm", suffix)(
        ffi.from_buffer(ctype, x), x.size, float(norm_type), result, cext._num_threads(x.size)
    )
    if status != 0:
        raise MemoryError("grad_norm: out of memory for the per-block partial norms")
    out[0] = result[0]


def scale(x, coef: float) -> None:
    """x *= coef in place over a C-contiguous float buffer, coef rounded to x's dtype."""
    module = cext._module if cext._module is not None else cext._require()
    ctype, suffix = _CTYPES[x.dtype]
    pointer = module.ffi.from_buffer(ctype, x, True)
    _function(module, "scale", suffix)(pointer, x.size, float(coef), cext._num_threads(x.size))


def mul(a, b, out):
    """The generic ``mul`` (out = a * b, broadcast), with clipping's scaling on the pool.

    ``clip_grad_norm_`` scales a flat gradient buffer in place by a (1,) coefficient of
    its dtype; above the pool's threshold that multiply runs on :func:`scale` (the same
    float products as NumPy's), every other call is NumPy's. The test is ordered so
    that the common small call pays one identity check.
    """
    if (
        out is a
        and a.size >= cext.PARALLEL_MIN_PER_THREAD * 2
        and type(b) is np.ndarray
        and b.size == 1
        and b.dtype == a.dtype
        and a.dtype in _CTYPES
        and a.flags.c_contiguous
        and a.flags.writeable
    ):
        scale(a, float(b.reshape(-1)[0]))
    else:
        np.multiply(a, b, out=out)
