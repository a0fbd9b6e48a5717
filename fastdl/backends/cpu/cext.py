"""The C extension (``fastdl._cext``, built by setup.py through cffi) as CPU kernels.

:func:`kernels` returns the kernels the extension serves, wrapped with exactly
the signatures of :mod:`fastdl.backends.spec`; the CPU backend lets them replace
its Numba versions. It returns ``{}`` when the extension is not built or when
``FASTDL_CEXT=0``, and the Numba kernels serve alone. ``FASTDL_CEXT_GEMM=0`` keeps
only the dense layers on the Numba kernels (OpenBLAS plus an epilogue pass), to
compare the two.

The compiled module is imported on first use (about a millisecond), not when
this module is imported.

Example::

    >>> from fastdl.backends.cpu import cext
    >>> status = cext.status()
    >>> status["loaded"], status["enabled"], status["reason"]
    (True, True, '')
    >>> status["gemm_isa"] in ("AVX-512F", "AVX2+FMA", "portable C")  # run-time choice
    True
    >>> sorted(cext.kernels())  # doctest: +NORMALIZE_WHITESPACE
    ['adagrad_step', 'adam_step', 'col2im', 'conv2d', 'conv2d_backward',
     'gemm_bias_act', 'gemm_bias_act_backward', 'im2col', 'linear', 'linear_act',
     'linear_act_backward', 'linear_backward', 'philox_bernoulli', 'philox_normal',
     'philox_uint32', 'philox_uniform', 'rmsprop_step', 'sgd_step']

The families: the optimizer steps and Philox here; the GEMM behind the dense layers
(``cext_gemm``); im2col/col2im behind Conv2d (``cext_im2col``). They share one
thread pool (``csrc/parallel.c``) of ``fastdl.get_num_threads()`` threads: a step
over ``n`` elements uses ``min(fastdl.get_num_threads(), n //
PARALLEL_MIN_PER_THREAD)`` threads, the Philox kernels split large outputs the same
way, and the GEMM splits C into blocks above about 1M multiply-adds. Results do not
depend on the thread count.
"""

from __future__ import annotations

import importlib
import os
import warnings

import numpy as np

ENV_VAR = "FASTDL_CEXT"

# Elements per thread below which a step stays on one thread. On the 2-core
# development machine two threads pay off from about 1M float32 parameters (an Adam
# step there takes ~0.2 ms, waking the worker thread 35-40 us), when the memory
# bandwidth allows; see benchmarks/README.md, "Optimizers".
PARALLEL_MIN_PER_THREAD = 1 << 19

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)

_CTYPES = {_F32: ("float[]", "f32"), _F64: ("double[]", "f64")}

_module = None  # fastdl._cext once imported
_load_error: str | None = None  # why it could not be, once tried
_warned = False
_functions: dict[tuple[str, str], object] = {}  # (kernel, "f32"/"f64") -> C function


def _load():
    global _module, _load_error
    if _module is None and _load_error is None:
        try:
            # Not `from fastdl import _cext`: that would return any attribute of
            # that name on the package instead of importing the submodule.
            _cext = importlib.import_module("fastdl._cext")
        except ImportError as exc:
            _load_error = (
                f"fastdl._cext is not built or does not load ({exc}); "
                'reinstall with a C compiler at hand: pip install -e ".[dev]"'
            )
        else:
            _module = _cext
    return _module


def _require():
    module = _load()
    if module is None:
        raise RuntimeError(_load_error)
    return module


def _enabled() -> bool:
    return os.environ.get(ENV_VAR, "1") != "0"


def status() -> dict:
    """Whether the C extension is loaded and enabled, and if not, why.

    Keys: ``loaded`` (the compiled module imported), ``enabled`` (``FASTDL_CEXT``
    is not ``"0"``), ``reason`` (empty when both hold) and ``path`` (the
    compiled module's file, or ``""``).
    """
    module = _load()
    enabled = _enabled()
    if module is None:
        reason = _load_error
    elif not enabled:
        reason = f"disabled by {ENV_VAR}=0"
    else:
        reason = ""
    return {
        "loaded": module is not None,
        "enabled": enabled,
        "reason": reason,
        "path": getattr(module, "__file__", "") if module is not None else "",
        "philox_isa": _PHILOX_ISA[module.lib.fastdl_philox_level()] if module else "",
        "gemm_isa": _GEMM_ISA[module.lib.fastdl_gemm_level()] if module else "",
    }


# fastdl_philox_level(): the instruction set the C Philox kernels chose at run time.
_PHILOX_ISA = ("portable C", "SSE2", "AVX2", "AVX-512F")
# fastdl_gemm_level(): the GEMM microkernels chosen at run time (level 1 is unused).
_GEMM_ISA = ("portable C", "", "AVX2+FMA", "AVX-512F")


