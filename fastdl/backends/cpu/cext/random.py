"""The Philox 4x32-10 kernels of the C extension (csrc/philox.c) with the signatures
of fastdl.backends.spec, SIMD-wide where the CPU allows (``cext.status()["philox_isa"]``).

Each takes the common case only: a writeable, C-contiguous 1-D ``out`` of a dtype it
serves and an offset in [0, 2**64). It returns True when it wrote ``out``, and False,
having written nothing, for anything else: ``cpu/random.py`` then calls its Numba
kernel, so that odd arguments behave (and fail) exactly as they do there.

Example::

    >>> import numpy as np
    >>> from fastdl.backends.cpu.cext import random
    >>> out = np.empty(4, np.float32)
    >>> random.philox_uniform(0, 0, out), bool(((0 <= out) & (out < 1)).all())
    (True, True)
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.cpu import cext

_U32 = np.dtype(np.uint32)
_MASK64 = (1 << 64) - 1
_PHILOX_FLOAT = {
    np.dtype(np.float32): ("float[]", "f32"),
    np.dtype(np.float64): ("double[]", "f64"),
}
_functions: dict[tuple[str, str], object] = {}  # (kernel, "f32"/"f64"/"") -> C function


def _philox_call(kernel: str, out, offset, table):
    """(C function, out pointer, n, offset) for out, or None where the Numba kernel must
    serve (see the module's docstring)."""
    try:
        ctype, suffix = table[out.dtype]
        flags = out.flags
        if out.ndim != 1 or not flags.c_contiguous or not flags.writeable:
            return None
        offset = int(offset)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    if not 0 <= offset <= _MASK64:
        return None
    module = cext._module if cext._module is not None else cext._require()
    fn = _functions.get((kernel, suffix))
    if fn is None:
        name = f"fastdl_{kernel}_{suffix}" if suffix else f"fastdl_{kernel}"
        fn = _functions[(kernel, suffix)] = getattr(module.lib, name)
    n = out.size
    return fn, module.ffi.from_buffer(ctype, out, True), n, offset


def philox_uint32(seed, offset, out) -> bool:
    seed = int(seed) & _MASK64  # first, as the Numba kernel converts it first
    call = _philox_call("philox_uint32", out, offset, {_U32: ("uint32_t[]", "")})
    if call is None:
        return False
    fn, pointer, n, offset = call
    fn(pointer, n, seed, offset, cext._num_threads(n))
    return True


def philox_uniform(seed, offset, out) -> bool:
    seed = int(seed) & _MASK64
    call = _philox_call("philox_uniform", out, offset, _PHILOX_FLOAT)
    if call is None:
        return False
    fn, pointer, n, offset = call
    fn(pointer, n, seed, offset, cext._num_threads(n))
    return True


def philox_normal(seed, offset, mean, std, out) -> bool:
    seed, mean, std = int(seed) & _MASK64, float(mean), float(std)
    call = _philox_call("philox_normal", out, offset, _PHILOX_FLOAT)
    if call is None:
        return False
    fn, pointer, n, offset = call
    fn(pointer, n, seed, offset, mean, std, cext._num_threads(n))
    return True


def philox_bernoulli(seed, offset, p, out) -> bool:
    seed, p = int(seed) & _MASK64, float(p)
    call = _philox_call("philox_bernoulli", out, offset, _PHILOX_FLOAT)
    if call is None:
        return False
    fn, pointer, n, offset = call
    fn(pointer, n, seed, offset, p, cext._num_threads(n))
    return True
