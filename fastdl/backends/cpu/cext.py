"""The C extension (``fastdl._cext``, built by setup.py through cffi) as CPU kernels.

:func:`kernels` returns the kernels the extension serves, wrapped with exactly
the signatures of :mod:`fastdl.backends.spec`; the CPU backend lets them replace
its Numba versions. It returns ``{}`` when the extension is not built or when
``FASTDL_CEXT=0``, and the Numba kernels serve alone.

The compiled module is imported on first use (about a millisecond), not when
this module is imported.

Example::

    >>> from fastdl.backends.cpu import cext
    >>> cext.status()
    {'loaded': True, 'enabled': True, 'reason': '', 'path': '.../fastdl/_cext...so'}
    >>> sorted(cext.kernels())
    ['adagrad_step', 'adam_step', 'rmsprop_step', 'sgd_step']

Large buffers are split across threads inside the extension (``csrc/parallel.c``):
a step over ``n`` elements uses ``min(fastdl.get_num_threads(), n //
PARALLEL_MIN_PER_THREAD)`` threads. The kernels are elementwise, so the result is
the same for every thread count.
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
    }


def kernels() -> dict:
    """The kernels the C extension serves, by spec name; ``{}`` if unbuilt or disabled."""
    if not _enabled() or _load() is None:
        return {}
    return {
        "sgd_step": sgd_step,
        "adam_step": adam_step,
        "adagrad_step": adagrad_step,
        "rmsprop_step": rmsprop_step,
    }


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