def kernels() -> dict:
    """The kernels the C extension serves, by spec name; ``{}`` if unbuilt or disabled."""
    if not _enabled() or _load() is None:
        return {}
    return {
        "sgd_step": sgd_step,
        "adam_step": adam_step,
        "adagrad_step": adagrad_step,
        "rmsprop_step": rmsprop_step,
        "philox_uint32": philox_uint32,
        "philox_uniform": philox_uniform,
        "philox_normal": philox_normal,
        "philox_bernoulli": philox_bernoulli,
        **(_submodule_kernels("cext_gemm") if os.environ.get("FASTDL_CEXT_GEMM") != "0" else {}),
        **_submodule_kernels("cext_im2col"),
    }


def _submodule_kernels(name: str) -> dict:
    """The ``KERNELS`` dict of fastdl.backends.cpu.<name>: wrappers of more C kernels."""
    return importlib.import_module(f"fastdl.backends.cpu.{name}").KERNELS


def warn_if_missing() -> None:
    """Warn once per process (RuntimeWarning) if the C extension is enabled but not built."""
    global _warned
    if _warned or not _enabled() or _load() is not None:
        return
    _warned = True
    warnings.warn(
        f"{_load_error}. The Numba kernels serve instead; set {ENV_VAR}=0 to silence this.",
        RuntimeWarning,
        stacklevel=2,
    )


def _num_threads(n: int) -> int:
    """Threads for a step over ``n`` elements: fastdl.get_num_threads(), fewer for small n."""
    if n < 2 * PARALLEL_MIN_PER_THREAD:
        return 1
    from fastdl.threads import get_num_threads

    return max(1, min(get_num_threads(), n // PARALLEL_MIN_PER_THREAD))


def _explain(kernel: str, arrays: tuple) -> None:
    """Raise the error naming the first bad array argument (the slow path).

    ``arrays`` holds ``(name, array, used, written)`` for every array argument, param
    first; arrays the options leave unused are not checked.
    """
    param = arrays[0][1]
    if not isinstance(param, np.ndarray) or param.dtype not in _CTYPES:
        got = param.dtype if isinstance(param, np.ndarray) else type(param).__name__
        raise TypeError(f"{kernel}: param must be a float32 or float64 array, got {got}")
    for name, array, used, written in arrays:
        if not used:
            continue
        if not isinstance(array, np.ndarray):
            raise TypeError(f"{kernel}: {name} must be a NumPy array, got {type(array).__name__}")
        if array.dtype != param.dtype:
            raise TypeError(f"{kernel}: {name} must be {param.dtype} like param, got {array.dtype}")
        if array.size != param.size:
            raise ValueError(
                f"{kernel}: {name} must have {param.size} elements like param, got {array.size}"
            )
        if not array.flags.c_contiguous:
            raise ValueError(f"{kernel}: {name} must be C-contiguous")
        if written and not array.flags.writeable:
            raise ValueError(f"{kernel}: {name} is read-only but {kernel} writes it")


def _prepare(kernel: str, arrays: tuple, step: int | None = None):
    """The C function for param's dtype and a pointer per array (NULL where unused).

    Every check happens here, before the kernel writes anything. The fast path is a
    few attribute reads per array; ffi.from_buffer itself refuses non-contiguous and
    (with True) read-only arrays. Buffers go to C as views, and must not overlap.
    """
    module = _module if _module is not None else _require()
    param = arrays[0][1]
    ffi = module.ffi
    pointers = []
    try:
        dtype = param.dtype
        n = param.size
        ctype, suffix = _CTYPES[dtype]
        for _, array, used, written in arrays:
            if not used:
                pointers.append(ffi.NULL)
            elif array.dtype == dtype and array.size == n:
                pointers.append(ffi.from_buffer(ctype, array, written))
            else:
                raise TypeError
    except (AttributeError, KeyError, TypeError, ValueError, BufferError):
        _explain(kernel, arrays)
        raise
    if step is not None and step < 1:
        raise ValueError(f"{kernel}: step must be >= 1 (the count after this step), got {step}")
    fn = _functions.get((kernel, suffix))
    if fn is None:
        fn = _functions[(kernel, suffix)] = getattr(module.lib, f"fastdl_{kernel}_{suffix}")
    return fn, pointers, n


def sgd_step(
    param,
    grad,
    momentum_buffer,
    lr,
    momentum,
    dampening,
    weight_decay,
    nesterov,
    first_step,
    maximize,
):
    momentum = float(momentum)
    fn, pointers, n = _prepare(
        "sgd_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("momentum_buffer", momentum_buffer, momentum != 0, True),
        ),
    )
    fn(
        *pointers,
        n,
        float(lr),
        momentum,
        float(dampening),
        float(weight_decay),
        1 if nesterov else 0,
        1 if first_step else 0,
        1 if maximize else 0,
        _num_threads(n),
    )


def adam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    max_exp_avg_sq,
    step,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    amsgrad,
    decoupled_weight_decay,
):
    step = int(step)
    fn, pointers, n = _prepare(
        "adam_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("exp_avg", exp_avg, True, True),
            ("exp_avg_sq", exp_avg_sq, True, True),
            ("max_exp_avg_sq", max_exp_avg_sq, bool(amsgrad), True),
        ),
        step,
    )
    fn(
        *pointers,
        n,
        step,
        float(lr),
        float(beta1),
        float(beta2),
        float(eps),
        float(weight_decay),
        1 if amsgrad else 0,
        1 if decoupled_weight_decay else 0,
        _num_threads(n),
    )


def adagrad_step(
    param,
    grad,
    state_sum,
    step,
    lr,
    lr_decay,
    weight_decay,
    eps,
    maximize,
):
    step = int(step)
    fn, pointers, n = _prepare(
        "adagrad_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("state_sum", state_sum, True, True),
        ),
        step,
    )
    fn(
        *pointers,
        n,
        step,
        float(lr),
        float(lr_decay),
        float(weight_decay),
        float(eps),
        1 if maximize else 0,
        _num_threads(n),
    )


def rmsprop_step(
    param,
    grad,
    square_avg,
    momentum_buffer,
    grad_avg,
    lr,
    alpha,
    eps,
    weight_decay,
    momentum,
    centered,
    maximize,
):
    momentum = float(momentum)
    fn, pointers, n = _prepare(
        "rmsprop_step",
        (
            ("param", param, True, True),
            ("grad", grad, True, False),
            ("square_avg", square_avg, True, True),
            ("momentum_buffer", momentum_buffer, momentum > 0, True),
            ("grad_avg", grad_avg, bool(centered), True),
        ),
    )
    fn(
        *pointers,
        n,
        float(lr),
        float(alpha),
        float(eps),
        float(weight_decay),
        momentum,
        1 if centered else 0,
        1 if maximize else 0,
        _num_threads(n),
    )


# -- Philox 4x32-10 ----------------------------------------------------------------

_U32 = np.dtype(np.uint32)
_MASK64 = (1 << 64) - 1
_PHILOX_FLOAT = {_F32: ("float[]", "f32"), _F64: ("double[]", "f64")}


def _philox_call(kernel: str, out, offset, table):
    """(C function, out pointer, n, offset) for out, or None where the Numba kernel must serve.

    The C path takes the common case: a writeable, C-contiguous 1-D out of a dtype
    in ``table`` and an offset in [0, 2**64). Anything else goes to the Numba
    kernel, so that odd arguments behave (and fail) exactly as they do there.
    """
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
    module = _module if _module is not None else _require()
    fn = _functions.get((kernel, suffix))
    if fn is None:
        name = f"fastdl_{kernel}_{suffix}" if suffix else f"fastdl_{kernel}"
        fn = _functions[(kernel, suffix)] = getattr(module.lib, name)
    n = out.size
    return fn, module.ffi.from_buffer(ctype, out, True), n, offset


def _numba(name: str):
    from fastdl.backends.cpu import random

    return getattr(random, name)


def philox_uint32(seed, offset, out):
    seed = int(seed) & _MASK64  # first, as the Numba kernel converts it first
    call = _philox_call("philox_uint32", out, offset, {_U32: ("uint32_t[]", "")})
    if call is None:
        return _numba("philox_uint32")(seed, offset, out)
    fn, pointer, n, offset = call
    fn(pointer, n, seed, offset, _num_threads(n))


def philox_uniform(seed, offset, out):
    seed = int(seed) & _MASK64
    call = _philox_call("philox_uniform", out, offset, _PHILOX_FLOAT)
    if call is None:
        return _numba("philox_uniform")(seed, offset, out)
    fn, pointer, n, offset = call
    fn(pointer, n, seed, offset, _num_threads(n))


def philox_normal(seed, offset, mean, std, out):
    seed, mean, std = int(seed) & _MASK64, float(mean), float(std)
    call = _philox_call("philox_normal", out, offset, _PHILOX_FLOAT)
    if call is None:
        return _numba("philox_normal")(seed, offset, mean, std, out)
    fn, pointer, n, offset = call
    fn(pointer, n, seed, offset, mean, std, _num_threads(n))


def philox_bernoulli(seed, offset, p, out):
    seed, p = int(seed) & _MASK64, float(p)
    call = _philox_call("philox_bernoulli", out, offset, _PHILOX_FLOAT)
    if call is None:
        return _numba("philox_bernoulli")(seed, offset, p, out)
    fn, pointer, n, offset = call
    fn(pointer, n, seed, offset, p, _num_threads(n))
